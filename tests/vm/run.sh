#!/bin/bash
# numakit multi-node VM tests: boot QEMU (TCG) with 2 and 3 NUMA nodes and a
# GPU server's PCIe tree, run the checks of tests/vm/checks/ inside, print
# their results.
#
#   tests/vm/run.sh [--topo 2node|3node|gpuserver|noiommu|iommuoff|all] [--keep-going] [-v]
#   tests/vm/run.sh --shell [--topo 2node|3node|gpuserver|noiommu|iommuoff]
#
#   --topo T       boot only this topology (default: all = 2node, 3node,
#                  gpuserver, noiommu: 2node without an IOMMU, iommuoff:
#                  2node with its IOMMU turned off by intel_iommu=off)
#   --keep-going   boot every selected topology even after one had a failure
#                  (default: stop after the first topology with a failure)
#   -v, --verbose  stream the VM console, show every check's log and the
#                  build output
#   --shell        build as usual, then boot one topology (the first
#                  selected) with a shell on this terminal instead of running
#                  the checks (/vm/runner.sh runs them; Ctrl-A X quits)
#
# One boot per topology runs all its checks. Prints one TAP-like line per
# check result and ends with
#   vm: N passed, N failed[, N skipped]
# Exit status: 0 nothing failed (or the rig's host tools are missing, see
# NUMAKIT_VM_REQUIRED), 1 a check failed or the rig itself failed, 2 usage.
#
# Environment:
#   NUMAKIT_VM_REQUIRED=1      missing QEMU/busybox/... is an error, not a skip
#   NUMAKIT_VM_CACHE           kernel cache (default /var/tmp/numakit-vm)
#   NUMAKIT_VM_KERNEL_PKG      kernel package (default linux-image-6.12-amd64)
#   NUMAKIT_VM_KERNEL_DIR      use this unpacked kernel tree instead
#   NUMAKIT_VM_BIN             use this static numakit binary (skip cargo)
#   NUMAKIT_VM_ADD             extra files for the guest's /vm/bin (space separated)
#   NUMAKIT_VM_FILTER          only checks whose TOPO/file name contains this
#   NUMAKIT_VM_TIMEOUT         seconds per boot (default 600)
#   NUMAKIT_VM_CHECK_TIMEOUT   seconds per check file (default 120)
#   NUMAKIT_VM_RESULTS         where logs go (default target-vm/vm-results)
#   NUMAKIT_VM_JOBS            cargo -j (default 2)
#   NUMAKIT_VM_QEMU_ARGS       extra QEMU arguments (split on spaces)
#   NUMAKIT_VM_KARGS           extra kernel command line (nkvm.bench_frames=N, ...)
set -uo pipefail
vmdir=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$vmdir/../.." && pwd)
topos=all keep_going=0 verbose=0 shell=0

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --topo) [ $# -ge 2 ] || { usage >&2; exit 2; }; topos=$2; shift 2;;
    --topo=*) topos=${1#--topo=}; shift;;
    --keep-going) keep_going=1; shift;;
    -v|--verbose) verbose=1; shift;;
    --shell) shell=1; shift;;
    -h|--help) usage; exit 0;;
    *) echo "vm: unknown argument: $1" >&2; usage >&2; exit 2;;
  esac
done
case $topos in
  all) topos='2node 3node gpuserver noiommu iommuoff';;
  2node|3node|gpuserver|noiommu|iommuoff) ;;
  *) echo "vm: --topo must be 2node, 3node, gpuserver, noiommu, iommuoff or all" >&2; exit 2;;
esac

t_start=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
say() { echo "vm: $*"; }
rig_fail() { say "RIG FAILURE: $*"; rig_failed=1; }
rig_failed=0

