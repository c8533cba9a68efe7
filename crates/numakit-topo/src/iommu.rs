//! The IOMMU: which one is active, its groups with their devices, default
//! domain types and reserved regions, and the kernel command line flags that
//! shape it.
//!
//! Sources: `/sys/class/iommu/*` lists the hardware units, named by their
//! drivers: `dmar<N>` (Intel VT-d), `ivhd<N>` (AMD-Vi), `smmu3.<addr>` (ARM
//! SMMUv3), `smmu.<addr>` (ARM SMMU v1/v2), `virtio<N>` (virtio-iommu);
//! `/sys/kernel/iommu_groups/<N>/` holds `devices/`, `type` and
//! `reserved_regions`; `/proc/cmdline` holds the flags.

use numakit_root::Root;
use serde::Serialize;

use crate::PciDevice;

/// Which IOMMU implementation a unit belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IommuKind {
    /// Intel VT-d (`dmar*`).
    IntelVtd,
    /// AMD-Vi (`ivhd*`).
    AmdVi,
    /// ARM SMMU, any version (`smmu.*`, `smmu3.*`, `arm-smmu*`).
    ArmSmmu,
    /// virtio-iommu (`virtio*` under `/sys/class/iommu`).
    VirtioIommu,
    /// Another driver.
    Other,
}

impl IommuKind {
    /// The kind a unit's name in `/sys/class/iommu` stands for.
    pub fn from_unit_name(name: &str) -> IommuKind {
        if name.starts_with("dmar") {
            IommuKind::IntelVtd
        } else if name.starts_with("ivhd") {
            IommuKind::AmdVi
        } else if name.starts_with("smmu") || name.starts_with("arm-smmu") {
            IommuKind::ArmSmmu
        } else if name.starts_with("virtio") {
            IommuKind::VirtioIommu
        } else {
            IommuKind::Other
        }
    }

    /// A readable name.
    pub fn as_str(self) -> &'static str {
        match self {
            IommuKind::IntelVtd => "Intel VT-d",
            IommuKind::AmdVi => "AMD-Vi",
            IommuKind::ArmSmmu => "ARM SMMU",
            IommuKind::VirtioIommu => "virtio-iommu",
            IommuKind::Other => "other",
        }
    }
}

/// One IOMMU hardware unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unit {
    /// Name in `/sys/class/iommu` (`dmar0`).
    pub name: String,
    /// Implementation.
    pub kind: IommuKind,
}

/// IOMMU state of the machine.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Iommu {
    /// `Some(true)` when units or groups exist; `Some(false)` when
    /// `/sys/kernel/iommu_groups` exists but is empty and no unit is listed;
    /// `None` when sysfs does not say (a snapshot without those directories).
    pub active: Option<bool>,
    /// The implementation of the first unit, when units are listed.
    pub kind: Option<IommuKind>,
    /// Hardware units.
    pub units: Vec<Unit>,
    /// IOMMU groups by id.
    pub groups: Vec<Group>,
    /// Kernel command line flags that shape the IOMMU (`intel_iommu=on`,
    /// `iommu=pt`, `iommu.strict=0`, ...), as written.
    pub cmdline_flags: Vec<String>,
}

/// A reserved IOVA region of a group (`reserved_regions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReservedRegion {
    /// First address.
    pub start: u64,
    /// Last address (inclusive).
    pub end: u64,
    /// `msi`, `direct`, `direct-relaxable`, `reserved`, ...
    #[serde(rename = "type")]
    pub kind: String,
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
    /// Reserved regions.
    pub reserved_regions: Vec<ReservedRegion>,
}

/// Parses `reserved_regions`: lines `0x<start> 0x<end> <type>`; bad lines are
/// skipped.
pub fn parse_reserved_regions(text: &str) -> Vec<ReservedRegion> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let hex = |s: &str| u64::from_str_radix(s.strip_prefix("0x")?, 16).ok();
            let start = hex(it.next()?)?;
            let end = hex(it.next()?)?;
            let kind = it.next()?.to_string();
            (start <= end && it.next().is_none()).then_some(ReservedRegion { start, end, kind })
        })
        .collect()
}

/// The command line words that shape the IOMMU.
pub fn iommu_flags(cmdline: &str) -> Vec<String> {
    cmdline
        .split_whitespace()
        .filter(|w| {
            let key = w.split_once('=').map_or(*w, |(k, _)| k);
            key.contains("iommu")
                || key == "intremap"
                || key == "swiotlb"
                || key.starts_with("vfio")
                || key == "pci" && w.contains("noats")
        })
        .map(str::to_string)
        .collect()
}

/// Reads the units, the groups and the flags.
pub fn discover(root: &Root, cmdline: Option<&str>) -> Iommu {
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
                domain_type: root
                    .read_trim(&format!("{d}/type"))
                    .filter(|t| !t.is_empty() && t.len() < 32),
                devices: root.read_dir(&format!("{d}/devices")).unwrap_or_default(),
                reserved_regions: root
                    .read_to_string(&format!("{d}/reserved_regions"))
                    .map(|t| parse_reserved_regions(&t))
                    .unwrap_or_default(),
            })
        })
        .collect();
    groups.sort_by_key(|g| g.id);
    let units: Vec<Unit> = root
        .read_dir("/sys/class/iommu")
        .unwrap_or_default()
        .into_iter()
        .map(|name| Unit {
            kind: IommuKind::from_unit_name(&name),
            name,
        })
        .collect();
    let active = if !groups.is_empty() || !units.is_empty() {
        Some(true)
    } else if root.is_dir(base) {
        Some(false)
    } else {
        None
    };
    Iommu {
        active,
        kind: units.first().map(|u| u.kind),
        units,
        groups,
        cmdline_flags: cmdline.map(iommu_flags).unwrap_or_default(),
    }
}

/// Sets each PCI device's `iommu_group` from the group listings where its own
/// `iommu_group` link did not tell.
pub fn assign_groups(devs: &mut [PciDevice], iommu: &Iommu) {
    for d in devs.iter_mut().filter(|d| d.iommu_group.is_none()) {
        let a = d.address.to_string();
        d.iommu_group = iommu
            .groups
            .iter()
            .find(|g| g.devices.contains(&a))
            .map(|g| g.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_regions() {
        let r = parse_reserved_regions(
            "0x00000000fee00000 0x00000000feefffff msi\n0x0 zz direct\n0x10 0x1 reserved\n",
        );
        assert_eq!(
            r,
            vec![ReservedRegion {
                start: 0xfee0_0000,
                end: 0xfeef_ffff,
                kind: "msi".into()
            }]
        );
    }

    #[test]
    fn flags() {
        assert_eq!(
            iommu_flags("console=ttyS0 intel_iommu=on iommu=pt iommu.strict=0 quiet amd_iommu=off"),
            [
                "intel_iommu=on",
                "iommu=pt",
                "iommu.strict=0",
                "amd_iommu=off"
            ]
        );
    }

    #[test]
    fn unit_names() {
        assert_eq!(IommuKind::from_unit_name("dmar0"), IommuKind::IntelVtd);
        assert_eq!(IommuKind::from_unit_name("ivhd1"), IommuKind::AmdVi);
        assert_eq!(
            IommuKind::from_unit_name("smmu3.0x0000000009050000"),
            IommuKind::ArmSmmu
        );
        assert_eq!(IommuKind::from_unit_name("foo"), IommuKind::Other);
    }
}
