# numakit dmabuf alloc puts a heap buffer's and a udmabuf's pages on the
# node asked for. The system heap and udmabuf map their pages as raw page
# frames, which /proc/self/pagemap does not show, so the proof here is
# the nodes' free memory, read by this script before and after (numakit's
# own before/after reading must agree), and for udmabuf also numakit's
# page query of the memfd's pages before the buffer is made. Where frames
# are shown, their node is checked against sysfs memory blocks.
need_numakit "dmabuf alloc" --node
jget() { echo "$1" | sed -n "s/^$2=//p" | head -1; }
free_kib() { awk '/MemFree:/ { print $4 }' "/sys/devices/system/node/node$1/meminfo"; }
mib=32 want=$((32 * 256))
for src in "--heap system" "--udmabuf"; do
  for node in 1 0; do
    other=$((1 - node)) what="alloc $src --size ${mib}M --node $node"
    # MemFree is a global counter that other work moves too (deferred
    # frees, per-CPU page lists): a reading that falls short is taken
    # again, up to three times, and the last is judged
    for attempt in 1 2 3; do
      b0=$(free_kib $node) o0=$(free_kib $other)
      rm -f "$CHECK_TMP/a.json"
      numakit dmabuf alloc $src --size ${mib}M --node $node --name "probe-$node" --hold --json > "$CHECK_TMP/a.json" 2> "$CHECK_TMP/a.err" &
      pid=$!
      i=0; while [ $i -lt 300 ] && ! grep -q '^}' "$CHECK_TMP/a.json" 2>/dev/null; do sleep 0.1; i=$((i+1)); done
      b1=$(free_kib $node) o1=$(free_kib $other)
      f=$(json_flat < "$CHECK_TMP/a.json")
      kill $pid; wait $pid 2>/dev/null
      took=$(( (b0 - b1) / 1024 )) otook=$(( (o0 - o1) / 1024 ))
      diag "$what (reading $attempt): node $node free fell by $took MiB, node $other by $otook MiB (this script's reading)"
      [ "$took" -ge $((mib * 9 / 10)) ] && [ "$otook" -lt $((mib / 4)) ] && break
      sleep 1
    done
    echo "$f"; cat "$CHECK_TMP/a.err"
    [ "$took" -ge $((mib * 9 / 10)) ] && [ "$otook" -lt $((mib / 4)) ] && ok "$what: node $node gave the memory ($took MiB), node $other did not ($otook MiB)" || not_ok "$what: memory from node $node" "node $node: $took MiB, node $other: $otook MiB"
    nt=$(jget "$f" ".free_change.$node")
    [ -n "$nt" ] && [ $(( -nt / 1048576 )) -ge $((mib * 9 / 10)) ] && ok "$what: numakit saw node $node give $(( -nt / 1048576 )) MiB" || not_ok "$what: numakit's free-memory reading" "free_change.$node = '$nt'"
    if [ "$src" = --udmabuf ]; then
      expect_eq "$what: memfd page query: all $want pages on node $node" "$(jget "$f" ".memfd_pages.by_node.$node")" "$want"
    fi
    known=$(jget "$f" .frames.known)
    if [ "${known:-0}" -gt 0 ]; then
      expect_eq "$what: every shown frame on node $node" "$(jget "$f" ".frames.by_node.$node")" "$known"
    else
      diag "frames: $(jget "$f" .frames.note)"
    fi
  done
done
# bad requests: a node that does not exist, a heap that does not exist,
# a udmabuf over its size limit, a name too long
numakit dmabuf alloc --node 7 > "$CHECK_TMP/o" 2>&1; rc=$?
grep -q "node 7 does not exist" "$CHECK_TMP/o" && [ $rc = 2 ] && ok "--node 7: exit 2, node does not exist" || not_ok "--node 7 refused" "exit $rc: $(cat "$CHECK_TMP/o")"
numakit dmabuf alloc --heap nosuch > "$CHECK_TMP/o" 2>&1; rc=$?
grep -q "no DMA-BUF heap 'nosuch': this system has system" "$CHECK_TMP/o" && [ $rc = 2 ] && ok "--heap nosuch: exit 2, names the heaps there are" || not_ok "--heap nosuch refused" "exit $rc: $(cat "$CHECK_TMP/o")"
numakit dmabuf alloc --udmabuf --size 100M > "$CHECK_TMP/o" 2>&1; rc=$?
grep -q "size limit" "$CHECK_TMP/o" && [ $rc = 2 ] && ok "udmabuf 100M: exit 2, over the size limit" || not_ok "udmabuf 100M refused" "exit $rc: $(cat "$CHECK_TMP/o")"
numakit dmabuf alloc --name 0123456789012345678901234567890123 > "$CHECK_TMP/o" 2>&1; rc=$?
grep -q "at most 31" "$CHECK_TMP/o" && [ $rc = 2 ] && ok "a 34-byte name: exit 2" || not_ok "a 34-byte name refused" "exit $rc: $(cat "$CHECK_TMP/o")"
left=$(sed -n 's/^Total \([0-9]*\) objects.*/\1/p' /sys/kernel/debug/dma_buf/bufinfo)
expect_eq "no DMA-BUF left behind (bufinfo)" "$left" 0
