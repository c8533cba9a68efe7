//! The system checks of `numakit doctor`, one function each.

use numakit_stat::system::SystemStat;
use numakit_topo::pci::{DeviceKind, NodeSource};
use numakit_topo::{Machine, PciDevice};
use numakit_types::CpuSet;

use crate::{Finding, Severity};

/// A process that restricts itself to some CPUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    /// The process.
    pub pid: i32,
    /// Its name.
    pub name: String,
    /// Its allowed CPUs.
    pub cpus: CpuSet,
}

/// What the checks read besides the machine.
#[derive(Debug, Clone, Default)]
pub struct Inputs<'a> {
    /// The stat readers' system view.
    pub system: Option<&'a SystemStat>,
    /// Processes pinned to fewer CPUs than the machine has.
    pub pinned: &'a [Pinned],
}

/// Nodes with memory.
fn memory_nodes(m: &Machine) -> usize {
    m.nodes
        .iter()
        .filter(|n| n.memory_total_bytes.is_some_and(|b| b > 0))
        .count()
}

fn endpoint(d: &PciDevice) -> bool {
    matches!(
        d.kind,
        DeviceKind::Gpu | DeviceKind::Nic | DeviceKind::Nvme | DeviceKind::Accelerator
    )
}

/// Devices whose firmware gives no NUMA node on a multi-node machine.
pub fn device_without_node(m: &Machine) -> Vec<Finding> {
    if m.nodes.len() < 2 {
        return Vec::new();
    }
    m.pci_devices
        .iter()
        .filter(|d| endpoint(d) && d.numa_node_source != NodeSource::Sysfs)
        .map(|d| {
            let inferred = match d.numa_node {
                Some(n) => format!("numakit infers node {} from its bridges and local CPUs", n.get()),
                None => "numakit cannot infer one".into(),
            };
            Finding::new(
                "device-without-node",
                Severity::Warning,
                format!("{} {} has no NUMA node from the firmware (numa_node is -1); {inferred}", d.kind.as_str(), d.address),
            )
            .evidence(format!("/sys/bus/pci/devices/{}/numa_node: -1", d.address))
            .fix("enable the ACPI SRAT/_PXM proximity setting in the BIOS (often 'NUMA' or 'SNC'), or place work with 'numakit run --near' which uses the inferred node")
        })
        .collect()
}

/// GPUs and NICs whose local CPUs are all outside the allowed cpuset.
pub fn device_cpus_outside_cpuset(m: &Machine) -> Vec<Finding> {
    let Some(allowed) = &m.allowed.cpus else {
        return Vec::new();
    };
    m.pci_devices
        .iter()
        .filter(|d| matches!(d.kind, DeviceKind::Gpu | DeviceKind::Nic))
        .filter_map(|d| {
            let local = d.local_cpus.as_ref()?;
            (!local.is_empty() && !local.intersects(allowed)).then(|| {
                Finding::new(
                    "device-cpus-outside-cpuset",
                    Severity::Warning,
                    format!("{} {} is local to CPUs {local}, none of which this cpuset allows ({allowed})", d.kind.as_str(), d.address),
                )
                .fix("add the device's CPUs to the cgroup's cpuset.cpus (e.g. the container's cpuset), or use a device local to the allowed CPUs")
            })
        })
        .collect()
}

/// PCIe links running below their capability.
pub fn pcie_link_degraded(m: &Machine) -> Vec<Finding> {
    m.pci_devices
        .iter()
        .filter(|d| endpoint(d) && d.link.degraded)
        .map(|d| {
            let l = &d.link;
            let w = |x: Option<u32>| x.map_or("x?".to_string(), |w| format!("x{w}"));
            let s = |x: &Option<String>| x.clone().unwrap_or_else(|| "unknown speed".into());
            Finding::new(
                "pcie-link-degraded",
                Severity::Warning,
                format!(
                    "{} {} runs at {} {}, below its capability of {} {}",
                    d.kind.as_str(),
                    d.address,
                    w(l.current_width),
                    s(&l.current_speed),
                    w(l.max_width),
                    s(&l.max_speed)
                ),
            )
            .fix("reseat the card in a slot wired for its full width, check the riser and the BIOS PCIe generation setting")
        })
        .collect()
}

