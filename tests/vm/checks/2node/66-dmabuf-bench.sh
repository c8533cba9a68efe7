# numakit bench dmabuf runs the zero-copy and the copying pipeline for
# heap and camera buffers and prints their ratios. Nothing is timed here
# (scripts/bench-dmabuf.sh reports the numbers): the check only asks that
# both variants ran every frame and that the ratio rows are there.
need_numakit "bench dmabuf --frames 1 --sizes 64K --sources heap" --sizes
frames=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^nkvm.bench_frames=//p')
numakit bench dmabuf --sizes 1M,8M --sources heap,camera --frames "${frames:-12}" --json > "$CHECK_TMP/b.json" 2> "$CHECK_TMP/b.err"; rc=$?
f=$(json_flat < "$CHECK_TMP/b.json")
echo "$f"; cat "$CHECK_TMP/b.err"
expect_eq "bench exits 0" "$rc" 0
expect_eq "four source/size pairs" "$(echo "$f" | grep -c '^\.pairs\[[0-9]*\]\.fps_ratio=')" 4
bad=$(echo "$f" | awk -F= -v n="${frames:-12}" '/\.(zero_copy|copy)\.frames=/ && $2 != n' | wc -l)
expect_eq "every run checked every frame" "$bad" 0
numakit bench dmabuf --sizes 1M --sources heap --frames 8 | tee "$CHECK_TMP/b.txt"
grep -q "ratio" "$CHECK_TMP/b.txt" && ok "text table has a ratio row" || not_ok "ratio row" "$(cat "$CHECK_TMP/b.txt")"
