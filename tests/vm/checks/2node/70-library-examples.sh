# The numakit library's examples (crates/numakit/examples, in the image as
# numakit-example-NAME) on two nodes. Each checks what it claims itself, with
# move_pages and /proc/self/numa_maps, and prints one `ok:` line per fact;
# here each must exit 0 with no `FAILED:` line and skip only what this
# machine cannot show (hwloc-calc is not in the guest), and the facts that
# need the second node must be among its `ok:` lines.

# run_example NAME SKIPS ARGS...: one result for the example, its output in
# $CHECK_TMP/NAME.out
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

# has NAME LINE: the example's output holds LINE (a fixed string)
has() {
  if grep -qF -- "$2" "$CHECK_TMP/$1.out"; then ok "$1: $2"; else not_ok "$1: $2" "not in its output"; fi
}

run_example sizes 0 --expect-drop && has sizes "ok: refresh sees node 1's free memory drop by at least 128 MiB"
run_example nodes_cpus 0 && has nodes_cpus "ok: nodes 0 and 1: 21 both ways, more than local" &&
  has nodes_cpus "ok: run on node 1: getcpu says CPU"
run_example allocation 0 && has allocation "ok: allocate_on_node(1): numa_maps agrees" &&
  has allocation "ok: allocate_interleaved_all: 1024 pages, 512 on each of nodes 0-1" &&
  has allocation "ok: allocate_local on node 1's CPUs: on node 1"
run_example affinity 0 && has affinity "set to node 1's CPUs 2-3" &&
  has affinity "ok: bind_to_nodes(1): memory from node 1"
run_example policy 0 && has policy "ok: strict tonode_memory(1) of pages on node 0: refused" &&
  has policy "ok: bind_area MOVE: pages moved from node 0 to 1" &&
  has policy "ok: interleave 0-1: 256 pages on each node"
run_example pages 0 && has pages "ok: move_pages_to: numa_maps agrees" &&
  has pages "ok: migrate_process 0 -> 1: the buffer moved"
run_example strings 0 && has strings "ok: !0 = 1" && has strings "ok: +0 = 0"
run_example hwloc 5 && has hwloc "ok: set_area_membind reads back"
run_example numa_app 0 && has numa_app "ok: array 1: first touch put it on node 1" &&
  has numa_app "ok: array 0: numa_maps finds it on node 1"
run_example dma_driver 0
run_example device_locality 0 nic:0 0000:41:00.0 &&
  has device_locality "nic:0: 0000:21:00.0 node 0 cpus 0-1" &&
  has device_locality "0000:41:00.0: 0000:41:00.0 node 1 cpus 2-3" &&
  has device_locality "ok: 0000:41:00.0: its buffer is on node 1"
:
