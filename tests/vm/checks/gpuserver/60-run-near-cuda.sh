# numakit run --near cuda:N / rocm:N under several CUDA_VISIBLE_DEVICES,
# CUDA_DEVICE_ORDER and ROCR/HIP values lands on the right node: the
# command's CPUs (its own Cpus_allowed_list) and its pages (numa_maps).
# The GPUs are not NVIDIA's or AMD's, so both count every GPU in PCI order
# (23:00.0 24:00.0 on node 0, 43:00.0 44:00.0 on node 1), with a warning.
need_numakit run --near --check

# VARS SPEC NODE: the command runs on NODE's CPUs with its memory on NODE
lands() {
  _vars=$1 _spec=$2 _node=$3 _cpus=$(node_cpulist "$3")
  _what="${_vars:+$_vars }--near $_spec -> node $_node"
  # shellcheck disable=SC2086  # the variables are split on purpose
  _got=$(env $_vars numakit run --near "$_spec" -- sh -c 'grep Cpus_allowed_list /proc/self/status' 2>&1)
  _rc=$?
  echo "$_got"
  _got=$(echo "$_got" | awk '/^Cpus_allowed_list:/ { print $2 }')
  hog_once "env $_vars numakit run --near $_spec --" 16
  if [ "$_rc" = 0 ] && [ "$_got" = "$_cpus" ] && [ "$ONCE_RC" = 0 ] &&
     at_least_pct "$(field N$_node "$ONCE_PAGES")" 4096 90; then
    ok "$_what (CPUs $_got, $(field N$_node "$ONCE_PAGES") of 4096 pages)"
  else
    not_ok "$_what" "exit $_rc/$ONCE_RC, CPUs '$_got' (want $_cpus), $ONCE_PAGES"
  fi
}
lands "" cuda:0 0
lands "" cuda:3 1
lands "CUDA_DEVICE_ORDER=PCI_BUS_ID CUDA_VISIBLE_DEVICES=2,1" cuda:0 1
lands "CUDA_DEVICE_ORDER=PCI_BUS_ID CUDA_VISIBLE_DEVICES=2,1" cuda:1 0
lands "CUDA_VISIBLE_DEVICES=3" cuda:0 1
lands "ROCR_VISIBLE_DEVICES=3,0 HIP_VISIBLE_DEVICES=1" rocm:0 0

# a device the environment hides: refused with one line, nothing run
out=$(CUDA_VISIBLE_DEVICES=0,2,-1,1 numakit run --near cuda:2 -- true 2>&1)
rc=$?
echo "$out"
case $rc:$out in
  2:*"no device cuda:2: CUDA would list 2 GPUs (CUDA_VISIBLE_DEVICES=0,2,-1,1)"*)
    ok "cuda:2 past an invalid CUDA_VISIBLE_DEVICES entry refused";;
  *) not_ok "cuda:2 past an invalid CUDA_VISIBLE_DEVICES entry refused" "exit $rc: $out";;
esac
# the warning that PCI order stands in for CUDA's fastest-first order
case $(numakit run --near cuda:1 -- true 2>&1) in
  *"warning: CUDA_DEVICE_ORDER is not PCI_BUS_ID"*) ok "fastest-first order warned about";;
  *) not_ok "fastest-first order warned about" "no warning";;
esac
