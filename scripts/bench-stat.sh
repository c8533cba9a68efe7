#!/usr/bin/env bash
# numakit stat and the exporter, side by side with numastat (a benchmark,
# not a test; it prints ratios):
#   1. `numakit stat -p PID` vs `numastat -p PID` on one process with
#      MAPS mappings (default 24000) and 1 GiB touched (goal: no slower), and
#      `cat /proc/PID/numa_maps`, the kernel writing the file: the floor
#      both pay, reported as a share of each;
#   2. a pattern matching 50 processes: `numakit stat -p PATTERN` vs
#      `numastat -p PATTERN` (goal: at least 1.5x faster), and
#      `numakit numastat -p PATTERN` (the compatible mode) too;
#   3. `numakit exporter -p PATTERN`: one scrape of those 50 processes over
#      loopback (goal: under 50 ms).
# Uses hyperfine (apt-get install hyperfine) and gcc for the workload.
# Measures the static release build (scripts/build-static.sh) unless
# NUMAKIT_BIN names another. Environment: RUNS (default 20), MAPS, PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "bench-stat: needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
command -v numastat >/dev/null || { echo "bench-stat: needs numastat (apt-get install numactl)" >&2; exit 2; }
nk=${NUMAKIT_BIN:-$(scripts/build-static.sh)}
runs=${RUNS:-20}
maps=${MAPS:-24000}
port=${PORT:-19465}
work=$(mktemp -d)
pids=()
cleanup() {
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# A process of many small anonymous mappings, each touched, split in two by
# a PROT_NONE page so that neighbours never merge; prints "ready" and waits.
cat > "$work/hog.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
int main(int argc, char **argv) {
  long maps = argc > 1 ? atol(argv[1]) : 24000, mib = argc > 2 ? atol(argv[2]) : 1024;
  long ps = sysconf(_SC_PAGESIZE), chunks = maps / 2;
  long pages = (mib << 20) / ps / chunks + 1;
  for (long i = 0; i < chunks; i++) {
    char *p = mmap(NULL, (pages + 1) * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 1; }
    for (long j = 0; j < pages; j++) p[j * ps] = 1;
    mprotect(p + pages * ps, ps, PROT_NONE);
  }
  printf("ready\n");
  fflush(stdout);
  pause();
  return 0;
}
C
gcc -O2 -o "$work/nkbench-hog" "$work/hog.c"

start_hog() { # out maps mib
  "$work/nkbench-hog" "$2" "$3" > "$1" &
  pids+=($!)
  until grep -q ready "$1" 2>/dev/null; do sleep 0.1; done
  echo "${pids[-1]}"
}

mean_ms() { # json index: the median wall time, ms
  awk -v want="$2" '/"median"/ { gsub(/[,"]/, ""); if (++i == want) printf "%.2f", $2 * 1e3 }' "$1"
}
cpu_ms() { # json index: the mean user + system time, ms (what a busy machine does not distort)
  awk -v want="$2" '/"user"/ { gsub(/[,"]/, ""); u[++i] = $2 } /"system"/ { gsub(/[,"]/, ""); s[++j] = $2 }
    END { printf "%.2f", (u[want] + s[want]) * 1e3 }' "$1"
}
row() { # label json index
  printf '%-40s %9s ms wall (median)  %9s ms CPU (user+sys)\n' "$1" "$(mean_ms "$2" "$3")" "$(cpu_ms "$2" "$3")"
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (wall times mean little on a busy machine)"

echo "== 1. one process, $maps mappings, 1 GiB touched"
big=$(start_hog "$work/big.out" "$maps" 1024)
echo "mappings: $(wc -l < /proc/$big/maps)"
hyperfine -N -w 3 -r "$runs" --export-json "$work/one.json" \
  "cat /proc/$big/numa_maps" "numastat -p $big" "$nk stat -p $big" >/dev/null
row "cat /proc/PID/numa_maps (the floor)" "$work/one.json" 1
row "numastat -p PID" "$work/one.json" 2
row "numakit stat -p PID" "$work/one.json" 3
floor=$(cpu_ms "$work/one.json" 1) ns=$(cpu_ms "$work/one.json" 2) us=$(cpu_ms "$work/one.json" 3)
wn=$(mean_ms "$work/one.json" 2) wu=$(mean_ms "$work/one.json" 3)
awk -v f="$floor" -v n="$ns" -v u="$us" -v wn="$wn" -v wu="$wu" 'BEGIN {
  printf "numakit/numastat: %.2fx wall, %.2fx CPU (goal <= 1.0x); the kernel writing numa_maps is %.0f%% of numastat'"'"'s CPU and %.0f%% of numakit'"'"'s\n", wu / wn, u / n, 100 * f / n, 100 * f / u }'
kill "$big"

echo "== 2. a pattern matching 50 processes"
for i in $(seq 50); do start_hog "$work/small$i.out" 400 16 >/dev/null; done
hyperfine -N -w 3 -r "$runs" --export-json "$work/many.json" \
  "numastat -p nkbench-hog" "$nk stat -p nkbench-hog" "$nk numastat -p nkbench-hog" >/dev/null
row "numastat -p nkbench-hog" "$work/many.json" 1
row "numakit stat -p nkbench-hog" "$work/many.json" 2
row "numakit numastat -p nkbench-hog" "$work/many.json" 3
ns=$(mean_ms "$work/many.json" 1) us=$(mean_ms "$work/many.json" 2) compat=$(mean_ms "$work/many.json" 3)
awk -v n="$ns" -v u="$us" -v c="$compat" 'BEGIN {
  printf "numastat/numakit stat: %.2fx faster in wall time (goal >= 1.5x); numastat/numakit numastat: %.2fx\n", n / u, n / c }'

echo "== 3. exporter scrape of the same 50 processes"
"$nk" exporter --listen "127.0.0.1:$port" -p nkbench-hog 2>/dev/null &
exporter=$!
pids+=($exporter)
until curl -sf "http://127.0.0.1:$port/metrics" >/dev/null; do sleep 0.1; done
series=$(curl -s "http://127.0.0.1:$port/metrics" | grep -c '^numakit_process_memory_bytes{' || true)
hyperfine -N -w 3 -r "$runs" --export-json "$work/scrape.json" "curl -s -o /dev/null http://127.0.0.1:$port/metrics" >/dev/null
printf 'scrape (%s process series): %s ms median (goal < 50 ms); numakit_scrape_duration_seconds of the last: %s\n' \
  "$series" "$(mean_ms "$work/scrape.json" 1)" \
  "$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^numakit_scrape_duration_seconds/ { print $2 }')"
kill -TERM "$exporter"
