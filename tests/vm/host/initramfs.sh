#!/bin/bash
# Pack the test VM's initramfs (a gzip'd newc cpio).
#
#   initramfs.sh -k KERNEL_DIR -o OUT.cpio.gz [-m MODULE]... [-b FILE]...
#                [-c CHECK_FILE]...
#
#   -k  unpacked kernel package (host/kernel.sh): modules come from here
#   -m  kernel module to load at boot, with its dependencies (repeatable)
#   -b  SRC[:NAME] copied to /vm/bin/NAME (in PATH in the guest; NAME
#       defaults to SRC's name): static binaries only
#   -c  check file; its parent directory name (any, 2node, 3node) is kept:
#       tests/vm/checks/2node/10-x.sh -> /vm/checks/2node/10-x.sh
#
# Always packs busybox (must be static) as /bin/busybox, guest/init.sh as
# /init, guest/runner.sh and lib.sh under /vm. Module files are decompressed
# here and listed, dependencies first, in /vm/modules for init to insmod.
set -euo pipefail
vmdir=$(cd "$(dirname "$0")/.." && pwd)
kdir='' out='' mods=() bins=() checks=()
while getopts "k:o:m:b:c:" o; do
  case $o in
    k) kdir=$OPTARG;; o) out=$OPTARG;; m) mods+=("$OPTARG");;
    b) bins+=("$OPTARG");; c) checks+=("$OPTARG");;
    *) exit 2;;
  esac
done
[ -n "$kdir" ] && [ -n "$out" ] || { echo "usage: $0 -k KERNEL_DIR -o OUT [-m MOD] [-b FILE] [-c CHECK]" >&2; exit 2; }

bb=${NUMAKIT_VM_BUSYBOX:-$(command -v busybox || true)}
lddout=$( [ -n "$bb" ] && ldd "$bb" 2>&1 || true)
case $lddout in *'not a dynamic'*|*'statically linked'*) ;; *) false;; esac ||
  { echo "initramfs: no static busybox (apt-get install busybox-static)" >&2; exit 1; }
ver=$(cat "$kdir/.complete" 2>/dev/null || ls "$kdir/lib/modules" | head -1)

stage=$(mktemp -d "${TMPDIR:-/tmp}/numakit-vm-initrd.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,out,root,etc} \
         "$stage"/vm/{bin,checks} "$stage/lib/modules/$ver"
cp "$bb" "$stage/bin/busybox"
install -m 755 "$vmdir/guest/init.sh" "$stage/init"
install -m 755 "$vmdir/guest/runner.sh" "$stage/vm/runner.sh"
install -m 644 "$vmdir/lib.sh" "$stage/vm/lib.sh"
echo "root:x:0:0:root:/root:/bin/sh" > "$stage/etc/passwd"
echo "root:x:0:" > "$stage/etc/group"

: > "$stage/vm/modules"
if [ ${#mods[@]} -gt 0 ]; then
  for m in "${mods[@]}"; do
    modprobe -d "$kdir" -S "$ver" --show-depends "$m" ||
      { echo "initramfs: module $m not found in $kdir" >&2; exit 1; }
  done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' | while read -r ko; do
    rel=${ko#"$kdir"/lib/modules/"$ver"/}
    rel=${rel%.xz}; rel=${rel%.zst}; rel=${rel%.gz}
    dst=$stage/lib/modules/$ver/$rel
    mkdir -p "$(dirname "$dst")"
    case $ko in
      *.xz) xz -dc "$ko" > "$dst";;
      *.zst) zstd -qdc "$ko" > "$dst";;
      *.gz) gzip -dc "$ko" > "$dst";;
      *) cp "$ko" "$dst";;
    esac
    echo "/lib/modules/$ver/$rel" >> "$stage/vm/modules"
  done
fi

for b in "${bins[@]+"${bins[@]}"}"; do
  src=${b%%:*} name=${b#*:}
  [ "$name" = "$b" ] && name=$(basename "$src")
  install -m 755 "$src" "$stage/vm/bin/$name"
done
# The host's numastat (dynamically linked), with its libraries under
# /vm/real, so that a check can run it in a chroot of frozen node files and
# compare numakit's numastat mode with it byte for byte. Skipped without it.
real=${NUMAKIT_VM_NUMASTAT:-/usr/bin/numastat}
if [ -x "$real" ]; then
  mkdir -p "$stage/vm/real/usr/bin"
  cp "$real" "$stage/vm/real/usr/bin/numastat"
  ldd "$real" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
    mkdir -p "$stage/vm/real$(dirname "$lib")"
    cp -L "$lib" "$stage/vm/real$lib"
  done
fi
for c in "${checks[@]+"${checks[@]}"}"; do
  d=$(basename "$(dirname "$c")")
  mkdir -p "$stage/vm/checks/$d"
  install -m 644 "$c" "$stage/vm/checks/$d/$(basename "$c")"
done

( cd "$stage" && find . -print0 | LC_ALL=C sort -z |
  cpio --null -o -H newc --quiet -R 0:0 ) | gzip -1 > "$out"