/// GPUs whose BAR does not cover their memory.
pub fn resizable_bar_off(m: &Machine) -> Vec<Finding> {
    m.pci_devices
        .iter()
        .filter(|d| d.kind == DeviceKind::Gpu && d.resizable_bar == Some(false))
        .map(|d| {
            let bar = d
                .largest_bar()
                .map(|b| crate::human(b.size_bytes))
                .unwrap_or_else(|| "unknown".into());
            let mut f = Finding::new(
                "resizable-bar-off",
                Severity::Warning,
                format!(
                    "GPU {} exposes a {bar} BAR, smaller than it could (Resizable BAR is off)",
                    d.address
                ),
            );
            if let Some(v) = d.vram_bytes {
                f = f.evidence(format!("device memory {}", crate::human(v)));
            }
            f.fix("enable 'Above 4G decoding' and 'Resizable BAR' in the BIOS")
        })
        .collect()
}

/// The IOMMU mode and what it means for VFIO and DMA cost.
pub fn iommu_mode(m: &Machine) -> Vec<Finding> {
    let types: Vec<&str> = m
        .iommu
        .groups
        .iter()
        .filter_map(|g| g.domain_type.as_deref())
        .collect();
    let (sev, msg, fix) = match m.iommu.active {
        Some(false) => (
            Severity::Warning,
            "the IOMMU is off: devices can DMA anywhere in memory and VFIO cannot assign them safely".to_string(),
            Some("boot with intel_iommu=on (or amd_iommu=on) to use VFIO; add iommu=pt to keep host DMA fast"),
        ),
        Some(true) if types.contains(&"identity") => (
            Severity::Info,
            "the IOMMU is in passthrough for host devices: host DMA costs nothing extra, VFIO still translates for guests".into(),
            None,
        ),
        Some(true) if types.contains(&"DMA") => (
            Severity::Info,
            "the IOMMU translates in strict mode: every DMA unmap flushes the IOTLB, which costs on fast NICs and NVMe".into(),
            Some("iommu.strict=0 (lazy) or iommu=pt when host devices need not be isolated"),
        ),
        Some(true) if types.contains(&"DMA-FQ") => (
            Severity::Info,
            "the IOMMU translates in lazy mode (flush queues): isolation with batched IOTLB flushes".into(),
            None,
        ),
        _ => return Vec::new(),
    };
    let mut f = Finding::new("iommu-mode", sev, msg);
    if !types.is_empty() {
        let mut t = types.clone();
        t.sort_unstable();
        t.dedup();
        f = f.evidence(format!("IOMMU group domain types: {}", t.join(", ")));
    }
    vec![match fix {
        Some(x) => f.fix(x),
        None => f,
    }]
}

/// Memory policy modes the kernel lacks (a loud finding: numakit refuses
/// them rather than fall back silently).
pub fn kernel_mempolicy(m: &Machine) -> Vec<Finding> {
    let Some(release) = &m.kernel.release else {
        return Vec::new();
    };
    if numakit_placement::parse_version(release).is_none() {
        return Vec::new();
    }
    let k = numakit_placement::KernelSupport::from_release(release);
    let mut v = Vec::new();
    for (ok, what, needs) in [
        (
            k.preferred_many,
            "MPOL_PREFERRED_MANY (--preferred-many)",
            "5.15",
        ),
        (
            k.weighted_interleave,
            "weighted interleave (--weighted-interleave)",
            "6.9",
        ),
    ] {
        if !ok {
            v.push(
                Finding::new(
                    "kernel-lacks-mempolicy",
                    Severity::Warning,
                    format!("this kernel ({release}) has no {what}: placements asking for it fail instead of falling back"),
                )
                .fix(format!("use Linux {needs} or later")),
            );
        }
    }
    v
}

