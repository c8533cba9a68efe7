//! What `numakit iommu` says: the IOMMU units and mode and where the mode
//! came from, why an IOMMU is off, what VFIO needs and has, and every group
//! with its devices, whether VFIO can take it, and why devices share it.

use std::collections::BTreeMap;

use numakit_root::Root;
use numakit_topo::iommu::{IommuKind, ReservedRegion};
use numakit_topo::pci::DeviceKind;
use numakit_topo::{Machine, PciDevice};
use serde::Serialize;

/// The schema of [`IommuReport`]'s JSON form.
pub const SCHEMA: &str = "numakit.iommu/1";

/// Whether the IOMMU translates DMA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// IOMMU groups exist.
    On,
    /// No IOMMU groups: DMA reaches memory untranslated.
    Off,
    /// The root does not say (a snapshot without `/sys/kernel/iommu_groups`).
    Unknown,
}

/// How the default domains treat DMA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Translation {
    /// Identity domains: devices see physical addresses (`iommu=pt`).
    Passthrough,
    /// Translated, and every unmap invalidates the IOTLB at once (`DMA`).
    Strict,
    /// Translated, with IOTLB invalidations batched in a flush queue (`DMA-FQ`).
    Lazy,
    /// DMA blocked (`blocked`).
    Blocked,
    /// The groups differ.
    Mixed,
    /// No group says.
    Unknown,
}

/// The IOMMU's mode and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mode {
    /// How DMA is treated.
    pub translation: Translation,
    /// Where that came from, in words (`kernel command line: iommu=pt`).
    pub source: String,
    /// Default domain types and how many groups have each.
    pub domain_types: BTreeMap<String, usize>,
}

/// Why the IOMMU is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OffKind {
    /// A kernel command line flag turned it off.
    KernelCommandLine,
    /// The firmware describes one, but the kernel did not enable it.
    NotEnabled,
    /// The firmware describes none (disabled in the firmware setup, or absent).
    Firmware,
    /// The root does not say.
    Unknown,
}

/// Why the IOMMU is off, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Off {
    /// The kind of reason.
    pub kind: OffKind,
    /// What was found.
    pub detail: String,
    /// What to do about it.
    pub hint: String,
}

/// What VFIO needs, as far as the root shows (`None`: it does not say;
/// device nodes are only known on the running system).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VfioSupport {
    /// The vfio-pci driver is registered (`/sys/bus/pci/drivers/vfio-pci`).
    pub vfio_pci: Option<bool>,
    /// The type1 IOMMU backend is loaded (`/sys/module/vfio_iommu_type1`).
    pub type1: Option<bool>,
    /// `/dev/vfio/vfio` exists.
    pub container: Option<bool>,
    /// `/dev/iommu` exists (iommufd, the newer interface).
    pub iommufd: Option<bool>,
}

/// One device of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupDevice {
    /// Its name in the group (a PCI address for PCI devices).
    pub address: String,
    /// Its driver.
    pub driver: Option<String>,
    /// Its kind (`nvme`, `nic`, `bridge`, ...).
    pub kind: String,
    /// Its vendor and device name, when known.
    pub name: Option<String>,
    /// Its NUMA node.
    pub node: Option<u32>,
}

/// A device that keeps VFIO from taking its group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    /// The device.
    pub address: String,
    /// The driver it is bound to.
    pub driver: String,
}

/// Whether VFIO can take a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Viability {
    /// No device is bound to a driver that could do DMA behind VFIO's back.
    pub viable: bool,
    /// Every device that is not a bridge is bound to vfio-pci already.
    pub on_vfio: bool,
    /// The devices in the way.
    pub blockers: Vec<Blocker>,
    /// One line: `group 9 is not viable: 0000:41:00.0 is bound to nvme`.
    pub summary: String,
}

/// One IOMMU group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupReport {
    /// The group number.
    pub id: u32,
    /// The default domain type (`DMA`, `DMA-FQ`, `identity`, ...).
    pub domain_type: Option<String>,
    /// Its devices.
    pub devices: Vec<GroupDevice>,
    /// Its reserved IOVA regions.
    pub reserved_regions: Vec<ReservedRegion>,
    /// Whether VFIO can take it.
    pub vfio: Viability,
    /// Why several devices share it, when they do.
    pub sharing: Option<String>,
}

