#!/usr/bin/env bash
# Runs every numakit test: the Rust workspace (unit, property, fixture and CLI
# tests), then the multi-node VM tests (tests/vm/run.sh), which say clearly
# when they are skipped because QEMU is missing.
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
echo "== the cuda feature (libcuda is loaded at run time; none is needed to build)"
cargo test -p numakit-sys --features cuda --lib cuda
cargo build -p numakit-cli --features cuda
if [ "$vm" = 1 ]; then
  echo "== multi-node VM tests (tests/vm/run.sh)"
  tests/vm/run.sh
fi
