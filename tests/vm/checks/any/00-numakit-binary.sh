# The static numakit binary runs in the guest (no libc there, only busybox).

v=$(numakit --version 2>&1); rc=$?
if [ $rc = 0 ] && echo "$v" | grep -q '^numakit [0-9]'; then
  ok "numakit --version ($v)"
else
  not_ok "numakit --version" "exit $rc: $v"
fi

h=$(numakit --help 2>&1); rc=$?
if [ $rc = 0 ] && echo "$h" | grep -qi 'usage'; then
  ok "numakit --help"
else
  not_ok "numakit --help" "exit $rc"
  echo "$h"
fi
