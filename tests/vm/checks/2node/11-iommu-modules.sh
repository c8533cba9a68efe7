# VT-d is on, devices have IOMMU groups, and the modules the rig loads
# (vfio-pci, virtio_net) are in and bound where expected.

if ls /sys/class/iommu/ 2>/dev/null | grep -q dmar; then ok "intel-iommu active (dmar)"
else not_ok "intel-iommu active" "no /sys/class/iommu/dmar*"; fi
for d in 0000:41:00.0 0000:42:00.0 0000:21:00.0 0000:01:00.0; do
  if [ -L /sys/bus/pci/devices/$d/iommu_group ]; then ok "$d has an IOMMU group"
  else not_ok "$d has an IOMMU group" "no iommu_group link"; fi
done
assert "vfio-pci loaded" test -d /sys/bus/pci/drivers/vfio-pci
drv=$(readlink /sys/bus/pci/devices/0000:21:00.0/driver)
expect_eq "virtio-net 0000:21:00.0 driver" "${drv##*/}" "virtio-pci"
assert "virtio_net loaded" test -d /sys/module/virtio_net
drv=$(readlink /sys/bus/pci/devices/0000:41:00.0/driver)
expect_eq "NVMe 0000:41:00.0 driver" "${drv##*/}" "nvme"
