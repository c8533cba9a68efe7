#!/bin/sh
# Throughput of the DMA API model with and without its checker:
# map/sync/unmap cycles per second, and a 1 GiB scatter-gather workload.
# Usage: scripts/bench-dma.sh [--against REV] [CYCLES] [SG-ENTRY-KIB]
# With --against REV, the same benchmark (this tree's
# crates/numakit-dma/examples/bench_dma.rs) is also built against the model
# at git revision REV, the two are run in turn three times, and the best
# figures are printed side by side with the ratio this tree / REV.
# The figures are model time on this machine; see
# crates/numakit-dma/examples/bench_dma.rs for exactly what is measured.
set -eu
cd "$(dirname "$0")/.."
rev=
if [ "${1-}" = --against ]; then
    [ $# -ge 2 ] || { echo "bench-dma.sh: --against needs a revision" >&2; exit 2; }
    rev=$2
    shift 2
fi
cargo build --release --quiet -p numakit-dma --example bench-dma
bin="${CARGO_TARGET_DIR:-target}/release/examples/bench-dma"
if [ -z "$rev" ]; then
    if [ -x /usr/bin/time ]; then
        exec /usr/bin/time -f "peak resident memory: %M KiB, wall %e s" "$bin" "$@"
    fi
    exec "$bin" "$@"
fi

work=$(mktemp -d)
cleanup() {
    git worktree remove --force "$work/tree" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
git worktree add --quiet --detach "$work/tree" "$rev"
cp crates/numakit-dma/examples/bench_dma.rs "$work/tree/crates/numakit-dma/examples/bench_dma.rs"
echo "building the benchmark against $rev ($(git rev-parse --short "$rev"))" >&2
CARGO_TARGET_DIR="$PWD/target/bench-against" cargo build --release --quiet \
    --manifest-path "$work/tree/Cargo.toml" -p numakit-dma --example bench-dma
old="$PWD/target/bench-against/release/examples/bench-dma"

for round in 1 2 3; do
    echo "round $round of 3" >&2
    "$old" "$@" >"$work/old.$round"
    "$bin" "$@" >"$work/new.$round"
done

# Rows of the two tables: cycles per second (best = highest) and
# scatter-gather milliseconds (best = lowest), per machine and checker state.
awk -v rev="$rev" '
function trim(s) { sub(/^ +/, "", s); sub(/ +$/, "", s); return s }
FNR == 1 { side = (FILENAME ~ /old\.[0-9]+$/) ? "old" : "new"; table = "" }
/checker off\/s/ { table = "cyc"; next }
/segments/ && /checker off/ { table = "sg"; next }
/^$/ { table = ""; next }
table != "" {
    name = trim(substr($0, 1, 28)); n = split(substr($0, 29), f, " ")
    if (table == "cyc") { off = f[1]; on = f[2]; better = "max" }
    else { off = f[2]; on = f[3]; sub(/ms$/, "", off); sub(/ms$/, "", on); better = "min" }
    if (!((table, name) in seen)) { seen[table, name] = 1; order[table, ++count[table]] = name }
    for (k = 0; k < 2; k++) {
        key = table SUBSEP name SUBSEP (k ? "on" : "off") SUBSEP side
        v = (k ? on : off) + 0
        if (!(key in best) || (better == "max" && v > best[key]) || (better == "min" && v < best[key])) best[key] = v
    }
}
END {
    printf "map/sync/unmap cycles per second, best of 3 rounds (higher is better)\n"
    printf "%-28s %-7s %12s %12s %8s\n", "machine", "checker", rev, "this tree", "ratio"
    for (i = 1; i <= count["cyc"]; i++) for (k = 0; k < 2; k++) {
        name = order["cyc", i]; c = k ? "on" : "off"
        o = best["cyc", name, c, "old"]; n = best["cyc", name, c, "new"]
        printf "%-28s %-7s %12.0f %12.0f %7.2fx\n", name, c, o, n, n / o
    }
    printf "\n1 GiB scatter-gather, ms, best of 3 rounds (lower is better)\n"
    printf "%-28s %-7s %12s %12s %8s\n", "machine", "checker", rev, "this tree", "ratio"
    for (i = 1; i <= count["sg"]; i++) for (k = 0; k < 2; k++) {
        name = order["sg", i]; c = k ? "on" : "off"
        o = best["sg", name, c, "old"]; n = best["sg", name, c, "new"]
        printf "%-28s %-7s %12.1f %12.1f %7.2fx\n", name, c, o, n, n / o
    }
    printf "\nthe checker'"'"'s cost: time with it / time without (lower is better)\n"
    printf "%-28s %-7s %12s %12s\n", "machine", "work", rev, "this tree"
    for (i = 1; i <= count["cyc"]; i++) {
        name = order["cyc", i]
        printf "%-28s %-7s %11.2fx %11.2fx\n", name, "cycles", \
            best["cyc", name, "off", "old"] / best["cyc", name, "on", "old"], \
            best["cyc", name, "off", "new"] / best["cyc", name, "on", "new"]
    }
    for (i = 1; i <= count["sg"]; i++) {
        name = order["sg", i]
        printf "%-28s %-7s %11.2fx %11.2fx\n", name, "1 GiB sg", \
            best["sg", name, "on", "old"] / best["sg", name, "off", "old"], \
            best["sg", name, "on", "new"] / best["sg", name, "off", "new"]
    }
}' "$work"/old.1 "$work"/new.1 "$work"/old.2 "$work"/new.2 "$work"/old.3 "$work"/new.3
