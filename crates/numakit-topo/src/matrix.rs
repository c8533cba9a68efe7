//! The device-to-device matrix (`nvidia-smi topo -m`, for any vendor).
//!
//! For every pair of GPUs, NICs (Ethernet and InfiniBand), NVMe drives,
//! accelerators and CXL memory devices, [`Connection`] says what the PCIe path
//! between them crosses, using the levels NVML defines
//! (`nvmlGpuTopologyLevel_t`) and `nvidia-smi topo -m` prints:
//!
//! | code | NVML level | path |
//! |---|---|---|
//! | `X` | - | the device itself |
//! | `PIX` | `SINGLE` | at most one PCIe bridge or switch |
//! | `PXB` | `MULTIPLE` | several bridges or switches, not the host bridge |
//! | `PHB` | `HOSTBRIDGE` | through a PCIe host bridge (the root complex) |
//! | `NODE` | `NODE` | between host bridges within one NUMA node |
//! | `SYS` | `SYSTEM` | across the interconnect between NUMA nodes |
//!
//! # How a pair is classified
//!
//! Each device's chain of upstream bridges comes from its sysfs path
//! ([`PciDevice::upstream`], [`PciDevice::host_bridge`]). For two devices under
//! one host bridge, let `c` be their lowest common upstream bridge and `a`,
//! `b` the number of bridges each side has below `c`:
//! - no common bridge (different root ports, or devices on the root bus):
//!   the path turns at the host bridge: `PHB`;
//! - `a <= 1` and `b <= 1`: the path crosses one switch (its upstream port `c`
//!   and a downstream port on each side, which together are one switch) or
//!   one bridge (two functions behind the same port): `PIX`;
//! - otherwise it crosses several switches: `PXB`.
//!
//! Devices under different host bridges are `NODE` when both NUMA nodes are
//! known and equal, else `SYS` (an unknown node cannot be shown to be near).
//!
//! # GPU-to-GPU links
//!
//! Where a GPU's links are known ([`crate::gpu::GpuFacts::links`]), a pair
//! joined by one also has a [`PeerLink`] ([`Matrix::links`]), shown in place
//! of the PCIe level as `nvidia-smi topo -m` does: `NV#` for `#` bonded
//! NVLinks, `XGMI` for AMD's xGMI. xGMI comes from the kernel's KFD topology;
//! NVLink only from NVML. GPUs whose links are unknown are listed in
//! [`Matrix::links_unknown`] and keep their PCIe path.

use numakit_types::{CpuSet, NodeId, PciAddress};
use serde::Serialize;

use crate::Machine;
use crate::gpu::LinkKind;
use crate::pci::{DeviceKind, PciDevice};

/// What the path between two devices crosses. Ordered from nearest to
/// farthest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Connection {
    /// The device itself.
    #[serde(rename = "X")]
    X,
    /// At most one PCIe bridge or switch.
    #[serde(rename = "PIX")]
    Pix,
    /// Several bridges or switches, without the host bridge.
    #[serde(rename = "PXB")]
    Pxb,
    /// Through a PCIe host bridge.
    #[serde(rename = "PHB")]
    Phb,
    /// Between host bridges of one NUMA node.
    #[serde(rename = "NODE")]
    Node,
    /// Across the interconnect between NUMA nodes (or a node is unknown).
    #[serde(rename = "SYS")]
    Sys,
}

impl Connection {
    /// The code `nvidia-smi topo -m` prints.
    pub fn code(self) -> &'static str {
        match self {
            Connection::X => "X",
            Connection::Pix => "PIX",
            Connection::Pxb => "PXB",
            Connection::Phb => "PHB",
            Connection::Node => "NODE",
            Connection::Sys => "SYS",
        }
    }

    /// One line explaining the code, for a legend.
    pub fn meaning(self) -> &'static str {
        match self {
            Connection::X => "Self",
            Connection::Pix => "Connection traversing at most a single PCIe bridge or switch",
            Connection::Pxb => {
                "Connection traversing multiple PCIe bridges or switches (without traversing the PCIe Host Bridge)"
            }
            Connection::Phb => {
                "Connection traversing PCIe as well as a PCIe Host Bridge (typically the CPU)"
            }
            Connection::Node => {
                "Connection traversing PCIe as well as the interconnect between PCIe Host Bridges within a NUMA node"
            }
            Connection::Sys => {
                "Connection traversing PCIe as well as the SMP interconnect between NUMA nodes (e.g., QPI/UPI, Infinity Fabric), or a NUMA node is unknown"
            }
        }
    }

    /// Every code, nearest first.
    pub const ALL: [Connection; 6] = [
        Connection::X,
        Connection::Pix,
        Connection::Pxb,
        Connection::Phb,
        Connection::Node,
        Connection::Sys,
    ];
}

