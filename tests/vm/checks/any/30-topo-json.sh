# numakit topo --json (schema numakit.topology/1) describes the machine the
# kernel sees: every node's CPUs, distances and kind, and the NUMA node of the
# devices on the expander buses. Expectations are read from sysfs here, so
# the same check serves every topology.
need_numakit topo --json

numakit topo --json > "$CHECK_TMP/topo.json"
rc=$?
flat=$(json_flat < "$CHECK_TMP/topo.json")
if [ $rc != 0 ] || [ -z "$flat" ]; then
  not_ok "topo --json" "exit $rc"
  head -c 2000 "$CHECK_TMP/topo.json"
  exit 0
fi
get() { echo "$flat" | sed -n "s/^$1=//p"; }           # PATH (a sed regex) -> values
expect_eq "topo --json schema" "$(get '\.schema')" "numakit.topology/1"

for n in $(node_ids); do
  i=$(echo "$flat" | sed -n "s/^\.nodes\[\([0-9]*\)\]\.id=$n\$/\1/p" | head -1)
  if [ -z "$i" ]; then not_ok "node $n in topo --json" "no nodes[].id=$n"; continue; fi
  expect_eq "node $n cpus" "$(get "\.nodes\[$i\]\.cpus\[[0-9]*\]" | tr '\n' ' ' | sed 's/ $//')" \
    "$(expand_list "$(node_cpulist "$n")")"
  expect_eq "node $n distances" "$(get "\.nodes\[$i\]\.distances\[[0-9]*\]" | tr '\n' ' ' | sed 's/ $//')" \
    "$(node_distance "$n")"
  kind=cpu-and-memory
  [ -z "$(node_cpulist "$n")" ] && kind=memory-only
  expect_eq "node $n kind" "$(get "\.nodes\[$i\]\.kind")" "$kind"
done

# the 2node/3node devices (gpuserver's are checked in checks/gpuserver/)
[ "$VM_TOPO" = gpuserver ] && exit 0
for d in 0000:21:00.0 0000:41:00.0 0000:42:00.0; do
  i=$(echo "$flat" | sed -n "s/^\.pci_devices\[\([0-9]*\)\]\.address=$d\$/\1/p" | head -1)
  if [ -z "$i" ]; then not_ok "pci $d in topo --json" "no pci_devices[].address=$d"; continue; fi
  expect_eq "pci $d numa_node" "$(get "\.pci_devices\[$i\]\.numa_node")" "$(pci_attr "$d" numa_node)"
done
i=$(echo "$flat" | sed -n 's/^\.pci_devices\[\([0-9]*\)\]\.address=0000:41:00\.0$/\1/p' | head -1)
[ -n "$i" ] && expect_eq "pci 0000:41:00.0 kind" "$(get "\.pci_devices\[$i\]\.kind")" "nvme"
