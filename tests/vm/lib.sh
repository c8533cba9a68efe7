# Assertion and helper library for the VM checks (busybox sh + awk only).
#
# The guest runner sources this file, then the check file, in a fresh shell.
# Results go to file descriptor 3, which the runner collects; everything a
# check prints on stdout/stderr goes to the check's log, shown when the check
# fails (or always with run.sh -v).
#
# Environment set by the runner:
#   VM_TOPO     2node | 3node          CHECK_NAME  e.g. 2node/20-first-touch
#   CHECK_TMP   a private scratch directory, removed after the check
#   PATH        /vm/bin (numakit, memhog, setpol, ...) first

# Without the runner (sourcing by hand), results go to stdout.
if ! { true >&3; } 2>/dev/null; then exec 3>&1; fi
: "${CHECK_NAME:=adhoc}" "${CHECK_TMP:=/tmp/check.$$}" "${VM_TOPO:=unknown}"
mkdir -p "$CHECK_TMP"

# ---------------------------------------------------------------- results
# ok NAME                 one passed assertion
# not_ok NAME REASON      one failed assertion
# skip NAME WHY           one skipped assertion (counts as skipped, not passed)
# diag TEXT...            a diagnostic line in the check's log
ok() { echo "ok - $CHECK_NAME: $1" >&3; }
not_ok() { echo "not ok - $CHECK_NAME: $1 # ${2:-failed}" >&3; }
skip() { echo "ok - $CHECK_NAME: $1 # SKIP ${2:-skipped}" >&3; }
diag() { echo "# $*"; }

# assert NAME CMD [ARG...]     ok when CMD exits 0, else not_ok with its status
assert() {
  _n=$1; shift
  if "$@"; then ok "$_n"; else not_ok "$_n" "'$*' exited $?"; fi
}
# expect_eq NAME GOT WANT
expect_eq() {
  if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got '$2', want '$3'"; fi
}

# ---------------------------------------------------------------- numakit
# numakit_lacks CMD [OPTION...]: prints why the feature is missing and
# returns 0, or prints nothing and returns 1 when it is there. Missing means:
#   - `numakit CMD --help` fails                  -> "numakit CMD not available"
#   - `numakit CMD` alone says it is a stub ("not built yet", "not
#     implemented", "unimplemented")             -> "numakit CMD not available"
#   - the help does not mention one of OPTIONs   -> "numakit CMD has no OPTION"
numakit_lacks() {
  _c=$1; shift
  if ! _h=$(numakit $_c --help 2>&1); then echo "numakit $_c not available"; return 0; fi
  _p=$(timeout 10 numakit $_c 2>&1 < /dev/null)
  if echo "$_p" | grep -qiE 'not built yet|not implemented|unimplemented'; then
    echo "numakit $_c not available"; return 0
  fi
  for _o; do
    case $_h in *"$_o"*) ;; *) echo "numakit $_c has no $_o"; return 0;; esac
  done
  return 1
}
# need_numakit CMD [OPTION...]: unless the feature is there, report one skip
# ("requires numakit CMD OPTION...") with the reason above and end the check.
need_numakit() {
  _why=$(numakit_lacks "$@") || return 0
  skip "requires numakit $*" "$_why"
  exit 0
}

# ---------------------------------------------------------------- values
# field KEY "k1=v1 k2=v2 ..."  -> value of KEY (0 when absent)
field() {
  echo "$2" | awk -v k="$1" '{ for (i = 1; i <= NF; i++) { split($i, kv, "=")
    if (kv[1] == k) { print kv[2]; f = 1; exit } } } END { if (!f) print 0 }'
}
# pct PART WHOLE -> integer percentage, rounded down (0 when WHOLE is 0)
pct() { awk -v p="$1" -v w="$2" 'BEGIN { print (w > 0) ? int(p * 100 / w) : 0 }'; }
# at_least_pct PART WHOLE MIN: true when PART is at least MIN % of WHOLE (and WHOLE > 0)
at_least_pct() { awk -v p="$1" -v w="$2" -v m="$3" 'BEGIN { exit !(w > 0 && p * 100 >= m * w) }'; }
# within_pct A B PCT: true when |A-B| is at most PCT % of A+B (a split of a total)
within_pct() { awk -v a="$1" -v b="$2" -v m="$3" 'BEGIN { d = a - b; if (d < 0) d = -d
  exit !(a + b > 0 && d * 100 <= m * (a + b)) }'; }

