# The IOMMU is in the firmware (an emulated VT-d: ACPI DMAR table) but the
# kernel command line turns it off (intel_iommu=off): numakit iommu tells
# that apart from an IOMMU the firmware lacks, names the flag and how to
# turn it on, and exits 1; vfio bind and dma selftest refuse with one line
# and a hint and change nothing. A snapshot goes to /out (the
# qemu-iommuoff fixture).
need_numakit iommu

expect_eq "the firmware has a DMAR table" "$(test -e /sys/firmware/acpi/tables/DMAR && echo yes)" yes
expect_eq "no IOMMU group" "$(ls /sys/kernel/iommu_groups | wc -l)" 0

out=$(numakit iommu 2>&1); rc=$?
echo "$out"
if [ $rc = 1 ] && echo "$out" | grep -q '^IOMMU: off' &&
   echo "$out" | grep -q '^why: disabled on the kernel command line (intel_iommu=off)' &&
   echo "$out" | grep -q '^to turn it on: remove intel_iommu=off'; then
  ok "iommu: off, told as the kernel command line's (intel_iommu=off), with how to turn it on (exit 1)"
else
  not_ok "iommu off by the command line" "exit $rc"
fi
flat=$(numakit iommu --json | json_flat)
get() { echo "$flat" | sed -n "s/^$1=//p"; }
expect_eq "iommu --json state/off kind" "$(get '\.state')/$(get '\.off\.kind')" "off/kernel-command-line"
expect_eq "iommu --json cmdline_flags" "$(get '\.cmdline_flags\[[0-9]*\]' | tr '\n' ' ')" "intel_iommu=off "

out=$(numakit vfio bind 0000:42:00.0 --apply 2>&1); rc=$?
echo "$out"
if [ $rc = 2 ] && echo "$out" | grep -q '^numakit: cannot bind with vfio-pci: no IOMMU: disabled on the kernel command line (intel_iommu=off)' &&
   echo "$out" | grep -q '^hint: remove intel_iommu=off' && [ ! -e /sys/bus/pci/devices/0000:42:00.0/driver ]; then
  ok "vfio bind refuses: IOMMU off on the command line, with the flag to remove; nothing changed"
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
numakit snapshot /out/qemu-iommuoff.tar.gz && ok "snapshot of this machine in /out" || not_ok "snapshot" "exit $?"
