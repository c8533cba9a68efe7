#!/usr/bin/env bash
# Runs every numakit test: the Rust workspace (unit, property, fixture and CLI
# tests), the documentation (warnings and missing docs are errors), every
# crate packaged and built from its package as crates.io would, the fuzz
# targets over their corpora (fuzz/, on the stable toolchain), then the
# multi-node VM tests (tests/vm/run.sh), which say clearly when they are
# skipped because QEMU is missing.
#   scripts/test.sh            # all tests
#   scripts/test.sh --no-vm    # only the Rust tests
set -euo pipefail
cd "$(dirname "$0")/.."
vm=1
for a in "$@"; do
  case $a in
    --no-vm) vm=0;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
    *) echo "test.sh: unknown option $a" >&2; exit 2;;
  esac
done
echo "== cargo test --workspace"
cargo test --workspace --all-targets
cargo test --workspace --doc
echo "== cargo doc (warnings and undocumented public items are errors)"
RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -D warnings -D missing_docs" cargo doc --workspace --no-deps
echo "== cargo package (every crate, then built from its package alone)"
# Offline: the crates it needs were fetched by the tests above. Path
# dependencies between the workspace's crates are resolved from the
# packages made in the same run, which cargo unpacks under its registry's
# src/-HASH/ and builds as registry crates: it unpacks a name and version
# only once and never rebuilds a registry crate of an unchanged version. So
# the packages are built in a target folder of their own, from which what
# an earlier run unpacked and built of them is removed first.
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
pkg_target=${CARGO_TARGET_DIR:-target}/package-check
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/numakit*-"$version" \
  "$pkg_target"/debug/.fingerprint/numakit*
CARGO_TARGET_DIR=$pkg_target cargo package --workspace --offline --allow-dirty --quiet
echo "== feature cuda (builds without CUDA: the driver is loaded at run time)"
cargo test -p numakit-sys --features cuda --lib cuda
cargo test -p numakit-bench --features cuda --lib
cargo test -p numakit-cli --features cuda --test bench_cli gpu
echo "== fuzz targets over their corpora (fuzz/)"
cargo build --release --locked --manifest-path fuzz/Cargo.toml --bins
fuzz_bin="${CARGO_TARGET_DIR:-fuzz/target}/release"
for t in parse_sets parse_numa_maps parse_vmstat tarball_root scenario; do
  "$fuzz_bin/$t" "fuzz/corpus/$t"
done
if [ "$vm" = 1 ]; then
  echo "== multi-node VM tests (tests/vm/run.sh)"
  tests/vm/run.sh
fi
