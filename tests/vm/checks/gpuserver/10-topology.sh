# The GPU server as the checks expect it: four GPU-like display devices
# (class 0x038000) behind switches, two per node, and numakit's model agrees.
for d in 0000:23:00.0:0 0000:24:00.0:0 0000:43:00.0:1 0000:44:00.0:1; do
  a=${d%:*} n=${d##*:}
  expect_eq "$a class" "$(pci_attr "$a" class)" 0x038000
  expect_eq "$a numa_node" "$(pci_attr "$a" numa_node)" "$n"
done
expect_eq "node 0 cpus" "$(node_cpulist 0)" 0-1
expect_eq "node 1 cpus" "$(node_cpulist 1)" 2-3
need_numakit topo --matrix
numakit topo --matrix > "$CHECK_TMP/m" 2>&1
cat "$CHECK_TMP/m"
# GPU0/GPU1 share a switch (PIX), GPU0/GPU2 are on different nodes (SYS)
row=$(awk 'NR > 1 && $1 == "GPU0" { print $2, $3, $4, $5; exit }' "$CHECK_TMP/m")
expect_eq "topo --matrix GPU0 row" "$row" "X PIX SYS SYS"