# ---------------------------------------------------------------- numa_maps
# numa_pages PID|FILE START END
# Sums the per-node page counts (N<node>=<pages>) of the numa_maps lines whose
# start address lies in [START, END) (hex, as memhog prints them). Reads
# /proc/PID/numa_maps, or FILE: a saved copy, or memhog --report output
# (lines prefixed "numa_maps: "). Prints one line:
#   total=T N0=a N1=b ... vmas=V     (every node up to the highest seen)
# THP-backed ranges are counted in base pages, as the kernel reports them.
numa_pages() {
  case $1 in
    *[!0-9]*) _src=$1;;
    *) _src=/proc/$1/numa_maps;;
  esac
  awk -v s="$2" -v e="$3" '
    function pad(x) { x = "" tolower(x); sub(/^0x/, "", x); while (length(x) < 16) x = "0" x; return x }
    BEGIN { s = pad(s); e = pad(e); max = -1 }
    { sub(/^numa_maps: /, ""); a = pad($1); if (a < s || a >= e) next; v++
      for (i = 2; i <= NF; i++) if ($i ~ /^N[0-9]+=/) {
        split(substr($i, 2), kv, "="); c[kv[1]] += kv[2]; t += kv[2]
        if (kv[1] + 0 > max) max = kv[1] + 0 } }
    END { printf "total=%d", t; for (n = 0; n <= max; n++) printf " N%d=%d", n, c[n]
          printf " vmas=%d\n", v }' "$_src"
}
# numa_pages_all PID|FILE -> the same line, summed over every mapping
numa_pages_all() { numa_pages "$1" 0 ffffffffffffffff; }

# parts_on_their_nodes PID FILE: FILE holds the first_touch example's lines
# `part: node=N cpus=C start=S end=E pages=P`; each part must have at least
# 95% of its pages on its own node in PID's numa_maps (one result per part).
parts_on_their_nodes() {
  while read -r _ rest; do
    n=$(field node "$rest") s=$(field start "$rest") e=$(field end "$rest") p=$(field pages "$rest")
    c=$(numa_pages "$1" "$s" "$e")
    diag "part for node $n: $c"
    if at_least_pct "$(field N$n "$c")" "$p" 95; then
      ok "first-touch part for node $n (cpus $(field cpus "$rest")) -> node $n ($(pct "$(field N$n "$c")" "$p")%)"
    else
      not_ok "first-touch part for node $n -> node $n" "$c"
    fi
  done < "$2"
}

# json_flat < JSON: one line per leaf, `PATH=VALUE`, for checking --json
# output without jq. Paths look like .a.b[0].c; strings lose their quotes
# (escapes are kept as written); empty objects/arrays print {} / [].
# Streams line by line (linear time; tokens never span lines in JSON).
json_flat() {
  awk '
    function path() { return d == 0 ? "" : (T[d] == "a" ? P[d] "[" I[d] "]" : P[d] "." K[d]) }
    function done() { if (d > 0) { E[d] = 0; if (T[d] == "a") I[d]++; else W[d] = "key" } }
    function jopen(t,   np) { np = path(); if (d > 0) E[d] = 0; d++; T[d] = t; P[d] = np; I[d] = 0; W[d] = "key"; E[d] = 1 }
    function jclose(e) { if (E[d]) print P[d] "=" e; d--; done() }
    BEGIN { d = 0 }
    {
      n = length($0)
      for (i = 1; i <= n; i++) {
        c = substr($0, i, 1)
        if (c == " " || c == "\t" || c == "\r" || c == "," ) continue
        if (c == "{") { jopen("o"); continue }
        if (c == "[") { jopen("a"); continue }
        if (c == "}") { jclose("{}"); continue }
        if (c == "]") { jclose("[]"); continue }
        if (c == ":") { W[d] = "value"; continue }
        if (c == "\"") {
          v = ""
          for (i++; i <= n; i++) {
            c = substr($0, i, 1)
            if (c == "\\") { v = v substr($0, i, 2); i++; continue }
            if (c == "\"") break
            v = v c
          }
          if (d > 0 && T[d] == "o" && W[d] == "key") { K[d] = v; W[d] = "colon" }
          else { print path() "=" v; done() }
          continue
        }
        b = i
        while (i < n && index(",}] \t\r", substr($0, i + 1, 1)) == 0) i++
        print path() "=" substr($0, b, i - b + 1); done()
      }
    }'
}

# ---------------------------------------------------------------- bench
# bench_cells FLAT PREFIX: the cells of a numakit.bench/1 matrix, from
# json_flat output; PREFIX is the cells array's path (.result.matrix.cells).
# One line per cell: `initiator=I target=T cpu=C pages=P on=O`, where O is
# the pages the cell's placement found on its target (move_pages).
bench_cells() {
  echo "$1" | awk -F= -v pre="$2[" '
    index($1, pre) == 1 {
      rest = substr($1, length(pre) + 1); i = substr(rest, 1, index(rest, "]") - 1)
      f = substr(rest, index(rest, "]") + 1); if (!(i in seen)) { seen[i] = 1; order[++n] = i }
      if (f == ".initiator") I[i] = $2; else if (f == ".target") T[i] = $2
      else if (f == ".cpu") C[i] = $2; else if (f == ".placement.pages") P[i] = $2
      else if (f ~ /^\.placement\.by_node\.[0-9]+$/) { sub(/.*\./, "", f); B[i, f] = $2 }
    }
    END { for (k = 1; k <= n; k++) { i = order[k]
      printf "initiator=%s target=%s cpu=%s pages=%s on=%d\n", I[i], T[i], C[i], P[i], B[i, T[i]] } }'
}
# watch_numa_maps PID DIR: copies /proc/PID/numa_maps to DIR/1, DIR/2, ...
# every 0.1 s until PID exits (run it in the background).
watch_numa_maps() {
  _i=0; mkdir -p "$2"
  while kill -0 "$1" 2>/dev/null; do
    _i=$((_i + 1)); cat "/proc/$1/numa_maps" > "$2/$_i" 2>/dev/null; usleep 100000
  done
}
# bound_vmas DIR MINPAGES: the mappings with a one-node bind policy and at
# least MINPAGES pages in any numa_maps copy of DIR, once each:
# `node=T pages=P on=O` (O: the pages the kernel has on node T).
bound_vmas() {
  cat "$1"/* 2>/dev/null | awk -v min="$2" '
    $2 ~ /^bind:[0-9]+$/ { t = substr($2, 6); tot = 0; on = 0
      for (i = 3; i <= NF; i++) if ($i ~ /^N[0-9]+=/) { split(substr($i, 2), kv, "="); tot += kv[2]; if (kv[1] == t) on += kv[2] }
      key = $1 " " t " " tot " " on
      if (tot >= min && !(key in seen)) { seen[key] = 1; printf "node=%s pages=%d on=%d\n", t, tot, on } }'
}

# ---------------------------------------------------------------- processes
# wait_for FILE [SECS [PID]]: wait until FILE exists (default 60 s). Gives up
# early when PID is given and that process is gone.
wait_for() {
  _i=0 _lim=$(( ${2:-60} * 10 ))
  while [ ! -e "$1" ]; do
    [ -n "$3" ] && ! kill -0 "$3" 2>/dev/null && [ ! -e "$1" ] && return 1
    [ $_i -ge $_lim ] && return 1
    _i=$((_i + 1)); usleep 100000
  done
  return 0
}

# hog_start "WRAPPER" MEMHOG_ARGS...
# Starts `WRAPPER memhog --hold --ready FILE MEMHOG_ARGS...` in the background
# (WRAPPER is split on spaces; "" for none, e.g. "taskset -c 2-3" or
# "numakit run --membind 1 --") and waits until memhog has touched its buffer.
# Sets HOG_PID (memhog's own pid, also when the wrapper forks), HOG_START,
# HOG_END (hex, no 0x), HOG_OUT (its stdout+stderr file) and HOG_BG (the
# background job's pid). Returns 1 (with the output in the log) on failure.
_hog_n=0
hog_start() {
  _w=$1; shift
  _hog_n=$((_hog_n + 1))
  _r=$CHECK_TMP/hog$_hog_n.ready HOG_OUT=$CHECK_TMP/hog$_hog_n.out
  # shellcheck disable=SC2086  # the wrapper is split on purpose
  $_w memhog --hold --ready "$_r" "$@" >"$HOG_OUT" 2>&1 &
  HOG_BG=$!
  echo "$HOG_BG" >> "$CHECK_TMP/pids"
  if ! wait_for "$_r" 120 "$HOG_BG"; then
    diag "memhog did not get ready: ${_w:+$_w }memhog $*"
    sed 's/^/#   /' "$HOG_OUT"
    HOG_PID='' HOG_START='' HOG_END=''
    return 1
  fi
  _l=$(cat "$_r")
  HOG_PID=$(field pid "$_l") HOG_START=$(field start "$_l") HOG_END=$(field end "$_l")
  echo "$HOG_PID" >> "$CHECK_TMP/pids"
  diag "started ${_w:+$_w }memhog $* -> pid=$HOG_PID buffer=$HOG_START-$HOG_END"
  return 0
}
# hog_stop: SIGTERM the last memhog started and reap its background job.
hog_stop() {
  [ -n "$HOG_PID" ] && kill -TERM "$HOG_PID" 2>/dev/null
  [ -n "$HOG_BG" ] && wait "$HOG_BG" 2>/dev/null
  HOG_PID='' HOG_BG=''
}
# hog_once "WRAPPER" MEMHOG_ARGS...
# Runs `WRAPPER memhog --report MEMHOG_ARGS...` to completion (memhog prints
# its own numa_maps lines before it exits). Sets ONCE_RC (exit status),
# ONCE_OUT (output file) and ONCE_PAGES (numa_pages line of the buffer,
# "total=0 vmas=0" when memhog did not get that far).
hog_once() {
  _w=$1; shift
  _hog_n=$((_hog_n + 1))
  ONCE_OUT=$CHECK_TMP/once$_hog_n.out
  # shellcheck disable=SC2086  # the wrapper is split on purpose
  $_w memhog --report "$@" >"$ONCE_OUT" 2>&1
  ONCE_RC=$?
  _l=$(grep '^memhog: pid=' "$ONCE_OUT" | head -1)
  if [ -n "$_l" ]; then
    ONCE_PAGES=$(numa_pages "$ONCE_OUT" "$(field start "$_l")" "$(field end "$_l")")
  else
    ONCE_PAGES="total=0 vmas=0"
  fi
  diag "${_w:+$_w }memhog --report $* -> exit $ONCE_RC, $ONCE_PAGES"
  sed 's/^/#   /' "$ONCE_OUT"
}
# Processes a check left behind are killed by the runner (from $CHECK_TMP/pids).

# ---------------------------------------------------------------- topology
node_dir() { echo "/sys/devices/system/node/node$1"; }
node_cpulist() { cat "/sys/devices/system/node/node$1/cpulist"; }
node_distance() { cat "/sys/devices/system/node/node$1/distance"; }
# node_mem_mib N -> MemTotal of node N in MiB
node_mem_mib() { awk '/MemTotal:/ { print int($4 / 1024) }' "/sys/devices/system/node/node$1/meminfo"; }
# node_ids -> the online node ids, one line, space separated
node_ids() { ls /sys/devices/system/node | sed -n 's/^node\([0-9][0-9]*\)$/\1/p' | sort -n | tr '\n' ' ' | sed 's/ $//'; }
# expand_list "0-2,5" -> "0 1 2 5" (a kernel cpulist/nodelist, "" stays "")
expand_list() {
  echo "$1" | awk -F, '{ o = ""; for (i = 1; i <= NF; i++) { if ($i == "") continue
    n = split($i, r, "-"); a = r[1] + 0; b = (n > 1 ? r[2] : r[1]) + 0
    for (j = a; j <= b; j++) o = o (o == "" ? "" : " ") j } print o }'
}
# cpus_allowed PID|self -> Cpus_allowed_list of the process
cpus_allowed() { awk '/^Cpus_allowed_list:/ { print $2 }' "/proc/$1/status"; }
# pci_attr BDF ATTR -> /sys/bus/pci/devices/BDF/ATTR
pci_attr() { cat "/sys/bus/pci/devices/$1/$2" 2>/dev/null; }
