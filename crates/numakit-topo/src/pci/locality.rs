//! Which NUMA node a PCI device belongs to, when its own `numa_node` does not
//! say; and which NUMA node holds a coherent GPU's memory.

use std::collections::BTreeMap;

use numakit_root::Root;
use numakit_types::{CpuSet, NodeId, PciAddress};

use super::{NodeSource, PciDevice, Raw};
use crate::Node;
use crate::util::read_cpulist;

/// The node whose CPUs hold `local`, when `local` is a strict non-empty subset
/// of the machine's CPUs and lies within exactly one node.
pub(crate) fn node_from_cpus(local: &CpuSet, nodes: &[Node]) -> Option<NodeId> {
    let all = nodes.iter().fold(CpuSet::new(), |a, n| a.union(&n.cpus));
    if local.is_empty() || !local.is_subset(&all) || local.len() == all.len() {
        return None;
    }
    let mut hits = nodes
        .iter()
        .filter(|n| !n.cpus.is_empty() && local.is_subset(&n.cpus));
    let first = hits.next()?;
    hits.next().is_none().then_some(first.id)
}

/// Sets `numa_node` and `numa_node_source` of every device (rules in the
/// `pci` module documentation).
pub(crate) fn assign_nodes(root: &Root, devs: &mut [PciDevice], raw: &[Raw], nodes: &[Node]) {
    // Pass 1: what each device says about itself.
    for (d, r) in devs.iter_mut().zip(raw) {
        let own = match r.numa_node {
            Some(n) if n >= 0 => u32::try_from(n)
                .ok()
                .map(|n| (NodeId(n), NodeSource::Sysfs)),
            _ => None,
        };
        let from_cpus = || {
            d.local_cpus
                .as_ref()
                .and_then(|c| node_from_cpus(c, nodes))
                .map(|n| (n, NodeSource::Inferred))
        };
        let single = || (nodes.len() == 1).then(|| (nodes[0].id, NodeSource::Inferred));
        if let Some((n, s)) = own.or_else(from_cpus).or_else(single) {
            d.numa_node = Some(n);
            d.numa_node_source = s;
        }
    }
    // Pass 2: the nearest upstream bridge that knows, then the host bridge.
    let known: BTreeMap<PciAddress, NodeId> = devs
        .iter()
        .filter_map(|d| Some((d.address, d.numa_node?)))
        .collect();
    let mut host_cache: BTreeMap<String, Option<NodeId>> = BTreeMap::new();
    for (d, r) in devs.iter_mut().zip(raw) {
        if d.numa_node.is_some() {
            continue;
        }
        let from_bridge = d.upstream.iter().find_map(|b| known.get(b).copied());
        let from_host = || {
            let dir = r.host_dir.as_deref()?;
            *host_cache
                .entry(dir.to_string())
                .or_insert_with(|| host_bridge_node(root, dir, nodes))
        };
        if let Some(n) = from_bridge.or_else(from_host) {
            d.numa_node = Some(n);
            d.numa_node_source = NodeSource::Inferred;
        }
    }
}

/// The node of a host bridge, from its root bus's `cpulistaffinity`.
fn host_bridge_node(root: &Root, dir: &str, nodes: &[Node]) -> Option<NodeId> {
    let bus = dir.rsplit('/').next()?.strip_prefix("pci")?;
    let cpus = read_cpulist(root, &format!("{dir}/pci_bus/{bus}/cpulistaffinity"))?;
    node_from_cpus(&cpus, nodes)
}

/// GPU address → NUMA node holding its memory, from the NVIDIA driver's
/// `/proc/driver/nvidia/gpus/ADDR/numa_status` (`Node: N`; -1 means none).
pub(crate) fn nvidia_gpu_memory_nodes(root: &Root) -> BTreeMap<PciAddress, NodeId> {
    let base = "/proc/driver/nvidia/gpus";
    root.read_dir(base)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|name| {
            let addr: PciAddress = name.parse().ok()?;
            let text = root
                .read_to_string(&format!("{base}/{name}/numa_status"))
                .ok()?;
            let node = text.lines().find_map(|l| {
                let v = l.trim().strip_prefix("Node:")?.trim();
                v.parse::<u32>().ok()
            })?;
            Some((addr, NodeId(node)))
        })
        .collect()
}
