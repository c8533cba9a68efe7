# Without an IOMMU (this machine has none in its firmware): numakit iommu
# says so and how to get one, and exits 1; vfio bind and dma selftest refuse
# with one clear line and a hint, and change nothing.
need_numakit iommu

out=$(numakit iommu 2>&1); rc=$?
echo "$out"
if [ $rc = 1 ] && echo "$out" | grep -q '^IOMMU: off' &&
   echo "$out" | grep -q 'the firmware describes no IOMMU (no ACPI DMAR, IVRS or IORT table)' &&
   echo "$out" | grep -q '^to turn it on: .*-device intel-iommu'; then
  ok "iommu: off, told as the firmware's, with how to get one (exit 1)"
else
  not_ok "iommu off" "exit $rc"
fi
flat=$(numakit iommu --json | json_flat)
expect_eq "iommu --json state/off kind" "$(echo "$flat" | sed -n 's/^\.state=//p')/$(echo "$flat" | sed -n 's/^\.off\.kind=//p')" "off/firmware"

out=$(numakit vfio bind 0000:42:00.0 --apply 2>&1); rc=$?
echo "$out"
if [ $rc = 2 ] && echo "$out" | grep -q '^numakit: cannot bind with vfio-pci: no IOMMU: the firmware describes no IOMMU' &&
   echo "$out" | grep -q '^hint: ' && [ ! -e /sys/bus/pci/devices/0000:42:00.0/driver ]; then
  ok "vfio bind refuses: no IOMMU, with a hint; nothing changed"
else
  not_ok "vfio bind refused" "exit $rc"
fi
out=$(numakit dma selftest 0000:42:00.0 2>&1); rc=$?
echo "$out"
if [ $rc = 2 ] && echo "$out" | grep -q '^numakit: cannot test 0000:42:00.0' && echo "$out" | grep -q '^hint: '; then
  ok "dma selftest refuses with one line and a hint"
else
  not_ok "dma selftest refused" "exit $rc"
fi
numakit snapshot /out/qemu-noiommu.tar.gz && ok "snapshot of this machine in /out" || not_ok "snapshot" "exit $?"
