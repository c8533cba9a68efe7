# numakit dmabuf serve passes one buffer to two numakit dmabuf recv
# processes over a Unix socket: the name, size and contents arrive intact,
# all three processes hold the same buffer (inode), and each receiver's
# write through its own mapping is read by the server through its mapping
# (one memory, no copy); dmabuf list names every holder, as the kernel's
# own bufinfo and each holder's fdinfo say.
need_numakit dmabuf serve
jget() { echo "$1" | sed -n "s/^$2=//p" | head -1; }
sock=$CHECK_TMP/buf.sock
numakit dmabuf serve "$sock" --size 2M --node 1 --name shared-frame --clients 2 --json > "$CHECK_TMP/s.json" 2> "$CHECK_TMP/s.err" &
spid=$!
numakit dmabuf recv "$sock" --json --hold > "$CHECK_TMP/r1.json" 2> "$CHECK_TMP/r1.err" &
r1=$!
wait_for_json() { i=0; while [ $i -lt 200 ] && ! grep -q '"frames"' "$1" 2>/dev/null; do sleep 0.1; i=$((i+1)); done; }
wait_for_json "$CHECK_TMP/r1.json"
numakit dmabuf recv "$sock" --json > "$CHECK_TMP/r2.json" 2> "$CHECK_TMP/r2.err"; rc2=$?
wait $spid; src=$?
s=$(json_flat < "$CHECK_TMP/s.json"); a=$(json_flat < "$CHECK_TMP/r1.json"); b=$(json_flat < "$CHECK_TMP/r2.json")
echo "$s"; echo "$a"; echo "$b"; cat "$CHECK_TMP/s.err" "$CHECK_TMP/r1.err" "$CHECK_TMP/r2.err"
expect_eq "serve exits 0 after two receivers" "$src" 0
expect_eq "second recv exits 0" "$rc2" 0
ino=$(jget "$s" .inode)
for r in "$a" "$b"; do
  expect_eq "receiver got the name" "$(jget "$r" .name)" shared-frame
  expect_eq "receiver got the size" "$(jget "$r" .size)" 2097152
  expect_eq "receiver's checksum = server's" "$(jget "$r" .checksum)" "$(jget "$s" .checksum)"
  expect_eq "receiver holds the same buffer (inode $ino)" "$(jget "$r" .inode)" "$ino"
done
expect_eq "server heard both checksums match" "$(jget "$s" '.receivers\[0\].ok')$(jget "$s" '.receivers\[1\].ok')" truetrue
expect_eq "each receiver's write is read by the server" "$(jget "$s" '.receivers\[0\].write_seen')$(jget "$s" '.receivers\[1\].write_seen')" truetrue
expect_eq "the first receiver wrote its pid" "$(jget "$a" .wrote)" "$r1"
# the holder that stays: dmabuf list against bufinfo and fdinfo
numakit dmabuf list --json > "$CHECK_TMP/l.json"; l=$(json_flat < "$CHECK_TMP/l.json")
idx=$(echo "$l" | sed -n "s/^\.buffers\[\([0-9]*\)\]\.inode=$ino\$/\1/p")
if [ -z "$idx" ]; then
  not_ok "dmabuf list shows buffer $ino" "$(echo "$l" | grep inode=)"
else
  p=".buffers\[$idx\]"
  line=$(awk -v i="$ino" -F'\t' '$6 + 0 == i' /sys/kernel/debug/dma_buf/bufinfo)
  diag "bufinfo: $line"
  expect_eq "list size = bufinfo size" "$(jget "$l" "$p.size")" "$(echo "$line" | awk -F'\t' '{ print $1 + 0 }')"
  expect_eq "list exporter = bufinfo exp_name" "$(jget "$l" "$p.exporter")" "$(echo "$line" | awk -F'\t' '{ print $5 }')"
  expect_eq "list name = bufinfo name" "$(jget "$l" "$p.name")" "$(echo "$line" | awk -F'\t' '{ print $7 }')"
  expect_eq "the holder is the waiting recv (pid $r1)" "$(jget "$l" "$p.holders\[0\].pid")" "$r1"
  fd=$(jget "$l" "$p.holders\[0\].fds\[0\]")
  expect_eq "its fd $fd is the buffer by fdinfo" "$(sed -n 's/^ino:[[:space:]]*//p' /proc/$r1/fdinfo/$fd 2>/dev/null)" "$ino"
  mstart=$(jget "$l" "$p.holders\[0\].mappings\[0\].start")
  grep -q "^${mstart#0x}-.* $ino */dmabuf:shared-frame" /proc/$r1/maps && ok "its mapping $mstart is in /proc/$r1/maps" || not_ok "mapping in maps" "$mstart: $(grep dmabuf /proc/$r1/maps)"
fi
numakit dmabuf list > "$CHECK_TMP/l.txt"; cat "$CHECK_TMP/l.txt"
grep -q "shared-frame .*numakit\[$r1\] fd" "$CHECK_TMP/l.txt" && ok "text listing names the holder" || not_ok "text listing names the holder" "$(cat "$CHECK_TMP/l.txt")"
# another user sees no buffer it may not see, and says which processes it
# could not read
grep -q '^nobody:' /etc/passwd || echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >> /etc/passwd
chmod 755 / # the initramfs root comes from a private (0700) build directory
su nobody -s /bin/sh -c "numakit dmabuf list --json" > "$CHECK_TMP/n.json" 2> "$CHECK_TMP/n.err"; rc=$?
n=$(json_flat < "$CHECK_TMP/n.json"); cat "$CHECK_TMP/n.err"
echo "$n" | grep -E 'unreadable|sources' | head -20
expect_eq "as nobody: list exits 0" "$rc" 0
echo "$n" | grep -q "^\.unreadable\[[0-9]*\]\.pid=$r1\$" && ok "as nobody: the holder's process is listed as unreadable" || not_ok "as nobody: holder unreadable" "$(echo "$n" | grep unreadable | head -5)"
echo "$n" | grep -q '^\.unreadable\[[0-9]*\]\.why=permission denied' && ok "as nobody: says permission denied" || not_ok "as nobody: why" "$(echo "$n" | grep why | head -3)"
case $(jget "$n" .sources.bufinfo) in
  *permission*) ok "as nobody: bufinfo unreadable, and said so" ;;
  *) not_ok "as nobody: bufinfo" "$(jget "$n" .sources.bufinfo)" ;;
esac
kill $r1; wait $r1 2>/dev/null
# a receiver whose server dies before sending: a clear message, exit 2
numakit dmabuf recv "$CHECK_TMP/none.sock" --timeout 1 > "$CHECK_TMP/o" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "connecting to" "$CHECK_TMP/o" && ok "recv without a server: exit 2" || not_ok "recv without a server" "exit $rc: $(cat "$CHECK_TMP/o")"
left=$(sed -n 's/^Total \([0-9]*\) objects.*/\1/p' /sys/kernel/debug/dma_buf/bufinfo)
expect_eq "no DMA-BUF left behind (bufinfo)" "$left" 0
