# The numakit library's examples on three nodes, where the node they place
# memory on is node 2, which has memory and no CPUs: allocation, policies,
# moves and first touch must put pages there or keep them off it as the
# calls say. See 2node/70-library-examples.sh for what each run asserts.

run_example() {
  _name=$1 _skips=$2; shift 2
  _bin=numakit-example-$_name _out=$CHECK_TMP/$_name.out
  if ! command -v "$_bin" >/dev/null; then
    skip "example $_name" "$_bin is not in the image"
    return 1
  fi
  "$_bin" "$@" > "$_out" 2>&1
  _rc=$?
  cat "$_out"
  _f=$(grep -c '^FAILED' "$_out") _s=$(grep -c '^skip:' "$_out")
  if [ "$_rc" = 0 ] && [ "$_f" = 0 ] && [ "$_s" = "$_skips" ]; then
    ok "example $_name: $(tail -n 1 "$_out")"
  else
    not_ok "example $_name" "exit $_rc, $_f failed, $_s skipped (want $_skips)"
  fi
}

has() {
  if grep -qF -- "$2" "$CHECK_TMP/$1.out"; then ok "$1: $2"; else not_ok "$1: $2" "not in its output"; fi
}

run_example sizes 0 --expect-drop && has sizes "ok: refresh sees node 2's free memory drop by at least 128 MiB"
run_example allocation 0 && has allocation "ok: allocate_on_node(2): numa_maps agrees" &&
  has allocation "ok: NodeVec on node 2: every page there" &&
  has allocation "ok: allocate_interleaved: 1024 pages, 512 on each of nodes 1-2"
run_example policy 0 && has policy "ok: membind 2: pages on node 2" &&
  has policy "ok: strict tonode_memory(2) of pages on node 0: refused"
run_example pages 0 && has pages "ok: move_pages_to: even pages on node 2, odd on node 0" &&
  has pages "ok: migrate_process 0 -> 2: the buffer moved"
run_example affinity 0 && has affinity "ok: run_on_node(1): runs on node 1 only"
run_example nodes_cpus 0 && has nodes_cpus "ok: nodes 1 and 2: 40 both ways, more than local"
run_example hwloc 5
run_example numa_app 0 && has numa_app "ok: array 0: move_pages finds it on node 1"
run_example strings 0
:
