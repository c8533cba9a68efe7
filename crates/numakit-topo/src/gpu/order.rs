//! Which GPUs a framework numbers 0, 1, 2..., from the machine and the
//! environment variables the frameworks read.
//!
//! # CUDA
//!
//! The base list is the NVIDIA GPUs the driver does not exclude. CUDA orders
//! it by `CUDA_DEVICE_ORDER`: `PCI_BUS_ID` is PCI bus order; the default,
//! `FASTEST_FIRST`, puts the fastest GPU first by a heuristic only the CUDA
//! driver knows. Without it numakit uses PCI bus order and says so
//! ([`Visible::warnings`]) whenever an index depends on that order.
//! `CUDA_VISIBLE_DEVICES` then picks and reorders (CUDA Programming Guide,
//! "CUDA Environment Variables"): unset, every GPU; empty, none; otherwise a
//! comma-separated list of indices into the base list, `GPU-` UUIDs or
//! unique prefixes of one, and MIG devices (`MIG-GPU-UUID/GI/CI`, or
//! `MIG-UUID`, whose GPU only NVML can tell). The first entry that is not
//! valid ends the list: `0,2,-1,1` shows 0 and 2. A repeated device also
//! ends it here (CUDA does not document that case; a note says so).
//!
//! # ROCm
//!
//! The base list is the AMD GPUs in KFD topology node order (ROCr's agent
//! order). `ROCR_VISIBLE_DEVICES` (read by ROCr, `RvdFilter`): set and
//! empty, no GPU; otherwise comma-separated tokens, trimmed and upper-cased,
//! at most as many as there are GPUs; a token starting with `G` is a UUID
//! (`GPU-` and 16 hex digits) or a unique prefix of one, 5 to 20
//! characters; any other is an index read as C's `strtol(s, 0)` does
//! (`0x10` hex, `010` octal). An invalid, out-of-range or repeated token
//! ends the list. Then HIP (CLR's `rocdevice.cpp`) applies
//! `HIP_VISIBLE_DEVICES`, or `CUDA_VISIBLE_DEVICES` when that is empty, to
//! ROCr's list: indices in plain decimal, or a token contained in a GPU's
//! UUID; an invalid one ends the list, a repeated one is skipped.
//!
//! When the machine has no GPU of the framework's vendor, every GPU counts,
//! in PCI order, with a warning (what a VM or a test machine with other
//! GPUs shows).

use std::fmt;

use numakit_types::PciAddress;
use serde::Serialize;

use super::{GpuVendor, gpus};
use crate::Machine;

/// A GPU programming framework, with its own device numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Framework {
    /// CUDA (NVIDIA).
    Cuda,
    /// ROCm / HIP (AMD).
    Rocm,
}

impl fmt::Display for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Framework::Cuda => "cuda",
            Framework::Rocm => "rocm",
        })
    }
}

/// The environment variables that decide GPU numbering.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GpuEnv {
    /// `CUDA_VISIBLE_DEVICES` (also read by HIP).
    pub cuda_visible_devices: Option<String>,
    /// `CUDA_DEVICE_ORDER`.
    pub cuda_device_order: Option<String>,
    /// `HIP_VISIBLE_DEVICES`.
    pub hip_visible_devices: Option<String>,
    /// `ROCR_VISIBLE_DEVICES`.
    pub rocr_visible_devices: Option<String>,
}

impl GpuEnv {
    /// The variables' names.
    pub const NAMES: [&'static str; 4] = [
        "CUDA_VISIBLE_DEVICES",
        "CUDA_DEVICE_ORDER",
        "HIP_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES",
    ];

    /// Reads the variables from a lookup (`std::env::var` or a test map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> GpuEnv {
        GpuEnv {
            cuda_visible_devices: get("CUDA_VISIBLE_DEVICES"),
            cuda_device_order: get("CUDA_DEVICE_ORDER"),
            hip_visible_devices: get("HIP_VISIBLE_DEVICES"),
            rocr_visible_devices: get("ROCR_VISIBLE_DEVICES"),
        }
    }

    /// Reads this process's environment (values that are not UTF-8 are
    /// read lossily).
    pub fn from_process() -> GpuEnv {
        GpuEnv::from_lookup(|k| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned()))
    }
}

/// How the base list (before any `*_VISIBLE_DEVICES`) was ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BaseOrder {
    /// PCI bus order, which is CUDA's under `CUDA_DEVICE_ORDER=PCI_BUS_ID`.
    PciBusId,
    /// PCI bus order standing in for CUDA's fastest-first order, which only
    /// the CUDA driver knows.
    PciForFastestFirst,
    /// KFD topology node order, which is ROCm's.
    KfdNodes,
    /// PCI bus order standing in for ROCm's KFD order (no KFD topology).
    PciForKfd,
    /// The order the framework's own driver reported.
    Driver,
}

