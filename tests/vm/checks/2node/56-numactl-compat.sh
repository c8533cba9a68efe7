# numactl compatibility: numakit invoked through a symlink named `numactl`
# reads numactl's options and node specifications; where pages and CPUs end
# up is read from memhog's own numa_maps and /proc/PID/status, not from
# numakit. Skips while the numactl interface is a stub.
ln -s "$(command -v numakit)" "$CHECK_TMP/numactl"
PATH=$CHECK_TMP:$PATH
out=$(numactl --show 2>&1)
rc=$?
echo "$out"
if [ $rc != 0 ] && echo "$out" | grep -qiE 'not built yet|not implemented|unimplemented'; then
  skip "numactl symlink" "numactl compatibility not available"
  exit 0
fi
if [ $rc = 0 ] && echo "$out" | grep -q '^policy: default$' &&
   echo "$out" | grep -q '^physcpubind: 0 1 2 3 $' && echo "$out" | grep -q '^membind: 0 1 $'; then
  ok "numactl --show: default policy, CPUs 0-3, nodes 0-1"
else
  not_ok "numactl --show" "exit $rc"
fi

# --show under each policy, set by the same symlink (numactl sets, then
# execs numactl --show, which reports what it inherited).
show_has() { # NAME "OPTIONS" LINE...
  _n=$1 _o=$2; shift 2
  # shellcheck disable=SC2086  # options are split on purpose
  _s=$(numactl $_o numactl --show 2>&1)
  _rc=$?
  for _l in "$@"; do
    if ! printf '%s\n' "$_s" | grep -qxF "$_l"; then
      not_ok "$_n" "exit $_rc, no line '$_l' in: $(printf '%s' "$_s" | tr '\n' '|')"
      return
    fi
  done
  ok "$_n"
}
show_has "--membind=1 --show" "--membind=1" "policy: bind" "preferred node: 1" "membind: 1 "
show_has "--interleave=all --show" "--interleave=all" "policy: interleave" "interleavemask: 0 1 "
show_has "--preferred=1 --show" "--preferred=1" "policy: preferred" "preferred node: 1" "preferred: 1 "
show_has "--cpunodebind=1 --show" "--cpunodebind=1" "physcpubind: 2 3 " "cpubind: 1 " "nodebind: 1 "
show_has "-N +1 -m same --show" "-N +1 -m same" "policy: bind" "physcpubind: 2 3 " "membind: 1 "
# libnuma looks a pci: device up under /sys/devices/pciSEG:BUS/ only: a
# device behind a bridge (0000:41:00.0, under root port 0000:40:00.0) is
# refused as numactl refuses it, and the root port is found.
bad=$(numactl --membind=pci:0:41:0.0 true 2>&1 >/dev/null | head -1)
expect_eq "numactl --membind=pci:0:41:0.0 (behind a bridge): refused as by libnuma" "$bad" \
  "libnuma: Warning: Cannot read node mask for  device \`0:41:0.0'"
show_has "--membind=pci:0:40:0.0 --show" "--membind=pci:0:40:0.0" "policy: bind" "membind: 1 "
show_has "--membind=block:nvme0n1 --show" "--membind=block:nvme0n1" "policy: bind" "membind: 1 "
net=$(ls /sys/class/net 2>/dev/null | grep -v '^lo$' | head -1)
if [ -n "$net" ]; then
  show_has "--cpunodebind=netdev:$net --show" "--cpunodebind=netdev:$net" "nodebind: 0 " "physcpubind: 0 1 "
else
  skip "--cpunodebind=netdev:IF" "no network interface"
fi

hw=$(numactl --hardware 2>&1)
echo "$hw"
if echo "$hw" | grep -qx 'available: 2 nodes (0-1)' && echo "$hw" | grep -qx 'node     0    1 ' &&
   echo "$hw" | grep -qx '   0:   10   21 ' && echo "$hw" | grep -qx 'node 1 cpus: 2 3'; then
  ok "numactl --hardware (2.0.19 format)"
else
  not_ok "numactl --hardware" "unexpected output"
fi

bad=$(numactl --membind=5 true 2>/dev/null)
rc=$?
expect_eq "numactl --membind=5: '<5> is invalid', exit 1" "$rc:$bad" "1:<5> is invalid"

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

hog_once "numactl --interleave=all" 64
n0=$(field N0 "$ONCE_PAGES") n1=$(field N1 "$ONCE_PAGES")
if [ "$ONCE_RC" = 0 ] && within_pct "$n0" "$n1" 10; then
  ok "numactl --interleave=all splits $n0/$n1"
else
  not_ok "numactl --interleave=all splits within 10%" "exit $ONCE_RC, $ONCE_PAGES"
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

# First touch from node 1's CPUs lands on node 1. (Not under `taskset -c
# 0-1`: numakit keeps a binding inside the current affinity, where numactl
# would widen it.)
hog_once "numactl --cpunodebind=1" 64
if [ "$ONCE_RC" = 0 ] && at_least_pct "$(field N1 "$ONCE_PAGES")" 16384 90; then
  ok "numactl --cpunodebind=1 -> memory on node 1"
else
  not_ok "numactl --cpunodebind=1 -> memory on node 1" "exit $ONCE_RC, $ONCE_PAGES"
fi
