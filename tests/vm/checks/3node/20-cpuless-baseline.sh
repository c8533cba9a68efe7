# Baseline without numakit on the CPU-less node 2: first touch never lands
# there, a bind policy does (so the rig can see pages on node 2 at all).

hog_once "taskset -c 0-1" 64
n2=$(field N2 "$ONCE_PAGES")
if [ "$ONCE_RC" = 0 ] && at_least_pct "$(field N0 "$ONCE_PAGES")" 16384 90 && [ "$n2" -lt 164 ]; then
  ok "default policy on cpus 0-1 -> node 0, not node 2"
else
  not_ok "default policy on cpus 0-1 -> node 0, not node 2" "exit $ONCE_RC, $ONCE_PAGES"
fi

hog_once "setpol bind 2" 64
if [ "$ONCE_RC" = 0 ] && at_least_pct "$(field N2 "$ONCE_PAGES")" 16384 99; then
  ok "set_mempolicy(BIND, 2) -> CPU-less node 2"
else
  not_ok "set_mempolicy(BIND, 2) -> CPU-less node 2" "exit $ONCE_RC, $ONCE_PAGES"
fi
