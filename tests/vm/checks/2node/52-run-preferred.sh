# numakit run --preferred 1: lands on node 1 although it runs on node 0's CPUs.
need_numakit run --preferred

hog_once "taskset -c 0-1 numakit run --preferred 1 --" 64
if [ "$ONCE_RC" = 0 ] && at_least_pct "$(field N1 "$ONCE_PAGES")" 16384 90; then
  ok "run --preferred 1 -> node 1 ($(pct "$(field N1 "$ONCE_PAGES")" 16384)%)"
else
  not_ok "run --preferred 1 -> node 1" "exit $ONCE_RC, $ONCE_PAGES"
fi
