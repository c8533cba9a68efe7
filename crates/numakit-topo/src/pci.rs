//! PCI devices: class and kind, ids and names, driver, NUMA node and where
//! that answer came from, local CPUs, link speed and width, BARs, SR-IOV, the
//! chain of bridges up to the host bridge, and the OS names attached.

use numakit_root::Root;
use numakit_types::{CpuSet, NodeId, PciAddress};
use serde::Serialize;

use crate::Node;
use crate::util::{read_cpulist, read_cpumask};

/// A plain kind for a PCI function, from its class code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceKind {
    /// 3D controller or display controller that is a compute GPU (class 0x0302, 0x0380).
    Gpu,
    /// VGA-compatible display controller (class 0x0300).
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
    /// Anything else.
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

/// Where a device's NUMA node came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeSource {
    /// The device's own `numa_node` file.
    Sysfs,
    /// Inferred from `local_cpulist` or from the host bridge / an upstream bridge.
    Inferred,
    /// Firmware says -1 and nothing else tells.
    Unknown,
}

/// PCIe link state; `None` fields are unknown (conventional PCI has none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Link {
    /// `current_link_speed`, e.g. `16.0 GT/s PCIe`.
    pub current_speed: Option<String>,
    /// `current_link_width`.
    pub current_width: Option<u32>,
    /// `max_link_speed`.
    pub max_speed: Option<String>,
    /// `max_link_width`.
    pub max_width: Option<u32>,
    /// Whether the link runs below its maximum speed or width.
    pub degraded: bool,
}

/// One BAR (or the expansion ROM) from the `resource` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bar {
    /// BAR index (0-5; 6 is the ROM).
    pub index: u32,
    /// Start address (CPU physical).
    pub start: u64,
    /// Size in bytes.
    pub size_bytes: u64,
    /// 64-bit memory BAR.
    pub is_64bit: bool,
    /// Prefetchable memory.
    pub prefetchable: bool,
    /// An I/O port BAR.
    pub io: bool,
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
    /// `net`, `block`, `nvme`, `drm`, `infiniband`, `dma`, ...
    pub class: String,
    /// The name (`eth0`, `nvme0n1`, `card0`, `renderD128`, `mlx5_0`).
    pub name: String,
}

/// One PCI function.
#[derive(Debug, Clone, Serialize)]
pub struct PciDevice {
    /// Address, `0000:41:00.0`.
    pub address: PciAddress,
    /// Class code, 24 bits.
    #[serde(serialize_with = "ser_class")]
    pub class_code: u32,
    /// Plain kind from the class code.
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
    /// Vendor name from the PCI ID database, when known.
    pub vendor_name: Option<String>,
    /// Device name from the PCI ID database, when known.
    pub device_name: Option<String>,
    /// Bound driver.
    pub driver: Option<String>,
    /// NUMA node.
    pub numa_node: Option<NodeId>,
    /// Where `numa_node` came from.
    pub numa_node_source: NodeSource,
    /// CPUs local to the device (`local_cpulist`).
    pub local_cpus: Option<CpuSet>,
    /// PCIe link.
    pub link: Link,
    /// BARs with a non-zero size.
    pub bars: Vec<Bar>,
    /// Whether a BAR is as large as the device memory suggests Resizable BAR is on
    /// (`None` when it cannot be told).
    pub resizable_bar: Option<bool>,
    /// SR-IOV relations.
    pub sriov: Sriov,
    /// Upstream bridges from the nearest to the one under the host bridge.
    pub upstream: Vec<PciAddress>,
    /// The host bridge (`pci0000:40`).
    pub host_bridge: Option<String>,
    /// OS names attached to the device.
    pub os_names: Vec<OsName>,
    /// IOMMU group.
    pub iommu_group: Option<u32>,
}

fn ser_class<S: serde::Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("0x{v:06x}"))
}

fn ser_id16<S: serde::Serializer>(v: &Option<u16>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(&format_args!("0x{v:04x}")),
        None => s.serialize_none(),
    }
}

/// Reads every PCI function under `/sys/bus/pci/devices`.
pub fn discover(root: &Root, nodes: &[Node]) -> Vec<PciDevice> {
    let base = "/sys/bus/pci/devices";
    let mut v: Vec<PciDevice> = root
        .read_dir(base)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|name| {
            let address: PciAddress = name.parse().ok()?;
            let d = format!("{base}/{name}");
            let class_code = root
                .read_u64(&format!("{d}/class"))
                .map(|c| c as u32)
                .unwrap_or(0);
            let id16 = |f: &str| {
                root.read_u64(&format!("{d}/{f}"))
                    .and_then(|v| u16::try_from(v).ok())
            };
            let local_cpus = read_cpulist(root, &format!("{d}/local_cpulist"))
                .or_else(|| read_cpumask(root, &format!("{d}/local_cpus")));
            let raw_node = root.read_i64(&format!("{d}/numa_node"));
            let (numa_node, numa_node_source) = match raw_node {
                Some(n) if n >= 0 => (Some(NodeId(n as u32)), NodeSource::Sysfs),
                _ => (None, NodeSource::Unknown),
            };
            let _ = nodes;
            Some(PciDevice {
                address,
                class_code,
                kind: DeviceKind::from_class(class_code),
                vendor_id: id16("vendor"),
                device_id: id16("device"),
                subsystem_vendor_id: id16("subsystem_vendor"),
                subsystem_device_id: id16("subsystem_device"),
                vendor_name: None,
                device_name: None,
                driver: root.link_name(&format!("{d}/driver")),
                numa_node,
                numa_node_source,
                local_cpus,
                link: Link::default(),
                bars: Vec::new(),
                resizable_bar: None,
                sriov: Sriov::default(),
                upstream: Vec::new(),
                host_bridge: None,
                os_names: Vec::new(),
                iommu_group: None,
            })
        })
        .collect();
    v.sort_by_key(|d| d.address);
    v
}
