# Without the vfio-pci driver (unloaded here): numakit iommu says so and
# exits 1, vfio bind and dma selftest refuse with one line and the module to
# load; then the module is loaded again.
need_numakit iommu

ko=$(grep '/vfio-pci\.ko$' /vm/modules)
if ! rmmod vfio_pci; then not_ok "rmmod vfio_pci" "see the log"; exit 0; fi
out=$(numakit iommu 2>&1); rc=$?
if [ $rc = 1 ] && echo "$out" | grep -q '^VFIO: vfio-pci not loaded (modprobe vfio-pci)'; then
  ok "iommu: vfio-pci not loaded, with the module to load (exit 1)"
else
  not_ok "iommu without vfio-pci" "exit $rc: $(echo "$out" | grep '^VFIO')"
fi
out=$(numakit vfio bind 0000:42:00.0 2>&1); rc=$?
echo "$out"
if [ $rc = 2 ] && echo "$out" | grep -q '^numakit: cannot bind with vfio-pci: the vfio-pci driver is not loaded' &&
   echo "$out" | grep -q '^hint: modprobe vfio-pci'; then
  ok "vfio bind refuses: vfio-pci not loaded, hint modprobe"
else
  not_ok "vfio bind without vfio-pci" "exit $rc"
fi
out=$(numakit dma selftest 0000:42:00.0 2>&1); rc=$?
echo "$out"
if [ $rc = 2 ] && echo "$out" | grep -q 'the vfio-pci driver is not loaded' && echo "$out" | grep -q '^hint: modprobe vfio-pci'; then
  ok "dma selftest refuses: vfio-pci not loaded, hint modprobe"
else
  not_ok "dma selftest without vfio-pci" "exit $rc"
fi
insmod "$ko" && assert "vfio-pci loaded again" test -d /sys/bus/pci/drivers/vfio-pci
