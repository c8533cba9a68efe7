//! PCI devices: class and kind, ids and names, driver, NUMA node and where
//! that answer came from, local CPUs, link speed and width, BARs, SR-IOV, the
//! chain of bridges up to the host bridge, and the OS names attached.
//!
//! Everything is read from `/sys/bus/pci/devices/ADDR` through the [`Root`].
//! A missing or garbage file makes its field `None`; nothing here panics.
//!
//! # Where a device sits
//!
//! The resolved path of `/sys/bus/pci/devices/ADDR` is the device's place in
//! the PCI hierarchy: in `/sys/devices/pci0000:40/0000:40:00.0/0000:41:00.0`
//! the `pci0000:40` component is the host bridge and the components that are
//! PCI addresses before the device itself are its upstream bridges (root
//! port, switch ports), which [`PciDevice::upstream`] lists nearest first.
//!
//! # NUMA node
//!
//! [`PciDevice::numa_node_source`] says where [`PciDevice::numa_node`] came from:
//! - [`NodeSource::Sysfs`]: the device's `numa_node` file holds a node (>= 0);
//! - [`NodeSource::Inferred`]: `numa_node` is -1 or missing, but
//!   `local_cpulist` (or `local_cpus`) is a strict, non-empty subset of the
//!   machine's CPUs lying within exactly one node; or the machine has exactly
//!   one node; or, failing those, the nearest upstream bridge with a node known
//!   by the first two rules has one; or the host bridge's root bus
//!   (`pci_bus/DDDD:BB/cpulistaffinity`) is local to exactly one node;
//! - [`NodeSource::Unknown`]: nothing tells.
//!
//! # GPU memory as a NUMA node
//!
//! Coherent GPUs (NVIDIA Grace Hopper, POWER9 with NVLink 2) expose their
//! memory as a CPU-less NUMA node. sysfs itself does not link the node to the
//! GPU; the NVIDIA driver does, in `/proc/driver/nvidia/gpus/ADDR/numa_status`
//! (a `Node: N` line), which is what hwloc reads too. [`PciDevice::gpu_memory_node`]
//! carries that node. Other vendors publish no such link (an AMD MI300A's
//! memory is ordinary system memory), so their GPUs have `None`.

mod bars;
mod locality;
pub mod names;
mod osnames;

use std::collections::BTreeMap;

use numakit_root::Root;
use numakit_types::{CpuSet, NodeId, PciAddress};
use serde::Serialize;

use crate::Node;
use crate::util::{numbered_entries, read_cpulist, read_cpumask};

pub(crate) use osnames::deepest_pci;

pub use bars::{
    Bar, IORESOURCE_IO, IORESOURCE_MEM, IORESOURCE_MEM_64, IORESOURCE_PREFETCH, parse_resource,
    rebar_from_config,
};

/// PCI vendor id of NVIDIA.
pub const VENDOR_NVIDIA: u16 = 0x10de;
/// PCI vendor id of AMD/ATI graphics.
pub const VENDOR_AMD_ATI: u16 = 0x1002;

/// A plain kind for a PCI function, from its class code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceKind {
    /// 3D controller or other display controller (class 0x0302, 0x0380), or a
    /// VGA-class device from NVIDIA or AMD (their GPUs often report VGA).
    Gpu,
    /// VGA-compatible display controller (class 0x0300) of any other vendor.
    Display,
    /// Ethernet and other network controllers (class 0x02xx, not InfiniBand).
    Nic,
    /// InfiniBand (class 0x0207, 0x0c06).
    Infiniband,
    /// NVM Express (class 0x0108).
    Nvme,
    /// Other mass storage (class 0x01xx).
    Storage,
    /// Processing accelerators and co-processors (class 0x12xx, 0x0b40).
    Accelerator,
    /// CXL memory devices (class 0x0502).
    CxlMemory,
    /// PCI bridges (class 0x0604, 0x0600 host bridges, ...).
    Bridge,
    /// Anything else, and unknown classes.
    Other,
}

impl DeviceKind {
    /// Maps a 24-bit class code (`0x010802`) to a kind.
    pub fn from_class(class: u32) -> DeviceKind {
        let base = (class >> 16) & 0xff;
        let sub = (class >> 8) & 0xff;
        match (base, sub) {
            (0x01, 0x08) => DeviceKind::Nvme,
            (0x01, _) => DeviceKind::Storage,
            (0x02, 0x07) => DeviceKind::Infiniband,
            (0x02, _) => DeviceKind::Nic,
            (0x03, 0x00) => DeviceKind::Display,
            (0x03, _) => DeviceKind::Gpu,
            (0x05, 0x02) => DeviceKind::CxlMemory,
            (0x06, _) => DeviceKind::Bridge,
            (0x0b, 0x40) => DeviceKind::Accelerator,
            (0x0c, 0x06) => DeviceKind::Infiniband,
            (0x12, _) => DeviceKind::Accelerator,
            _ => DeviceKind::Other,
        }
    }

