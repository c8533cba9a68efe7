#!/bin/busybox sh
# PID 1 of the test VM (packed as /init by host/initramfs.sh).
#
# Serial ports, each a file on the host (see host/boot.sh):
#   ttyS0  console: kernel messages, the topology summary, the exit marker
#   ttyS1  stdout of the check runner (the TAP-like result stream)
#   ttyS2  stderr of the check runner
#   ttyS3  a tar stream of /out (check logs, summary), read back by the host
# The runner's exit status is printed on the console as NKVM-EXIT=<n>; the
# host treats a missing marker as a rig failure.
# Kernel command line: nkvm.topo=NAME (required), nkvm.verbose=1,
# nkvm.check_timeout=SECS, nkvm.shell (interactive debugging on the console).
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /run /out /root
/bin/busybox --install -s
export PATH=/vm/bin:/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null

# kernel modules (dependencies first, decompressed on the host)
if [ -s /vm/modules ]; then
  while read -r ko; do
    [ -n "$ko" ] && { insmod "$ko" || echo "nkvm: insmod $ko failed"; }
  done < /vm/modules
fi

arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^$1=//p" | tail -1; }
has() { tr ' ' '\n' < /proc/cmdline | grep -qx "$1"; }

summary() {
  echo "kernel $(uname -r), $(nproc) CPUs, topology $(arg nkvm.topo)"
  for n in /sys/devices/system/node/node*; do
    echo "${n##*/}: cpus=[$(cat $n/cpulist)] distance=[$(cat $n/distance)] $(awk '/MemTotal/ { print $4 " kB" }' $n/meminfo)"
  done
  for f in possible online has_cpu has_memory has_normal_memory; do
    echo "node/$f: $(cat /sys/devices/system/node/$f 2>/dev/null)"
  done
  echo "numa_balancing: $(cat /proc/sys/kernel/numa_balancing 2>/dev/null)  thp: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)"
  echo "iommu: $(ls /sys/class/iommu 2>/dev/null | tr '\n' ' ')groups=$(ls /sys/kernel/iommu_groups 2>/dev/null | wc -l)"
  echo "pci (bdf class vendor:device numa_node driver):"
  for d in /sys/bus/pci/devices/*; do
    drv=$(readlink "$d/driver" 2>/dev/null)
    echo "  ${d##*/} $(cat $d/class) $(cat $d/vendor):$(cat $d/device) numa=$(cat $d/numa_node) ${drv##*/}"
  done
}
summary > /out/summary.txt 2>&1
echo "===== NKVM TOPOLOGY ====="
cat /out/summary.txt
echo "===== NKVM RUN ====="

for t in /dev/ttyS1 /dev/ttyS2 /dev/ttyS3; do stty -F $t raw -echo -onlcr -opost 2>/dev/null; done

if has nkvm.shell; then
  echo "nkvm: shell on the console; run /vm/runner.sh, exit to power off"
  setsid cttyhack sh
  rc=0
else
  cd /
  /vm/runner.sh > /dev/ttyS1 2> /dev/ttyS2 < /dev/null
  rc=$?
fi
tar -c -f /dev/ttyS3 -C /out . 2>/dev/null || echo "nkvm: exporting /out failed"
sync
echo "NKVM-EXIT=$rc"
poweroff -f
while :; do sleep 60; done
