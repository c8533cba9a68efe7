# The kernel sees the 2node machine the rig describes: nodes, CPUs, memory,
# distances, and the PCIe devices on their nodes.

expect_eq "node ids" "$(node_ids)" "0 1"
expect_eq "node0 cpulist" "$(node_cpulist 0)" "0-1"
expect_eq "node1 cpulist" "$(node_cpulist 1)" "2-3"
expect_eq "node0 distances" "$(node_distance 0)" "10 21"
expect_eq "node1 distances" "$(node_distance 1)" "21 10"
for n in 0 1; do
  m=$(node_mem_mib $n)
  if [ "$m" -ge 800 ] && [ "$m" -le 1024 ]; then ok "node$n memory ${m} MiB (1 GiB node)"
  else not_ok "node$n memory" "MemTotal ${m} MiB, want 800-1024"; fi
done
expect_eq "NVMe 0000:41:00.0 class" "$(pci_attr 0000:41:00.0 class)" "0x010802"
expect_eq "NVMe 0000:41:00.0 numa_node" "$(pci_attr 0000:41:00.0 numa_node)" "1"
expect_eq "virtio-net 0000:21:00.0 numa_node" "$(pci_attr 0000:21:00.0 numa_node)" "0"
expect_eq "edu 0000:42:00.0 numa_node" "$(pci_attr 0000:42:00.0 numa_node)" "1"
expect_eq "edu 0000:01:00.0 (pcie.0) numa_node" "$(pci_attr 0000:01:00.0 numa_node)" "-1"
expect_eq "NVMe 0000:41:00.0 local_cpulist" "$(pci_attr 0000:41:00.0 local_cpulist)" "2-3"
