//! GPUs as a worker names them: `cuda:N`, `rocm:N`, `gpu:UUID`, and
//! `auto` (the launcher's rank picks; see `numakit-placement`), next to every
//! device form [`DeviceSpec`] reads.

use std::fmt;
use std::str::FromStr;

use numakit_types::PciAddress;

use super::order::{BaseOrder, Framework, GpuEnv, Visible, VisibleGpu, visible};
use super::{GpuVendor, gpus, uuids};
use crate::Machine;
use crate::locate::DeviceSpec;

/// A GPU named the way its framework numbers it, or by UUID.
///
/// # Example
/// ```
/// use numakit_topo::gpu::{GpuSpec, NearSpec};
/// assert_eq!("cuda:1".parse::<NearSpec>().unwrap(), NearSpec::Gpu(GpuSpec::Cuda(1)));
/// assert_eq!("hip:0".parse::<NearSpec>().unwrap(), NearSpec::Gpu(GpuSpec::Rocm(0)));
/// assert_eq!("auto".parse::<NearSpec>().unwrap(), NearSpec::Auto);
/// assert!(matches!("gpu:GPU-9221d5d1".parse::<NearSpec>().unwrap(), NearSpec::Gpu(GpuSpec::Uuid(_))));
/// assert!(matches!("gpu:2".parse::<NearSpec>().unwrap(), NearSpec::Device(_)));
/// assert!("cuda:x".parse::<NearSpec>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuSpec {
    /// `cuda:N`: the N-th GPU CUDA would list in this environment.
    Cuda(u32),
    /// `rocm:N` or `hip:N`: the N-th GPU HIP would list.
    Rocm(u32),
    /// `gpu:UUID`: a GPU by its UUID or a unique prefix of it (`GPU-...`,
    /// `MIG-GPU-.../GI/CI`), in any case.
    Uuid(String),
}

/// What `run --near` takes: a GPU by framework or UUID, `auto`, or any
/// [`DeviceSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NearSpec {
    /// A device as [`DeviceSpec`] reads it (`gpu:N` is PCI order).
    Device(DeviceSpec),
    /// A GPU as its framework numbers it.
    Gpu(GpuSpec),
    /// The GPU of the launcher's local rank.
    Auto,
}

/// A string none of the forms [`NearSpec`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseNearError {
    spec: String,
}

impl ParseNearError {
    /// The string as given.
    pub fn spec(&self) -> &str {
        &self.spec
    }
}

impl fmt::Display for ParseNearError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot read device '{}': expected auto, cuda:N, rocm:N, gpu:N, gpu:UUID, a PCI address (0000:41:00.0), net:IFACE, block:DEV, nvme:N or file:PATH",
            self.spec.escape_debug()
        )
    }
}

impl std::error::Error for ParseNearError {}

/// A UUID as `gpu:` takes it: `GPU-`/`MIG-` forms, or bare hex with dashes.
fn uuid_form(s: &str) -> Option<String> {
    let up = s.to_ascii_uppercase();
    if (up.starts_with("GPU-") || up.starts_with("MIG-")) && s.len() > 4 {
        return Some(s.to_string());
    }
    let hexish = s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    (hexish && s.len() >= 8 && s.bytes().any(|b| !b.is_ascii_digit())).then(|| format!("GPU-{s}"))
}

impl FromStr for NearSpec {
    type Err = ParseNearError;
    fn from_str(s: &str) -> Result<NearSpec, ParseNearError> {
        let bad = || ParseNearError {
            spec: s.to_string(),
        };
        let ordinal = |n: &str| {
            (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .then(|| n.parse::<u32>().ok())
                .flatten()
                .ok_or_else(bad)
        };
        if s == "auto" {
            return Ok(NearSpec::Auto);
        }
        if let Some(n) = s.strip_prefix("cuda:") {
            return Ok(NearSpec::Gpu(GpuSpec::Cuda(ordinal(n)?)));
        }
        if let Some(n) = s.strip_prefix("rocm:").or(s.strip_prefix("hip:")) {
            return Ok(NearSpec::Gpu(GpuSpec::Rocm(ordinal(n)?)));
        }
        if let Some(rest) = s.strip_prefix("gpu:")
            && !rest.bytes().all(|b| b.is_ascii_digit())
        {
            return uuid_form(rest)
                .map(|u| NearSpec::Gpu(GpuSpec::Uuid(u)))
                .ok_or_else(bad);
        }
        s.parse::<DeviceSpec>()
            .map(NearSpec::Device)
            .map_err(|_| bad())
    }
}

impl fmt::Display for GpuSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuSpec::Cuda(n) => write!(f, "cuda:{n}"),
            GpuSpec::Rocm(n) => write!(f, "rocm:{n}"),
            GpuSpec::Uuid(u) => write!(f, "gpu:{u}"),
        }
    }
}