# ------------------------------------------------------------ prerequisites
pkgs='apt-get install qemu-system-x86 busybox-static cpio kmod xz-utils'
missing() {
  if [ "${NUMAKIT_VM_REQUIRED:-0}" = 1 ]; then
    say "FAILED: $1 ($pkgs); NUMAKIT_VM_REQUIRED=1"
    exit 1
  fi
  say "SKIPPED: $1 ($pkgs)"
  exit 0
}
command -v qemu-system-x86_64 >/dev/null || missing "qemu-system-x86_64 not found"
bb=$(command -v busybox || true)
[ -n "$bb" ] || missing "busybox not found"
is_static() { # ldd fails on static binaries; pipefail must not see that
  local o; o=$(ldd "$1" 2>&1); case $o in *'not a dynamic'*|*'statically linked'*) return 0;; esac; return 1
}
is_static "$bb" ||
  missing "busybox at $bb is not statically linked (busybox-static)"
export NUMAKIT_VM_BUSYBOX=$bb
for t in cpio gzip xz modprobe depmod; do
  command -v "$t" >/dev/null || missing "$t not found"
done
command -v gcc >/dev/null || missing "gcc not found (apt-get install gcc)"
if [ -z "${NUMAKIT_VM_BIN:-}" ]; then
  command -v cargo >/dev/null || missing "cargo not found"
fi

# ------------------------------------------------------------ kernel
t0=$(date +%s.%N)
if [ -n "${NUMAKIT_VM_KERNEL_DIR:-}" ]; then
  kdir=$NUMAKIT_VM_KERNEL_DIR
else
  kdir=$("$vmdir/host/kernel.sh")
  krc=$?
  case $krc in
    0) ;;
    3) missing "no cached kernel and the Debian package tools (apt-get, dpkg-deb) are missing";;
    *) rig_fail "could not fetch the kernel package (see above)"; say "0 passed, 0 failed"; exit 1;;
  esac
fi
ls "$kdir"/boot/vmlinuz-* >/dev/null 2>&1 ||
  { rig_fail "no kernel in $kdir"; say "0 passed, 0 failed"; exit 1; }
[ "$verbose" = 1 ] && say "kernel: $kdir ($(elapsed "$t0")s)"

# ------------------------------------------------------------ build
out=$repo/target-vm
results=${NUMAKIT_VM_RESULTS:-$out/vm-results}
mkdir -p "$out/vm-tools" "$results"
build_log=$out/vm-build.log
: > "$build_log"
t0=$(date +%s.%N)
# the numakit library's examples (crates/numakit/examples), in the guest as
# numakit-example-NAME (checks/*/70-library-examples.sh)
lib_examples='sizes nodes_cpus allocation affinity policy pages strings hwloc device_locality numa_app dma_driver'
if [ -n "${NUMAKIT_VM_BIN:-}" ]; then
  numakit=$NUMAKIT_VM_BIN
else
  numakit=$out/x86_64-unknown-linux-gnu/release/numakit
  if ! ( cd "$repo" && RUSTFLAGS='-C target-feature=+crt-static' \
         cargo build --release --target x86_64-unknown-linux-gnu -p numakit-cli \
         -p numakit-placement -p numakit --bin numakit --example first_touch \
         $(for e in $lib_examples; do printf -- '--example %s ' "$e"; done) \
         -p numakit-dmabuf --example sync_fences --example pipeline \
         -p numakit-dma --example edu \
         --target-dir "$out" -j"${NUMAKIT_VM_JOBS:-2}" ) >> "$build_log" 2>&1; then
    tail -n 30 "$build_log" | sed 's/^/vm: cargo: /'
    rig_fail "the static numakit build failed (log: $build_log)"
    say "0 passed, 0 failed"
    exit 1
  fi
fi
[ -x "$numakit" ] && is_static "$numakit" ||
  { rig_fail "$numakit is missing or not statically linked"; say "0 passed, 0 failed"; exit 1; }
bins=("$numakit:numakit")
# the first-touch helper example of numakit-placement, when built
ft=$out/x86_64-unknown-linux-gnu/release/examples/first_touch
[ -z "${NUMAKIT_VM_BIN:-}" ] && [ -x "$ft" ] && bins+=("$ft:first_touch")
for e in $lib_examples; do
  x=$out/x86_64-unknown-linux-gnu/release/examples/$e
  [ -z "${NUMAKIT_VM_BIN:-}" ] && [ -x "$x" ] && bins+=("$x:numakit-example-$e")
