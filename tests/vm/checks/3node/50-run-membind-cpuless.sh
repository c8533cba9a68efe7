# numakit run --membind 2: the pages go to the CPU-less node 2.
need_numakit run --membind

hog_once "numakit run --membind 2 --" 64
if [ "$ONCE_RC" = 0 ] && at_least_pct "$(field N2 "$ONCE_PAGES")" 16384 99; then
  ok "run --membind 2 -> CPU-less node 2 ($(pct "$(field N2 "$ONCE_PAGES")" 16384)%)"
else
  not_ok "run --membind 2 -> CPU-less node 2" "exit $ONCE_RC, $ONCE_PAGES"
fi