/// A device's place, as the classification needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place<'a> {
    /// The device.
    pub address: PciAddress,
    /// Its host bridge (`pci0000:40`), when known.
    pub host_bridge: Option<&'a str>,
    /// Upstream bridges, nearest first.
    pub upstream: &'a [PciAddress],
    /// Its NUMA node, when known.
    pub node: Option<NodeId>,
}

impl<'a> From<&'a PciDevice> for Place<'a> {
    fn from(d: &'a PciDevice) -> Place<'a> {
        Place {
            address: d.address,
            host_bridge: d.host_bridge.as_deref(),
            upstream: &d.upstream,
            node: d.numa_node,
        }
    }
}

/// Classifies the path between two devices (rules in the module documentation).
pub fn connection(a: &Place<'_>, b: &Place<'_>) -> Connection {
    if a.address == b.address {
        return Connection::X;
    }
    let same_host = matches!((a.host_bridge, b.host_bridge), (Some(x), Some(y)) if x == y);
    if !same_host {
        return match (a.node, b.node) {
            (Some(x), Some(y)) if x == y => Connection::Node,
            _ => Connection::Sys,
        };
    }
    // Chains from the host bridge down.
    let da: Vec<&PciAddress> = a.upstream.iter().rev().collect();
    let db: Vec<&PciAddress> = b.upstream.iter().rev().collect();
    let common = da.iter().zip(&db).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return Connection::Phb;
    }
    let below_a = da.len() - common;
    let below_b = db.len() - common;
    if below_a <= 1 && below_b <= 1 {
        Connection::Pix
    } else {
        Connection::Pxb
    }
}

/// Whether a device of this kind has a row in the matrix, and its label prefix.
pub fn label_prefix(kind: DeviceKind) -> Option<&'static str> {
    match kind {
        DeviceKind::Gpu => Some("GPU"),
        DeviceKind::Nic | DeviceKind::Infiniband => Some("NIC"),
        DeviceKind::Nvme => Some("NVME"),
        DeviceKind::Accelerator => Some("ACC"),
        DeviceKind::CxlMemory => Some("CXL"),
        _ => None,
    }
}

/// One row (and column) of the matrix.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Short label: `GPU0`, `NIC1`, `NVME0`, `ACC0`, `CXL0`, numbered per
    /// prefix in address order.
    pub label: String,
    /// PCI address.
    pub address: PciAddress,
    /// Kind.
    pub kind: DeviceKind,
    /// Vendor and device name (or ids).
    pub name: String,
    /// OS names (`eth0`, `nvme0n1`, `card1`).
    pub os_names: Vec<String>,
    /// The CPUs of the device's NUMA node, when the node is known.
    pub cpu_affinity: Option<CpuSet>,
    /// The device's NUMA node, when known.
    pub numa_affinity: Option<NodeId>,
}

/// A direct GPU-to-GPU link between two devices of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PeerLink {
    /// What kind.
    pub kind: LinkKind,
    /// How many links join the pair.
    pub count: u32,
}

impl PeerLink {
    /// The code `nvidia-smi topo -m` (NVLink) or `amd-smi topology` (xGMI)
    /// prints: `NV4`, `XGMI`.
    pub fn code(&self) -> String {
        match self.kind {
            LinkKind::Nvlink => format!("NV{}", self.count),
            LinkKind::Xgmi => "XGMI".into(),
        }
    }
}

/// The device-to-device matrix.
#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    /// Rows and columns, in the same order.
    pub devices: Vec<Entry>,
    /// `cells[i][j]`: the connection between `devices[i]` and `devices[j]`.
    pub cells: Vec<Vec<Connection>>,
    /// `links[i][j]`: a direct GPU-to-GPU link between them, when known.
    pub links: Vec<Vec<Option<PeerLink>>>,
    /// Labels of the GPUs whose links to other GPUs are unknown.
    pub links_unknown: Vec<String>,
}

