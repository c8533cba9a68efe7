# The helpers of lib.sh give the right answers under busybox sh + awk (the
# guest's), on canned input: numa_maps sums, percentages, JSON flattening.

cat > "$CHECK_TMP/maps" <<'MAPS'
55d0c0000000 default file=/vm/bin/memhog mapped=10 N0=10 kernelpagesize_kB=4
7f0000000000 default
7f0000001000 default anon=16384 dirty=16384 N0=100 N1=16284 kernelpagesize_kB=4
7f0004001000 default
7fff00000000 default stack anon=3 dirty=3 N1=3 kernelpagesize_kB=4
MAPS
expect_eq "numa_pages over the buffer" "$(numa_pages "$CHECK_TMP/maps" 7f0000001000 7f0004001000)" \
  "total=16384 N0=100 N1=16284 vmas=1"
expect_eq "numa_pages over all mappings" "$(numa_pages_all "$CHECK_TMP/maps")" \
  "total=16397 N0=110 N1=16287 vmas=5"
printf 'memhog: pid=1\nnuma_maps: 7f0000001000 bind:2 anon=4 N2=4 kernelpagesize_kB=4\n' > "$CHECK_TMP/rep"
expect_eq "numa_pages of memhog --report output" "$(numa_pages "$CHECK_TMP/rep" 7f0000001000 7f0000005000)" \
  "total=4 N0=0 N1=0 N2=4 vmas=1"
expect_eq "field" "$(field N1 'total=3 N0=1 N1=2') $(field N7 'total=3')" "2 0"
assert "at_least_pct 99 of 100 >= 99" at_least_pct 99 100 99
assert "not at_least_pct 98 of 100 >= 99" eval '! at_least_pct 98 100 99'
assert "within_pct 8500/7884 within 10" within_pct 8500 7884 10
assert "not within_pct 9500/6884 within 10" eval '! within_pct 9500 6884 10'
expect_eq "json_flat" "$(echo '{"t":{"0":5,"1":[{"n":-1}]},"s":"a b"}' | json_flat | tr '\n' ' ')" \
  '.t.0=5 .t.1[0].n=-1 .s=a b '
