#!/usr/bin/env bash
# Times `numakit topo` against its peers, side by side, and prints ratios:
#   1. `numakit topo --json` vs `lstopo-no-graphics --of xml` on this machine;
#   2. the same two on the largest fixture (HWLOC_FSROOT for lstopo, --root for numakit);
#   3. `numakit topo --hardware` vs `numactl --hardware` on this machine.
# Needs hyperfine, hwloc and numactl (apt-get install hyperfine hwloc numactl).
# Measures the static release build (scripts/build-static.sh), or NUMAKIT_BIN.
# Goal: >= 5x faster than lstopo, no slower than numactl.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in hyperfine lstopo-no-graphics numactl; do
  command -v "$t" >/dev/null || { echo "bench-topo: $t not found (apt-get install hyperfine hwloc numactl)" >&2; exit 2; }
done
nk=${NUMAKIT_BIN:-$(scripts/build-static.sh)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fixture=tests/fixtures/hwloc-linux/40intel64-2g2n4c+pcilocality.tar.bz2
tar -xjf "$fixture" -C "$work"
froot=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -1)

ratio() { # name, command A (numakit), command B (peer)
  local name=$1 a=$2 b=$3
  hyperfine -N -w 3 -r "${RUNS:-30}" --export-json "$work/r.json" "$a" "$b" >/dev/null 2>&1 ||
    hyperfine -w 3 -r "${RUNS:-30}" --export-json "$work/r.json" "$a" "$b" >/dev/null
  python3 - "$work/r.json" "$name" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
a, b = r[0], r[1]
print(f"{sys.argv[2]:<44} numakit {a['median']*1e3:7.2f} ms   peer {b['median']*1e3:7.2f} ms   peer/numakit {b['median']/a['median']:6.2f}x")
PY
}

echo "medians over ${RUNS:-30} runs (hyperfine); peer/numakit > 1 means numakit is faster"
ratio "topo --json vs lstopo --of xml (live)" "$nk topo --json" "lstopo-no-graphics --of xml -"
ratio "topo --json vs lstopo --of xml (fixture)" "$nk topo --json --root $froot" \
  "env HWLOC_FSROOT=$froot HWLOC_COMPONENTS=linux,stop lstopo-no-graphics --of xml -"
ratio "topo --hardware vs numactl --hardware" "$nk topo --hardware" "numactl --hardware"