impl Matrix {
    /// Builds the matrix of a machine: GPUs, NICs, NVMe drives, accelerators
    /// and CXL memory devices, SR-IOV virtual functions left out.
    pub fn build(m: &Machine) -> Matrix {
        let mut devs: Vec<(&'static str, &PciDevice)> = m
            .pci_devices
            .iter()
            .filter(|d| !d.is_vf())
            .filter_map(|d| Some((label_prefix(d.kind)?, d)))
            .collect();
        devs.sort_by_key(|(p, d)| (prefix_rank(p), d.address));
        let mut counters: std::collections::BTreeMap<&str, usize> = Default::default();
        let devices: Vec<Entry> = devs
            .iter()
            .map(|(p, d)| {
                let n = counters.entry(p).or_default();
                let label = format!("{p}{n}");
                *n += 1;
                Entry {
                    label,
                    address: d.address,
                    kind: d.kind,
                    name: d.display_name(),
                    os_names: d.os_names.iter().map(|o| o.name.clone()).collect(),
                    cpu_affinity: d
                        .numa_node
                        .and_then(|id| m.node(id))
                        .map(|n| n.cpus.clone())
                        .filter(|c| !c.is_empty()),
                    numa_affinity: d.numa_node,
                }
            })
            .collect();
        let places: Vec<Place<'_>> = devs.iter().map(|(_, d)| Place::from(*d)).collect();
        let cells = places
            .iter()
            .map(|a| places.iter().map(|b| connection(a, b)).collect())
            .collect();
        let links = devs
            .iter()
            .map(|(_, a)| devs.iter().map(|(_, b)| peer_link(a, b)).collect())
            .collect();
        let links_unknown = devs
            .iter()
            .zip(&devices)
            .filter(|((_, d), _)| {
                d.kind == DeviceKind::Gpu && d.gpu.as_ref().is_none_or(|g| g.links.is_none())
            })
            .map(|(_, e)| e.label.clone())
            .collect();
        Matrix {
            devices,
            cells,
            links,
            links_unknown,
        }
    }

    /// The connection between the devices labelled `a` and `b`.
    pub fn get(&self, a: &str, b: &str) -> Option<Connection> {
        let i = self.devices.iter().position(|e| e.label == a)?;
        let j = self.devices.iter().position(|e| e.label == b)?;
        Some(self.cells[i][j])
    }

    /// The entry at `addr`.
    pub fn entry(&self, addr: PciAddress) -> Option<&Entry> {
        self.devices.iter().find(|e| e.address == addr)
    }
}

/// The link from GPU `a` to GPU `b`, when `a`'s links list `b`.
fn peer_link(a: &PciDevice, b: &PciDevice) -> Option<PeerLink> {
    let l = a
        .gpu
        .as_ref()?
        .links
        .as_ref()?
        .iter()
        .find(|l| l.peer == b.address)?;
    Some(PeerLink {
        kind: l.kind,
        count: l.count,
    })
}

fn prefix_rank(p: &str) -> usize {
    ["GPU", "ACC", "NIC", "NVME", "CXL"]
        .iter()
        .position(|x| *x == p)
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> PciAddress {
        s.parse().unwrap()
    }

    fn place<'a>(
        addr: &str,
        host: Option<&'a str>,
        up: &'a [PciAddress],
        node: Option<u32>,
    ) -> Place<'a> {
        Place {
            address: a(addr),
            host_bridge: host,
            upstream: up,
            node: node.map(NodeId),
        }
    }

    #[test]
    fn classification() {
        // One switch: upstream port 21:00.0 behind root port 20:00.0, downstream
        // ports 22:00.0 / 22:01.0; NVMe on root port 20:01.0.
        let g0 = [a("0000:22:00.0"), a("0000:21:00.0"), a("0000:20:00.0")];
        let g1 = [a("0000:22:01.0"), a("0000:21:00.0"), a("0000:20:00.0")];
        let nv = [a("0000:20:01.0")];
        let h = Some("pci0000:20");
        let p0 = place("0000:23:00.0", h, &g0, Some(0));
        let p1 = place("0000:24:00.0", h, &g1, Some(0));
        let pn = place("0000:26:00.0", h, &nv, Some(0));
        assert_eq!(connection(&p0, &p0), Connection::X);
        assert_eq!(connection(&p0, &p1), Connection::Pix);
        assert_eq!(connection(&p0, &pn), Connection::Phb);
        // Two functions behind one downstream port.
        let p0f1 = place("0000:23:00.1", h, &g0, Some(0));
        assert_eq!(connection(&p0, &p0f1), Connection::Pix);
        // Two levels of switches: 22:00.0 leads to a second switch 30:00.0 → 31:0x.0.
        let deep = [
            a("0000:31:00.0"),
            a("0000:30:00.0"),
            a("0000:22:00.0"),
            a("0000:21:00.0"),
            a("0000:20:00.0"),
        ];
        let pd = place("0000:32:00.0", h, &deep, Some(0));
        assert_eq!(connection(&pd, &p1), Connection::Pxb);
        // Root bus devices of one host bridge.
        let none: [PciAddress; 0] = [];
        let r0 = place("0000:00:02.0", Some("pci0000:00"), &none, None);
        let r1 = place("0000:00:03.0", Some("pci0000:00"), &none, None);
        assert_eq!(connection(&r0, &r1), Connection::Phb);
        // Different host bridges.
        let o = place("0000:43:00.0", Some("pci0000:40"), &none, Some(0));
        assert_eq!(connection(&p0, &o), Connection::Node);
        let o1 = place("0000:43:00.0", Some("pci0000:40"), &none, Some(1));
        assert_eq!(connection(&p0, &o1), Connection::Sys);
        let unknown = place("0000:43:00.0", Some("pci0000:40"), &none, None);
        assert_eq!(connection(&p0, &unknown), Connection::Sys);
        let nohost = place("0000:43:00.0", None, &none, Some(0));
        assert_eq!(connection(&p0, &nohost), Connection::Node);
    }
}
