#!/bin/bash
# Fetch a Debian kernel image package into the VM cache and unpack it there.
# The package is downloaded with `apt-get download` and unpacked with
# `dpkg-deb -x`; it is never installed on the host. The unpacked tree gets a
# fresh modules.dep (depmod -b) so modprobe can resolve module dependencies.
#
#   kernel.sh [PACKAGE]
#
# PACKAGE defaults to $NUMAKIT_VM_KERNEL_PKG or linux-image-6.12-amd64
# (Debian bookworm-security; the full kernel, whose modules include the
# vivid camera and vgem GPU the DMA-BUF checks use). A meta package is
# followed to the versioned image package it depends on. The tree lands in
#   ${NUMAKIT_VM_CACHE:-/var/tmp/numakit-vm}/kernel/<versioned package>/
# and is reused on later runs (also from other clones on the same machine).
# On success the directory is printed on stdout; progress goes to stderr.
# Exit status: 0 ok, 1 download/unpack failed, 3 a needed tool is missing.
set -euo pipefail
pkg=${1:-${NUMAKIT_VM_KERNEL_PKG:-linux-image-6.12-amd64}}
cache=${NUMAKIT_VM_CACHE:-/var/tmp/numakit-vm}
say() { echo "vm: kernel: $*" >&2; }

mkdir -p "$cache/kernel" "$cache/debs"
# Serialise concurrent runs that share the cache.
exec 9>"$cache/.kernel.lock"
flock 9

# A previous run already resolved this package name: reuse without asking apt.
link="$cache/kernel/$pkg"
if [ -L "$link" ] && [ -f "$link/.complete" ]; then
  readlink -f "$link"
  exit 0
fi

for t in apt-get apt-cache dpkg-deb depmod; do
  command -v "$t" >/dev/null || { say "$t not found (apt-get install apt dpkg kmod)"; exit 3; }
done

# Follow meta packages (linux-image-6.12-cloud-amd64 -> linux-image-6.12.N+debM-cloud-amd64).
real=$pkg
for _ in 1 2 3 4; do
  dep=$(apt-cache depends "$real" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
  [ -n "$dep" ] || break
  real=$dep
done
if ! apt-cache show "$real" >/dev/null 2>&1; then
  say "apt does not know $pkg (add Debian bookworm-security to the sources and run apt-get update)"
  exit 1
fi
dest="$cache/kernel/$real"
if [ ! -f "$dest/.complete" ]; then
  deb=$(ls -t "$cache/debs/${real}_"*.deb 2>/dev/null | head -1 || true)
  if [ -z "$deb" ]; then
    say "downloading $real"
    ( cd "$cache/debs" && apt-get download "$real" ) >&2 ||
      { say "apt-get download $real failed (run apt-get update?)"; exit 1; }
    deb=$(ls -t "$cache/debs/${real}_"*.deb | head -1)
  fi
  say "unpacking $(basename "$deb")"
  rm -rf "$dest.tmp"
  mkdir -p "$dest.tmp"
  dpkg-deb -x "$deb" "$dest.tmp"
  ver=$(ls "$dest.tmp/lib/modules" | head -1)
  [ -n "$ver" ] && ls "$dest.tmp/boot/vmlinuz-$ver" >/dev/null ||
    { say "$deb has no /boot/vmlinuz or /lib/modules"; rm -rf "$dest.tmp"; exit 1; }
  depmod -b "$dest.tmp" "$ver"
  echo "$ver" > "$dest.tmp/.complete"
  rm -rf "$dest"
  mv "$dest.tmp" "$dest"
  say "$ver ready in $dest"
fi
ln -sfn "$real" "$link"
echo "$dest"