/// Everything `numakit iommu` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IommuReport {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// On, off or unknown.
    pub state: State,
    /// The hardware units (`dmar0`: Intel VT-d, ...).
    pub units: Vec<numakit_topo::iommu::Unit>,
    /// The mode, when on.
    pub mode: Option<Mode>,
    /// Why it is off, when off.
    pub off: Option<Off>,
    /// The kernel command line flags that shape the IOMMU.
    pub cmdline_flags: Vec<String>,
    /// What VFIO needs.
    pub vfio: VfioSupport,
    /// The groups.
    pub groups: Vec<GroupReport>,
}

/// Drivers that leave a group to VFIO: VFIO's own, `pci-stub` (binds and
/// does nothing), and the PCIe port driver on bridges.
pub fn driver_allows_vfio(driver: Option<&str>, bridge: bool) -> bool {
    match driver {
        None => true,
        Some(d) => d.starts_with("vfio") || d == "pci-stub" || (bridge && d == "pcieport"),
    }
}

/// Builds the report. `m` must hold the PCI devices and the IOMMU
/// (`Parts::pci` and `Parts::iommu`).
pub fn report(root: &Root, m: &Machine) -> IommuReport {
    let flags = m.iommu.cmdline_flags.clone();
    let state = match m.iommu.active {
        _ if !m.iommu.groups.is_empty() => State::On,
        Some(false) => State::Off,
        Some(true) => State::On,
        None => State::Unknown,
    };
    let groups: Vec<GroupReport> = m.iommu.groups.iter().map(|g| group(root, m, g)).collect();
    let mode = (state == State::On).then(|| mode(root, m, &flags));
    let off = (state != State::On).then(|| off_reason(root, &flags, state));
    IommuReport {
        schema: SCHEMA,
        state,
        units: m.iommu.units.clone(),
        mode,
        off,
        cmdline_flags: flags,
        vfio: vfio_support(root),
        groups,
    }
}

fn vfio_support(root: &Root) -> VfioSupport {
    let under = |dir: &str, path: &str| root.is_dir(dir).then(|| root.exists(path));
    let dev = |path: &str| root.is_live().then(|| root.exists(path));
    VfioSupport {
        vfio_pci: under("/sys/bus/pci/drivers", "/sys/bus/pci/drivers/vfio-pci"),
        type1: under("/sys/module", "/sys/module/vfio_iommu_type1"),
        container: dev("/dev/vfio/vfio"),
        iommufd: dev("/dev/iommu"),
    }
}

fn mode(root: &Root, m: &Machine, flags: &[String]) -> Mode {
    let mut types: BTreeMap<String, usize> = BTreeMap::new();
    for g in &m.iommu.groups {
        let t = g.domain_type.clone().unwrap_or_else(|| "unknown".into());
        *types.entry(t).or_default() += 1;
    }
    let known: Vec<&str> = types
        .keys()
        .map(String::as_str)
        .filter(|t| *t != "unknown")
        .collect();
    let translation = match known.as_slice() {
        [] => Translation::Unknown,
        ["identity"] => Translation::Passthrough,
        ["DMA"] => Translation::Strict,
        ["DMA-FQ"] => Translation::Lazy,
        ["blocked"] => Translation::Blocked,
        _ => Translation::Mixed,
    };
    Mode {
        translation,
        source: mode_source(root, m, flags, translation),
        domain_types: types,
    }
}

fn flag_is(f: &str, any: &[&str]) -> bool {
    any.contains(&f)
}

fn mode_source(root: &Root, m: &Machine, flags: &[String], t: Translation) -> String {
    let pick = |any: &[&str]| flags.iter().find(|f| flag_is(f, any)).cloned();
    let from_flags = match t {
        Translation::Passthrough => pick(&["iommu=pt", "iommu.passthrough=1", "amd_iommu=pt"]),
        Translation::Strict => pick(&[
            "iommu.strict=1",
            "intel_iommu=strict",
            "amd_iommu=fullflush",
        ]),
        Translation::Lazy => pick(&["iommu.strict=0", "iommu.passthrough=0"]),
        _ => None,
    };
    if let Some(f) = from_flags {
        return format!("kernel command line ({f})");
    }
    if t == Translation::Strict && vtd_caching_mode(root, m) {
        return "VT-d caching mode (a virtual IOMMU): the kernel forces strict invalidation".into();
    }
    match t {
        Translation::Mixed => "per group (some groups were changed through their type file)".into(),
        Translation::Unknown => "unknown: no group has a readable type".into(),
        _ => "kernel default (CONFIG_IOMMU_DEFAULT_*)".into(),
    }
}

