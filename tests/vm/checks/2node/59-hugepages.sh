# numakit hugepages reserves persistent huge pages on node 1 only, the
# kernel's counters say so, and releasing them puts the pool back.
need_numakit hugepages --node --size --count
pool=/sys/devices/system/node/node%s/hugepages/hugepages-2048kB/nr_hugepages
# shellcheck disable=SC2059
n0=$(printf "$pool" 0); n1=$(printf "$pool" 1)
if [ ! -e "$n1" ]; then
  skip "hugepages on node 1" "the kernel has no 2 MiB huge page pool"
  exit 0
fi
before0=$(cat "$n0"); before1=$(cat "$n1")
out=$(numakit hugepages --node 1 --size 2M --count 8 2>&1); rc=$?
diag "$out"
expect_eq "reserve 8 x 2M on node 1: exit" "$rc" 0
expect_eq "node 1 nr_hugepages after reserve" "$(cat "$n1")" 8
expect_eq "node 0 nr_hugepages unchanged" "$(cat "$n0")" "$before0"
free1=$(cat /sys/devices/system/node/node1/hugepages/hugepages-2048kB/free_hugepages)
expect_eq "node 1 free_hugepages after reserve" "$free1" 8
# numakit's own listing reads the same counters back
list=$(numakit hugepages --json | json_flat)
diag "$list"
if echo "$list" | grep -q '^\.pools\[[0-9]*\]\.node=1$'; then ok "listing has node 1"; else not_ok "listing has node 1" "$list"; fi
# asking for more than a 1 GiB node holds: fewer given, exit 1, pool set back
out=$(numakit hugepages --node 1 --size 2M --count 4096 2>&1); rc=$?
diag "$out"
expect_eq "reserve 4096 x 2M (8 GiB) on a 1 GiB node: exit" "$rc" 1
expect_eq "node 1 pool set back after the shortfall" "$(cat "$n1")" 8
case "$out" in *"got "*" of the 4096"*) ok "shortfall reported";; *) not_ok "shortfall reported" "$out";; esac
out=$(numakit hugepages --node 1 --size 2M --count 0 2>&1); rc=$?
diag "$out"
expect_eq "release on node 1: exit" "$rc" 0
expect_eq "node 1 nr_hugepages after release" "$(cat "$n1")" 0
expect_eq "node 0 nr_hugepages still unchanged" "$(cat "$n0")" "$before0"
out=$(numakit hugepages --node 7 --size 2M --count 1 2>&1); rc=$?
expect_eq "node 7 (absent) refused with exit 2" "$rc" 2
expect_eq "node 1 untouched by the refused request" "$(cat "$n1")" 0
echo "$before1" > "$n1"
