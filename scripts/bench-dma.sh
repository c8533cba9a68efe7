#!/bin/sh
# Throughput of the DMA API model with and without its checker:
# map/sync/unmap cycles per second, and a 1 GiB scatter-gather workload.
# Usage: scripts/bench-dma.sh [CYCLES] [SG-ENTRY-KIB]
# The figures are model time on this machine; see
# crates/numakit-dma/examples/bench_dma.rs for exactly what is measured.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet -p numakit-dma --example bench-dma
bin="${CARGO_TARGET_DIR:-target}/release/examples/bench-dma"
if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "peak resident memory: %M KiB, wall %e s" "$bin" "$@"
else
    "$bin" "$@"
fi
