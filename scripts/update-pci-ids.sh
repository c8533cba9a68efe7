#!/usr/bin/env bash
# Refreshes crates/numakit-topo/data/pci.ids from a full pci.ids file (the PCI
# ID Repository, https://pci-ids.ucw.cz/; GPL-2.0-or-later or BSD-3-Clause):
# keeps the header, vendor lines and device lines; drops subsystem lines and
# the device class list, which numakit does not use.
#   scripts/update-pci-ids.sh /usr/share/misc/pci.ids
set -euo pipefail
in=${1:?usage: update-pci-ids.sh PATH/TO/pci.ids}
out=$(dirname "$0")/../crates/numakit-topo/data/pci.ids
awk '
  /^C / { exit }                       # the class list starts here
  NR <= 20 && /^#/ { print; next }     # the header with version and licence
  /^#/ || /^$/ { next }
  /^\t\t/ { next }                     # subsystems
  { print }
' "$in" > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out ($(wc -c < "$out") bytes)"
