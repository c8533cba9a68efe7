//! OS names attached to PCI devices: netdevs, block devices, NVMe
//! controllers, DRM nodes, InfiniBand devices and DMA channels.
//!
//! Two sources, merged: the device's own subdirectories (`net/eth0`,
//! `nvme/nvme0/nvme0n1`, `drm/renderD128`, also one level down under
//! `virtioN/` for virtio devices), and the kernel's class directories
//! (`/sys/class/net`, `block`, ...), whose links lead into the device tree: an
//! entry belongs to the deepest PCI function on its resolved path. The second
//! source finds names nested deeper (SCSI disks under `host0/target0:0:0/`).
//! Block partitions and devices outside the PCI tree (loop, ram) are skipped.

use std::collections::{BTreeMap, BTreeSet};

use numakit_root::Root;
use numakit_types::PciAddress;

use super::OsName;

/// The class directories scanned, and what each class name is.
const CLASSES: &[&str] = &["net", "block", "nvme", "drm", "infiniband", "dma"];

/// The deepest PCI address among the components of a resolved sysfs path.
pub(crate) fn deepest_pci(path: &str) -> Option<PciAddress> {
    path.rsplit('/')
        .filter(|c| c.matches(':').count() == 2)
        .find_map(|c| c.parse::<PciAddress>().ok())
}

fn wanted(class: &str, name: &str) -> bool {
    match class {
        // card0, renderD128; not connectors (card0-DP-1) nor controlD64.
        "drm" => ["card", "renderD"].iter().any(|p| {
            name.strip_prefix(p)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        }),
        "dma" => name.starts_with("dma"),
        _ => !name.is_empty(),
    }
}

/// Names found under one device directory.
pub(crate) fn from_device_dir(root: &Root, dir: &str) -> Vec<OsName> {
    let mut out = Vec::new();
    let scan = |base: &str, out: &mut Vec<OsName>| {
        for class in ["net", "drm", "infiniband", "dma", "block"] {
            for name in root
                .read_dir(&format!("{base}/{class}"))
                .unwrap_or_default()
            {
                if wanted(class, &name) {
                    out.push(OsName {
                        class: class.into(),
                        name,
                    });
                }
            }
        }
        for ctrl in root.read_dir(&format!("{base}/nvme")).unwrap_or_default() {
            if !ctrl.starts_with("nvme") {
                continue;
            }
            for ns in root
                .read_dir(&format!("{base}/nvme/{ctrl}"))
                .unwrap_or_default()
            {
                // Namespaces are nvme<ctrl>n<ns>, possibly with a 'c' multipath form.
                let rest = ns.strip_prefix(&ctrl).unwrap_or("");
                if rest.starts_with('n')
                    && rest[1..].bytes().all(|b| b.is_ascii_digit())
                    && rest.len() > 1
                {
                    out.push(OsName {
                        class: "block".into(),
                        name: ns,
                    });
                }
            }
            out.push(OsName {
                class: "nvme".into(),
                name: ctrl,
            });
        }
    };
    scan(dir, &mut out);
    for child in root.read_dir(dir).unwrap_or_default() {
        if child.starts_with("virtio") && child[6..].bytes().all(|b| b.is_ascii_digit()) {
            scan(&format!("{dir}/{child}"), &mut out);
        }
    }
    out
}

/// Names found through `/sys/class/*`, by the PCI function that owns them.
pub(crate) fn from_classes(root: &Root) -> BTreeMap<PciAddress, Vec<OsName>> {
    let mut map: BTreeMap<PciAddress, Vec<OsName>> = BTreeMap::new();
    for class in CLASSES {
        let base = format!("/sys/class/{class}");
        let names = root.read_dir(&base).unwrap_or_default();
        let all: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        for name in &names {
            if !wanted(class, name) {
                continue;
            }
            let Ok(path) = root.canonicalize(&format!("{base}/{name}")) else {
                continue;
            };
            if *class == "block" {
                let parent = path.rsplit('/').nth(1).unwrap_or("");
                if all.contains(parent) || root.exists(&format!("{path}/partition")) {
                    continue;
                }
            }
            if let Some(addr) = deepest_pci(&path) {
                map.entry(addr).or_default().push(OsName {
                    class: (*class).into(),
                    name: name.clone(),
                });
            }
        }
    }
    map
}

/// Merges, sorts and removes duplicates.
pub(crate) fn merge(mut a: Vec<OsName>, b: Option<&Vec<OsName>>) -> Vec<OsName> {
    if let Some(b) = b {
        a.extend(b.iter().cloned());
    }
    a.sort();
    a.dedup();
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deepest_pci_component() {
        let p =
            "/sys/devices/pci0000:00/0000:00:03.0/0000:01:00.0/host0/target0:2:0/0:2:0:0/block/sda";
        assert_eq!(deepest_pci(p), Some("0000:01:00.0".parse().unwrap()));
        assert_eq!(deepest_pci("/sys/devices/virtual/block/loop0"), None);
        assert_eq!(
            deepest_pci("/sys/devices/pci10000:00/10000:00:04.0/virtio1/block/vda"),
            Some("10000:00:04.0".parse().unwrap())
        );
    }
}
