#!/bin/sh
# Runs every check for this boot's topology and writes the result stream.
#
# Checks: /vm/checks/any/*.sh (every topology), then /vm/checks/$TOPO/*.sh,
# each sorted by name. Each check runs in a fresh `sh` that first sources
# /vm/lib.sh, with a time limit (nkvm.check_timeout, default 120 s).
#
# Output (stdout, read by the host):
#   # begin NAME                       a check file starts (NAME = TOPO/file)
#   ok - NAME: what                    a passed assertion
#   not ok - NAME: what # reason       a failed assertion
#   ok - NAME: what # SKIP why         a skipped assertion
#   #   ...                            the check's log (on failure, or verbose)
#   # end NAME rc=N secs=S results=R   the check file finished
# A check that reports nothing, or exits non-zero without reporting a
# failure, or runs out of time, gets a `not ok` line from the runner.
# Exit status: 0 all passed or skipped, 1 something failed.
arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^$1=//p" | tail -1; }
topo=$(arg nkvm.topo)
verbose=$(arg nkvm.verbose)
limit=$(arg nkvm.check_timeout)
: "${limit:=120}"
now() { awk '{ print $1 }' /proc/uptime; }

echo "# topology $topo, runner started at guest uptime $(now)s"
[ -n "$topo" ] || { echo "not ok - runner: nkvm.topo missing from the kernel command line # rig"; exit 1; }
mkdir -p /out/logs
failed=0
for f in /vm/checks/any/*.sh /vm/checks/"$topo"/*.sh; do
  [ -f "$f" ] || continue
  base=${f##*/}
  name=$topo/${base%.sh}
  log=/out/logs/$topo-${base%.sh}.log
  tmp=/tmp/check/${base%.sh}
  rm -rf "$tmp"; mkdir -p "$tmp"
  res=$tmp/.results
  : > "$res"
  echo "# begin $name"
  t0=$(now)
  CHECK_NAME=$name CHECK_TMP=$tmp VM_TOPO=$topo \
    timeout -s TERM "$limit" sh -c '. /vm/lib.sh; . "$1"' "$name" "$f" 3>>"$res" >"$log" 2>&1 < /dev/null
  rc=$?
  t1=$(now)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  # leftovers (held memhogs and the like) of this check
  if [ -f "$tmp/pids" ]; then
    for p in $(cat "$tmp/pids"); do kill -KILL "$p" 2>/dev/null; done
  fi
  n=$(grep -c '^\(ok\|not ok\) ' "$res")
  nfail=$(grep -c '^not ok ' "$res")
  # busybox timeout exits 143 (TERM); also accept the GNU style 124
  if [ "$rc" = 143 ] || [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "not ok - $name: finished in time # killed after ${limit}s (nkvm.check_timeout)" >> "$res"
    nfail=$((nfail + 1))
  elif [ "$n" = 0 ]; then
    echo "not ok - $name: reported no result # exit status $rc" >> "$res"
    nfail=$((nfail + 1))
  elif [ "$rc" != 0 ] && [ "$nfail" = 0 ]; then
    echo "not ok - $name: exit status # $rc after $n result(s)" >> "$res"
    nfail=$((nfail + 1))
  fi
  grep '^\(ok\|not ok\) ' "$res"
  # anything else written to fd 3 is kept as a diagnostic
  grep -v '^\(ok\|not ok\) ' "$res" | sed 's/^/#   /'
  if [ "$nfail" -gt 0 ] || [ "$verbose" = 1 ]; then
    tail -n 60 "$log" | sed 's/^/#   /'
  fi
  [ "$nfail" -gt 0 ] && failed=1
  echo "# end $name rc=$rc secs=$secs results=$(grep -c '^\(ok\|not ok\) ' "$res")"
  rm -rf "$tmp"
done
echo "# runner finished at guest uptime $(now)s"
exit $failed
