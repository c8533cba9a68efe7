# Baseline without numakit: default (local) policy puts a page on the node of
# the CPU that first touches it. Proves memhog + the numa_maps parsing of
# lib.sh, the ground the numakit placement checks stand on.

# pinned to CPUs 2-3 (node 1): >= 90 % of the buffer on node 1, same for 0-1
for case in "2-3 1" "0-1 0"; do
  set -- $case
  if hog_start "taskset -c $1" 64; then
    c=$(numa_pages "$HOG_PID" "$HOG_START" "$HOG_END")
    diag "cpus $1: $c"
    t=$(field total "$c") p=$(field N$2 "$c")
    if [ "$t" = 16384 ] && at_least_pct "$p" "$t" 90; then
      ok "cpus $1 first touch -> node $2 ($(pct "$p" "$t")%)"
    else
      not_ok "cpus $1 first touch -> node $2" "$c"
    fi
    hog_stop
  else
    not_ok "cpus $1 first touch -> node $2" "memhog did not start"
  fi
done

# two threads pinned to CPU 0 (node 0) and CPU 2 (node 1), each touching its
# own half: each half lands on its thread's node
if hog_start "taskset -c 0,2" -t 2 --pin 64; then
  lo=$(numa_pages "$HOG_PID" "$HOG_START" "$HOG_END")
  diag "threads: $lo"
  n0=$(field N0 "$lo") n1=$(field N1 "$lo") t=$(field total "$lo")
  if at_least_pct "$n0" "$t" 40 && at_least_pct "$n1" "$t" 40; then
    ok "2 pinned threads split the buffer over nodes 0 and 1 ($n0/$n1 pages)"
  else
    not_ok "2 pinned threads split the buffer over nodes 0 and 1" "$lo"
  fi
  hog_stop
else
  not_ok "2 pinned threads split the buffer" "memhog did not start"
fi

# the one-shot form: memhog --report prints its own numa_maps line on exit
hog_once "taskset -c 2-3" 16
if [ "$ONCE_RC" = 0 ] && [ "$(field total "$ONCE_PAGES")" = 4096 ] &&
   at_least_pct "$(field N1 "$ONCE_PAGES")" 4096 90; then
  ok "memhog --report (one-shot) on cpus 2-3 -> node 1"
else
  not_ok "memhog --report (one-shot) on cpus 2-3 -> node 1" "exit $ONCE_RC, $ONCE_PAGES"
fi
