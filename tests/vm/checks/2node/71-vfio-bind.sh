# numakit vfio bind/unbind: a dry run changes nothing; --apply moves a device
# to vfio-pci (its group appears in /dev/vfio, its driver is remembered) and
# unbind gives it back; the NVMe goes from nvme to vfio-pci and back, and its
# disk comes back; a non-root user is refused and nothing changes.
need_numakit vfio

drv() { d=$(readlink /sys/bus/pci/devices/$1/driver 2>/dev/null); echo "${d##*/}"; }
EDU=0000:42:00.0 NVME=0000:41:00.0
g=$(basename "$(readlink /sys/bus/pci/devices/$EDU/iommu_group)")

out=$(numakit vfio bind $EDU 2>&1); rc=$?
echo "$out"
if [ $rc = 0 ] && echo "$out" | grep -q "echo vfio-pci > /sys/bus/pci/devices/$EDU/driver_override" &&
   [ -z "$(drv $EDU)" ] && [ ! -e /dev/vfio/$g ]; then
  ok "dry run prints the writes and changes nothing"
else
  not_ok "dry run" "exit $rc, driver '$(drv $EDU)'"
fi

grep -q '^nobody:' /etc/passwd || echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >> /etc/passwd
chmod 755 /   # the initramfs root is 0700
out=$(su nobody -c "/vm/bin/numakit vfio bind $EDU --apply" 2>&1); rc=$?
echo "$out"
if [ $rc = 2 ] && echo "$out" | grep -q 'permission denied' && [ -z "$(drv $EDU)" ]; then
  ok "a non-root user is refused with one clear line, nothing changed"
else
  not_ok "non-root refused" "exit $rc: $out; driver '$(drv $EDU)'"
fi

out=$(numakit vfio bind $EDU --apply 2>&1); rc=$?
echo "$out"
if [ $rc = 0 ] && [ "$(drv $EDU)" = vfio-pci ] && [ -c /dev/vfio/$g ] &&
   grep -q "\"$EDU\"" /run/numakit/vfio-bind.json; then
  ok "bind --apply: $EDU on vfio-pci, /dev/vfio/$g, original driver remembered"
else
  not_ok "bind --apply" "exit $rc, driver '$(drv $EDU)'"
fi
expect_eq "driver_override after bind" "$(cat /sys/bus/pci/devices/$EDU/driver_override)" "vfio-pci"
out=$(numakit vfio unbind $EDU --apply 2>&1); rc=$?
echo "$out"
if [ $rc = 0 ] && [ -z "$(drv $EDU)" ] && [ "$(cat /sys/bus/pci/devices/$EDU/driver_override)" = "(null)" ] &&
   ! grep -q "\"$EDU\"" /run/numakit/vfio-bind.json; then
  ok "unbind --apply: $EDU back to no driver, override cleared, record gone"
else
  not_ok "unbind --apply" "exit $rc, driver '$(drv $EDU)', override '$(cat /sys/bus/pci/devices/$EDU/driver_override)'"
fi

# the NVMe: nvme -> vfio-pci -> nvme, its disk gone and back
[ -b /dev/nvme0n1 ] || mdev -s
out=$(numakit vfio bind $NVME --apply 2>&1); rc=$?
echo "$out"
if [ $rc = 0 ] && [ "$(drv $NVME)" = vfio-pci ] && [ ! -e /sys/block/nvme0n1 ]; then
  ok "NVMe bound to vfio-pci: nvme0n1 is gone"
else
  not_ok "NVMe bind" "exit $rc, driver '$(drv $NVME)'"
fi
out=$(numakit vfio unbind $NVME --apply 2>&1); rc=$?
echo "$out"
i=0; while [ ! -e /sys/block/nvme0n1 ] && [ $i -lt 50 ]; do usleep 100000; i=$((i + 1)); done
if [ $rc = 0 ] && [ "$(drv $NVME)" = nvme ] && [ -e /sys/block/nvme0n1 ]; then
  ok "NVMe unbound: back on nvme, nvme0n1 is back"
else
  not_ok "NVMe unbind" "exit $rc, driver '$(drv $NVME)'"
fi

# a whole group (the edu's holds one device)
out=$(numakit vfio bind --group $g --apply 2>&1); rc=$?
expect_eq "bind --group $g" "$rc $(drv $EDU)" "0 vfio-pci"
out=$(numakit vfio unbind --group $g --apply 2>&1); rc=$?
expect_eq "unbind --group $g" "$rc $(drv $EDU)" "0 "
