# numakit run --near 0000:41:00.0 (the NVMe on node 1): the command runs on
# node 1's CPUs (2-3) and its memory comes from node 1.
need_numakit run --near

cpus=$(numakit run --near 0000:41:00.0 -- sh -c 'grep Cpus_allowed_list /proc/self/status' 2>&1)
rc=$?
echo "$cpus"
cpus=$(echo "$cpus" | awk '/^Cpus_allowed_list:/ { print $2 }')
if [ "$rc" = 0 ] && [ "$cpus" = 2-3 ]; then
  ok "run --near 0000:41:00.0 -> Cpus_allowed_list 2-3"
else
  not_ok "run --near 0000:41:00.0 -> Cpus_allowed_list 2-3" "exit $rc, got '$cpus'"
fi

hog_once "numakit run --near 0000:41:00.0 --" 64
if [ "$ONCE_RC" = 0 ] && at_least_pct "$(field N1 "$ONCE_PAGES")" 16384 90; then
  ok "run --near 0000:41:00.0 -> memory on node 1"
else
  not_ok "run --near 0000:41:00.0 -> memory on node 1" "exit $ONCE_RC, $ONCE_PAGES"
fi

# file:PATH names the disk that holds a file; a block device node names
# itself: /dev/nvme0n1 is the NVMe on node 1
if [ -b /dev/nvme0n1 ]; then
  cpus=$(numakit run --near file:/dev/nvme0n1 -- sh -c 'grep Cpus_allowed_list /proc/self/status' 2>&1)
  rc=$?
  cpus=$(echo "$cpus" | awk '/^Cpus_allowed_list:/ { print $2 }')
  if [ "$rc" = 0 ] && [ "$cpus" = 2-3 ]; then
    ok "run --near file:/dev/nvme0n1 -> Cpus_allowed_list 2-3"
  else
    not_ok "run --near file:/dev/nvme0n1 -> Cpus_allowed_list 2-3" "exit $rc, got '$cpus'"
  fi
else
  skip "run --near file:/dev/nvme0n1" "no /dev/nvme0n1"
fi
