# The camera -> GPU -> display pipeline through real drivers: vivid's
# buffers exported with VIDIOC_EXPBUF, imported into vgem with PRIME,
# checked by a third process, handed back; and the same with system-heap
# buffers filled by the CPU. Every frame is checked, no frame is copied,
# all three processes hold the same buffers and map the same physical
# pages, the steps match the DMA model's and its checker finds nothing.
# The copying variant runs the same frames with four copies per frame.
need_numakit "dmabuf pipeline --frames 1" --source --variant
jget() { echo "$1" | sed -n "s/^$2=//p" | head -1; }
run_pipe() { # NAME ARGS...: runs it, leaves $f (flat JSON) and $rc
  name=$1; shift
  numakit dmabuf pipeline "$@" --json > "$CHECK_TMP/p.json" 2> "$CHECK_TMP/p.err"; rc=$?
  f=$(json_flat < "$CHECK_TMP/p.json")
  echo "== $name: exit $rc"; cat "$CHECK_TMP/p.err"
  echo "$f" | grep -v '\.trace\[' | grep -v 'model_trace' | head -n 120
}
for src in camera heap; do
  run_pipe "$src zero-copy" --source $src --size 1M --frames 24 --buffers 4 --node 1
  what="$src zero-copy"
  expect_eq "$what: exit 0" "$rc" 0
  expect_eq "$what: 24 frames checked by the display" "$(jget "$f" .frames)" 24
  expect_eq "$what: no copies" "$(jget "$f" .copies_per_frame)" 0.0
  expect_eq "$what: same buffers (inodes) in every process" "$(jget "$f" .same_buffers)" true
  if [ $src = camera ]; then
    expect_eq "$what: same physical pages in every process" "$(jget "$f" .same_pages)" true
  else # the heap maps raw page frames: not shown, so not compared
    expect_eq "$what: physical pages not shown, not compared" "$(jget "$f" .same_pages)" null
  fi
  expect_eq "$what: steps in the DMA model's order" "$(jget "$f" .model.same_order)" true
  expect_eq "$what: DMA model finds nothing" "$(jget "$f" .model.findings)" "[]"
  expect_eq "$what: inference imported into vgem" "$(jget "$f" '.stages\[1\]\[1\].device')" vgem
  n1=$(echo "$f" | sed -n 's/^\.stages\[0\]\[1\]\.buffers\[[0-9]*\]\.frames\.by_node\.1=//p' | awk '{ s += $1 } END { print s + 0 }')
  all=$(echo "$f" | sed -n 's/^\.stages\[0\]\[1\]\.buffers\[[0-9]*\]\.frames\.by_node\.[0-9]*=//p' | awk '{ s += $1 } END { print s + 0 }')
  if [ $src = camera ]; then
    [ "$all" -gt 0 ] && [ "$n1" = "$all" ] && ok "$what: vivid's buffers allocated on node 1 ($n1/$all pages)" || not_ok "$what: buffers on node 1" "$n1 of $all pages"
  fi
done
expect_eq "camera: frames came from vivid" "$(numakit dmabuf pipeline --source camera --frames 2 --json | json_flat | sed -n 's/^\.stages\[0\]\[1\]\.device=//p')" vivid
numakit dmabuf pipeline --source camera --frames 6 --buffers 2 --trace > "$CHECK_TMP/t.txt" 2>&1; rc=$?
cat "$CHECK_TMP/t.txt"
grep -q "frame 2 buffer 0 camera: receive-release wait-idle queue" "$CHECK_TMP/t.txt" && [ $rc = 0 ] && ok "camera waits for the GPU's fence before re-queueing (trace)" || not_ok "trace shows wait-idle before queue" "exit $rc"
for src in camera heap; do
  run_pipe "$src copy" --source $src --variant copy --size 1M --frames 12
  expect_eq "$src copy: exit 0" "$rc" 0
  expect_eq "$src copy: 12 frames checked" "$(jget "$f" .frames)" 12
  expect_eq "$src copy: four copies per frame" "$(jget "$f" .copies_per_frame)" 4.0
done
left=$(sed -n 's/^Total \([0-9]*\) objects.*/\1/p' /sys/kernel/debug/dma_buf/bufinfo)
expect_eq "no DMA-BUF left behind (bufinfo)" "$left" 0
