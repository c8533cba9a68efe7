# Fences and CPU-access guards, by the sync_fences example of
# numakit-dmabuf (each of its lines is one result): a vgem job's write
# fence shows in an exported sync file, a CPU read access waits for it, an
# imported sync file makes another buffer wait, and refused input (a
# descriptor that is not a DMA-BUF, a wrong size) leaves no descriptor or
# mapping behind. The library's pipeline example runs too.
if ! command -v dmabuf-sync_fences >/dev/null; then
  skip "sync_fences example" "not built (NUMAKIT_VM_BIN given)"
  exit 0
fi
dmabuf-sync_fences > "$CHECK_TMP/o" 2>&1; rc=$?
cat "$CHECK_TMP/o"
while IFS= read -r l; do
  case $l in
    'ok - '*) ok "${l#ok - }" ;;
    'not ok - '*) r=${l#not ok - }; not_ok "${r%% \# *}" "${r#* \# }" ;;
  esac
done < "$CHECK_TMP/o"
expect_eq "sync_fences exits 0" "$rc" 0
for v in "camera:/dev/video0 zero-copy" "heap copy"; do
  dmabuf-pipeline $v > "$CHECK_TMP/p" 2>&1; rc=$?
  cat "$CHECK_TMP/p"
  [ $rc = 0 ] && grep -q "^16 frames checked" "$CHECK_TMP/p" && ok "pipeline example ($v)" || not_ok "pipeline example ($v)" "exit $rc: $(cat "$CHECK_TMP/p")"
done
left=$(sed -n 's/^Total \([0-9]*\) objects.*/\1/p' /sys/kernel/debug/dma_buf/bufinfo)
expect_eq "no DMA-BUF left behind (bufinfo)" "$left" 0
