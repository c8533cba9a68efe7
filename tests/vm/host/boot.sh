#!/bin/bash
# Boot the test VM once for one topology and wait for it to power off.
#
#   boot.sh -t 2node|3node|gpuserver|noiommu|iommuoff -k KERNEL_DIR -i INITRD -w WORKDIR
#           [-T TIMEOUT_S] [-a KERNEL_ARGS] [-v | -S]
#
#   -v  copy the console to stderr while the VM runs
#   -S  interactive: the console is this terminal (Ctrl-A X quits QEMU) and
#       the guest starts a shell instead of the runner (nkvm.shell)
#
# Leaves in WORKDIR: stdout (ttyS1), stderr (ttyS2), export.tar (ttyS3, the
# guest's /out), console.log (ttyS0), firmware.log (SeaBIOS), qemu.cmd,
# qemu.err, and `exit` holding the guest's NKVM-EXIT value.
# Exit status: the guest's NKVM-EXIT value; 92 QEMU failed or no exit marker,
# 93 timeout, 90 usage.
#
# The machine (TCG, q35, VT-d):
#   2node  2 sockets x 2 cores: node 0 = CPUs 0-1 + 1 GiB, node 1 = CPUs 2-3
#          + 1 GiB, SLIT distance 21.
#   3node  2node + node 2: 512 MiB, no CPUs, distance 30 from node 0, 40 from 1.
#   gpuserver  2node's CPUs and memory with a GPU server's PCIe tree (below).
#   PCIe   pxb-pcie bus 0x20 (numa_node 0): root port -> virtio-net 21:00.0
#          pxb-pcie bus 0x40 (numa_node 1): root port -> NVMe 41:00.0,
#                                           root port -> edu 42:00.0
#          pcie.0: root port -> edu 01:00.0 (no node)
#          intel-iommu (intremap, caching-mode), kernel intel_iommu=on
#   gpuserver PCIe, per node N (bus 0x20 node 0, 0x40 node 1), as the
#          qemu-gpuserver fixture: pxb-pcie (numa_node N) -> root port ->
#          x3130 switch -> 2 GPU-like bochs-display (class 0x0380) and a
#          virtio-net; NVMe on a second root port; node 1 also an edu on a
#          third. GPUs: 23:00.0 24:00.0 (node 0), 43:00.0 44:00.0 (node 1).
#   noiommu  2node without the intel-iommu device and without intel_iommu=on:
#          the firmware describes no IOMMU
#   iommuoff 2node with the intel-iommu device (an ACPI DMAR table) booted
#          with intel_iommu=off: the kernel command line turns it off
set -uo pipefail
topo='' kdir='' initrd='' wd='' tmo=600 kargs='' verbose=0 shell=0
usage() { echo "usage: $0 -t TOPO -k KERNEL_DIR -i INITRD -w WORKDIR [-T SECS] [-a ARGS] [-v|-S]" >&2; exit 90; }
while getopts "t:k:i:w:T:a:vS" o; do
  case $o in
    t) topo=$OPTARG;; k) kdir=$OPTARG;; i) initrd=$OPTARG;; w) wd=$OPTARG;;
    T) tmo=$OPTARG;; a) kargs=$OPTARG;; v) verbose=1;; S) shell=1;; *) usage;;
  esac
done
[ -n "$topo" ] && [ -n "$kdir" ] && [ -n "$initrd" ] && [ -n "$wd" ] || usage
vmlinuz=$(ls "$kdir"/boot/vmlinuz-* 2>/dev/null | head -1)
[ -n "$vmlinuz" ] || { echo "boot: no vmlinuz in $kdir/boot" >&2; exit 92; }
mkdir -p "$wd"
for f in console.log stdout stderr export.tar firmware.log qemu.err exit; do : > "$wd/$f"; done
truncate -s 16M "$wd/nvme.img"

q=(qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot
   -accel tcg,thread=multi -cpu max -machine q35)
case $topo in
  2node|gpuserver|noiommu|iommuoff) mem=2048;;
  3node) mem=2560;;
  *) echo "boot: unknown topology $topo (2node, 3node, gpuserver, noiommu, iommuoff)" >&2; exit 90;;
esac
q+=(-smp 4,sockets=2,cores=2,threads=1 -m "${mem}M"
    -object memory-backend-ram,id=mem0,size=1024M
    -object memory-backend-ram,id=mem1,size=1024M
    -numa node,nodeid=0,memdev=mem0
    -numa node,nodeid=1,memdev=mem1
    -numa cpu,node-id=0,socket-id=0
    -numa cpu,node-id=1,socket-id=1
    -numa dist,src=0,dst=1,val=21)
if [ "$topo" = 3node ]; then
  q+=(-object memory-backend-ram,id=mem2,size=512M
      -numa node,nodeid=2,memdev=mem2
      -numa dist,src=0,dst=2,val=30
      -numa dist,src=1,dst=2,val=40)
