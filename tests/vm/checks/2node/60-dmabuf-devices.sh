# The kernel pieces the DMA-BUF checks use are there: the system heap,
# udmabuf, vivid's capture node and vgem's DRM node, debugfs bufinfo; and
# numakit dmabuf list agrees with bufinfo when no buffer exists yet.
need_numakit dmabuf
for d in /dev/dma_heap/system /dev/udmabuf; do
  assert "$d exists" test -c "$d"
done
assert "vivid and vgem loaded" test -d /sys/module/vivid -a -d /sys/module/vgem
cap=''
for v in /sys/class/video4linux/video*; do
  [ "$(cat "$v/name" 2>/dev/null)" = vivid-000-vid-cap ] && cap=/dev/${v##*/}
done
expect_eq "vivid's capture node is /dev/video0" "$cap" /dev/video0
dev=$(readlink /sys/class/drm/card0/device 2>/dev/null)
case $dev in
  */vgem) ok "/dev/dri/card0 is vgem" ;;
  *) not_ok "/dev/dri/card0 is vgem" "device: ${dev:-none} ($(ls /sys/class/drm 2>&1 | tr '\n' ' '))" ;;
esac
if [ -r /sys/kernel/debug/dma_buf/bufinfo ]; then
  ok "debugfs dma_buf/bufinfo is readable"
  want=$(sed -n 's/^Total \([0-9]*\) objects.*/\1/p' /sys/kernel/debug/dma_buf/bufinfo)
  numakit dmabuf list --json > "$CHECK_TMP/l.json"
  got=$(json_flat < "$CHECK_TMP/l.json" | grep -c '^\.buffers\[[0-9]*\]\.inode=')
  expect_eq "dmabuf list counts bufinfo's buffers" "$got" "$want"
else
  not_ok "debugfs dma_buf/bufinfo is readable" "$(ls /sys/kernel/debug 2>&1 | head -3)"
fi
