# numakit bench bandwidth on 2 nodes: a matrix per kernel with the arrays on
# each target as move_pages found them, STREAM's byte accounting, and a
# threads-per-node count; the SVG heatmap is written.
need_numakit bench

out=$CHECK_TMP/bw.json
numakit bench bandwidth --size 2M --repeat 2 --kernel read,triad,triad-nt --json --svg "$CHECK_TMP/bw.svg" > "$out"
rc=$?
flat=$(json_flat < "$out")
echo "$flat" | grep -v samples | head -80
expect_eq "bench bandwidth exit status" "$rc" 0
expect_eq "bench bandwidth kernels" \
  "$(echo "$flat" | sed -n 's/^\.result\.kernels\[[0-9]*\]\.kernel=//p' | tr '\n' ' ')" "read triad triad-nt "
expect_eq "triad bytes per run (3 arrays of 2 MiB)" \
  "$(echo "$flat" | sed -n 's/^\.result\.kernels\[1\]\.bytes_per_run=//p')" 6291456
expect_eq "threads per node" "$(echo "$flat" | sed -n 's/^\.result\.threads\.\([0-9]\)=/\1:/p' | tr '\n' ' ')" "0:2 1:2 "
cells=$(bench_cells "$flat" ".result.kernels[1].matrix.cells")
diag "triad best GB/s (TCG: not a real machine's): $(echo "$flat" | sed -n 's/^\.result\.kernels\[1\]\.matrix\.cells\[\([0-9]\)\]\.gbps\.max=/\1:/p' | tr '\n' ' ')"
expect_eq "triad: 4 cells" "$(echo "$cells" | grep -c .)" 4
echo "$cells" | while read -r l; do
  t=$(field target "$l")
  if at_least_pct "$(field on "$l")" "$(field pages "$l")" 99; then
    ok "triad $(field initiator "$l") -> $t: arrays on node $t ($(field on "$l")/$(field pages "$l") pages)"
  else
    not_ok "triad $(field initiator "$l") -> $t: arrays on node $t" "$l"
  fi
done
if grep -q '^<svg' "$CHECK_TMP/bw.svg" 2>/dev/null; then ok "--svg wrote a heatmap"; else not_ok "--svg wrote a heatmap" "no SVG"; fi