    /// Maps a class code and vendor to a kind: like [`DeviceKind::from_class`],
    /// but a VGA-class device from NVIDIA or AMD is a GPU (their discrete GPUs
    /// report VGA when they are the boot display).
    pub fn from_class_vendor(class: Option<u32>, vendor: Option<u16>) -> DeviceKind {
        let Some(class) = class else {
            return DeviceKind::Other;
        };
        match DeviceKind::from_class(class) {
            DeviceKind::Display if matches!(vendor, Some(VENDOR_NVIDIA | VENDOR_AMD_ATI)) => {
                DeviceKind::Gpu
            }
            k => k,
        }
    }

    /// The lower-case name used in JSON and text.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Gpu => "gpu",
            DeviceKind::Display => "display",
            DeviceKind::Nic => "nic",
            DeviceKind::Infiniband => "infiniband",
            DeviceKind::Nvme => "nvme",
            DeviceKind::Storage => "storage",
            DeviceKind::Accelerator => "accelerator",
            DeviceKind::CxlMemory => "cxl-memory",
            DeviceKind::Bridge => "bridge",
            DeviceKind::Other => "other",
        }
    }
}

/// Where a device's NUMA node came from (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeSource {
    /// The device's own `numa_node` file.
    Sysfs,
    /// Inferred from `local_cpulist`, the single node of the machine, an
    /// upstream bridge or the host bridge.
    Inferred,
    /// Firmware says -1 and nothing else tells.
    Unknown,
}

/// PCIe link state; `None` fields are unknown (conventional PCI has none).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Link {
    /// `current_link_speed`, e.g. `16.0 GT/s PCIe`; `None` for `Unknown`.
    pub current_speed: Option<String>,
    /// `current_link_width`; `None` for 0 (unknown).
    pub current_width: Option<u32>,
    /// `max_link_speed`.
    pub max_speed: Option<String>,
    /// `max_link_width`.
    pub max_width: Option<u32>,
    /// Whether the link runs below its maximum speed or width; only decided
    /// where both the current and the maximum value of a pair are known.
    pub degraded: bool,
}

impl Link {
    /// Reads the four link files of the device at `dir`.
    pub fn read(root: &Root, dir: &str) -> Link {
        let speed = |f: &str| {
            root.read_trim(&format!("{dir}/{f}"))
                .filter(|s| speed_gts(s).is_some())
        };
        let width = |f: &str| {
            root.read_trim(&format!("{dir}/{f}"))
                .and_then(|s| s.parse::<u32>().ok())
                .filter(|w| *w > 0)
        };
        let mut l = Link {
            current_speed: speed("current_link_speed"),
            current_width: width("current_link_width"),
            max_speed: speed("max_link_speed"),
            max_width: width("max_link_width"),
            degraded: false,
        };
        let slow = match (
            l.current_speed.as_deref().and_then(speed_gts),
            l.max_speed.as_deref().and_then(speed_gts),
        ) {
            (Some(c), Some(m)) => c < m,
            _ => false,
        };
        let narrow = matches!((l.current_width, l.max_width), (Some(c), Some(m)) if c < m);
        l.degraded = slow || narrow;
        l
    }

    /// The current speed in GT/s.
    pub fn current_gts(&self) -> Option<f64> {
        self.current_speed.as_deref().and_then(speed_gts)
    }

    /// The maximum speed in GT/s.
    pub fn max_gts(&self) -> Option<f64> {
        self.max_speed.as_deref().and_then(speed_gts)
    }
}

/// Parses a sysfs link speed (`16.0 GT/s PCIe`, `2.5 GT/s`, `5 GT/s`) into
/// GT/s; `None` for `Unknown` and anything else.
pub fn speed_gts(s: &str) -> Option<f64> {
    let mut it = s.split_whitespace();
    let v: f64 = it.next()?.parse().ok()?;
    (it.next() == Some("GT/s") && v.is_finite() && v > 0.0).then_some(v)
}

