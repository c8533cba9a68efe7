# numakit bench latency on 2 nodes: a 2x2 matrix, each chase on a CPU of its
# initiator node, and each buffer where it claims: numakit's own move_pages
# count (in the JSON) and, independently, /proc/PID/numa_maps sampled while
# it runs (every mapping bound to one node has its pages there). In the VM
# only the structure and the placement mean something, not the numbers.
need_numakit bench

out=$CHECK_TMP/lat.json
numakit bench latency --size 6M --huge none --repeat 3 --loads 300000 --json > "$out" 2> "$CHECK_TMP/err" &
pid=$!
echo "$pid" >> "$CHECK_TMP/pids"
watch_numa_maps "$pid" "$CHECK_TMP/maps"
wait "$pid"
rc=$?
cat "$CHECK_TMP/err"
flat=$(json_flat < "$out")
echo "$flat" | grep -v samples | head -60
expect_eq "bench latency exit status" "$rc" 0
expect_eq "bench latency schema" "$(echo "$flat" | sed -n 's/^\.schema=//p')" "numakit.bench/1"
cells=$(bench_cells "$flat" .result.matrix.cells)
diag "cells: $cells"
diag "medians (ns, TCG: not a real machine's): $(echo "$flat" | sed -n 's/^\.result\.matrix\.cells\[\([0-9]\)\]\.ns\.median=/\1:/p' | tr '\n' ' ')"
expect_eq "bench latency: 2x2 cells, row by row" \
  "$(echo "$cells" | awk '{ printf "%s%s/%s", (NR > 1 ? " " : ""), substr($1, 11), substr($2, 8) }')" \
  "0/0 0/1 1/0 1/1"
echo "$cells" | while read -r l; do
  i=$(field initiator "$l") t=$(field target "$l") c=$(field cpu "$l")
  case " $(expand_list "$(node_cpulist "$i")") " in
    *" $c "*) ok "latency $i -> $t ran on CPU $c of node $i";;
    *) not_ok "latency $i -> $t ran on a CPU of node $i" "CPU $c";;
  esac
  if at_least_pct "$(field on "$l")" "$(field pages "$l")" 99; then
    ok "latency $i -> $t: move_pages found the buffer on node $t ($(field on "$l")/$(field pages "$l") pages)"
  else
    not_ok "latency $i -> $t: buffer on node $t" "$l"
  fi
done
vmas=$(bound_vmas "$CHECK_TMP/maps" 1000)
diag "numa_maps snapshots: $(ls "$CHECK_TMP/maps" | wc -l); bound mappings: $vmas"
for t in 0 1; do
  seen=$(echo "$vmas" | grep "^node=$t " || true)
  if [ -z "$seen" ]; then
    skip "numa_maps: buffer bound to node $t seen while running" "no snapshot caught it"
  elif echo "$seen" | awk '{ split($2, p, "="); split($3, o, "="); if (o[2] * 100 < p[2] * 99) bad = 1 } END { exit bad }'; then
    ok "numa_maps: the buffer bound to node $t had its pages on node $t"
  else
    not_ok "numa_maps: the buffer bound to node $t had its pages on node $t" "$seen"
  fi
done
