# The kernel sees the 3node machine: node 2 has memory (512 MiB) but no CPUs,
# and the distances 30 (from node 0) and 40 (from node 1).

expect_eq "node ids" "$(node_ids)" "0 1 2"
expect_eq "node0 cpulist" "$(node_cpulist 0)" "0-1"
expect_eq "node1 cpulist" "$(node_cpulist 1)" "2-3"
expect_eq "node2 cpulist (CPU-less)" "$(node_cpulist 2)" ""
expect_eq "has_cpu" "$(cat /sys/devices/system/node/has_cpu)" "0-1"
expect_eq "has_memory" "$(cat /sys/devices/system/node/has_memory)" "0-2"
expect_eq "node0 distances" "$(node_distance 0)" "10 21 30"
expect_eq "node1 distances" "$(node_distance 1)" "21 10 40"
expect_eq "node2 distances" "$(node_distance 2)" "30 40 10"
m=$(node_mem_mib 2)
if [ "$m" -ge 400 ] && [ "$m" -le 512 ]; then ok "node2 memory ${m} MiB (512 MiB node)"
else not_ok "node2 memory" "MemTotal ${m} MiB, want 400-512"; fi
expect_eq "NVMe 0000:41:00.0 numa_node" "$(pci_attr 0000:41:00.0 numa_node)" "1"
