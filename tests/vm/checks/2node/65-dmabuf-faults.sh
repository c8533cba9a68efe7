# Faults: a stage killed in the middle, a camera that stops delivering, a
# missing camera or GPU, a device that is not a camera. Each ends with one clear message and
# exit 2, no stage process is left, and no DMA-BUF stays behind.
need_numakit "dmabuf pipeline --frames 1"
bufs() { sed -n 's/^Total \([0-9]*\) objects.*/\1/p' /sys/kernel/debug/dma_buf/bufinfo; }
stages() { ps -o pid,args 2>/dev/null | grep "dmabuf stage" | grep -vc grep; }
numakit dmabuf pipeline --source camera --frames 100000 > "$CHECK_TMP/o" 2>&1 &
pp=$!
i=0; while [ $i -lt 100 ] && [ "$(stages)" -lt 3 ]; do sleep 0.1; i=$((i+1)); done
sleep 2
victim=$(ps -o pid,args | grep "dmabuf stage inference" | grep -v grep | awk '{ print $1 }' | head -1)
diag "killing the inference stage ($victim) mid-stream"
[ -n "$victim" ] && kill -9 "$victim"
wait $pp; rc=$?
cat "$CHECK_TMP/o"
[ $rc = 2 ] && grep -q "the inference stage failed: it ended with signal: 9" "$CHECK_TMP/o" && ok "killed inference stage: exit 2, says which stage and why" || not_ok "killed inference stage reported" "exit $rc: $(cat "$CHECK_TMP/o")"
expect_eq "no stage process left" "$(stages)" 0
expect_eq "no DMA-BUF left behind" "$(bufs)" 0
# a camera that stops delivering: vivid drops every buffer from now on
# (its "Percentage of Dropped Buffers" control, 0x00f0f040, at 100)
numakit dmabuf pipeline --source camera --frames 100000 --timeout 3 > "$CHECK_TMP/o" 2>&1 &
pp=$!
i=0; while [ $i -lt 100 ] && [ "$(stages)" -lt 3 ]; do sleep 0.1; i=$((i+1)); done
sleep 2
v4l2ctl /dev/video0 0x00f0f040 100
wait $pp; rc=$?
v4l2ctl /dev/video0 0x00f0f040 0
cat "$CHECK_TMP/o"
[ $rc = 2 ] && grep -q "the camera stage failed: waiting for a frame from /dev/video0: nothing after 3 s" "$CHECK_TMP/o" && ok "camera stops delivering: exit 2 after the timeout, says so" || not_ok "camera stops delivering" "exit $rc: $(cat "$CHECK_TMP/o")"
expect_eq "no stage process left" "$(stages)" 0
expect_eq "no DMA-BUF left behind" "$(bufs)" 0
numakit dmabuf pipeline --source camera:/dev/video9 --frames 2 > "$CHECK_TMP/o" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "/dev/video9 does not exist: no V4L2 capture device" "$CHECK_TMP/o" && ok "missing camera: exit 2, explained" || not_ok "missing camera" "exit $rc: $(cat "$CHECK_TMP/o")"
numakit dmabuf pipeline --gpu /dev/dri/card9 --frames 2 > "$CHECK_TMP/o" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "/dev/dri/card9 does not exist" "$CHECK_TMP/o" && ok "missing GPU: exit 2, explained" || not_ok "missing GPU" "exit $rc: $(cat "$CHECK_TMP/o")"
numakit dmabuf pipeline --source camera:/dev/null --frames 2 > "$CHECK_TMP/o" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "/dev/null is not a V4L2 device" "$CHECK_TMP/o" && ok "not a camera: exit 2" || not_ok "not a camera" "exit $rc: $(cat "$CHECK_TMP/o")"
cat "$CHECK_TMP/o"
expect_eq "no stage process left" "$(stages)" 0
expect_eq "no DMA-BUF left behind" "$(bufs)" 0