/// SR-IOV relations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Sriov {
    /// For a VF: its physical function.
    pub physfn: Option<PciAddress>,
    /// For a PF: its virtual functions.
    pub virtfns: Vec<PciAddress>,
    /// For a PF: `sriov_totalvfs`.
    pub total_vfs: Option<u32>,
    /// For a PF: `sriov_numvfs`.
    pub num_vfs: Option<u32>,
}

/// A name the OS gave to a device: a netdev, a block device, a DRM node...
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct OsName {
    /// `net`, `block`, `nvme`, `drm`, `infiniband`, `dma`.
    pub class: String,
    /// The name (`eth0`, `nvme0n1`, `card0`, `renderD128`, `mlx5_0`).
    pub name: String,
}

/// One PCI function.
#[derive(Debug, Clone, Serialize)]
pub struct PciDevice {
    /// Address, `0000:41:00.0`.
    pub address: PciAddress,
    /// Class code, 24 bits, serialised as `"0x010802"`; `None` when unreadable.
    #[serde(serialize_with = "ser_class")]
    pub class_code: Option<u32>,
    /// Plain kind from the class code (and vendor, see [`DeviceKind::from_class_vendor`]).
    pub kind: DeviceKind,
    /// Vendor id.
    #[serde(serialize_with = "ser_id16")]
    pub vendor_id: Option<u16>,
    /// Device id.
    #[serde(serialize_with = "ser_id16")]
    pub device_id: Option<u16>,
    /// Subsystem vendor id.
    #[serde(serialize_with = "ser_id16")]
    pub subsystem_vendor_id: Option<u16>,
    /// Subsystem device id.
    #[serde(serialize_with = "ser_id16")]
    pub subsystem_device_id: Option<u16>,
    /// Vendor name from the PCI ID database (see [`names`]), when known.
    pub vendor_name: Option<String>,
    /// Device name from the PCI ID database, when known.
    pub device_name: Option<String>,
    /// Bound driver: the name the `driver` link points at, when the link
    /// resolves or has the kernel's form `.../bus/pci/drivers/NAME` (snapshots
    /// often leave it dangling).
    pub driver: Option<String>,
    /// NUMA node.
    pub numa_node: Option<NodeId>,
    /// Where `numa_node` came from.
    pub numa_node_source: NodeSource,
    /// CPUs local to the device (`local_cpulist`, else `local_cpus`).
    pub local_cpus: Option<CpuSet>,
    /// PCIe link.
    pub link: Link,
    /// BARs and ROM with a non-zero size.
    pub bars: Vec<Bar>,
    /// Whether Resizable BAR is in effect: see the rule in the `bars`
    /// documentation of [`Bar::resizable_max_bytes`] and the module docs; in
    /// short, `Some(true)` when a resizable BAR is at its largest supported
    /// size or a BAR covers the device memory size the driver reports,
    /// `Some(false)` when the device could have a larger BAR, `None` when sysfs
    /// cannot tell.
    pub resizable_bar: Option<bool>,
    /// Device memory size where the driver publishes it (amdgpu's
    /// `mem_info_vram_total`).
    pub vram_bytes: Option<u64>,
    /// For a coherent GPU: the NUMA node holding its memory (see the module
    /// documentation).
    pub gpu_memory_node: Option<NodeId>,
    /// SR-IOV relations.
    pub sriov: Sriov,
    /// Upstream bridges from the nearest to the one under the host bridge.
    pub upstream: Vec<PciAddress>,
    /// The host bridge (`pci0000:40`).
    pub host_bridge: Option<String>,
    /// OS names attached to the device.
    pub os_names: Vec<OsName>,
    /// IOMMU group: from the device's `iommu_group` link, else from the
    /// group listings.
    pub iommu_group: Option<u32>,
    /// For a GPU: UUID, driver facts and links to other GPUs (see
    /// [`crate::gpu`]); absent for other devices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu: Option<crate::gpu::GpuFacts>,
}

impl PciDevice {
    /// Vendor and device name for display: database names when known, else
    /// the ids in brackets.
    pub fn display_name(&self) -> String {
        let id = |v: Option<u16>| v.map_or_else(|| "????".to_string(), |v| format!("{v:04x}"));
        match (&self.vendor_name, &self.device_name) {
            (Some(v), Some(n)) => format!("{v} {n}"),
            (Some(v), None) => format!("{v} [{}]", id(self.device_id)),
            _ => format!("[{}:{}]", id(self.vendor_id), id(self.device_id)),
        }
    }

    /// The largest memory BAR (the ROM excluded).
    pub fn largest_bar(&self) -> Option<&Bar> {
        self.bars
            .iter()
            .filter(|b| !b.io && b.index < 6)
            .max_by_key(|b| b.size_bytes)
    }