impl fmt::Display for NearSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NearSpec::Device(d) => d.fmt(f),
            NearSpec::Gpu(g) => g.fmt(f),
            NearSpec::Auto => f.write_str("auto"),
        }
    }
}

/// Why a GPU name has no GPU on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuError {
    /// The machine has no GPU at all.
    NoGpus,
    /// An ordinal past the end of the framework's list.
    Ordinal {
        /// As written (`cuda:3`).
        spec: String,
        /// Whose list.
        framework: Framework,
        /// How many GPUs the framework would list.
        count: usize,
        /// The variables that filtered the list, `; `-joined, or empty.
        filters: String,
    },
    /// The ordinal lands on an entry numakit cannot place.
    Unresolved {
        /// As written.
        spec: String,
        /// The `*_VISIBLE_DEVICES` entry.
        entry: String,
        /// Why.
        why: String,
    },
    /// No GPU has this UUID.
    NoSuchUuid {
        /// The UUID as given.
        uuid: String,
    },
    /// Several GPUs' UUIDs start with this prefix.
    AmbiguousUuid {
        /// The prefix.
        uuid: String,
        /// How many match.
        count: usize,
    },
    /// No GPU's UUID is readable, or the UUID names a MIG device by its
    /// own UUID.
    UuidUnknown {
        /// The UUID.
        uuid: String,
        /// Why it cannot be looked up.
        why: &'static str,
    },
    /// `auto` on a machine with both NVIDIA and AMD GPUs.
    MixedVendors,
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuError::NoGpus => f.write_str("this machine has no GPU"),
            GpuError::Ordinal {
                spec,
                framework,
                count,
                filters,
            } => {
                let who = match framework {
                    Framework::Cuda => "CUDA",
                    Framework::Rocm => "ROCm",
                };
                write!(f, "no device {spec}: {who} would list {count} GPU")?;
                if *count != 1 {
                    f.write_str("s")?;
                }
                if !filters.is_empty() {
                    write!(f, " ({filters})")?;
                }
                Ok(())
            }
            GpuError::Unresolved { spec, entry, why } => {
                write!(f, "cannot tell which GPU {spec} is: its entry '{entry}': {why}")
            }
            GpuError::NoSuchUuid { uuid } => write!(f, "no GPU with UUID {uuid} on this machine"),
            GpuError::AmbiguousUuid { uuid, count } => {
                write!(f, "{uuid} is the start of {count} GPUs' UUIDs; give more of it")
            }
            GpuError::UuidUnknown { uuid, why } => write!(f, "cannot find GPU {uuid}: {why}"),
            GpuError::MixedVendors => f.write_str(
                "this machine has NVIDIA and AMD GPUs, so 'auto' cannot tell whose numbering the worker uses",
            ),
        }
    }
}

impl std::error::Error for GpuError {}

/// A GPU a [`GpuSpec`] (or a rank) named, and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuChoice {
    /// Its PCI function.
    pub address: PciAddress,
    /// The name it was asked by (`cuda:1`, `gpu:GPU-...`).
    pub spec: String,
    /// The framework list it was picked from, when named by number.
    pub visible: Option<Visible>,
    /// One line saying how the name became this GPU.
    pub how: String,
}

impl GpuChoice {
    /// What may make this choice differ from the framework's.
    pub fn warnings(&self) -> &[String] {
        self.visible.as_ref().map_or(&[], |v| &v.warnings)
    }
}

fn base_words(b: BaseOrder) -> &'static str {
    match b {
        BaseOrder::PciBusId => "PCI bus order (CUDA_DEVICE_ORDER=PCI_BUS_ID)",
        BaseOrder::PciForFastestFirst => "PCI bus order standing in for CUDA's fastest-first order",
        BaseOrder::KfdNodes => "KFD topology order",
        BaseOrder::PciForKfd => "PCI bus order standing in for ROCm's KFD order",
        BaseOrder::Driver => "the driver's order",
    }
}