/// Memory tiers, demotion and transparent huge pages.
pub fn tiers_and_thp(m: &Machine) -> Vec<Finding> {
    let mut v = Vec::new();
    let mem_nodes = memory_nodes(m);
    if !m.memory_tiers.is_empty() && mem_nodes > 1 {
        let used: Vec<_> = m
            .memory_tiers
            .iter()
            .filter(|t| !t.nodes.is_empty())
            .collect();
        if used.len() == 1 {
            v.push(
                Finding::new(
                    "single-memory-tier",
                    Severity::Info,
                    format!("all {mem_nodes} memory nodes are in memory tier {}: demotion can never happen", used[0].id),
                )
                .evidence(format!("memory_tier{}: nodes {}", used[0].id, used[0].nodes)),
            );
        } else if used.len() > 1 && m.knobs.demotion_enabled == Some(false) {
            v.push(
                Finding::new(
                    "demotion-disabled",
                    Severity::Warning,
                    format!("{} memory tiers but demotion is off: cold pages stay on the fast tier until reclaim swaps them", used.len()),
                )
                .fix("echo 1 > /sys/kernel/mm/numa/demotion_enabled"),
            );
        }
    }
    if m.knobs.thp_enabled.as_deref() == Some("never") {
        v.push(
            Finding::new(
                "thp-never",
                Severity::Info,
                "transparent huge pages are off: large working sets pay a TLB miss per 4 KiB",
            )
            .fix("echo madvise > /sys/kernel/mm/transparent_hugepage/enabled"),
        );
    }
    v
}

/// Nodes that own GPUs without any huge pages reserved.
pub fn gpu_nodes_without_hugepages(m: &Machine, sys: Option<&SystemStat>) -> Vec<Finding> {
    let Some(sys) = sys else { return Vec::new() };
    let mut nodes: Vec<u32> = m
        .pci_devices
        .iter()
        .filter(|d| d.kind == DeviceKind::Gpu)
        .filter_map(|d| d.numa_node.map(|n| n.get()))
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    nodes
        .into_iter()
        .filter_map(|n| {
            let ns = sys.node(n)?;
            if ns.hugepages.is_empty() || ns.hugepages.iter().any(|p| p.total.unwrap_or(0) > 0) {
                return None;
            }
            Some(
                Finding::new(
                    "no-hugepages-on-gpu-node",
                    Severity::Info,
                    format!("node {n} owns GPUs but has no huge pages reserved: pinned host buffers for them use 4 KiB pages"),
                )
                .fix(format!("echo 1024 > /sys/devices/system/node/node{n}/hugepages/hugepages-2048kB/nr_hugepages")),
            )
        })
        .collect()
}

/// AutoNUMA on while processes pin themselves.
pub fn autonuma_with_pinned(m: &Machine, pinned: &[Pinned]) -> Vec<Finding> {
    let Some(mode) = m.knobs.numa_balancing.filter(|v| v & 1 == 1) else {
        return Vec::new();
    };
    if pinned.is_empty() || m.nodes.len() < 2 {
        return Vec::new();
    }
    let names: Vec<String> = pinned
        .iter()
        .take(5)
        .map(|p| format!("{} ({}, CPUs {})", p.pid, p.name, p.cpus))
        .collect();
    vec![
        Finding::new(
            "autonuma-with-pinned",
            Severity::Warning,
            format!(
                "AutoNUMA is on (kernel.numa_balancing={mode}) while {} processes pin themselves to some CPUs",
                pinned.len()
            ),
        )
        .evidence(format!("pinned: {}{}", names.join(", "), if pinned.len() > 5 { ", ..." } else { "" }))
        .fix("if the pinned processes also bind their memory, AutoNUMA only adds hint faults for them: turning it off (sysctl kernel.numa_balancing=0) helps them; it costs the unpinned processes that move between nodes, which AutoNUMA follows"),
    ]
}

/// Every check, in a stable order.
pub fn doctor(m: &Machine, inputs: &Inputs) -> Vec<Finding> {
    let mut v = device_without_node(m);
    v.extend(device_cpus_outside_cpuset(m));
    v.extend(pcie_link_degraded(m));
    v.extend(resizable_bar_off(m));
    v.extend(iommu_mode(m));
    v.extend(kernel_mempolicy(m));
    v.extend(tiers_and_thp(m));
    v.extend(gpu_nodes_without_hugepages(m, inputs.system));
    v.extend(autonuma_with_pinned(m, inputs.pinned));
    v
}