    /// Whether this function is an SR-IOV virtual function.
    pub fn is_vf(&self) -> bool {
        self.sriov.physfn.is_some()
    }
}

fn ser_class<S: serde::Serializer>(v: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(&format_args!("0x{v:06x}")),
        None => s.serialize_none(),
    }
}

fn ser_id16<S: serde::Serializer>(v: &Option<u16>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(&format_args!("0x{v:04x}")),
        None => s.serialize_none(),
    }
}

/// The host bridge and upstream bridges (nearest first) of the device at
/// `own`, from the resolved path of its sysfs directory.
pub fn parse_chain(path: &str, own: PciAddress) -> (Option<String>, Vec<PciAddress>) {
    let mut host = None;
    let mut chain = Vec::new();
    for c in path.split('/') {
        if host.is_none() {
            if is_host_bridge_name(c) {
                host = Some(c.to_string());
            }
            continue;
        }
        if c.matches(':').count() != 2 {
            continue;
        }
        match c.parse::<PciAddress>() {
            Ok(a) if a == own => break,
            Ok(a) => chain.push(a),
            Err(_) => {}
        }
    }
    chain.reverse();
    (host, chain)
}

/// `pciDDDD:BB`: the directory the kernel names after a root bus.
fn is_host_bridge_name(c: &str) -> bool {
    let Some(rest) = c.strip_prefix("pci") else {
        return false;
    };
    let Some((d, b)) = rest.split_once(':') else {
        return false;
    };
    let hex = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|x| x.is_ascii_hexdigit())
    };
    hex(d, 8) && hex(b, 2)
}

/// The last component of a link's target, when the link resolves inside the
/// root or its target ends in `<parent>/NAME` (the form the kernel writes).
fn link_leaf(root: &Root, path: &str, parent: &str) -> Option<String> {
    let target = root.read_link(path).ok()?;
    let mut comps = target.trim_end_matches('/').rsplit('/');
    let leaf = comps.next().filter(|s| !s.is_empty())?.to_string();
    let kernel_form = comps.next() == Some(parent);
    (kernel_form || root.exists(path)).then_some(leaf)
}

/// Per-device facts kept for node inference but not in the model.
pub(crate) struct Raw {
    pub(crate) numa_node: Option<i64>,
    /// Resolved path of the host bridge directory (`/sys/devices/pci0000:40`).
    pub(crate) host_dir: Option<String>,
}

fn read_device(root: &Root, name: &str) -> Option<(PciDevice, Raw)> {
    let address: PciAddress = name.parse().ok()?;
    let d = format!("/sys/bus/pci/devices/{name}");
    let class_code = root
        .read_u64(&format!("{d}/class"))
        .filter(|c| *c <= 0xff_ffff)
        .map(|c| c as u32);
    let id16 = |f: &str| {
        root.read_u64(&format!("{d}/{f}"))
            .and_then(|v| u16::try_from(v).ok())
    };
    let vendor_id = id16("vendor");
    let device_id = id16("device");
    let local_cpus = read_cpulist(root, &format!("{d}/local_cpulist"))
        .or_else(|| read_cpumask(root, &format!("{d}/local_cpus")));
    let canonical = root.canonicalize(&d).ok();
    let (host_bridge, upstream) = canonical
        .as_deref()
        .map(|p| parse_chain(p, address))
        .unwrap_or_default();
    let host_dir = canonical
        .as_deref()
        .zip(host_bridge.as_deref())
        .and_then(|(p, h)| {
            p.find(&format!("/{h}/"))
                .map(|i| p[..i + 1 + h.len()].to_string())
        });
    let (bars, resizable_bar, vram_bytes) = bars::read(root, &d);
    let sriov = Sriov {
        physfn: root
            .link_name(&format!("{d}/physfn"))
            .and_then(|s| s.parse().ok()),
        virtfns: numbered_entries(root, &d, "virtfn")
            .into_iter()
            .filter_map(|(_, n)| root.link_name(&format!("{d}/{n}"))?.parse().ok())
            .collect(),
        total_vfs: root
            .read_u64(&format!("{d}/sriov_totalvfs"))
            .and_then(|v| u32::try_from(v).ok()),
        num_vfs: root
            .read_u64(&format!("{d}/sriov_numvfs"))
            .and_then(|v| u32::try_from(v).ok()),
    };
    let iommu_group =
        link_leaf(root, &format!("{d}/iommu_group"), "iommu_groups").and_then(|s| s.parse().ok());
    let dev = PciDevice {
        address,
        class_code,
        kind: DeviceKind::from_class_vendor(class_code, vendor_id),
        vendor_id,
        device_id,
        subsystem_vendor_id: id16("subsystem_vendor"),
        subsystem_device_id: id16("subsystem_device"),
        vendor_name: vendor_id.and_then(names::vendor_name).map(str::to_string),
        device_name: vendor_id
            .zip(device_id)
            .and_then(|(v, d)| names::device_name(v, d))
            .map(str::to_string),
        driver: link_leaf(root, &format!("{d}/driver"), "drivers"),
        numa_node: None,
        numa_node_source: NodeSource::Unknown,
        local_cpus,
        link: Link::read(root, &d),
        bars,
        resizable_bar,
        vram_bytes,
        gpu_memory_node: None,
        sriov,
        upstream,
        host_bridge,
        os_names: osnames::from_device_dir(root, &d),
        iommu_group,
        gpu: None,
    };
    let raw = Raw {
        numa_node: root.read_i64(&format!("{d}/numa_node")),
        host_dir,
    };
    Some((dev, raw))
}

