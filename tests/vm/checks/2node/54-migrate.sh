# numakit migrate PID --from 0 --to 1 moves a running process's pages:
# numa_maps of a memhog held on node 0, before and after.
need_numakit migrate --from --to

if ! hog_start "taskset -c 0-1" 64; then
  not_ok "migrate --from 0 --to 1" "memhog did not start"
  exit 0
fi
before=$(numa_pages "$HOG_PID" "$HOG_START" "$HOG_END")
diag "before: $before"
if ! at_least_pct "$(field N0 "$before")" 16384 90; then
  not_ok "migrate --from 0 --to 1" "memhog did not start on node 0: $before"
  hog_stop; exit 0
fi
numakit migrate "$HOG_PID" --from 0 --to 1
rc=$?
after=$(numa_pages "$HOG_PID" "$HOG_START" "$HOG_END")
diag "after: $after"
if [ "$rc" = 0 ] && at_least_pct "$(field N1 "$after")" 16384 99; then
  ok "migrate --from 0 --to 1 moved the pages (node1: $(field N1 "$before") -> $(field N1 "$after") pages)"
else
  not_ok "migrate --from 0 --to 1 moved the pages" "exit $rc, before: $before, after: $after"
fi
hog_stop