/// One GPU a framework would list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum VisibleGpu {
    /// A GPU, and the `*_VISIBLE_DEVICES` entry that picked it, if any.
    Gpu {
        /// Its PCI function.
        address: PciAddress,
        /// The entry.
        entry: Option<String>,
    },
    /// An entry the framework would list but numakit cannot place.
    Unresolved {
        /// The entry.
        entry: String,
        /// Why it cannot be placed.
        why: String,
    },
}

/// The GPUs a framework would number 0, 1, 2..., and how that was worked out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Visible {
    /// The framework.
    pub framework: Framework,
    /// How the base list was ordered.
    pub base: BaseOrder,
    /// The GPUs, in the framework's order.
    pub devices: Vec<VisibleGpu>,
    /// The variables that filtered the list, `NAME=value`, in the order
    /// they were applied.
    pub filters: Vec<String>,
    /// How the list was derived where that is not obvious.
    pub notes: Vec<String>,
    /// What may make the list differ from the framework's.
    pub warnings: Vec<String>,
}

/// A candidate GPU: its address, UUID, KFD node.
#[derive(Debug, Clone)]
struct Candidate {
    address: PciAddress,
    uuid: Option<String>,
}

/// The GPUs of `vendor` (every GPU when there is none, with a warning),
/// NVIDIA ones the driver excludes left out.
fn candidates(m: &Machine, vendor: GpuVendor, v: &mut Visible) -> Vec<(Option<u32>, Candidate)> {
    let of = |want: Option<GpuVendor>| -> Vec<(Option<u32>, Candidate)> {
        gpus(&m.pci_devices)
            .filter(|d| {
                let f = d.gpu.as_ref();
                want.is_none_or(|w| f.is_some_and(|f| f.vendor == w))
                    && f.and_then(|f| f.excluded) != Some(true)
            })
            .map(|d| {
                let f = d.gpu.as_ref();
                let c = Candidate {
                    address: d.address,
                    uuid: f.and_then(|f| f.uuid.clone()),
                };
                (f.and_then(|f| f.kfd_node), c)
            })
            .collect()
    };
    let own = of(Some(vendor));
    if !own.is_empty() {
        return own;
    }
    let all = of(None);
    if !all.is_empty() {
        v.warnings.push(format!(
            "this machine has no {} GPU: {} counts every GPU in PCI order",
            match vendor {
                GpuVendor::Amd => "AMD",
                _ => "NVIDIA",
            },
            v.framework
        ));
    }
    all
}

/// The GPUs `framework` would list under `env`.
pub fn visible(m: &Machine, framework: Framework, env: &GpuEnv) -> Visible {
    match framework {
        Framework::Cuda => cuda(m, env),
        Framework::Rocm => rocm(m, env),
    }
}

fn empty(framework: Framework, base: BaseOrder) -> Visible {
    Visible {
        framework,
        base,
        devices: Vec::new(),
        filters: Vec::new(),
        notes: Vec::new(),
        warnings: Vec::new(),
    }
}

fn cuda(m: &Machine, env: &GpuEnv) -> Visible {
    let order = env.cuda_device_order.as_deref().map(str::trim);
    let base = if order == Some("PCI_BUS_ID") {
        BaseOrder::PciBusId
    } else {
        BaseOrder::PciForFastestFirst
    };
    let mut v = empty(Framework::Cuda, base);
    if let Some(o) = order.filter(|o| !["PCI_BUS_ID", "FASTEST_FIRST", ""].contains(o)) {
        v.notes.push(format!(
            "CUDA_DEVICE_ORDER={o} is neither PCI_BUS_ID nor FASTEST_FIRST; CUDA's default is FASTEST_FIRST"
        ));
    }
    let list: Vec<Candidate> = candidates(m, GpuVendor::Nvidia, &mut v)
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    let by_index = match &env.cuda_visible_devices {
        None => {
            v.devices = list.iter().map(|c| gpu(c.address, None)).collect();
            true
        }
        Some(s) => {
            v.filters.push(format!("CUDA_VISIBLE_DEVICES={s}"));
            cuda_filter(&list, s, &mut v)
        }
    };
    if by_index && base == BaseOrder::PciForFastestFirst && list.len() > 1 {
        v.warnings.push(
            "CUDA_DEVICE_ORDER is not PCI_BUS_ID: CUDA numbers GPUs fastest first, which only the CUDA driver knows; numakit used PCI bus order (the same when the GPUs are identical); set CUDA_DEVICE_ORDER=PCI_BUS_ID to be sure".into(),
        );
    }
    v
}

fn gpu(address: PciAddress, entry: Option<&str>) -> VisibleGpu {
    VisibleGpu::Gpu {
        address,
        entry: entry.map(str::to_string),
    }
}

