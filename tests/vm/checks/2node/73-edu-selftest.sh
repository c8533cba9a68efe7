# The edu driver of numakit-dma on the real device through VFIO: DMA round
# trips completed by MSI and polling with every byte checked; DMA to an
# unmapped IOVA and into a to-device mapping blocked, with the kernel's DMAR
# fault read back and named (a read of a from-device mapping is observed);
# the DMA memory of the device on node 1 on node 1 (2 MiB hugetlb pages when
# node 1 has them); the same data as the driver on the model. INTx is proven
# on the edu on pcie.0 (0000:01:00.0, no node): behind QEMU 7.2's pxb-pcie
# roots the legacy line does not reach the guest.
need_numakit dma selftest --model

drv() { d=$(readlink /sys/bus/pci/devices/$1/driver 2>/dev/null); echo "${d##*/}"; }
EDU=0000:42:00.0

out=$(numakit dma selftest $EDU 2>&1); rc=$?
echo "$out"
if [ $rc = 2 ] && echo "$out" | grep -q 'not vfio-pci' && echo "$out" | grep -q "hint: numakit vfio bind $EDU --apply"; then
  ok "selftest refuses an edu that is not on vfio-pci, with the command that fixes it"
else
  not_ok "unbound edu refused" "exit $rc"
fi
out=$(numakit dma selftest 0000:41:00.0 2>&1); rc=$?
if [ $rc = 2 ] && echo "$out" | grep -q 'not a QEMU edu device'; then ok "selftest refuses the NVMe: not an edu"
else not_ok "NVMe refused" "exit $rc: $out"; fi

numakit vfio bind $EDU --apply || not_ok "bind $EDU" "exit $?"
echo 2 > /sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages
free1=$(cat /sys/devices/system/node/node1/hugepages/hugepages-2048kB/free_hugepages)
diag "node 1 free 2 MiB pages: $free1"

numakit dma selftest $EDU --irq msi --json > "$CHECK_TMP/real.json" 2> "$CHECK_TMP/real.err"
rc=$?
cat "$CHECK_TMP/real.json" "$CHECK_TMP/real.err"
flat=$(json_flat < "$CHECK_TMP/real.json")
get() { echo "$flat" | sed -n "s/^$1=//p"; }
expect_eq "selftest exit status" "$rc" 0
expect_eq "backend" "$(get '\.backend')" "vfio"
n=0
while [ -n "$(get "\.steps\[$n\]\.name")" ]; do
  name=$(get "\.steps\[$n\]\.name")
  detail=$(get "\.steps\[$n\]\.detail")
  if [ "$(get "\.steps\[$n\]\.informational")" = true ]; then
    # what this IOMMU does; it only has to have run
    case $detail in failed:*) not_ok "step $name" "$detail";; *) ok "step $name (observed): $detail";; esac
  elif [ "$(get "\.steps\[$n\]\.passed")" = true ]; then ok "step $name: $detail"
  else not_ok "step $name" "$detail"; fi
  n=$((n + 1))
done
expect_eq "8 steps" "$n" 8

# the faults are the kernel's: read them from its log too
for kind in blocked-write-unmapped blocked-write-to-device-mapping; do
  i=$(echo "$flat" | sed -n "s/^\.steps\[\([0-9]*\)\]\.name=$kind\$/\1/p")
  acc=$(get "\.steps\[$i\]\.faults\[0\]\.access")
  dev=$(get "\.steps\[$i\]\.faults\[0\]\.device")
  iova=$(get "\.steps\[$i\]\.faults\[0\]\.iova")
  if [ "$dev" = "$EDU" ] && [ -n "$iova" ] && dmesg | grep -q "DMAR: \[DMA $(echo "$acc" | sed 's/^r/R/; s/^w/W/')"; then
    ok "$kind: the DMAR fault ($acc at $iova) is in the kernel log"
  else
    not_ok "$kind fault in the kernel log" "device '$dev' access '$acc' iova '$iova'"
  fi
done
dmesg | grep DMAR | tail -8

# node-local DMA memory
node=$(get '\.node')
expect_eq "the device's node" "$node" "$(cat /sys/bus/pci/devices/$EDU/numa_node)"
pages=$(get '\.memory\[0\]\.pages_by_node\.1')
kind=$(get '\.memory\[0\]\.kind')
if [ "$(get '\.memory\[0\]\.node')" = 1 ] && [ "${pages:-0}" -gt 0 ] && [ -z "$(get '\.memory\[0\]\.pages_by_node\.0')" ]; then
  ok "DMA memory for the node-1 device: $pages pages, all on node 1 ($kind)"
