# numakit run --interleave 0,1: pages split between nodes 0 and 1 within 10 %.
# Also checks that `run` passes its command's exit status (memhog's 0).
need_numakit run --interleave

hog_once "numakit run --interleave 0,1 --" 64
n0=$(field N0 "$ONCE_PAGES") n1=$(field N1 "$ONCE_PAGES")
if [ "$ONCE_RC" = 0 ] && [ "$(field total "$ONCE_PAGES")" = 16384 ] && within_pct "$n0" "$n1" 10; then
  ok "run --interleave 0,1 splits $n0/$n1"
else
  not_ok "run --interleave 0,1 splits within 10%" "exit $ONCE_RC, $ONCE_PAGES"
fi
