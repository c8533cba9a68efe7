#!/usr/bin/env bash
# Builds the release binary linked statically (glibc, static-pie), the way
# numakit is meant to be shipped: no dynamic loader work at start-up, which is
# most of what a short command such as `numakit run` costs, and one file that
# runs on any x86_64 Linux (the multi-node VM tests use it too).
# Prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${NUMAKIT_STATIC_TARGET_DIR:-target-static}
triple=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release -q -p numakit-cli \
  --target "$triple" --target-dir "$target" >&2
echo "$PWD/$target/$triple/release/numakit"
