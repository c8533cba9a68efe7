# The first-touch helper of numakit-placement (Placer::first_touch, built as
# the example program `first_touch`): one 64 MiB buffer, one part per node,
# each part written by a thread pinned to its node. numa_maps must show each
# part on its own node (the helper gives each part its own mapping, with a
# preferred policy set after the touch, so numa_maps has one line per part).
if ! command -v first_touch >/dev/null; then
  skip "first-touch helper" "first_touch is not in the image"
  exit 0
fi

r=$CHECK_TMP/ft.ready out=$CHECK_TMP/ft.out
first_touch --hold --ready "$r" 64 0,1 >"$out" 2>&1 &
bg=$!
echo "$bg" >> "$CHECK_TMP/pids"
if ! wait_for "$r" 60 "$bg"; then
  not_ok "first_touch 64 MiB over nodes 0,1" "it did not get ready: $(cat "$out")"
  exit 0
fi
pid=$(field pid "$(cat "$r")")
echo "$pid" >> "$CHECK_TMP/pids"
cat "$out"
grep '^part:' "$out" > "$CHECK_TMP/parts"
expect_eq "first_touch made one part per node" "$(wc -l < "$CHECK_TMP/parts" | tr -d ' ')" 2
parts_on_their_nodes "$pid" "$CHECK_TMP/parts"
kill -TERM "$pid" 2>/dev/null
wait "$bg" 2>/dev/null
: # (busybox ash: a trailing `wait` in a sourced file can hang)