/// Whether an Intel unit has the caching-mode capability (bit 7 of `cap`),
/// which only virtual IOMMUs set.
fn vtd_caching_mode(root: &Root, m: &Machine) -> bool {
    m.iommu
        .units
        .iter()
        .filter(|u| u.kind == IommuKind::IntelVtd)
        .filter_map(|u| root.read_trim(&format!("/sys/class/iommu/{}/intel-iommu/cap", u.name)))
        .filter_map(|c| u64::from_str_radix(c.trim_start_matches("0x"), 16).ok())
        .any(|cap| cap & (1 << 7) != 0)
}

fn off_reason(root: &Root, flags: &[String], state: State) -> Off {
    let disabled = flags
        .iter()
        .find(|f| flag_is(f, &["intel_iommu=off", "amd_iommu=off", "iommu=off"]));
    if let Some(f) = disabled {
        return Off {
            kind: OffKind::KernelCommandLine,
            detail: format!("disabled on the kernel command line ({f})"),
            hint: format!(
                "remove {f} from the kernel command line (Intel: add intel_iommu=on) and reboot"
            ),
        };
    }
    let Ok(tables) = root.read_dir("/sys/firmware/acpi/tables") else {
        return Off {
            kind: OffKind::Unknown,
            detail: match state {
                State::Unknown => "the root holds neither IOMMU groups nor firmware tables".into(),
                _ => "no IOMMU groups; the firmware tables cannot be read".into(),
            },
            hint:
                "check that VT-d/AMD-Vi is enabled in the firmware and the kernel (intel_iommu=on)"
                    .into(),
        };
    };
    let described = [
        ("DMAR", "an Intel VT-d IOMMU", "intel_iommu=on"),
        ("IVRS", "an AMD-Vi IOMMU", "amd_iommu=on"),
        ("IORT", "an ARM SMMU", "iommu.passthrough=0"),
    ]
    .into_iter()
    .find(|(t, _, _)| tables.iter().any(|n| n == t));
    match described {
        Some((table, what, flag)) => Off {
            kind: OffKind::NotEnabled,
            detail: format!("the firmware describes {what} (ACPI {table} table), but the kernel did not enable it"),
            hint: format!("boot with {flag} on the kernel command line (the kernel's default may be off), and check the kernel log for DMAR/AMD-Vi errors"),
        },
        None => Off {
            kind: OffKind::Firmware,
            detail: "the firmware describes no IOMMU (no ACPI DMAR, IVRS or IORT table): it is off in the firmware setup, or the machine has none".into(),
            hint: "enable VT-d / AMD-Vi (\"IOMMU\") in the firmware setup; a VM needs an emulated IOMMU (QEMU: -device intel-iommu)".into(),
        },
    }
}

fn group(root: &Root, m: &Machine, g: &numakit_topo::iommu::Group) -> GroupReport {
    let devices: Vec<GroupDevice> = g
        .devices
        .iter()
        .map(|name| {
            let pci = name.parse().ok().and_then(|a| m.pci_device(a));
            match pci {
                Some(d) => GroupDevice {
                    address: name.clone(),
                    driver: d.driver.clone(),
                    kind: d.kind.as_str().to_string(),
                    name: Some(d.display_name()).filter(|n| !n.is_empty()),
                    node: d.numa_node.map(|n| n.0),
                },
                None => GroupDevice {
                    address: name.clone(),
                    driver: root.link_name(&format!(
                        "/sys/kernel/iommu_groups/{}/devices/{name}/driver",
                        g.id
                    )),
                    kind: "other".into(),
                    name: None,
                    node: None,
                },
            }
        })
        .collect();
    let vfio = viability(g.id, &devices);
    let sharing = sharing(m, &devices);
    GroupReport {
        id: g.id,
        domain_type: g.domain_type.clone(),
        devices,
        reserved_regions: g.reserved_regions.clone(),
        vfio,
        sharing,
    }
}

fn is_bridge(d: &GroupDevice) -> bool {
    d.kind == DeviceKind::Bridge.as_str()
}

