# numakit's numastat mode and the real numastat (the host's, packed under
# /vm/real) read the same frozen copy of the node files and of two
# processes' numa_maps in a chroot, and print the same bytes. The host's
# numastat is Debian's 2.0.16 while numakit follows 2.0.19; its `-m`
# differences are converted (see crates/numakit-cli/tests/numastat_compat.rs):
# the Token lines are dropped from its output, and numakit's rows are cut to
# 2.0.16's keys in 2.0.16's order.
numakit numastat -V >/dev/null 2>&1 || { skip "numastat byte for byte" "numakit has no numastat mode"; exit 0; }
[ -x /vm/real/usr/bin/numastat ] || { skip "numastat byte for byte" "no numastat on the host"; exit 0; }

hog_start "" 8 || { not_ok "numastat byte for byte" "memhog did not start"; exit 0; }
a=$HOG_PID
hog_start "" 4 || { not_ok "numastat byte for byte" "memhog did not start"; exit 0; }
b=$HOG_PID

root=$CHECK_TMP/root
cp -a /vm/real/. "$root"
for n in $(node_ids); do
  d=$root/sys/devices/system/node/node$n
  mkdir -p "$d"
  cat "$(node_dir "$n")/numastat" > "$d/numastat"
  cat "$(node_dir "$n")/meminfo" > "$d/meminfo"
  for h in "$(node_dir "$n")"/hugepages/hugepages-*; do
    mkdir -p "$d/hugepages/${h##*/}"
    for f in nr_hugepages free_hugepages surplus_hugepages; do cat "$h/$f" > "$d/hugepages/${h##*/}/$f"; done
  done
done
mkdir -p "$root/proc"
cat /proc/meminfo > "$root/proc/meminfo"
for p in $a $b; do
  mkdir -p "$root/proc/$p"
  for f in numa_maps status cmdline; do cat "/proc/$p/$f" > "$root/proc/$p/$f"; done
done

# as 2.0.16 prints -m: numakit's rows cut to its keys, in its order
keys="MemTotal MemFree MemUsed HighTotal HighFree LowTotal LowFree Active Inactive Active(anon) Inactive(anon) Active(file) Inactive(file) Unevictable Mlocked Dirty Writeback FilePages Mapped AnonPages Shmem KernelStack PageTables NFS_Unstable Bounce WritebackTmp Slab SReclaimable SUnreclaim AnonHugePages ShmemHugePages ShmemPmdMapped HugePages_Total HugePages_Free HugePages_Surp KReclaimable"
as_2_0_16() {
  awk -v keys="$keys" '
    BEGIN { n = split(keys, k, " "); for (i = 1; i <= n; i++) rank[k[i]] = i }
    /^Per-node system memory usage/ { print; t = 1; h = 0; next }
    t && /^$/ { for (i = 1; i <= n; i++) if (i in row) print row[i]; delete row; t = 0; print; next }
    t && h < 2 { print; h++; next }
    t { if ($1 in rank) row[rank[$1]] = $0; next }
    { print }
    END { if (t) for (i = 1; i <= n; i++) if (i in row) print row[i] }'
}
for args in "" "-n" "-c -n" "-z -n" "-m" "-z -m" "-p $a" "$a $b" "-v $a $b" "-c -p $a" "-s $a $b" "-p memhog"; do
  # shellcheck disable=SC2086  # the arguments are split on purpose
  chroot "$root" /usr/bin/numastat $args 2>/dev/null | grep -v '^Token .* not in hash table\.$' > "$CHECK_TMP/real"
  # shellcheck disable=SC2086
  NUMAKIT_ROOT=$root numakit numastat $args > "$CHECK_TMP/ours.raw" 2>/dev/null
  case " $args " in *" -m "*|*" -z -m "*) as_2_0_16 < "$CHECK_TMP/ours.raw" > "$CHECK_TMP/ours";; *) cp "$CHECK_TMP/ours.raw" "$CHECK_TMP/ours";; esac
  if cmp -s "$CHECK_TMP/real" "$CHECK_TMP/ours"; then
    ok "numastat ${args:-(no arguments)}: byte for byte"
  else
    diff "$CHECK_TMP/real" "$CHECK_TMP/ours" | head -20
    not_ok "numastat ${args:-(no arguments)}: byte for byte" "differs (see log)"
  fi
done
hog_stop
