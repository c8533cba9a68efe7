# numakit iommu: the IOMMU is on (VT-d), every group of
# /sys/kernel/iommu_groups is in --json with its devices and default domain
# type, the mode is read from those types, and viability names the device
# and driver in the way (the NVMe is bound to nvme).
need_numakit iommu --json

numakit iommu --json > "$CHECK_TMP/iommu.json"
rc=$?
expect_eq "iommu --json exit status" "$rc" 0
flat=$(json_flat < "$CHECK_TMP/iommu.json")
get() { echo "$flat" | sed -n "s/^$1=//p"; }
expect_eq "schema" "$(get '\.schema')" "numakit.iommu/1"
expect_eq "state" "$(get '\.state')" "on"
expect_eq "unit" "$(get '\.units\[0\]\.name')" "$(ls /sys/class/iommu | head -1)"
expect_eq "unit kind" "$(get '\.units\[0\]\.kind')" "intel-vtd"

# every group, with its devices and type, as sysfs has them
want=$(ls /sys/kernel/iommu_groups | sort -n | tr '\n' ' ')
got=$(get '\.groups\[[0-9]*\]\.id' | tr '\n' ' ')
expect_eq "group ids" "$got" "$want"
bad=''
i=0
for g in $(get '\.groups\[[0-9]*\]\.id'); do
  devs=$(get "\.groups\[$i\]\.devices\[[0-9]*\]\.address" | tr '\n' ' ')
  sysdevs=$(ls /sys/kernel/iommu_groups/$g/devices | tr '\n' ' ')
  [ "$devs" = "$sysdevs" ] || bad="$bad group $g: '$devs' vs '$sysdevs';"
  ty=$(get "\.groups\[$i\]\.domain_type")
  [ "$ty" = "$(cat /sys/kernel/iommu_groups/$g/type)" ] || bad="$bad group $g type $ty;"
  for d in $(ls /sys/kernel/iommu_groups/$g/devices); do
    drv=$(readlink /sys/kernel/iommu_groups/$g/devices/$d/driver); drv=${drv##*/}
    j=$(echo "$flat" | sed -n "s/^\.groups\[$i\]\.devices\[\([0-9]*\)\]\.address=$d\$/\1/p")
    jd=$(get "\.groups\[$i\]\.devices\[$j\]\.driver")
    [ "$jd" = "${drv:-null}" ] || bad="$bad $d driver '$jd' vs '$drv';"
  done
  i=$((i + 1))
done
if [ -z "$bad" ]; then ok "groups, devices, drivers and types match sysfs ($i groups)"
else not_ok "groups match sysfs" "$bad"; fi

types=$(cat /sys/kernel/iommu_groups/*/type | sort -u | tr '\n' ' ')
case $types in
  'DMA ') want=strict;; 'DMA-FQ ') want=lazy;; 'identity ') want=passthrough;; *) want=mixed;;
esac
expect_eq "mode from the group types ($types)" "$(get '\.mode\.translation')" "$want"
diag "mode source: $(get '\.mode\.source')"

g=$(basename "$(readlink /sys/bus/pci/devices/0000:41:00.0/iommu_group)")
numakit iommu > "$CHECK_TMP/iommu.txt"
if grep -q "^group $g is not viable: 0000:41:00.0 is bound to nvme" "$CHECK_TMP/iommu.txt"; then
  ok "the NVMe's group $g is not viable, naming the device and driver"
else
  not_ok "the NVMe's group is not viable" "$(grep "^group $g " "$CHECK_TMP/iommu.txt")"
fi
g=$(basename "$(readlink /sys/bus/pci/devices/0000:42:00.0/iommu_group)")
if grep -q "^group $g is viable" "$CHECK_TMP/iommu.txt"; then ok "the edu's group $g is viable"
else not_ok "the edu's group is viable" "$(grep "^group $g " "$CHECK_TMP/iommu.txt")"; fi
if grep -q '^VFIO: vfio-pci loaded, type1 IOMMU driver loaded, /dev/vfio/vfio present' "$CHECK_TMP/iommu.txt"; then
  ok "VFIO support: vfio-pci, type1, /dev/vfio/vfio"
else
  not_ok "VFIO support line" "$(grep '^VFIO' "$CHECK_TMP/iommu.txt")"
fi
cat "$CHECK_TMP/iommu.txt"
