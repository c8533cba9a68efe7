# Four ranks started as torchrun starts them (LOCAL_RANK, LOCAL_WORLD_SIZE)
# with `numakit run --near auto --share auto`: each runs on its own GPU's
# node, on CPUs no other rank has (each node's two cores split between its
# two ranks), with its memory on that node.
need_numakit run --near --share

pids='' all=''
for k in 0 1 2 3; do
  if ! hog_start "env LOCAL_RANK=$k LOCAL_WORLD_SIZE=4 numakit run --near auto --share auto --" 16; then
    not_ok "rank $k started" "see the log"
    continue
  fi
  eval "pid$k=$HOG_PID start$k=$HOG_START end$k=$HOG_END"
done
want_cpus="0 1 2 3" want_node="0 0 1 1"
for k in 0 1 2 3; do
  eval "p=\$pid$k s=\$start$k e=\$end$k"
  [ -n "$p" ] || continue
  c=$(cpus_allowed "$p")
  n=$(echo "$want_node" | cut -d' ' -f$((k + 1)))
  w=$(echo "$want_cpus" | cut -d' ' -f$((k + 1)))
  pages=$(numa_pages "$p" "$s" "$e")
  diag "rank $k: pid $p cpus $c $pages"
  all="$all $c"
  if [ "$c" = "$w" ] && at_least_pct "$(field N$n "$pages")" 4096 90; then
    ok "rank $k -> CPU $c of node $n, memory on node $n"
  else
    not_ok "rank $k -> CPU $w of node $n, memory on node $n" "CPUs $c, $pages"
  fi
done
# disjoint: four distinct single CPUs covering 0-3
expect_eq "the four ranks' CPUs are disjoint and cover 0-3" \
  "$(echo $all | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/ $//')" "0 1 2 3"
