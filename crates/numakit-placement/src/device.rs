//! Devices by name: `gpu:0`, `0000:41:00.0`, `net:eth0`, `block:nvme0n1`,
//! `nvme:0`, resolved to a PCI function and its NUMA node through the
//! machine model.

use std::fmt;
use std::str::FromStr;

use numakit_root::Root;
use numakit_topo::Machine;
use numakit_topo::pci::{DeviceKind, PciDevice};
use numakit_types::{CpuSet, NodeId, PciAddress};

use crate::{Error, Result};

/// A device as a user names it.
///
/// # Example
/// ```
/// use numakit_placement::DeviceSpec;
/// assert_eq!("gpu:1".parse::<DeviceSpec>().unwrap(), DeviceSpec::Gpu(1));
/// assert_eq!("nvme:0".parse::<DeviceSpec>().unwrap(), DeviceSpec::Nvme(0));
/// assert!(matches!("0000:41:00.0".parse::<DeviceSpec>().unwrap(), DeviceSpec::Pci(_)));
/// assert!("floppy:0".parse::<DeviceSpec>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSpec {
    /// The N-th GPU in PCI address order (`gpu:N`).
    Gpu(u32),
    /// A PCI function (`0000:41:00.0` or `41:00.0`).
    Pci(PciAddress),
    /// A network interface (`net:eth0`).
    Net(String),
    /// A block device (`block:nvme0n1`, `block:sda`, a partition too).
    Block(String),
    /// An NVMe controller (`nvme:0` or `nvme:nvme0`).
    Nvme(u32),
}

impl FromStr for DeviceSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<DeviceSpec> {
        let bad = || Error::BadDeviceSpec {
            spec: s.to_string(),
        };
        let name_ok = |n: &str| {
            !n.is_empty() && !n.contains('/') && n != "." && n != ".." && !n.contains('\0')
        };
        if let Some(n) = s.strip_prefix("gpu:") {
            return n.parse().map(DeviceSpec::Gpu).map_err(|_| bad());
        }
        if let Some(n) = s.strip_prefix("nvme:") {
            let n = n.strip_prefix("nvme").unwrap_or(n);
            return n.parse().map(DeviceSpec::Nvme).map_err(|_| bad());
        }
        if let Some(n) = s.strip_prefix("net:") {
            return name_ok(n)
                .then(|| DeviceSpec::Net(n.to_string()))
                .ok_or_else(bad);
        }
        if let Some(n) = s.strip_prefix("block:") {
            let n = n.strip_prefix("/dev/").unwrap_or(n);
            return name_ok(n)
                .then(|| DeviceSpec::Block(n.to_string()))
                .ok_or_else(bad);
        }
        let a = s.strip_prefix("pci:").unwrap_or(s);
        a.parse().map(DeviceSpec::Pci).map_err(|_| bad())
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Gpu(n) => write!(f, "gpu:{n}"),
            DeviceSpec::Pci(a) => write!(f, "{a}"),
            DeviceSpec::Net(n) => write!(f, "net:{n}"),
            DeviceSpec::Block(n) => write!(f, "block:{n}"),
            DeviceSpec::Nvme(n) => write!(f, "nvme:{n}"),
        }
    }
}

/// A device found on the machine, with its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedDevice {
    /// The device as the user named it.
    pub spec: DeviceSpec,
    /// Its PCI function.
    pub address: PciAddress,
    /// Its NUMA node.
    pub node: NodeId,
    /// Its `local_cpulist`, when sysfs has it.
    pub local_cpus: Option<CpuSet>,
}

impl DeviceSpec {
    /// Finds the device in `machine` (its PCI devices and their OS names).
    /// With `root`, names the model does not list (`net:`, `block:`,
    /// `nvme:`) are also followed through `/sys/class/<class>/<name>`.
    pub fn resolve(&self, machine: &Machine, root: Option<&Root>) -> Result<ResolvedDevice> {
        let dev = self.find(machine, root)?;
        let node = dev.numa_node.ok_or_else(|| Error::DeviceWithoutNode {
            device: dev.address.to_string(),
        })?;
        Ok(ResolvedDevice {
            spec: self.clone(),
            address: dev.address,
            node,
            local_cpus: dev.local_cpus.clone(),
        })
    }

    fn find<'m>(&self, m: &'m Machine, root: Option<&Root>) -> Result<&'m PciDevice> {
        let unknown = |known: String| Error::UnknownDevice {
            spec: self.to_string(),
            known,
        };
        match self {
            DeviceSpec::Pci(a) => m.pci_device(*a).ok_or_else(|| unknown(String::new())),
            DeviceSpec::Gpu(n) => {
                let gpus: Vec<&PciDevice> = m
                    .pci_devices
                    .iter()
                    .filter(|d| d.kind == DeviceKind::Gpu)
                    .collect();
                gpus.get(*n as usize).copied().ok_or_else(|| {
                    unknown(if gpus.is_empty() {
                        ": it has no GPUs".into()
                    } else {
                        format!(": it has gpu:0 to gpu:{}", gpus.len() - 1)
                    })
                })
            }
            DeviceSpec::Net(name) => {
                by_name(m, root, "net", name).ok_or_else(|| unknown(String::new()))
            }
            DeviceSpec::Block(name) => {
                by_name(m, root, "block", name).ok_or_else(|| unknown(String::new()))
            }
            DeviceSpec::Nvme(n) => {
                by_name(m, root, "nvme", &format!("nvme{n}")).ok_or_else(|| unknown(String::new()))
            }
        }
    }
}

fn by_name<'m>(
    m: &'m Machine,
    root: Option<&Root>,
    class: &str,
    name: &str,
) -> Option<&'m PciDevice> {
    if let Some(d) = m.pci_devices.iter().find(|d| {
        d.os_names
            .iter()
            .any(|o| o.class == class && o.name == name)
    }) {
        return Some(d);
    }
    let path = root?
        .canonicalize(&format!("/sys/class/{class}/{name}"))
        .ok()?;
    // The nearest PCI function above the class device in the sysfs path.
    let addr = path
        .split('/')
        .rev()
        .find_map(|c| c.parse::<PciAddress>().ok().filter(|_| c.contains(':')))?;
    m.pci_device(addr)
}
