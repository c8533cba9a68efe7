#!/usr/bin/env bash
# Placement speed, side by side with numactl, and page-query speed:
#   1. `numakit run --membind 0 -- true` vs `numactl --membind 0 true`
#      (goal: numakit within 1.2x of numactl);
#   2. page location over 1 GiB of touched memory: the numakit API (batched
#      move_pages) vs one move_pages call for every page (numactl's
#      move_pages test approach) vs one call per page (goal: the API at least
#      as fast as the one-call approach).
# Uses hyperfine when installed, else a timed shell loop. Measures the static
# release build (scripts/build-static.sh) unless NUMAKIT_BIN names another.
# Environment: RUNS (default 200), MIB (default 1024).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p numakit-placement --example page_query
# the static release build, as shipped (scripts/build-static.sh), or NUMAKIT_BIN
nk=${NUMAKIT_BIN:-$(scripts/build-static.sh)}
pq=$target/release/examples/page_query
runs=${RUNS:-200}

loop_ms() { # command... : mean milliseconds per run over $runs runs
  local t0 t1
  t0=$(date +%s%N)
  for ((i = 0; i < runs; i++)); do "$@" >/dev/null; done
  t1=$(date +%s%N)
  awk -v a="$t0" -v b="$t1" -v n="$runs" 'BEGIN { printf "%.3f", (b - a) / n / 1e6 }'
}

echo "== run --membind 0 -- true vs numactl --membind 0 true"
if ! command -v numactl >/dev/null; then
  echo "numactl not found (apt-get install numactl): numakit alone: $(loop_ms "$nk" run --membind 0 -- true) ms"
elif command -v hyperfine >/dev/null; then
  json=$(mktemp)
  trap 'rm -f "$json"' EXIT
  hyperfine -N -w 20 -r "$runs" --export-json "$json" \
    "$nk run --membind 0 -- true" "numactl --membind 0 true" >/dev/null
  awk '
    /"command"/ { split($0, q, "\""); c = q[4] }
    /"mean"/ { gsub(/[,"]/, ""); m[++i] = $2; n[i] = c }
    END { printf "%-34s %8.3f ms\n%-34s %8.3f ms\nnumakit/numactl: %.2fx (goal <= 1.2x)\n", n[1], m[1] * 1e3, n[2], m[2] * 1e3, m[1] / m[2] }
  ' "$json"
else
  a=$(loop_ms "$nk" run --membind 0 -- true)
  b=$(loop_ms numactl --membind 0 true)
  echo "numakit run: $a ms   numactl: $b ms"
  awk -v a="$a" -v b="$b" 'BEGIN { printf "numakit/numactl: %.2fx (goal <= 1.2x)\n", a / b }'
fi

echo "== page location over ${MIB:-1024} MiB"
"$pq" "${MIB:-1024}" 5