/// What one `CUDA_VISIBLE_DEVICES` entry names.
enum CudaEntry {
    Gpu(PciAddress),
    Unresolved(String),
    Invalid(String),
}

/// Applies `CUDA_VISIBLE_DEVICES`; returns whether an index (which depends
/// on the base order) was used.
fn cuda_filter(list: &[Candidate], s: &str, v: &mut Visible) -> bool {
    let mut by_index = false;
    if s.is_empty() {
        v.notes
            .push("CUDA_VISIBLE_DEVICES is empty: CUDA sees no GPU".into());
        return false;
    }
    for raw in s.split(',') {
        let e = raw.trim();
        if e.len() != raw.len() {
            v.notes.push(format!(
                "CUDA_VISIBLE_DEVICES entry '{raw}' has spaces, which numakit ignores (CUDA does not document them)"
            ));
        }
        by_index |= !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit());
        let got = cuda_entry(list, e);
        if let CudaEntry::Gpu(a) = &got
            && v.devices
                .iter()
                .any(|d| matches!(d, VisibleGpu::Gpu { address, .. } if address == a))
        {
            v.notes.push(format!(
                "CUDA_VISIBLE_DEVICES names {a} twice; numakit ends the list there (CUDA does not document repeats)"
            ));
            break;
        }
        match got {
            CudaEntry::Gpu(a) => v.devices.push(gpu(a, Some(e))),
            CudaEntry::Unresolved(why) => v.devices.push(VisibleGpu::Unresolved {
                entry: e.to_string(),
                why,
            }),
            CudaEntry::Invalid(why) => {
                v.notes.push(format!(
                    "CUDA_VISIBLE_DEVICES entry '{e}' {why}: CUDA ignores it and every entry after it"
                ));
                break;
            }
        }
    }
    by_index
}

fn cuda_entry(list: &[Candidate], e: &str) -> CudaEntry {
    if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) {
        return match e.parse::<usize>().ok().and_then(|i| list.get(i)) {
            Some(c) => CudaEntry::Gpu(c.address),
            None => CudaEntry::Invalid(format!("is not an index below {}", list.len())),
        };
    }
    if let Some(rest) = e.strip_prefix("MIG-") {
        let Some(parent) = rest
            .strip_prefix("GPU-")
            .map(|p| p.split('/').next().unwrap_or(p))
        else {
            return CudaEntry::Unresolved(
                "which GPU holds a MIG device named by its own UUID is known only to NVML, which numakit does not load; name the GPU (its GPU- UUID or MIG-GPU-UUID/GI/CI) instead".into(),
            );
        };
        return by_uuid(list, &format!("GPU-{parent}"));
    }
    if e.starts_with("GPU-") {
        return by_uuid(list, e);
    }
    CudaEntry::Invalid("is neither an index nor a GPU- or MIG- UUID".into())
}

/// The GPU whose UUID starts with `prefix` (CUDA accepts unique prefixes).
fn by_uuid(list: &[Candidate], prefix: &str) -> CudaEntry {
    if list.iter().all(|c| c.uuid.is_none()) {
        return CudaEntry::Unresolved(
            "no GPU UUID is readable here (the NVIDIA driver's /proc/driver/nvidia/gpus/*/information)".into(),
        );
    }
    let hits: Vec<&Candidate> = list
        .iter()
        .filter(|c| c.uuid.as_deref().is_some_and(|u| u.starts_with(prefix)))
        .collect();
    match hits.as_slice() {
        [one] => CudaEntry::Gpu(one.address),
        [] => CudaEntry::Invalid("matches no GPU's UUID".into()),
        _ => CudaEntry::Invalid(format!("matches {} GPUs' UUIDs", hits.len())),
    }
}

fn rocm(m: &Machine, env: &GpuEnv) -> Visible {
    let mut v = empty(Framework::Rocm, BaseOrder::KfdNodes);
    let mut found = candidates(m, GpuVendor::Amd, &mut v);
    let list: Vec<Candidate> = if found.iter().all(|(k, _)| k.is_some()) && !found.is_empty() {
        found.sort_by_key(|(k, _)| *k);
        found.into_iter().map(|(_, c)| c).collect()
    } else {
        if !found.is_empty() {
            v.base = BaseOrder::PciForKfd;
            v.notes.push(
                "no KFD topology lists these GPUs (/sys/class/kfd/kfd/topology): ROCm's order is taken to be PCI order".into(),
            );
        }
        found.into_iter().map(|(_, c)| c).collect()
    };
    let mut list = match &env.rocr_visible_devices {
        Some(s) => {
            v.filters.push(format!("ROCR_VISIBLE_DEVICES={s}"));
            rvd_filter(&list, s, &mut v)
        }
        None => list,
    };
    let hip = [
        ("HIP_VISIBLE_DEVICES", &env.hip_visible_devices),
        ("CUDA_VISIBLE_DEVICES", &env.cuda_visible_devices),
    ]
    .into_iter()
    .find_map(|(n, s)| s.as_deref().filter(|s| !s.is_empty()).map(|s| (n, s)));
    if let Some((name, s)) = hip {
        v.filters.push(format!("{name}={s}"));
        list = hip_filter(&list, name, s, &mut v);
    }
    v.devices = list.iter().map(|c| gpu(c.address, None)).collect();
    v
}

