#!/usr/bin/env bash
# Load on `numakit exporter` over loopback (a benchmark, not a test):
# REQUESTS requests (default 10000) from CLIENTS concurrent clients (default
# 16), each a new connection, GET /metrics. Reports errors (any status but
# 200, any connection or read failure: none allowed, the script exits 1
# otherwise) and latency percentiles. The exporter exports the machine and,
# with PATTERN set, the processes it matches; it is stopped with SIGTERM at
# the end and must exit 0.
# Measures the static release build (scripts/build-static.sh) unless
# NUMAKIT_BIN names another. Environment: REQUESTS, CLIENTS, PORT, PATTERN.
set -euo pipefail
cd "$(dirname "$0")/.."
nk=${NUMAKIT_BIN:-$(scripts/build-static.sh)}
port=${PORT:-19466}
args=(exporter --listen "127.0.0.1:$port")
[ -n "${PATTERN:-}" ] && args+=(-p "$PATTERN")
"$nk" "${args[@]}" 2>/dev/null &
exporter=$!
trap 'kill "$exporter" 2>/dev/null || true' EXIT
python3 - "$port" "${REQUESTS:-10000}" "${CLIENTS:-16}" <<'PY'
import http.client, sys, threading, time
port, total, clients = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
for _ in range(100):
    try:
        http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/metrics"); break
    except OSError:
        time.sleep(0.1)
lat, errors, lock = [], [], threading.Lock()
todo = iter(range(total))
def client():
    while True:
        with lock:
            if next(todo, None) is None:
                return
        t0 = time.perf_counter()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/metrics")
            r = c.getresponse()
            body = r.read()
            ok = r.status == 200 and body.endswith(b"# EOF\n")
            c.close()
        except Exception as e:
            ok, r = False, e
        dt = (time.perf_counter() - t0) * 1e3
        with lock:
            lat.append(dt)
            if not ok:
                errors.append(getattr(r, "status", repr(r)))
t0 = time.perf_counter()
ts = [threading.Thread(target=client) for _ in range(clients)]
for t in ts: t.start()
for t in ts: t.join()
wall = time.perf_counter() - t0
lat.sort()
pct = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))]
print(f"requests: {len(lat)} from {clients} clients in {wall:.1f} s ({len(lat) / wall:.0f}/s)")
print(f"errors: {len(errors)}" + (f" (first: {errors[:5]})" if errors else ""))
print("latency ms: p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f" % (pct(50), pct(90), pct(99), pct(99.9), lat[-1]))
sys.exit(1 if errors or len(lat) != total else 0)
PY
kill -TERM "$exporter"
wait "$exporter" && echo "exporter: stopped by SIGTERM, exit 0"
trap - EXIT