done
# the DMA-BUF examples of numakit-dmabuf (sync_fences checks its own claims)
for ex in sync_fences pipeline; do
  exb=$out/x86_64-unknown-linux-gnu/release/examples/$ex
  [ -z "${NUMAKIT_VM_BIN:-}" ] && [ -x "$exb" ] && bins+=("$exb:dmabuf-$ex")
done
# the edu example of numakit-dma (the driver on the typed DMA API)
edu=$out/x86_64-unknown-linux-gnu/release/examples/edu
[ -z "${NUMAKIT_VM_BIN:-}" ] && [ -x "$edu" ] && bins+=("$edu:dma-edu")
for src in "$vmdir"/tools/*.c; do
  [ -f "$src" ] || continue
  b=$out/vm-tools/$(basename "$src" .c)
  if [ ! -x "$b" ] || [ "$src" -nt "$b" ]; then
    if ! gcc -O2 -Wall -static -pthread -o "$b" "$src" >> "$build_log" 2>&1; then
      tail -n 20 "$build_log" | sed 's/^/vm: gcc: /'
      rig_fail "building $(basename "$src") failed"
      say "0 passed, 0 failed"
      exit 1
    fi
  fi
  bins+=("$b")
done
for f in ${NUMAKIT_VM_ADD:-}; do
  [ -f "$f" ] || { rig_fail "NUMAKIT_VM_ADD: no file $f"; say "0 passed, 0 failed"; exit 1; }
  bins+=("$f")
done
[ "$verbose" = 1 ] && cat "$build_log"
say "built numakit and $(( ${#bins[@]} - 1 )) tool(s) in $(elapsed "$t0")s"

# ------------------------------------------------------------ checks + initramfs
# the checks of each topology: checks/any/*.sh and checks/TOPO/*.sh
declare -A expect
cargs=()
for topo in $topos; do
  list=''
  for f in "$vmdir"/checks/any/*.sh "$vmdir"/checks/"$topo"/*.sh; do
    [ -f "$f" ] || continue
    name=$topo/$(basename "$f" .sh)
    case $name in *"${NUMAKIT_VM_FILTER:-}"*) ;; *) continue;; esac
    list+="$name "
    cargs+=(-c "$f")
  done
  expect[$topo]=$list
done
mods=(vfio-pci vfio_iommu_type1 virtio_net)
# the full kernel: nvme is a module there; for DMA-BUF, vivid (a V4L2
# camera) and vgem (a DRM device)
mods+=(nvme vivid vgem)
# ext4 for the ext2 file systems on the NVMe: the page-cache check of stat
# --file, and the mounted disk vfio bind refuses
mods+=(ext4)
kargs_base="nkvm.check_timeout=${NUMAKIT_VM_CHECK_TIMEOUT:-120}"
# TCG on a busy host can miss the early timer check, which panics with VT-d
kargs_base+=" no_timer_check ${NUMAKIT_VM_KARGS:-}"
kargs=$kargs_base
[ "$verbose" = 1 ] && kargs+=" nkvm.verbose=1"
t0=$(date +%s.%N)
work=$(mktemp -d "${TMPDIR:-/tmp}/numakit-vm.XXXXXX")
trap 'rm -rf "$work"' EXIT
margs=(); for m in "${mods[@]}"; do margs+=(-m "$m"); done
bargs=(); for b in "${bins[@]}"; do bargs+=(-b "$b"); done
if ! "$vmdir/host/initramfs.sh" -k "$kdir" -o "$work/initrd.gz" "${margs[@]}" "${bargs[@]}" \
       "${cargs[@]+"${cargs[@]}"}"; then
  rig_fail "building the initramfs failed"; say "0 passed, 0 failed"; exit 1
fi
[ "$verbose" = 1 ] && say "initramfs: $(stat -c %s "$work/initrd.gz") bytes in $(elapsed "$t0")s"

# ------------------------------------------------------------ interactive
if [ "$shell" = 1 ]; then
  topo=${topos%% *}
  say "$topo: interactive boot; the checks are in /vm/checks, run them with /vm/runner.sh"
  "$vmdir/host/boot.sh" -S -t "$topo" -k "$kdir" -i "$work/initrd.gz" -w "$work/$topo" -a "$kargs_base"
  exit $?
fi

# ------------------------------------------------------------ boot + results
passed=0 failed=0 skipped=0 num=0
report() { # one result line from the guest: renumber, count, print
  local l=$1 rest
  case $l in
    'not ok - '*) failed=$((failed + 1)); num=$((num + 1)); echo "not ok $num - ${l#not ok - }";;
    'ok - '*' # SKIP'*) skipped=$((skipped + 1)); num=$((num + 1)); echo "ok $num - ${l#ok - }";;
    'ok - '*) passed=$((passed + 1)); num=$((num + 1)); echo "ok $num - ${l#ok - }";;
    '# begin '*) [ "$verbose" = 1 ] && echo "$l";;
    '# end '*) rest=${l#\# end }; ended[${rest%% *}]=1; [ "$verbose" = 1 ] && echo "$l";;
    '#'*) echo "$l";;
    '') ;;
    *) echo "# guest: $l";;
  esac
}
stop=0
for topo in $topos; do
  if [ "$stop" = 1 ]; then
    say "$topo: not booted after the failure above (--keep-going boots it anyway)"
    continue
  fi
  if [ -z "${expect[$topo]}" ]; then
    say "$topo: no checks selected, not booted"
    continue
  fi
  wd=$results/$topo
  rm -rf "$wd"; mkdir -p "$wd"
  vflag=(); [ "$verbose" = 1 ] && vflag=(-v)
  t0=$(date +%s.%N)
  # with -v, boot.sh's stderr (the live console) goes straight to ours
  berr=$wd/boot.err; [ "$verbose" = 1 ] && berr=/dev/stderr
  "$vmdir/host/boot.sh" -t "$topo" -k "$kdir" -i "$work/initrd.gz" -w "$wd" \
    -T "${NUMAKIT_VM_TIMEOUT:-600}" -a "$kargs" "${vflag[@]+"${vflag[@]}"}" 2> "$berr"
  brc=$?
  secs=$(elapsed "$t0")
  [ -s "$wd/export.tar" ] && mkdir -p "$wd/out" && tar -x -f "$wd/export.tar" -C "$wd/out" 2>/dev/null
  up=$(sed -n 's/^# topology .* runner started at guest uptime \([0-9.]*\)s$/\1/p' "$wd/stdout" | head -1)
  say "$topo: VM ran ${secs}s (checks started ${up:-?}s after kernel start); logs in $wd"
  unset ended; declare -A ended=()
  f0=$failed
  while IFS= read -r line || [ -n "$line" ]; do
    report "${line%$'\r'}"
  done < "$wd/stdout"
  # checks the guest did not finish (VM crash, timeout) are failures too
  why=''
  case $brc in
    0|1) ;;
    93) why="VM timed out after ${NUMAKIT_VM_TIMEOUT:-600}s";;
    92) why="VM stopped without an exit marker";;
    *) why="runner exited $brc";;
  esac
  for name in ${expect[$topo]}; do
    [ -n "${ended[$name]:-}" ] && continue
    failed=$((failed + 1)); num=$((num + 1))
    echo "not ok $num - $name: no result # ${why:-the guest never reported this check}"
  done
  if [ -n "$why" ]; then
    [ -s "$wd/boot.err" ] && sed 's/^/vm: /' "$wd/boot.err"
    [ -s "$wd/stderr" ] && sed 's/^/vm: guest stderr: /' "$wd/stderr"
    rig_fail "$topo: $why (console: $wd/console.log)"
  elif [ -s "$wd/stderr" ]; then
    sed 's/^/# guest stderr: /' "$wd/stderr"
  fi
  if [ "$brc" = 1 ] && [ "$failed" = "$f0" ]; then
    rig_fail "$topo: the guest runner reported a failure that is not in the results"
  fi
  if [ "$keep_going" = 0 ] && { [ "$failed" -gt "$f0" ] || [ -n "$why" ]; }; then stop=1; fi
done

say "total ${num} results in $(elapsed "$t_start")s"
summary="vm: $passed passed, $failed failed"
[ "$skipped" -gt 0 ] && summary+=", $skipped skipped"
echo "$summary"
[ "$failed" = 0 ] && [ "$rig_failed" = 0 ] && exit 0
exit 1
