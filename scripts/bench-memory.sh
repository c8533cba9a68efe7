#!/usr/bin/env bash
# numakit bench against independent references, side by side in one run:
#   1. triad bandwidth: `numakit bench bandwidth --kernel triad` against a
#      STREAM-like C triad written below (gcc -O3 -fopenmp -march=native,
#      the same threads pinned the same way, the same array size, best of
#      the same number of runs after one warm-up) and likwid-bench's
#      stream_avx kernel where likwid-bench runs (goal: numakit >= 1.0x);
#   2. idle latency: `numakit bench latency` against a pointer chase in C
#      written below (its own random cycle over the same buffer size,
#      transparent huge pages, pinned to the same CPU; goal: within 5%),
#      with numakit's run-to-run spread (goal: under 3% on an idle machine);
#      likwid-bench has no dependent-load kernel, so it is not used here;
#   3. the wall time of the default `bench latency` and `bench bandwidth`
#      (goal: under one minute together on a 2-node machine).
# Measures the static release build (scripts/build-static.sh) unless
# NUMAKIT_BIN names another. Not a test: it prints figures and ratios.
# Each comparison runs ROUNDS times (default 3), the tools taking turns, and
# compares the medians of the rounds, so that a busy spell does not land on
# one tool only.
# Environment: NODE (default: the node of the first allowed CPU), THREADS
# (default: every allowed CPU of NODE), MIB (array and chase size, default:
# numakit's default for each), REPEAT (default 5), SKIP_DEFAULT=1 skips 3.
set -euo pipefail
cd "$(dirname "$0")/.."
nk=${NUMAKIT_BIN:-$(scripts/build-static.sh)}
repeat=${REPEAT:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cpu0=$(taskset -pc $$ | sed 's/.*: //; s/[-,].*//')
node=${NODE:-$(basename "$(ls -d /sys/devices/system/cpu/cpu"$cpu0"/node* 2>/dev/null | head -1)" | sed 's/node//')}
node=${node:-0}
node_cpus=$(cat "/sys/devices/system/node/node$node/cpulist")
allowed=$(awk '/Cpus_allowed_list/ { print $2 }' /proc/self/status)
cpus=$(python3 -c '
import sys
def ex(s):
    out = []
    for p in s.split(","):
        if "-" in p: a, b = p.split("-"); out += range(int(a), int(b) + 1)
        elif p: out.append(int(p))
    return out
a = set(ex(sys.argv[2]))
print(",".join(str(c) for c in ex(sys.argv[1]) if c in a))' "$node_cpus" "$allowed")
threads=${THREADS:-$(echo "$cpus" | tr ',' '\n' | wc -l)}
cpus=$(echo "$cpus" | tr ',' '\n' | head -n "$threads" | paste -sd,)
first_cpu=${cpus%%,*}

echo "== machine: node $node, CPUs $cpus ($threads threads), $(nproc) CPUs online, load average $(cut -d' ' -f1-3 /proc/loadavg)"

cat > "$work/triad.c" <<'EOF'
/* STREAM-like triad: a[i] = b[i] + s * c[i] over arrays of N doubles,
 * OpenMP threads (pinned by OMP_PLACES/OMP_PROC_BIND), arrays in
 * transparent huge pages and first touched by the threads that use them;
 * best of R timed runs after one warm-up, GB = 1e9, 24 bytes per element
 * as STREAM counts. Usage: triad BYTES_PER_ARRAY R */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
static double *alloc(size_t bytes) {
  void *p = mmap(0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) { perror("mmap"); exit(1); }
  madvise(p, bytes, MADV_HUGEPAGE);
  return p;
}
int main(int argc, char **argv) {
  size_t bytes = strtoull(argv[1], 0, 10), n = bytes / 8;
  int runs = atoi(argv[2]);
  double *a = alloc(bytes), *b = alloc(bytes), *c = alloc(bytes), s = 0.5, best = 0;
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) { a[i] = 1.0; b[i] = 2.0; c[i] = 0.0; }
  for (int r = 0; r <= runs; r++) {
    double t = omp_get_wtime();
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
    t = omp_get_wtime() - t;
    double gbps = 24.0 * n / t / 1e9;
    if (r > 0 && gbps > best) best = gbps;
  }
  double check = 0;
  for (size_t i = 0; i < n; i += 4096) check += a[i];
  printf("%.3f %g\n", best, check);
  return 0;
}
EOF

cat > "$work/chase.c" <<'EOF'
/* Pointer chase: a random cyclic permutation of the cache lines of a
 * BYTES buffer (Sattolo's algorithm with a xorshift generator, not
 * numakit's), stored as pointers, transparent huge pages; pinned by the
 * caller. Prints the median ns per load of R runs of LOADS loads after one
 * warm-up. Usage: chase BYTES LOADS R */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
static uint64_t x = 88172645463325252ull;
static uint64_t rnd(void) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x; }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { double d = *(double *)a - *(double *)b; return (d > 0) - (d < 0); }
int main(int argc, char **argv) {
  size_t bytes = strtoull(argv[1], 0, 10), lines = bytes / 64;
  long loads = atol(argv[2]); int runs = atoi(argv[3]);
  char *buf = mmap(0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (buf == MAP_FAILED) { perror("mmap"); return 1; }
  madvise(buf, bytes, MADV_HUGEPAGE);
  uint32_t *next = malloc(lines * sizeof *next);
  for (size_t i = 0; i < lines; i++) next[i] = i;
  for (size_t i = lines - 1; i > 0; i--) { size_t j = rnd() % i; uint32_t t = next[i]; next[i] = next[j]; next[j] = t; }
  for (size_t i = 0; i < lines; i++) *(void **)(buf + i * 64) = buf + (size_t)next[i] * 64;
  free(next);
  void **p = (void **)buf;
  for (long i = 0; i < loads; i++) p = *p;
  double *ns = malloc(runs * sizeof *ns);
  for (int r = 0; r < runs; r++) {
    double t = now();
    for (long i = 0; i < loads; i++) p = *p;
    ns[r] = (now() - t) * 1e9 / loads;
  }
  qsort(ns, runs, sizeof *ns, cmp);
  printf("%.2f %p\n", runs % 2 ? ns[runs / 2] : (ns[runs / 2 - 1] + ns[runs / 2]) / 2, (void *)p);
  return 0;
}
EOF
gcc -O3 -fopenmp -march=native -o "$work/triad" "$work/triad.c"
gcc -O3 -march=native -o "$work/chase" "$work/chase.c"

json_num() { # FILE KEY: the first number after "KEY":
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
rounds=${ROUNDS:-3}
size_opt=()
[ -n "${MIB:-}" ] && size_opt=(--size "${MIB}M")
have_likwid=0
command -v likwid-bench >/dev/null && have_likwid=1

echo "== triad bandwidth ($rounds rounds, the tools taking turns)"
nk_all='' c_all='' lk_all=''
for ((r = 1; r <= rounds; r++)); do
  "$nk" bench bandwidth --kernel triad --nodes "$node" --threads "$threads" --repeat "$repeat" \
    "${size_opt[@]}" --json > "$work/bw.json" || true
  array=$(json_num "$work/bw.json" 'd["methodology"]["buffer_bytes"]')
  nk_bw=$(json_num "$work/bw.json" 'd["result"]["kernels"][0]["matrix"]["cells"][0]["gbps"]["max"]')
  nk_spread=$(json_num "$work/bw.json" 'round(d["result"]["kernels"][0]["matrix"]["cells"][0]["gbps"]["spread_pct"], 1)')
  c_bw=$(OMP_NUM_THREADS=$threads OMP_PLACES="{$(echo "$cpus" | sed 's/,/},{/g')}" OMP_PROC_BIND=close \
    numactl --membind="$node" "$work/triad" "$array" "$repeat" | cut -d' ' -f1)
  lk=n/a
  if [ "$have_likwid" = 1 ] && likwid-bench -t stream_avx -w "M$node:$((3 * array / 1000))kB:$threads" > "$work/likwid.txt" 2>&1; then
    lk=$(awk -F'\t+|: *' '/^MByte\/s/ { print $NF / 1000 }' "$work/likwid.txt")
    lk_all="$lk_all $lk"
  else
    have_likwid=0
  fi
  printf "round %d: numakit %.2f GB/s (spread %s%%), C %.2f GB/s, likwid-bench %s GB/s\n" "$r" "$nk_bw" "$nk_spread" "$c_bw" "$lk"
  nk_all="$nk_all $nk_bw" c_all="$c_all $c_bw"
done
nk_m=$(echo "$nk_all" | median) c_m=$(echo "$c_all" | median)
echo "array $((array >> 20)) MiB x 3, $threads threads, best of $repeat runs each; medians of the rounds:"
printf "%-28s %8.2f GB/s\n" "numakit bench bandwidth" "$nk_m"
printf "%-28s %8.2f GB/s   numakit/C: %s (goal >= 1.0)\n" "C STREAM-like triad" "$c_m" "$(ratio "$nk_m" "$c_m")"
if [ -n "$lk_all" ] && [ "$have_likwid" = 1 ]; then
  lk_m=$(echo "$lk_all" | median)
  printf "%-28s %8.2f GB/s   numakit/likwid: %s (goal >= 1.0)\n" "likwid-bench stream_avx" "$lk_m" "$(ratio "$nk_m" "$lk_m")"
else
  echo "likwid-bench: not run here ($(head -c 200 "$work/likwid.txt" 2>/dev/null | tr '\n' ' ' || echo not installed))"
fi

echo "== idle latency ($rounds rounds)"
nk_all='' c_all=''
for ((r = 1; r <= rounds; r++)); do
  "$nk" bench latency --nodes "$node" --repeat "$repeat" "${size_opt[@]}" --json > "$work/lat.json" || true
  buf=$(json_num "$work/lat.json" 'd["methodology"]["buffer_bytes"]')
  loads=$(json_num "$work/lat.json" 'd["result"]["loads_per_run"]')
  nk_ns=$(json_num "$work/lat.json" 'd["result"]["matrix"]["cells"][0]["ns"]["median"]')
  nk_lspread=$(json_num "$work/lat.json" 'round(d["result"]["matrix"]["cells"][0]["ns"]["spread_pct"], 1)')
  c_ns=$(numactl --membind="$node" taskset -c "$first_cpu" "$work/chase" "$buf" "$loads" "$repeat" | cut -d' ' -f1)
  printf "round %d: numakit %.2f ns (spread %s%%), C %.2f ns\n" "$r" "$nk_ns" "$nk_lspread" "$c_ns"
  nk_all="$nk_all $nk_ns" c_all="$c_all $c_ns"
done
nk_m=$(echo "$nk_all" | median) c_m=$(echo "$c_all" | median)
echo "buffer $((buf >> 20)) MiB, $loads loads per run, median of $repeat runs each, CPU $first_cpu; medians of the rounds:"
printf "%-28s %8.2f ns\n" "numakit bench latency" "$nk_m"
printf "%-28s %8.2f ns   numakit/C: %s (goal 0.95-1.05)\n" "C pointer chase" "$c_m" "$(ratio "$nk_m" "$c_m")"

if [ "${SKIP_DEFAULT:-0}" != 1 ]; then
  echo "== default bench latency + bench bandwidth, wall time"
  t0=$(date +%s.%N)
  "$nk" bench latency > /dev/null || true
  t1=$(date +%s.%N)
  "$nk" bench bandwidth > /dev/null || true
  t2=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$(ls -d /sys/devices/system/node/node* | wc -l)" \
    'BEGIN { printf "latency %.1f s + bandwidth %.1f s = %.1f s on %d node(s) (goal < 60 s on 2 nodes)\n", b - a, c - b, c - a, n }'
fi
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
