# Inside a cpuset that lacks node 1 (cgroup2: cpuset.cpus 0-1, cpuset.mems
# 0), `run --near cuda:2` (a GPU on node 1): --check says it would fail and
# why (exit 1); without --fallback the run is refused with one line (exit 2)
# and nothing runs; --fallback preferred is refused too (the kernel refuses a
# preferred node outside the cpuset); --fallback none runs the command
# unbound with one warning per step. A GPU on node 0 is unaffected, and
# --check tries it with the kernel.
need_numakit run --near --check --fallback

cg=/sys/fs/cgroup
if ! grep -q " $cg cgroup2 " /proc/mounts; then
  mkdir -p $cg && mount -t cgroup2 none $cg || { not_ok "mount cgroup2" "mount failed"; exit 0; }
fi
echo +cpuset > $cg/cgroup.subtree_control 2>/dev/null
mkdir -p $cg/nk-gpu
echo 0-1 > $cg/nk-gpu/cpuset.cpus && echo 0 > $cg/nk-gpu/cpuset.mems ||
  { not_ok "cpuset 0-1/0" "cannot configure $cg/nk-gpu"; exit 0; }
# caged: run a command inside the cgroup
caged() { sh -c 'echo $$ > /sys/fs/cgroup/nk-gpu/cgroup.procs && exec "$@"' caged "$@"; }
expect_eq "the cpuset holds" "$(caged sh -c 'grep Mems_allowed_list /proc/self/status' | awk '{ print $2 }')" 0

out=$(caged numakit run --check --near cuda:2 2>&1); rc=$?
echo "$out"
case $rc:$out in
  1:*"would fail: node(s) 1 are outside this process's allowed memory nodes (0)"*) ok "--check: would fail, and why (exit 1)";;
  *) not_ok "--check: would fail, and why (exit 1)" "exit $rc";;
esac
out=$(caged numakit run --check --json --near cuda:2 2>&1); rc=$?
expect_eq "--check --json ok" "$(echo "$out" | json_flat | sed -n 's/^\.ok=//p'):$rc" "false:1"

out=$(caged numakit run --near cuda:2 -- sh -c 'echo ran' 2>&1); rc=$?
echo "$out"
case $rc:$out in
  *ran*) not_ok "strict run refused" "the command ran";;
  2:"numakit: node(s) 1 are outside this process's allowed memory nodes (0)"*) ok "strict run refused with one line (exit 2)";;
  *) not_ok "strict run refused with one line (exit 2)" "exit $rc";;
esac

out=$(caged numakit run --near cuda:2 --fallback preferred -- sh -c 'echo ran' 2>&1); rc=$?
echo "$out"
case $rc:$out in
  *ran*) not_ok "--fallback preferred refused" "the command ran";;
  2:*"using memory preferred 1 instead; that was refused too"*) ok "--fallback preferred: refused too (exit 2)";;
  *) not_ok "--fallback preferred: refused too (exit 2)" "exit $rc";;
esac

out=$(caged numakit run --check --near cuda:2 --fallback none 2>&1); rc=$?
echo "$out"
case $rc:$out in
  0:*"would succeed: the kernel accepted"*) ok "--check --fallback none: would succeed (exit 0)";;
  *) not_ok "--check --fallback none: would succeed (exit 0)" "exit $rc";;
esac
out=$(caged numakit run --near cuda:2 --fallback none -- sh -c 'grep -E "^(Cpus|Mems)_allowed_list" /proc/self/status' 2>"$CHECK_TMP/err"); rc=$?
echo "$out"; cat "$CHECK_TMP/err"
warnings=$(grep -c '^numakit run: warning: .* refused (' "$CHECK_TMP/err")
cpus=$(echo "$out" | awk '/^Cpus_allowed_list:/ { print $2 }')
if [ "$rc" = 0 ] && [ "$cpus" = 0-1 ] && [ "$warnings" = 3 ]; then
  ok "--fallback none: ran unbound on CPUs 0-1 with one warning per step (3)"
else
  not_ok "--fallback none: ran unbound on CPUs 0-1 with one warning per step (3)" "exit $rc, CPUs '$cpus', $warnings steps"
fi

out=$(caged numakit run --check --near cuda:1 2>&1); rc=$?
echo "$out"
case $rc:$out in
  0:*"cpus      0-1"*"would succeed: the kernel accepted"*) ok "--check near a GPU inside the cpuset: kernel accepted (exit 0)";;
  *) not_ok "--check near a GPU inside the cpuset: kernel accepted (exit 0)" "exit $rc";;
esac
hog_once "caged numakit run --near cuda:1 --" 16
if [ "$ONCE_RC" = 0 ] && at_least_pct "$(field N0 "$ONCE_PAGES")" 4096 90; then
  ok "near cuda:1 inside the cpuset -> memory on node 0"
else
  not_ok "near cuda:1 inside the cpuset -> memory on node 0" "exit $ONCE_RC, $ONCE_PAGES"
fi
