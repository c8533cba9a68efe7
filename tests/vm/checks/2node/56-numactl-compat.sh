# numactl compatibility: numakit invoked through a symlink named `numactl`
# accepts numactl's options. Skips while the numactl interface is a stub.
ln -s "$(command -v numakit)" "$CHECK_TMP/numactl"
PATH=$CHECK_TMP:$PATH
out=$(numactl --show 2>&1)
rc=$?
echo "$out"
if [ $rc != 0 ] && echo "$out" | grep -qiE 'not built yet|not implemented|unimplemented'; then
  skip "numactl symlink" "numactl compatibility not available"
  exit 0
fi
if [ $rc = 0 ] && echo "$out" | grep -q '^policy: '; then
  ok "numactl --show"
else
  not_ok "numactl --show" "exit $rc, no 'policy:' line"
fi

hog_once "taskset -c 0-1 numactl --membind=1" 64
if [ "$ONCE_RC" = 0 ] && at_least_pct "$(field N1 "$ONCE_PAGES")" 16384 99; then
  ok "numactl --membind=1 -> node 1"
else
  not_ok "numactl --membind=1 -> node 1" "exit $ONCE_RC, $ONCE_PAGES"
fi

hog_once "numactl --interleave=0,1" 64
n0=$(field N0 "$ONCE_PAGES") n1=$(field N1 "$ONCE_PAGES")
if [ "$ONCE_RC" = 0 ] && [ "$(field total "$ONCE_PAGES")" = 16384 ] && within_pct "$n0" "$n1" 10; then
  ok "numactl --interleave=0,1 splits $n0/$n1"
else
  not_ok "numactl --interleave=0,1 splits within 10%" "exit $ONCE_RC, $ONCE_PAGES"
fi

hog_once "numactl -i all" 64
n0=$(field N0 "$ONCE_PAGES") n1=$(field N1 "$ONCE_PAGES")
if [ "$ONCE_RC" = 0 ] && within_pct "$n0" "$n1" 10; then
  ok "numactl -i all splits $n0/$n1"
else
  not_ok "numactl -i all splits within 10%" "exit $ONCE_RC, $ONCE_PAGES"
fi

hog_once "taskset -c 0-1 numactl --preferred=1" 64
if [ "$ONCE_RC" = 0 ] && at_least_pct "$(field N1 "$ONCE_PAGES")" 16384 90; then
  ok "numactl --preferred=1 -> node 1"
else
  not_ok "numactl --preferred=1 -> node 1" "exit $ONCE_RC, $ONCE_PAGES"
fi

cpus=$(numactl --cpunodebind=1 sh -c 'grep Cpus_allowed_list /proc/self/status' 2>&1 |
       awk '/^Cpus_allowed_list:/ { print $2 }')
expect_eq "numactl --cpunodebind=1 -> CPUs" "$cpus" "2-3"