/// ROCr's `ROCR_VISIBLE_DEVICES` (see the module documentation).
fn rvd_filter(list: &[Candidate], s: &str, v: &mut Visible) -> Vec<Candidate> {
    if s.is_empty() {
        v.notes
            .push("ROCR_VISIBLE_DEVICES is empty: ROCm sees no GPU".into());
        return Vec::new();
    }
    // getline() yields no token after a trailing comma
    let mut tokens: Vec<&str> = s.split(',').collect();
    if s.ends_with(',') {
        tokens.pop();
    }
    let uuids: Vec<String> = list
        .iter()
        .map(|c| c.uuid.as_deref().unwrap_or("Invalid-UUID").to_uppercase())
        .collect();
    let mut out: Vec<Candidate> = Vec::new();
    let mut seen: Vec<usize> = Vec::new();
    for raw in tokens.iter().take(list.len()) {
        let t = raw.trim().to_uppercase();
        let idx = if t.starts_with('G') {
            rvd_uuid(&uuids, &t)
        } else {
            strtol0(&t).and_then(|i| usize::try_from(i).ok())
        };
        match idx.filter(|i| *i < list.len() && !seen.contains(i)) {
            Some(i) => {
                seen.push(i);
                out.push(list[i].clone());
            }
            None => {
                v.notes.push(format!(
                    "ROCR_VISIBLE_DEVICES token '{}' is not a valid, new GPU: ROCm ignores it and every token after it",
                    raw.trim()
                ));
                break;
            }
        }
    }
    out
}

/// The one GPU whose upper-case UUID starts with `t` (5 to 20 characters).
fn rvd_uuid(uuids: &[String], t: &str) -> Option<usize> {
    if !(5..=20).contains(&t.len()) {
        return None;
    }
    let mut hits = uuids.iter().enumerate().filter(|(_, u)| u.starts_with(t));
    let (i, _) = hits.next()?;
    hits.next().is_none().then_some(i)
}

/// C's `strtol(s, &end, 0)` over the whole of `s`: an optional sign, then
/// `0x` hex, `0` octal or decimal. `None` unless every character is used.
/// An empty string is `None` (ROCr would fail on it).
pub fn strtol0(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(h) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, h)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let n = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -n } else { n })
}

/// HIP's `HIP_VISIBLE_DEVICES`/`CUDA_VISIBLE_DEVICES` over ROCr's list.
fn hip_filter(list: &[Candidate], name: &str, s: &str, v: &mut Visible) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    let mut seen: Vec<usize> = Vec::new();
    let mut tokens: Vec<&str> = s.split(',').collect();
    if s.ends_with(',') {
        tokens.pop();
    }
    for t in tokens {
        let mut id = t.to_string();
        if t.contains("GPU-")
            && let Some(i) = list
                .iter()
                .position(|c| c.uuid.as_deref().unwrap_or("GPU-XX").contains(t))
        {
            id = i.to_string();
        }
        match id
            .parse::<usize>()
            .ok()
            .filter(|i| *i < list.len() && i.to_string() == id)
        {
            Some(i) if seen.contains(&i) => {}
            Some(i) => {
                seen.push(i);
                out.push(list[i].clone());
            }
            None => {
                v.notes.push(format!(
                    "{name} entry '{t}' is not a GPU of ROCr's list: HIP ignores it and every entry after it"
                ));
                break;
            }
        }
    }
    out
}

/// The list a framework's driver itself reported (`ids`: PCI bus ids in its
/// order, as `cuDeviceGetPCIBusId` writes them), which already has every
/// variable of `env` applied.
pub fn from_driver(framework: Framework, env: &GpuEnv, ids: &[String]) -> Visible {
    let mut v = empty(framework, BaseOrder::Driver);
    let vars = [
        ("CUDA_VISIBLE_DEVICES", &env.cuda_visible_devices),
        ("CUDA_DEVICE_ORDER", &env.cuda_device_order),
    ];
    v.filters = vars
        .iter()
        .filter_map(|(n, val)| val.as_ref().map(|x| format!("{n}={x}")))
        .collect();
    v.devices = ids
        .iter()
        .map(|id| match id.parse::<PciAddress>() {
            Ok(address) => gpu(address, None),
            Err(_) => VisibleGpu::Unresolved {
                entry: id.clone(),
                why: "the driver's PCI bus id is not an address".into(),
            },
        })
        .collect();
    v
}
