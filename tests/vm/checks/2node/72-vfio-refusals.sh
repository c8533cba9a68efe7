# numakit vfio bind refuses a device that is in use, naming the use: the NVMe
# with a mounted filesystem, the network interface that is up with an
# address; nothing changes. Once free, they bind (and come back).
need_numakit vfio

drv() { d=$(readlink /sys/bus/pci/devices/$1/driver 2>/dev/null); echo "${d##*/}"; }
NVME=0000:41:00.0 NIC=0000:21:00.0

[ -b /dev/nvme0n1 ] || mdev -s
mkdir -p /mnt/nk
if mke2fs -q /dev/nvme0n1 >/dev/null 2>&1 && mount -t ext2 /dev/nvme0n1 /mnt/nk; then
  out=$(numakit vfio bind $NVME --apply 2>&1); rc=$?
  echo "$out"
  if [ $rc = 2 ] && echo "$out" | grep -q 'nvme0n1 is mounted on /mnt/nk' && [ "$(drv $NVME)" = nvme ] &&
     grep -q ' /mnt/nk ' /proc/mounts; then
    ok "bind refuses the NVMe with a mounted filesystem (named), nothing changed"
  else
    not_ok "mounted NVMe refused" "exit $rc: $out"
  fi
  out=$(numakit vfio bind $NVME --force 2>&1); rc=$?
  if [ $rc = 0 ] && echo "$out" | grep -q 'warning: --force: nvme0n1 is mounted on /mnt/nk' &&
     echo "$out" | grep -q "drivers/nvme/unbind"; then
    ok "--force turns the refusal into a warning (dry run)"
  else
    not_ok "--force warning" "exit $rc: $out"
  fi
  umount /mnt/nk
else
  not_ok "mkfs and mount of nvme0n1" "see the log"
fi

ifc=$(ls /sys/bus/pci/devices/$NIC/virtio*/net 2>/dev/null | head -1)
if [ -n "$ifc" ]; then
  ip addr add 10.0.2.15/24 dev "$ifc" && ip link set "$ifc" up
  out=$(numakit vfio bind $NIC --apply 2>&1); rc=$?
  echo "$out"
  if [ $rc = 2 ] && echo "$out" | grep -q "network interface $ifc is up with" && [ "$(drv $NIC)" = virtio-pci ]; then
    ok "bind refuses the NIC whose interface $ifc is up with an address, nothing changed"
  else
    not_ok "NIC up refused" "exit $rc: $out"
  fi
  ip link set "$ifc" down
  out=$(numakit vfio bind $NIC --apply 2>&1); rc=$?
  echo "$out"
  expect_eq "NIC down binds" "$rc $(drv $NIC)" "0 vfio-pci"
  out=$(numakit vfio unbind $NIC --apply 2>&1); rc=$?
  echo "$out"
  i=0; while [ ! -d /sys/class/net/$ifc ] && [ $i -lt 50 ]; do usleep 100000; i=$((i + 1)); done
  if [ $rc = 0 ] && [ "$(drv $NIC)" = virtio-pci ] && [ -d /sys/class/net/$ifc ]; then
    ok "NIC back on virtio-pci, $ifc is back"
  else
    not_ok "NIC unbind" "exit $rc, driver '$(drv $NIC)'"
  fi
else
  not_ok "the virtio NIC has a network interface" "none under /sys/bus/pci/devices/$NIC"
fi
