# numakit bench on 3 nodes: the CPU-less node 2 is a target, never an
# initiator (2x3 matrix); each buffer, node 2's included, is where it claims
# (move_pages in the JSON, numa_maps while running); naming node 2 as an
# initiator is refused with exit 2 before anything runs.
need_numakit bench

out=$CHECK_TMP/lat.json
numakit bench latency --size 4M --huge none --repeat 2 --loads 200000 --json > "$out" 2> "$CHECK_TMP/err" &
pid=$!
echo "$pid" >> "$CHECK_TMP/pids"
watch_numa_maps "$pid" "$CHECK_TMP/maps"
wait "$pid"
rc=$?
cat "$CHECK_TMP/err"
flat=$(json_flat < "$out")
expect_eq "bench latency exit status" "$rc" 0
cells=$(bench_cells "$flat" .result.matrix.cells)
diag "cells: $cells"
expect_eq "bench latency: initiators 0-1, targets 0-2" \
  "$(echo "$cells" | awk '{ printf "%s%s/%s", (NR > 1 ? " " : ""), substr($1, 11), substr($2, 8) }')" \
  "0/0 0/1 0/2 1/0 1/1 1/2"
echo "$cells" | while read -r l; do
  i=$(field initiator "$l") t=$(field target "$l")
  if at_least_pct "$(field on "$l")" "$(field pages "$l")" 99; then
    ok "latency $i -> $t: buffer on node $t ($(field on "$l")/$(field pages "$l") pages)"
  else
    not_ok "latency $i -> $t: buffer on node $t" "$l"
  fi
done
vmas=$(bound_vmas "$CHECK_TMP/maps" 700)
diag "bound mappings seen: $vmas"
seen=$(echo "$vmas" | grep '^node=2 ' || true)
if [ -z "$seen" ]; then
  skip "numa_maps: buffer bound to node 2 seen while running" "no snapshot caught it"
elif echo "$seen" | awk '{ split($2, p, "="); split($3, o, "="); if (o[2] * 100 < p[2] * 99) bad = 1 } END { exit bad }'; then
  ok "numa_maps: the buffer bound to CPU-less node 2 had its pages on node 2"
else
  not_ok "numa_maps: the buffer bound to node 2 had its pages there" "$seen"
fi

numakit bench bandwidth --size 2M --repeat 1 --kernel triad --json > "$CHECK_TMP/bw.json"
rc=$?
flat=$(json_flat < "$CHECK_TMP/bw.json")
expect_eq "bench bandwidth exit status" "$rc" 0
cells=$(bench_cells "$flat" ".result.kernels[0].matrix.cells")
expect_eq "bandwidth: 6 cells, none from node 2" "$(echo "$cells" | grep -c . ) $(echo "$cells" | grep -c '^initiator=2 ')" "6 0"
l=$(echo "$cells" | grep '^initiator=0 target=2 ')
if at_least_pct "$(field on "$l")" "$(field pages "$l")" 99; then
  ok "bandwidth 0 -> 2: arrays on node 2"
else
  not_ok "bandwidth 0 -> 2: arrays on node 2" "$l"
fi

for b in latency bandwidth loaded-latency; do
  numakit bench $b --initiators 2 > "$CHECK_TMP/out" 2> "$CHECK_TMP/err"
  rc=$?
  if [ "$rc" = 2 ] && [ ! -s "$CHECK_TMP/out" ] && grep -q 'node 2 has no CPUs' "$CHECK_TMP/err"; then
    ok "bench $b --initiators 2 (no CPUs) refused"
  else
    not_ok "bench $b --initiators 2 (no CPUs) refused" "exit $rc: $(cat "$CHECK_TMP/err")"
  fi
done
numakit bench bandwidth --targets 2 --size 1G > /dev/null 2> "$CHECK_TMP/err"
rc=$?
if [ "$rc" = 2 ] && grep -q 'do not fit on node 2' "$CHECK_TMP/err"; then
  ok "bench bandwidth --size 1G on node 2 (512 MiB) refused"
else
  not_ok "bench bandwidth --size 1G on node 2 refused" "exit $rc: $(cat "$CHECK_TMP/err")"
fi
