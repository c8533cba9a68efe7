# Baseline without numakit: the kernel policies the numakit placement checks
# expect (bind, interleave, preferred), set with the tiny setpol tool, give
# the page distributions those checks assert. If one of these fails, the rig
# (kernel, QEMU, memhog, numa_maps parsing) is wrong, not numakit.

# bind to node 1 while running on node 0's CPUs: everything on node 1
hog_once "taskset -c 0-1 setpol bind 1" 64
if [ "$ONCE_RC" = 0 ] && at_least_pct "$(field N1 "$ONCE_PAGES")" 16384 99; then
  ok "set_mempolicy(BIND, 1) -> node 1"
else
  not_ok "set_mempolicy(BIND, 1) -> node 1" "exit $ONCE_RC, $ONCE_PAGES"
fi

# interleave 0,1: the halves within 10 % of each other
hog_once "setpol interleave 0,1" 64
n0=$(field N0 "$ONCE_PAGES") n1=$(field N1 "$ONCE_PAGES")
if [ "$ONCE_RC" = 0 ] && [ "$(field total "$ONCE_PAGES")" = 16384 ] && within_pct "$n0" "$n1" 10; then
  ok "set_mempolicy(INTERLEAVE, 0-1) splits $n0/$n1"
else
  not_ok "set_mempolicy(INTERLEAVE, 0-1) splits evenly" "exit $ONCE_RC, $ONCE_PAGES"
fi

# preferred node 1 from node 0's CPUs: lands on node 1 (it has room)
hog_once "taskset -c 0-1 setpol preferred 1" 64
if [ "$ONCE_RC" = 0 ] && at_least_pct "$(field N1 "$ONCE_PAGES")" 16384 90; then
  ok "set_mempolicy(PREFERRED, 1) -> node 1"
else
  not_ok "set_mempolicy(PREFERRED, 1) -> node 1" "exit $ONCE_RC, $ONCE_PAGES"
fi
