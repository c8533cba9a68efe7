# numakit stat on the real kernel: a workload bound to node 1 shows its
# memory on node 1 in `stat -p`, within 1% of what numa_maps says; 2 MiB
# huge pages are counted as such; the audit flags memory on node 1 with
# threads on node 0; a file read by a process bound to node 1 has its page
# cache on node 1 in `stat --file`.
need_numakit stat --audit --file

# numa_bytes PID NODE: bytes on NODE from numa_maps, each line at its own
# page size (kernelpagesize_kB)
numa_bytes() {
  awk -v n="$2" '{ ps = 4; for (i = 2; i <= NF; i++) if ($i ~ /^kernelpagesize_kB=/) { split($i, kv, "="); ps = kv[2] }
    for (i = 2; i <= NF; i++) if ($i ~ "^N" n "=") { split($i, kv, "="); t += kv[2] * ps * 1024 } }
    END { printf "%d\n", t }' "/proc/$1/numa_maps"
}
# stat_bytes FLAT NODE: numakit's bytes on NODE over every kind
stat_bytes() {
  echo "$1" | awk -F= -v n="$2" '$1 ~ "^\\.processes\\[0\\]\\.categories\\.[a-z_]+\\." n "$" { t += $2 } END { printf "%d\n", t }'
}

if hog_start "taskset -c 2-3 numakit run --membind 1 --" 64; then
  numakit stat -p "$HOG_PID" --json > "$CHECK_TMP/stat.json"
  rc=$?
  flat=$(json_flat < "$CHECK_TMP/stat.json")
  got1=$(stat_bytes "$flat" 1) got0=$(stat_bytes "$flat" 0)
  want1=$(numa_bytes "$HOG_PID" 1) want0=$(numa_bytes "$HOG_PID" 0)
  diag "numakit: node0=$got0 node1=$got1; numa_maps: node0=$want0 node1=$want1"
  same() { [ "$1" = "$2" ] || within_pct "$1" "$2" 1; }
  if [ "$rc" = 0 ] && same "$got1" "$want1" && same "$got0" "$want0"; then
    ok "stat -p: node 1 $got1 bytes, node 0 $got0 = numa_maps within 1%"
  else
    not_ok "stat -p matches numa_maps" "exit $rc; numakit $got0/$got1, numa_maps $want0/$want1"
  fi
  if at_least_pct "$got1" "$((got0 + got1))" 90; then
    ok "stat -p: the workload bound to node 1 is on node 1 ($(pct "$got1" "$((got0 + got1))")%)"
  else
    not_ok "stat -p: workload on node 1" "node0=$got0 node1=$got1"
  fi
  hog_stop
else
  not_ok "stat -p of a workload bound to node 1" "memhog did not start"
fi

# 2 MiB huge pages: 8 reserved on node 1, a 16 MiB hugetlb buffer bound there
echo 8 > /sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages
if hog_start "numakit run --membind 1 --" --hugetlb 16; then
  flat=$(numakit stat -p "$HOG_PID" --json | json_flat)
  size=$(echo "$flat" | awk -F= '$1 == ".processes[0].huge_pages[0].page_size" { print $2 }')
  bytes=$(echo "$flat" | awk -F= '$1 == ".processes[0].huge_pages[0].bytes.1" { print $2 }')
  expect_eq "stat -p: hugetlb page size" "$size" 2097152
  expect_eq "stat -p: 16 MiB of 2 MiB pages on node 1" "$bytes" 16777216
  huge=$(numakit numastat -p "$HOG_PID" | awk '$1 == "Huge" { print $3 }')
  expect_eq "numastat -p: Huge on node 1 in MB" "$huge" 16.00
  hog_stop
else
  not_ok "stat -p of 2 MiB huge pages" "memhog --hugetlb did not start (no pool?)"
fi
echo 0 > /sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages

# the audit: memory on node 1, threads on node 0
if hog_start "numakit run --membind 1 --cpunodebind 0 --" 64; then
  numakit stat -p "$HOG_PID" --audit > "$CHECK_TMP/audit.txt"
  rc=$?
  cat "$CHECK_TMP/audit.txt"
  if [ "$rc" = 1 ] && grep -q "is on node 1 but its 1 threads run on node 0 \[memory-away-from-threads\]" "$CHECK_TMP/audit.txt"; then
    ok "stat --audit flags memory on node 1 with threads on node 0 (exit 1)"
  else
    not_ok "stat --audit flags memory away from the threads" "exit $rc"
  fi
  hog_stop
else
  not_ok "stat --audit" "memhog did not start"
fi
if hog_start "numakit run --membind 0 --cpunodebind 0 --" 64; then
  numakit stat -p "$HOG_PID" --audit > "$CHECK_TMP/audit0.txt"
  expect_eq "stat --audit: nothing to say when memory and threads share node 0 (exit)" "$?" 0
  hog_stop
fi

# the page cache of a file read by a process bound to node 1: an ext4
# (ext2 layout) on the NVMe, mounted afresh so that nothing of the file is
# cached, then read under --membind 1
dev=/dev/nvme0n1 mnt=$CHECK_TMP/mnt
mkdir -p "$mnt"
if [ -b "$dev" ] && mke2fs -q "$dev" >/dev/null 2>&1 && mount -t ext4 "$dev" "$mnt"; then
  dd if=/dev/zero of="$mnt/weights" bs=1M count=8 2>/dev/null
  umount "$mnt" && mount -t ext4 "$dev" "$mnt"
  before=$(numakit stat --file "$mnt/weights" --json | json_flat | awk -F= '$1 == ".files[0].cached" { print $2 + 0 }')
  numakit run --membind 1 --cpunodebind 1 -- cat "$mnt/weights" > /dev/null
  flat=$(numakit stat --file "$mnt/weights" --json | json_flat)
  echo "$flat" | grep '^\.files'
  n1=$(echo "$flat" | awk -F= '$1 == ".files[0].by_node.1" { print $2 + 0 }')
  cached=$(echo "$flat" | awk -F= '$1 == ".files[0].cached" { print $2 + 0 }')
  expect_eq "stat --file: nothing cached after a fresh mount" "${before:-none}" 0
  if [ "${cached:-0}" -ge 2048 ] && at_least_pct "${n1:-0}" "$cached" 95; then
    ok "stat --file: the page cache of a file read under --membind 1 is on node 1 (${n1} of $cached pages)"
  else
    not_ok "stat --file: page cache on node 1" "node 1: ${n1:-none} of ${cached:-none} cached pages"
  fi
  umount "$mnt"
else
  skip "stat --file of a file on a real file system" "no $dev, or mke2fs/mount failed"
fi