fi
if [ "$topo" = gpuserver ]; then
  # per node: root port -> switch -> GPU, GPU, NIC; NVMe on its own root port
  for n in 0 1; do
    b=$((32 + 32 * n)) c=$((10 + 10 * n))
    truncate -s 16M "$wd/nvme$n.img"
    q+=(-device pxb-pcie,id=pxb$n,bus_nr=$b,numa_node=$n,bus=pcie.0
        -device pcie-root-port,id=rp${n}s,bus=pxb$n,chassis=$c,slot=0
        -device x3130-upstream,id=sw${n}u,bus=rp${n}s
        -device xio3130-downstream,id=sw${n}d0,bus=sw${n}u,chassis=$((c + 1)),slot=0
        -device bochs-display,vgamem=128M,bus=sw${n}d0
        -device xio3130-downstream,id=sw${n}d1,bus=sw${n}u,chassis=$((c + 2)),slot=0
        -device bochs-display,vgamem=128M,bus=sw${n}d1
        -device xio3130-downstream,id=sw${n}d2,bus=sw${n}u,chassis=$((c + 3)),slot=0
        -device virtio-net-pci,netdev=n$n,bus=sw${n}d2,mac=52:54:00:4e:4b:1$n
        -netdev user,id=n$n,restrict=on
        -device pcie-root-port,id=rp${n}n,bus=pxb$n,chassis=$((c + 4)),slot=0
        -device nvme,drive=nvm$n,serial=numakit-nvme$n,bus=rp${n}n
        -drive file="$wd/nvme$n.img",if=none,id=nvm$n,format=raw)
  done
  q+=(-device pcie-root-port,id=rp1e,bus=pxb1,chassis=25,slot=0 -device edu,bus=rp1e
      -device pcie-root-port,id=rp3,bus=pcie.0,chassis=4,slot=0
      -device edu,bus=rp3
      -device intel-iommu,intremap=on,caching-mode=on)
else
# one PCIe expander root bus per node, then a device on the main root bus
q+=(-device pxb-pcie,id=pxb0,bus_nr=32,numa_node=0,bus=pcie.0
    -device pcie-root-port,id=rp0,bus=pxb0,chassis=1,slot=0
    -device virtio-net-pci,netdev=net0,bus=rp0,mac=52:54:00:4e:4b:01
    -netdev user,id=net0,restrict=on
    -device pxb-pcie,id=pxb1,bus_nr=64,numa_node=1,bus=pcie.0
    -device pcie-root-port,id=rp1,bus=pxb1,chassis=2,slot=0
    -device nvme,drive=nvme0,serial=numakit-nvme0,bus=rp1
    -drive file="$wd/nvme.img",if=none,id=nvme0,format=raw
    -device pcie-root-port,id=rp2,bus=pxb1,chassis=3,slot=0
    -device edu,bus=rp2
    -device pcie-root-port,id=rp3,bus=pcie.0,chassis=4,slot=0
    -device edu,bus=rp3)
  [ "$topo" = noiommu ] || q+=(-device intel-iommu,intremap=on,caching-mode=on)
fi
case $topo in
  noiommu) iommu_arg='';;
  iommuoff) iommu_arg=intel_iommu=off;;
  *) iommu_arg=intel_iommu=on;;
esac
# numa_balancing=disable: pages stay where the checks put them
append="console=ttyS0 panic=-1 quiet loglevel=4 $iommu_arg numa_balancing=disable nkvm.topo=$topo $kargs"
console=("file:$wd/console.log")
if [ "$shell" = 1 ]; then console=(mon:stdio); append+=" nkvm.shell"; fi
q+=(-kernel "$vmlinuz" -initrd "$initrd" -append "$append"
    -serial "${console[0]}" -serial "file:$wd/stdout"
    -serial "file:$wd/stderr" -serial "file:$wd/export.tar"
    -chardev "file,id=fw,path=$wd/firmware.log" -device isa-debugcon,iobase=0x402,chardev=fw)
# shellcheck disable=SC2206  # extra QEMU arguments, split on spaces
[ -n "${NUMAKIT_VM_QEMU_ARGS:-}" ] && q+=($NUMAKIT_VM_QEMU_ARGS)
printf '%q ' "${q[@]}" > "$wd/qemu.cmd"; echo >> "$wd/qemu.cmd"

if [ "$shell" = 1 ]; then
  "${q[@]}"
  exit $?
fi
qpid='' tpid=''
cleanup() {
  [ -n "$qpid" ] && kill "$qpid" 2>/dev/null
  [ -n "$tpid" ] && kill "$tpid" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ "$verbose" = 1 ]; then tail -n +1 -f "$wd/console.log" >&2 & tpid=$!; fi
timeout -k 5 "$tmo" "${q[@]}" < /dev/null > "$wd/qemu.err" 2>&1 &
qpid=$!
wait "$qpid"; qrc=$?; qpid=''
if [ -n "$tpid" ]; then sleep 0.2; kill "$tpid" 2>/dev/null; wait "$tpid" 2>/dev/null; tpid=''; fi

rc=$(tr -d '\r' < "$wd/console.log" | sed -n 's/^NKVM-EXIT=\([0-9][0-9]*\)$/\1/p' | tail -1)
echo "$rc" > "$wd/exit"
if [ -z "$rc" ]; then
  if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
    echo "boot: $topo: no result after ${tmo}s (timeout); last console lines:" >&2
    tr -d '\r' < "$wd/console.log" | tail -n 15 | sed 's/^/boot:   /' >&2
    exit 93
  fi
  echo "boot: $topo: QEMU exited $qrc without the guest's exit marker" >&2
  tail -n 10 "$wd/qemu.err" | sed 's/^/boot:   qemu: /' >&2
  tr -d '\r' < "$wd/console.log" | tail -n 15 | sed 's/^/boot:   /' >&2
  exit 92
fi
exit "$rc"
