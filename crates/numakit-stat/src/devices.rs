//! The devices a process uses: its open `/dev/nvidia*`,
//! `/dev/dri/renderD*`, `/dev/infiniband/*` and `/dev/vfio/*` files, and
//! the block devices under its other open files, each traced to its PCI
//! functions through sysfs.

use numakit_root::Root;
use numakit_types::PciAddress;
use serde::Serialize;

/// What kind of use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UseKind {
    /// An NVIDIA GPU (`/dev/nvidiaN`).
    NvidiaGpu,
    /// A DRM render node (`/dev/dri/renderD*`).
    RenderNode,
    /// An RDMA device (`/dev/infiniband/*`).
    Rdma,
    /// A VFIO group (`/dev/vfio/N`).
    VfioGroup,
    /// The block device under an open file.
    Block,
}

/// A device in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsedDevice {
    /// The open file (`/dev/nvidia0`) or, for a block device, its name.
    pub name: String,
    /// What it is.
    pub kind: UseKind,
    /// Its PCI functions (empty when sysfs does not tell).
    pub pci: Vec<PciAddress>,
}

/// The PCI function at the end of a sysfs `device` link.
fn pci_of(root: &Root, link: &str) -> Option<PciAddress> {
    let canon = root.canonicalize(link).ok()?;
    canon.rsplit('/').find_map(|c| c.parse::<PciAddress>().ok())
}

fn nvidia_gpu(root: &Root, minor: &str) -> Vec<PciAddress> {
    let d = "/proc/driver/nvidia/gpus";
    root.read_dir(d)
        .unwrap_or_default()
        .into_iter()
        .filter(|bdf| {
            root.read_to_string(&format!("{d}/{bdf}/information"))
                .ok()
                .and_then(|t| {
                    t.lines()
                        .find_map(|l| l.strip_prefix("Device Minor:").map(|v| v.trim() == minor))
                })
                .unwrap_or(false)
        })
        .filter_map(|bdf| bdf.parse().ok())
        .collect()
}

fn classify(root: &Root, target: &str) -> Option<UsedDevice> {
    let dev = |kind, pci: Vec<PciAddress>| {
        Some(UsedDevice {
            name: target.to_string(),
            kind,
            pci,
        })
    };
    if let Some(minor) = target.strip_prefix("/dev/nvidia") {
        if minor.bytes().all(|b| b.is_ascii_digit()) && !minor.is_empty() {
            return dev(UseKind::NvidiaGpu, nvidia_gpu(root, minor));
        }
        return None;
    }
    if let Some(r) = target.strip_prefix("/dev/dri/") {
        if r.starts_with("renderD") {
            return dev(
                UseKind::RenderNode,
                pci_of(root, &format!("/sys/class/drm/{r}/device"))
                    .into_iter()
                    .collect(),
            );
        }
        return None;
    }
    if let Some(r) = target.strip_prefix("/dev/infiniband/") {
        let class = if r.starts_with("uverbs") {
            "infiniband_verbs"
        } else {
            "infiniband_mad"
        };
        return dev(
            UseKind::Rdma,
            pci_of(root, &format!("/sys/class/{class}/{r}/device"))
                .into_iter()
                .collect(),
        );
    }
    if let Some(g) = target.strip_prefix("/dev/vfio/") {
        let d = format!("/sys/kernel/iommu_groups/{g}/devices");
        let pci = root
            .read_dir(&d)
            .unwrap_or_default()
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect();
        return (g != "vfio")
            .then(|| dev(UseKind::VfioGroup, pci))
            .flatten();
    }
    None
}

/// The devices `pid` has open. Open regular files add the block device
/// under them (see `numakit_topo::locate::block_device_of_file`), once per
/// device.
pub fn used_devices(root: &Root, pid: i32) -> Vec<UsedDevice> {
    let dir = format!("/proc/{pid}/fd");
    let mut out: Vec<UsedDevice> = Vec::new();
    for fd in root.read_dir(&dir).unwrap_or_default() {
        let Ok(target) = root.read_link(&format!("{dir}/{fd}")) else {
            continue;
        };
        let found = classify(root, &target).or_else(|| {
            // the file is stat'ed on the running system: a snapshot has none
            if !root.is_live()
                || !target.starts_with('/')
                || target.starts_with("/dev/")
                || target.starts_with("/proc/")
            {
                return None;
            }
            let block =
                numakit_topo::locate::block_device_of_file(root, std::path::Path::new(&target))
                    .ok()?;
            let pci = pci_of(root, &format!("/sys/class/block/{block}/device"))
                .or_else(|| pci_of(root, &format!("/sys/class/block/{block}/device/device")))
                .into_iter()
                .collect();
            Some(UsedDevice {
                name: block,
                kind: UseKind::Block,
                pci,
            })
        });
        if let Some(d) = found
            && !out.iter().any(|o| o.name == d.name)
        {
            out.push(d);
        }
    }
    out
}
