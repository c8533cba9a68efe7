# The first-touch helper over nodes 0,1,2: node 2 has no CPUs, so its part is
# written by an unpinned thread with a preferred policy for node 2; the other
# parts by threads pinned to their node's CPUs. Also: binding CPUs to the
# CPU-less node is refused and runs nothing.
if ! command -v first_touch >/dev/null; then
  skip "first-touch helper" "first_touch is not in the image"
  exit 0
fi

r=$CHECK_TMP/ft.ready out=$CHECK_TMP/ft.out
first_touch --hold --ready "$r" 48 0-2 >"$out" 2>&1 &
bg=$!
echo "$bg" >> "$CHECK_TMP/pids"
if ! wait_for "$r" 60 "$bg"; then
  not_ok "first_touch 48 MiB over nodes 0-2" "it did not get ready: $(cat "$out")"
  exit 0
fi
pid=$(field pid "$(cat "$r")")
echo "$pid" >> "$CHECK_TMP/pids"
cat "$out"
grep '^part:' "$out" > "$CHECK_TMP/parts"
parts_on_their_nodes "$pid" "$CHECK_TMP/parts"
kill -TERM "$pid" 2>/dev/null
wait "$bg" 2>/dev/null

if numakit_lacks run --cpunodebind >/dev/null; then exit 0; fi
rm -f "$CHECK_TMP/ran"
numakit run --cpunodebind 2 -- touch "$CHECK_TMP/ran" 2>"$CHECK_TMP/err"
rc=$?
if [ "$rc" = 2 ] && [ ! -e "$CHECK_TMP/ran" ] && grep -q 'no CPUs' "$CHECK_TMP/err"; then
  ok "run --cpunodebind 2 (no CPUs) refused, nothing run"
else
  not_ok "run --cpunodebind 2 (no CPUs) refused, nothing run" "exit $rc: $(cat "$CHECK_TMP/err")"
fi
