//! GPUs as their frameworks see them: identity, device order, links.
//!
//! # Facts read from the drivers
//!
//! Every PCI function of kind [`DeviceKind::Gpu`] gets [`GpuFacts`]
//! ([`PciDevice::gpu`]):
//! - NVIDIA: the driver's `/proc/driver/nvidia/gpus/ADDR/information`
//!   (`GPU UUID`, `Device Minor`, `Model`, `GPU Excluded`; written by
//!   `nv_procfs_read_gpu_info`). NVLink is not published there nor in sysfs
//!   (only through NVML, which numakit does not load): NVIDIA GPUs' links
//!   are unknown ([`GpuFacts::links`] is `None`).
//! - AMD: the kernel's KFD topology (`/sys/class/kfd/kfd/topology/nodes/N`):
//!   a node with `simd_count` above 0 is a GPU; `location_id` (bus << 8 |
//!   devfn) and `domain` give its PCI function, `unique_id` its UUID
//!   (`GPU-` and 16 hex digits, as ROCm prints it), and its `io_links` of
//!   type 11 its xGMI links to other GPUs. Without a readable KFD topology
//!   an AMD GPU's links are unknown.
//!
//! # Device order
//!
//! [`order`] turns `CUDA_VISIBLE_DEVICES`, `CUDA_DEVICE_ORDER`,
//! `ROCR_VISIBLE_DEVICES` and `HIP_VISIBLE_DEVICES` into the list of GPUs a
//! framework numbers 0, 1, 2...; [`spec`] reads `cuda:N`, `rocm:N`,
//! `gpu:UUID` and `auto` and resolves them to a PCI function.

mod kfd;
mod nvidia;
pub mod order;
pub mod spec;

use std::collections::BTreeMap;

use numakit_root::Root;
use numakit_types::PciAddress;
use serde::Serialize;

use crate::pci::{DeviceKind, PciDevice, VENDOR_AMD_ATI, VENDOR_NVIDIA};

pub use order::{BaseOrder, Framework, GpuEnv, Visible, VisibleGpu};
pub use spec::{GpuChoice, GpuError, GpuSpec, NearSpec};

/// Who made a GPU, as far as its frameworks care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GpuVendor {
    /// NVIDIA (PCI vendor 0x10de): CUDA.
    Nvidia,
    /// AMD (PCI vendor 0x1002): ROCm/HIP.
    Amd,
    /// Any other vendor.
    Other,
}

impl GpuVendor {
    /// The vendor of a PCI vendor id.
    pub fn from_pci(vendor: Option<u16>) -> GpuVendor {
        match vendor {
            Some(VENDOR_NVIDIA) => GpuVendor::Nvidia,
            Some(VENDOR_AMD_ATI) => GpuVendor::Amd,
            _ => GpuVendor::Other,
        }
    }
}

/// What joins two GPUs besides PCIe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkKind {
    /// AMD xGMI / Infinity Fabric (KFD io link type 11).
    Xgmi,
    /// NVIDIA NVLink (NVML; not read by numakit yet, so never produced
    /// today: NVIDIA GPUs' links are unknown).
    Nvlink,
}

/// One link from a GPU to another GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuLink {
    /// The GPU at the other end.
    pub peer: PciAddress,
    /// What kind of link.
    pub kind: LinkKind,
    /// How many links of this kind join the pair (NVLink: active links;
    /// xGMI: one KFD io link is one entry).
    pub count: u32,
    /// KFD's link weight (lower is nearer), when known.
    pub weight: Option<u32>,
    /// KFD's `max_bandwidth` in MB/s, when known and not 0.
    pub max_bandwidth_mbps: Option<u64>,
}

/// Facts about one GPU beyond its PCI function (see the module
/// documentation for where each comes from).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuFacts {
    /// Vendor.
    pub vendor: GpuVendor,
    /// UUID as the vendor's tools print it (`GPU-8932f937-...` for NVIDIA,
    /// `GPU-4b2c1a9f2e3d4c5b` for AMD), when the driver publishes it.
    pub uuid: Option<String>,
    /// The driver's model name (NVIDIA).
    pub model: Option<String>,
    /// `/dev/nvidiaN` (NVIDIA) or the `renderD` minor (AMD).
    pub minor: Option<u32>,
    /// Whether the NVIDIA driver excludes the GPU (then CUDA does not list it).
    pub excluded: Option<bool>,
    /// The KFD topology node (AMD).
    pub kfd_node: Option<u32>,
    /// Links to other GPUs; `None` when unknown (NVLink without NVML, AMD
    /// without a readable KFD topology, other vendors).
    pub links: Option<Vec<GpuLink>>,
    /// Where `links` came from: `kfd`.
    pub links_from: Option<&'static str>,
}

impl GpuFacts {
    fn new(vendor: GpuVendor) -> GpuFacts {
        GpuFacts {
            vendor,
            uuid: None,
            model: None,
            minor: None,
            excluded: None,
            kfd_node: None,
            links: None,
            links_from: None,
        }
    }
}

/// Fills [`PciDevice::gpu`] of every GPU from the drivers' files.
pub(crate) fn discover(root: &Root, devs: &mut [PciDevice]) {
    let nv = nvidia::read_all(root);
    let kfd = kfd::read(root);
    for d in devs.iter_mut().filter(|d| d.kind == DeviceKind::Gpu) {
        let mut f = GpuFacts::new(GpuVendor::from_pci(d.vendor_id));
        if let Some(i) = nv.get(&d.address) {
            f.uuid = i.uuid.clone();
            f.model = i.model.clone();
            f.minor = i.minor;
            f.excluded = i.excluded;
        }
        if let Some(k) = &kfd {
            k.fill(d.address, &mut f);
        }
        d.gpu = Some(f);
    }
}

/// The GPUs of a machine, in PCI address order.
pub fn gpus(devs: &[PciDevice]) -> impl Iterator<Item = &PciDevice> {
    devs.iter().filter(|d| d.kind == DeviceKind::Gpu)
}

/// GPU address → its UUID, for the GPUs whose UUID is known.
pub(crate) fn uuids(devs: &[PciDevice]) -> BTreeMap<PciAddress, String> {
    gpus(devs)
        .filter_map(|d| Some((d.address, d.gpu.as_ref()?.uuid.clone()?)))
        .collect()
}
