# numakit bench weights on 2 nodes prints the exact sysfs writes, and
# --apply (root, Linux 6.9+) writes them; bench gpu without a GPU says so
# and exits 0.
need_numakit bench

wi=/sys/kernel/mm/mempolicy/weighted_interleave
numakit bench weights --size 2M --repeat 1 --apply > "$CHECK_TMP/w.txt" 2>&1
rc=$?
cat "$CHECK_TMP/w.txt"
if [ -d "$wi" ]; then
  expect_eq "weights --apply exit status" "$rc" 0
  for n in 0 1; do
    want=$(sed -n "s|^  echo \([0-9]*\) > $wi/node$n\$|\1|p" "$CHECK_TMP/w.txt")
    expect_eq "weights --apply set node $n to the printed weight" "$(cat "$wi/node$n")" "${want:-missing}"
    echo 1 > "$wi/node$n"
  done
else
  expect_eq "weights --apply without kernel support: exit 2" "$rc" 2
fi

numakit bench gpu > "$CHECK_TMP/gpu.txt" 2>&1
rc=$?
cat "$CHECK_TMP/gpu.txt"
expect_eq "bench gpu without a GPU: exit 0" "$rc" 0
if grep -q '^no GPU' "$CHECK_TMP/gpu.txt" && grep -q 'nothing measured' "$CHECK_TMP/gpu.txt"; then
  ok "bench gpu says there is no GPU and measures nothing"
else
  not_ok "bench gpu says there is no GPU and measures nothing" "$(cat "$CHECK_TMP/gpu.txt")"
fi
