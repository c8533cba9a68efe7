# A snapshot of this machine with the edu on vfio-pci, for the fixture tests
# of numakit iommu and the vfio dry runs (exported in /out).
need_numakit snapshot
numakit vfio bind 0000:42:00.0 --apply >/dev/null
numakit snapshot /out/qemu-2node-vfio.tar.gz && ok "snapshot with the edu on vfio-pci" || not_ok "snapshot" "exit $?"
numakit vfio unbind 0000:42:00.0 --apply >/dev/null
