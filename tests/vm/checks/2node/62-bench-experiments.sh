# numakit bench first-touch, policy and loaded-latency on 2 nodes: the
# wrong-node case really has its pages on the initialising node and the
# workers' case on theirs; bind-remote and interleave place pages as they
# say; loaded latency gives one curve per pair from an unloaded point.
need_numakit bench

numakit bench first-touch --size 2M --repeat 2 --json > "$CHECK_TMP/ft.json"
rc=$?
flat=$(json_flat < "$CHECK_TMP/ft.json")
echo "$flat" | grep -v samples | head -40
expect_eq "first-touch exit status" "$rc" 0
get() { echo "$flat" | sed -n "s/^$1=//p"; }
expect_eq "first-touch: main thread on node 0, workers on node 1" "$(get '\.result\.main_thread\.touched_by') $(get '\.result\.work_node')" "0 1"
p=$(get '\.result\.main_thread\.placement\.pages')
if at_least_pct "$(get '\.result\.main_thread\.placement\.by_node\.0')" "$p" 95; then
  ok "first-touch: the main thread's arrays are on node 0"
else
  not_ok "first-touch: the main thread's arrays are on node 0" "$(echo "$flat" | grep main_thread.placement)"
fi
p=$(get '\.result\.workers\.placement\.pages')
if at_least_pct "$(get '\.result\.workers\.placement\.by_node\.1')" "$p" 95; then
  ok "first-touch: the workers' arrays are on node 1"
else
  not_ok "first-touch: the workers' arrays are on node 1" "$(echo "$flat" | grep workers.placement)"
fi

numakit bench policy --size 2M --huge none --repeat 1 --json > "$CHECK_TMP/pol.json"
rc=$?
flat=$(json_flat < "$CHECK_TMP/pol.json")
echo "$flat" | grep -v samples | head -60
expect_eq "policy exit status" "$rc" 0
row() { echo "$flat" | sed -n "s/^\.result\.rows\[\([0-9]*\)\]\.name=$1\$/\1/p"; }
r=$(row 'bind-remote 1')
if [ -n "$r" ] && at_least_pct "$(get "\.result\.rows\[$r\]\.placement\.by_node\.1")" "$(get "\.result\.rows\[$r\]\.placement\.pages")" 99; then
  ok "policy bind-remote 1: pages on node 1"
else
  not_ok "policy bind-remote 1: pages on node 1" "row '$r'"
fi
r=$(row 'interleave 0-1')
if [ -n "$r" ] && within_pct "$(get "\.result\.rows\[$r\]\.placement\.by_node\.0")" "$(get "\.result\.rows\[$r\]\.placement\.by_node\.1")" 10; then
  ok "policy interleave 0-1: pages split evenly"
else
  not_ok "policy interleave 0-1: pages split evenly" "row '$r'"
fi
case $(get '\.result\.recommendation') in
  *bandwidth-bound*latency-bound*) ok "policy gives a recommendation";;
  *) not_ok "policy gives a recommendation" "$(get '\.result\.recommendation')";;
esac

numakit bench loaded-latency --size 2M --repeat 1 --loads 20000 --delays 64,0 --nodes 0 --json > "$CHECK_TMP/ll.json"
rc=$?
flat=$(json_flat < "$CHECK_TMP/ll.json")
expect_eq "loaded-latency exit status" "$rc" 0
expect_eq "loaded-latency: 3 points, unloaded first" \
  "$(echo "$flat" | sed -n 's/^\.result\.curves\[0\]\.points\[[0-9]*\]\.delay=//p' | tr '\n' ' ')" "null 64 0 "