/// Reads every PCI function under `/sys/bus/pci/devices`, sorted by address.
pub fn discover(root: &Root, nodes: &[Node]) -> Vec<PciDevice> {
    let mut pairs: Vec<(PciDevice, Raw)> = root
        .read_dir("/sys/bus/pci/devices")
        .unwrap_or_default()
        .iter()
        .filter_map(|name| {
            // one listing of the device's folder lets every optional attribute
            // it lacks (SR-IOV, link, resize, class folders) be skipped without
            // a failed open
            let _ = root.read_dir(&format!("/sys/bus/pci/devices/{name}"));
            read_device(root, name)
        })
        .collect();
    pairs.sort_by_key(|(d, _)| d.address);
    let (mut devs, raw): (Vec<PciDevice>, Vec<Raw>) = pairs.into_iter().unzip();
    let by_class = osnames::from_classes(root);
    for d in &mut devs {
        d.os_names = osnames::merge(std::mem::take(&mut d.os_names), by_class.get(&d.address));
    }
    locality::assign_nodes(root, &mut devs, &raw, nodes);
    let gpu_nodes: BTreeMap<PciAddress, NodeId> = locality::nvidia_gpu_memory_nodes(root);
    for d in &mut devs {
        d.gpu_memory_node = gpu_nodes.get(&d.address).copied();
    }
    crate::gpu::discover(root, &mut devs);
    devs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_from_path() {
        let own: PciAddress = "0000:23:00.0".parse().unwrap();
        let (h, up) = parse_chain(
            "/sys/devices/pci0000:20/0000:20:00.0/0000:21:00.0/0000:22:00.0/0000:23:00.0",
            own,
        );
        assert_eq!(h.as_deref(), Some("pci0000:20"));
        let up: Vec<String> = up.iter().map(|a| a.to_string()).collect();
        assert_eq!(up, ["0000:22:00.0", "0000:21:00.0", "0000:20:00.0"]);
        let (h, up) = parse_chain(
            "/sys/devices/platform/soc/pci10000:00/10000:00:04.0",
            "10000:00:04.0".parse().unwrap(),
        );
        assert_eq!(h.as_deref(), Some("pci10000:00"));
        assert!(up.is_empty());
        assert_eq!(parse_chain("/garbage", own), (None, vec![]));
    }

    #[test]
    fn link_speeds() {
        assert_eq!(speed_gts("16.0 GT/s PCIe"), Some(16.0));
        assert_eq!(speed_gts("2.5 GT/s"), Some(2.5));
        assert_eq!(speed_gts("Unknown"), None);
        assert_eq!(speed_gts("8 GB/s"), None);
        assert_eq!(speed_gts("NaN GT/s"), None);
    }

    #[test]
    fn kinds() {
        assert_eq!(DeviceKind::from_class(0x010802), DeviceKind::Nvme);
        assert_eq!(DeviceKind::from_class(0x030200), DeviceKind::Gpu);
        assert_eq!(
            DeviceKind::from_class_vendor(Some(0x030000), Some(VENDOR_NVIDIA)),
            DeviceKind::Gpu
        );
        assert_eq!(
            DeviceKind::from_class_vendor(Some(0x030000), Some(0x102b)),
            DeviceKind::Display
        );
        assert_eq!(DeviceKind::from_class_vendor(None, None), DeviceKind::Other);
    }
}