/// The `ordinal`-th GPU of a framework's list.
pub fn pick(v: Visible, ordinal: usize, spec: String) -> Result<GpuChoice, GpuError> {
    match v.devices.get(ordinal) {
        Some(VisibleGpu::Gpu { address, .. }) => {
            let mut how = format!(
                "{spec} = {address}: GPU {ordinal} of the {} {} would list",
                v.devices.len(),
                v.framework
            );
            if !v.filters.is_empty() {
                how.push_str(&format!(" under {}", v.filters.join(", ")));
            }
            how.push_str(&format!("; base order: {}", base_words(v.base)));
            Ok(GpuChoice {
                address: *address,
                spec,
                how,
                visible: Some(v),
            })
        }
        Some(VisibleGpu::Unresolved { entry, why }) => Err(GpuError::Unresolved {
            spec,
            entry: entry.clone(),
            why: why.clone(),
        }),
        None => Err(GpuError::Ordinal {
            spec,
            framework: v.framework,
            count: v.devices.len(),
            filters: v.filters.join("; "),
        }),
    }
}

/// The framework whose numbering `auto` follows: CUDA when the machine has
/// NVIDIA GPUs, ROCm for AMD ones, CUDA's rules for any other GPUs.
pub fn framework_of(m: &Machine) -> Result<Framework, GpuError> {
    let vendors: Vec<GpuVendor> = gpus(&m.pci_devices)
        .filter_map(|d| d.gpu.as_ref().map(|g| g.vendor))
        .collect();
    let nv = vendors.contains(&GpuVendor::Nvidia);
    let amd = vendors.contains(&GpuVendor::Amd);
    match (nv, amd, vendors.is_empty()) {
        (true, true, _) => Err(GpuError::MixedVendors),
        (_, true, _) => Ok(Framework::Rocm),
        (_, _, true) => Err(GpuError::NoGpus),
        _ => Ok(Framework::Cuda),
    }
}

impl GpuSpec {
    /// Finds the GPU this names on `m` under `env`.
    pub fn resolve(&self, m: &Machine, env: &GpuEnv) -> Result<GpuChoice, GpuError> {
        if gpus(&m.pci_devices).next().is_none() {
            return Err(GpuError::NoGpus);
        }
        match self {
            GpuSpec::Cuda(n) => pick(
                visible(m, Framework::Cuda, env),
                *n as usize,
                self.to_string(),
            ),
            GpuSpec::Rocm(n) => pick(
                visible(m, Framework::Rocm, env),
                *n as usize,
                self.to_string(),
            ),
            GpuSpec::Uuid(u) => by_uuid(m, u).map(|address| GpuChoice {
                address,
                spec: self.to_string(),
                visible: None,
                how: format!("{self} = {address}: the GPU with that UUID"),
            }),
        }
    }
}

/// The GPU whose UUID starts with `u` (case ignored); a `MIG-GPU-UUID/..`
/// name is its GPU.
fn by_uuid(m: &Machine, u: &str) -> Result<PciAddress, GpuError> {
    let want = match u.get(..4).map(str::to_ascii_uppercase).as_deref() {
        Some("MIG-") => match u[4..].get(..4).map(str::to_ascii_uppercase).as_deref() {
            Some("GPU-") => u[4..].split('/').next().unwrap_or(""),
            _ => {
                return Err(GpuError::UuidUnknown {
                    uuid: u.to_string(),
                    why: "which GPU holds a MIG device named by its own UUID is known only to NVML, which numakit does not load; name the GPU (its GPU- UUID or MIG-GPU-UUID/GI/CI) instead",
                });
            }
        },
        _ => u,
    }
    .to_ascii_lowercase();
    let known = uuids(&m.pci_devices);
    if known.is_empty() {
        return Err(GpuError::UuidUnknown {
            uuid: u.to_string(),
            why: "no GPU UUID is readable here (the NVIDIA driver's /proc/driver/nvidia/gpus/*/information, the KFD topology)",
        });
    }
    let hits: Vec<PciAddress> = known
        .iter()
        .filter(|(_, id)| id.to_ascii_lowercase().starts_with(&want))
        .map(|(a, _)| *a)
        .collect();
    match hits.as_slice() {
        [one] => Ok(*one),
        [] => Err(GpuError::NoSuchUuid {
            uuid: u.to_string(),
        }),
        _ => Err(GpuError::AmbiguousUuid {
            uuid: u.to_string(),
            count: hits.len(),
        }),
    }
}