else
  not_ok "DMA memory on node 1" "$(echo "$flat" | grep '^\.memory')"
fi
if [ "${free1:-0}" -ge 1 ]; then expect_eq "memory from node 1's hugetlb pool" "$kind" "hugetlb2m"; fi

# the same driver on the model: the same bytes
numakit dma selftest --model --irq msi --json > "$CHECK_TMP/model.json"
mflat=$(json_flat < "$CHECK_TMP/model.json")
rd=$(echo "$flat" | sed -n 's/^\.steps\[[0-9]*\]\.digest=//p' | tr '\n' ' ')
md=$(echo "$mflat" | sed -n 's/^\.steps\[[0-9]*\]\.digest=//p' | tr '\n' ' ')
if [ -n "$rd" ] && [ "$rd" = "$md" ]; then ok "the model gives the same data (digests $rd)"
else not_ok "same data as the model" "real '$rd' model '$md'"; fi

# the library's edu example: the same driver code on the model and on the
# real device (4095 bytes through the device's buffer by MSI)
if command -v dma-edu >/dev/null; then
  out=$(dma-edu 2>&1); rc=$?
  echo "$out"
  if [ $rc = 0 ] && echo "$out" | grep -q '^4095 bytes through the device: every byte matches'; then
    ok "edu example on the model: every byte matches"
  else
    not_ok "edu example on the model" "exit $rc"
  fi
  out=$(dma-edu $EDU 2>&1); rc=$?
  echo "$out"
  mem=$(echo "$out" | sed -n 's/^DMA memory: \([0-9]*\) of \([0-9]*\) pages on node \([0-9]*\),.*/\1 \2 \3/p' | head -1)
  set -- $mem
  if [ $rc = 0 ] && echo "$out" | grep -q '^4095 bytes through the device: every byte matches' &&
     [ "${3:-}" = 1 ] && [ "${1:-0}" -gt 0 ] && [ "$1" = "$2" ]; then
    ok "edu example on $EDU through VFIO: every byte matches, its DMA memory on node 1 ($1 of $2 pages)"
  else
    not_ok "edu example on $EDU" "exit $rc, memory '$mem'"
  fi
  # the handle contract on VFIO: another instance's buffer refused, split
  # halves freed one by one
  for fact in "another backend's buffer is refused: DMA mapping failed: this CPU buffer was made by DMA backend instance" \
      "one half freed, the other still maps and reads" \
      "the allocation went back with its last half"; do
    if echo "$out" | grep -qF "handles: $fact"; then ok "edu example, VFIO handles: $fact"
    else not_ok "edu example, VFIO handles: $fact" "not in its output"; fi
  done
else
  skip "edu example" "not built (NUMAKIT_VM_BIN given)"
fi

# the edu on pcie.0 has no node: MSI, INTx and polling there, memory
# anywhere, the same bytes as the model
E2=0000:01:00.0
numakit vfio bind $E2 --apply >/dev/null
out=$(numakit dma selftest $E2 --irq msi,intx --no-faults 2>&1); rc=$?
echo "$out"
if [ $rc = 0 ] && echo "$out" | grep -q 'ok   round-trip-intx' && echo "$out" | grep -q 'for no node'; then
  ok "selftest of $E2 (no NUMA node): MSI, INTx and polled round trips pass"
else
  not_ok "selftest of $E2" "exit $rc"
fi
rd=$(echo "$out" | sed -n 's/.*data digest //p' | tr '\n' ' ')
md=$(numakit dma selftest --model --irq msi,intx --no-faults | sed -n 's/.*data digest //p' | tr '\n' ' ')
if [ -n "$rd" ] && [ "$rd" = "$md" ]; then ok "$E2 gives the model's data (digests $rd)"
else not_ok "$E2 same data as the model" "real '$rd' model '$md'"; fi
numakit vfio unbind $E2 --apply >/dev/null
numakit vfio unbind $EDU --apply >/dev/null
expect_eq "both edus back on no driver" "$(drv $EDU)$(drv $E2)" ""
echo 0 > /sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages
