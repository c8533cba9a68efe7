#!/usr/bin/env bash
# Runs every numakit test: the Rust workspace (unit, property, fixture and CLI
# tests), the fuzz targets over their corpora (fuzz/, on the stable
# toolchain), then the multi-node VM tests (tests/vm/run.sh), which say
# clearly when they are skipped because QEMU is missing.
#   scripts/test.sh            # all tests
#   scripts/test.sh --no-vm    # only the Rust tests
set -euo pipefail
cd "$(dirname "$0")/.."
vm=1
for a in "$@"; do
  case $a in
    --no-vm) vm=0;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
    *) echo "test.sh: unknown option $a" >&2; exit 2;;
  esac
done
echo "== cargo test --workspace"
cargo test --workspace --all-targets
cargo test --workspace --doc
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
