# numakit run --membind 1: every page of the workload on node 1, even when it
# runs on node 0's CPUs. Skips until `numakit run` has --membind.
need_numakit run --membind

if hog_start "taskset -c 0-1 numakit run --membind 1 --" 64; then
  c=$(numa_pages "$HOG_PID" "$HOG_START" "$HOG_END")
  diag "$c"
  if at_least_pct "$(field N1 "$c")" 16384 99; then
    ok "run --membind 1 -> node 1 ($(pct "$(field N1 "$c")" 16384)%)"
  else
    not_ok "run --membind 1 -> node 1" "$c"
  fi
  hog_stop
else
  not_ok "run --membind 1 -> node 1" "numakit run --membind 1 -- memhog did not start"
fi
