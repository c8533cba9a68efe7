#!/usr/bin/env bash
# The zero-copy camera -> GPU -> display pipeline against the same pipeline
# copying frames through Unix sockets (numakit bench dmabuf): frames per
# second and CPU time per frame for 1 MiB and 8 MiB frames, with system-heap
# buffers filled by the CPU and with vivid's camera buffers, and the ratios
# (goal at 8 MiB: zero-copy >= 4x the frames/s and <= 1/4 the CPU per frame).
#
#   scripts/bench-dmabuf.sh           # in the 2-node VM (tests/vm), FRAMES frames per run
#   scripts/bench-dmabuf.sh --host    # on this machine (needs /dev/dma_heap/system,
#                                     # and vivid + vgem for the camera rows)
#
# Environment: FRAMES (default 60). In the VM (QEMU TCG, no KVM) every
# instruction is emulated, the kernel's copies included: the ratios are
# the VM's, not a real machine's.
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${FRAMES:-60}

table() { # flattened JSON of numakit.bench-dmabuf/1 on stdin
  awk -F= '
    { k = $1; v = substr($0, length($1) + 2) }
    match(k, /^\.pairs\[[0-9]+\]/) {
      i = substr(k, 8, RLENGTH - 8) + 0; n = (i > n) ? i : n; f = substr(k, RLENGTH + 2); val[i, f] = v }
    END {
      printf "%-22s %10s  %14s %14s  %13s %13s  %8s %8s\n", "source", "frame", "zero-copy f/s", "copy f/s", "zc CPU ms/f", "copy CPU ms/f", "f/s x", "CPU x"
      for (i = 0; i <= n; i++)
        printf "%-22s %10d  %14.2f %14.2f  %13.2f %13.2f  %7.2fx %7.3fx\n", val[i, "source"], val[i, "frame_bytes"],
          val[i, "zero_copy.fps"], val[i, "copy.fps"], val[i, "zero_copy.cpu_ms_per_frame"], val[i, "copy.cpu_ms_per_frame"],
          val[i, "fps_ratio"], val[i, "cpu_ratio"]
      print "goal at 8 MiB: f/s x >= 4, CPU x <= 0.25"
    }'
}

if [ "${1:-}" = --host ]; then
  nk=${NUMAKIT_BIN:-$(scripts/build-static.sh)}
  echo "== numakit bench dmabuf on this machine, $frames frames per run"
  exec "$nk" bench dmabuf --frames "$frames"
fi
log=target-vm/vm-results/2node/out/logs/2node-66-dmabuf-bench.log
rm -f "$log"
NUMAKIT_VM_FILTER=66-dmabuf-bench NUMAKIT_VM_KARGS="nkvm.bench_frames=$frames" \
  NUMAKIT_VM_CHECK_TIMEOUT=${NUMAKIT_VM_CHECK_TIMEOUT:-580} tests/vm/run.sh --topo 2node >&2 || true
[ -s "$log" ] || { echo "bench-dmabuf: no results (see the VM output above)" >&2; exit 1; }
echo "== numakit bench dmabuf in the 2-node VM (QEMU TCG, 4 vCPUs), $frames frames per run"
grep '^\.' "$log" | table
