# Bad input: one clear line on stderr, exit 2 (127/126 for a command that is
# not found or not executable), and nothing run.
need_numakit run --membind --near

# refused NAME WANT_EXIT MESSAGE_PART numakit-args... : the command after `--`
# would create $CHECK_TMP/ran; it must not exist afterwards.
refused() {
  _n=$1 _want=$2 _msg=$3; shift 3
  rm -f "$CHECK_TMP/ran"
  numakit "$@" >"$CHECK_TMP/out" 2>"$CHECK_TMP/err"
  _rc=$?
  _line=$(head -n 1 "$CHECK_TMP/err")
  diag "numakit $* -> exit $_rc: $(cat "$CHECK_TMP/err")"
  if [ "$_rc" != "$_want" ]; then
    not_ok "$_n" "exit $_rc, want $_want: $_line"
  elif [ -e "$CHECK_TMP/ran" ]; then
    not_ok "$_n" "the command ran"
  else
    case $_line in
      "numakit: "*"$_msg"*) ok "$_n (exit $_rc)";;
      *) not_ok "$_n" "stderr '$_line' lacks '$_msg'";;
    esac
  fi
}
ran="touch $CHECK_TMP/ran"

refused "unknown node" 2 "node 7 does not exist" run --membind 7 -- $ran
refused "empty node set" 2 "needs at least one node" run --interleave '' -- $ran
refused "two policies" 2 "two memory policies" run --membind 0 --interleave 0,1 -- $ran
refused "two CPU bindings" 2 "two CPU bindings" run --cpunodebind 0 --physcpubind 2 -- $ran
refused "unknown CPU" 2 "CPU 9 does not exist" run --physcpubind 9 -- $ran
refused "device that does not exist" 2 "no device 0000:99:00.0" run --near 0000:99:00.0 -- $ran
refused "GPU that does not exist" 2 "no device gpu:0" run --near gpu:0 -- $ran
refused "device without a node" 2 "has no NUMA node" run --near 0000:01:00.0 -- $ran
refused "preferred with two nodes" 2 "exactly one node" run --preferred 0,1 -- $ran
refused "balancing without bind" 2 "bind policy" run --interleave 0,1 --balancing -- $ran
refused "command not found" 127 "command not found" run --membind 0 -- /no/such/command
refused "vanished pid: pages" 2 "no process 999999" pages 999999
refused "vanished pid: migrate" 2 "no process 999999" migrate 999999 --from 0 --to 1

# and a good one runs, with its exit status passed through
numakit run --membind 0 -- sh -c "touch $CHECK_TMP/ran; exit 3"
rc=$?
if [ "$rc" = 3 ] && [ -e "$CHECK_TMP/ran" ]; then
  ok "a valid request runs the command and returns its status"
else
  not_ok "a valid request runs the command and returns its status" "exit $rc"
fi
