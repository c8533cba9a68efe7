# numakit pages PID --json agrees with /proc/PID/numa_maps (within a few
# pages) for a memhog whose 64 MiB are on node 1.
#
# JSON (schema numakit.pages/1): per-node totals under .total.by_node,
# keyed by node id: "total": {"by_node": {"0": P0, "1": P1}, ...}
need_numakit pages --json

# pages_total FLAT NODE: the per-node total from json_flat output (empty if none)
pages_total() {
  echo "$1" | awk -F= -v n="$2" '
    { k = $1; v = $2 }
    k ~ /^\.total\.by_node\.[0-9]+$/ {
      sub(/.*\./, "", k); if (k == n) { print v; exit } }'
}

if ! hog_start "taskset -c 2-3" 64; then
  not_ok "pages --json agrees with numa_maps" "memhog did not start"
  exit 0
fi
if ! numakit_lacks pages --range >/dev/null; then
  scope="buffer (--range)" tol=8
  numakit pages "$HOG_PID" --range "0x$HOG_START-0x$HOG_END" --json > "$CHECK_TMP/pages.json"
  rc=$?
  maps=$(numa_pages "$HOG_PID" "$HOG_START" "$HOG_END")
else
  scope="whole process" tol=64
  numakit pages "$HOG_PID" --json > "$CHECK_TMP/pages.json"
  rc=$?
  maps=$(numa_pages_all "$HOG_PID")
fi
flat=$(json_flat < "$CHECK_TMP/pages.json")
diag "numa_maps ($scope): $maps"
echo "$flat" | head -n 80
for n in 0 1; do
  got=$(pages_total "$flat" $n)
  want=$(field N$n "$maps")
  if [ "$rc" != 0 ]; then
    not_ok "pages --json node $n total ($scope)" "numakit pages exited $rc"
  elif [ -z "$got" ]; then
    not_ok "pages --json node $n total ($scope)" "no per-node total found in the JSON (see log; adjust pages_total)"
  elif awk -v a="$got" -v b="$want" -v t="$tol" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; then
    ok "pages --json node $n total $got ~ numa_maps $want ($scope)"
  else
    not_ok "pages --json node $n total ($scope)" "numakit says $got, numa_maps says $want (tolerance $tol)"
  fi
done
hog_stop