/// Whether VFIO can take the group now, and who is in the way.
pub fn viability(id: u32, devices: &[GroupDevice]) -> Viability {
    let blockers: Vec<Blocker> = devices
        .iter()
        .filter(|d| !driver_allows_vfio(d.driver.as_deref(), is_bridge(d)))
        .map(|d| Blocker {
            address: d.address.clone(),
            driver: d.driver.clone().unwrap_or_default(),
        })
        .collect();
    let endpoints: Vec<&GroupDevice> = devices.iter().filter(|d| !is_bridge(d)).collect();
    let on_vfio = !endpoints.is_empty()
        && endpoints
            .iter()
            .all(|d| d.driver.as_deref().is_some_and(|x| x.starts_with("vfio")));
    let summary = if !blockers.is_empty() {
        let who: Vec<String> = blockers
            .iter()
            .map(|b| format!("{} is bound to {}", b.address, b.driver))
            .collect();
        format!("group {id} is not viable: {}", who.join(", "))
    } else if on_vfio {
        format!("group {id} is ready for VFIO: its devices are bound to vfio-pci")
    } else if endpoints.is_empty() {
        format!("group {id} holds only bridges: nothing for VFIO to take")
    } else {
        format!(
            "group {id} is viable: no device in it has a driver; bind one to vfio-pci to use it"
        )
    };
    Viability {
        viable: blockers.is_empty(),
        on_vfio,
        blockers,
        summary,
    }
}

/// Why devices share a group: functions of one device, devices behind a
/// bridge, or a bridge with the device below it, none isolated by ACS.
fn sharing(m: &Machine, devices: &[GroupDevice]) -> Option<String> {
    if devices.len() < 2 {
        return None;
    }
    let pci: Vec<&PciDevice> = devices
        .iter()
        .filter_map(|d| m.pci_device(d.address.parse().ok()?))
        .collect();
    let (bridges, ends): (Vec<&PciDevice>, Vec<&PciDevice>) =
        pci.iter().partition(|d| d.kind == DeviceKind::Bridge);
    let list = |v: &[&PciDevice]| {
        v.iter()
            .map(|d| d.address.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if ends.len() >= 2 {
        let same_slot = ends.windows(2).all(|w| {
            let (a, b) = (w[0].address, w[1].address);
            (a.domain, a.bus, a.device) == (b.domain, b.bus, b.device)
        });
        if same_slot {
            return Some(format!(
                "{} are functions of one device with no ACS isolation between them: they can reach each other without the IOMMU, so VFIO must take them together",
                list(&ends)
            ));
        }
        let above = ends[0]
            .upstream
            .iter()
            .find(|b| ends.iter().all(|d| d.upstream.contains(b)));
        return Some(match above {
            Some(b) => format!(
                "{} sit below {b}, which does not isolate them with ACS: peer-to-peer DMA between them bypasses the IOMMU, so VFIO must take them together",
                list(&ends)
            ),
            None => format!(
                "{} share the group (no ACS isolation between them, or a DMA alias): VFIO must take them together",
                list(&ends)
            ),
        });
    }
    match (bridges.as_slice(), ends.as_slice()) {
        ([.., b], [e]) => Some(format!(
            "{} is in the group of the PCIe port above it, {}, which has no ACS isolation; a bridge bound to pcieport does not keep VFIO from the group",
            e.address, b.address
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(a: &str, driver: Option<&str>, kind: &str) -> GroupDevice {
        GroupDevice {
            address: a.into(),
            driver: driver.map(str::to_string),
            kind: kind.into(),
            name: None,
            node: None,
        }
    }

    #[test]
    fn viability_names_the_device_and_driver() {
        let v = viability(
            17,
            &[
                dev("0000:41:00.0", Some("vfio-pci"), "nvme"),
                dev("0000:41:00.1", Some("nvme"), "nvme"),
            ],
        );
        assert!(!v.viable);
        assert_eq!(
            v.summary,
            "group 17 is not viable: 0000:41:00.1 is bound to nvme"
        );
        let v = viability(
            3,
            &[
                dev("0000:22:00.0", Some("pcieport"), "bridge"),
                dev("0000:23:00.0", Some("vfio-pci"), "gpu"),
            ],
        );
        assert!(v.viable && v.on_vfio, "{v:?}");
        let v = viability(4, &[dev("0000:01:00.0", None, "other")]);
        assert!(v.viable && !v.on_vfio);
        assert!(v.summary.contains("is viable"));
        // pcieport on something that is not a bridge is a real driver
        assert!(!viability(5, &[dev("0000:02:00.0", Some("pcieport"), "other")]).viable);
        assert!(driver_allows_vfio(Some("pci-stub"), false));
    }
}
