//! NUMA nodes: states, CPUs, memory, hugepages, distances, HMAT, tiers, and
//! the width of the kernel's node masks.

use std::collections::BTreeMap;

use numakit_root::Root;
use numakit_types::{CpuSet, MAX_NODES, NodeId, NodeSet};
use serde::Serialize;

use crate::util::{
    meminfo_value, numbered_below, numbered_entries, read_cpulist, read_cpumask, read_nodelist,
};
use crate::{Cpu, SystemMemory};

const NODE_DIR: &str = "/sys/devices/system/node";

/// The kernel's node state masks (`/sys/devices/system/node/<state>`);
/// `None` when the file is missing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeStates {
    /// Nodes that could ever be brought online.
    pub possible: Option<NodeSet>,
    /// Online nodes.
    pub online: Option<NodeSet>,
    /// Nodes with CPUs.
    pub has_cpu: Option<NodeSet>,
    /// Nodes with memory (any zone).
    pub has_memory: Option<NodeSet>,
    /// Nodes with normal (non-highmem, non-movable) memory.
    pub has_normal_memory: Option<NodeSet>,
    /// Nodes that hold a generic initiator (an accelerator in the SRAT).
    pub has_generic_initiator: Option<NodeSet>,
}

/// One hugepage pool of a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HugePagePool {
    /// Page size in bytes.
    pub size_bytes: u64,
    /// Pages in the pool (`nr_hugepages`).
    pub total: Option<u64>,
    /// Free pages.
    pub free: Option<u64>,
    /// Surplus pages.
    pub surplus: Option<u64>,
}

/// HMAT access attributes from a node's `accessN/initiators/`: how fast the
/// best initiators (class 0: any initiator, class 1: CPUs only) reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessClass {
    /// The access class number (the `N` in `accessN`).
    pub class: u32,
    /// The initiator nodes of this class.
    pub initiators: NodeSet,
    /// Read latency in nanoseconds.
    pub read_latency_ns: Option<u64>,
    /// Write latency in nanoseconds.
    pub write_latency_ns: Option<u64>,
    /// Read bandwidth in MB/s.
    pub read_bandwidth_mbps: Option<u64>,
    /// Write bandwidth in MB/s.
    pub write_bandwidth_mbps: Option<u64>,
}

/// A memory-side cache in front of a node's memory (`memory_side_cache/indexN`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemorySideCache {
    /// Cache level.
    pub level: u32,
    /// Size in bytes.
    pub size_bytes: Option<u64>,
    /// Line size in bytes.
    pub line_size: Option<u64>,
    /// 0 direct-mapped... as the kernel numbers it.
    pub indexing: Option<u64>,
    /// Write policy as the kernel numbers it.
    pub write_policy: Option<u64>,
}

/// What a node holds, derived from its CPUs, memory and state masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    /// CPUs and memory.
    CpuAndMemory,
    /// Memory without CPUs: CXL, HBM, PMEM, or device memory.
    MemoryOnly,
    /// CPUs without memory.
    CpuOnly,
    /// A generic initiator (accelerator) node.
    GenericInitiator,
    /// Neither CPUs nor memory are known.
    Empty,
}

/// One NUMA node.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// The kernel's node number.
    pub id: NodeId,
    /// Whether the node is online; `None` when the `online` mask is missing.
    pub online: Option<bool>,
    /// What the node holds.
    pub kind: NodeKind,
    /// CPUs of this node (from `cpulist`, else `cpumap`); empty if none or unknown.
    pub cpus: CpuSet,
    /// MemTotal of the node in bytes.
    pub memory_total_bytes: Option<u64>,
    /// MemFree of the node in bytes.
    pub memory_free_bytes: Option<u64>,
    /// Every line of the node's `meminfo`: kB values in bytes, counts as counts.
    pub meminfo: BTreeMap<String, u64>,
    /// Hugepage pools by size.
    pub hugepages: Vec<HugePagePool>,
    /// SLIT distances to every node of [`crate::Machine::nodes`], in that order;
    /// `None` where unknown.
    pub distances: Vec<Option<u32>>,
    /// The memory tier this node is in (the `N` of `memory_tierN`).
    pub memory_tier: Option<u32>,
    /// HMAT access attributes.
    pub access: Vec<AccessClass>,
    /// Memory-side caches.
    pub memory_side_caches: Vec<MemorySideCache>,
    /// Made up because sysfs has no `node/` folder (a kernel without NUMA).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub synthetic: bool,
    /// The files as the kernel wrote them, for tools that must print exactly
    /// what libnuma would (`numactl --hardware`).
    #[serde(skip)]
    pub raw: NodeRaw,
}

/// A node's files as written, before interpretation.
#[derive(Debug, Clone, Default)]
pub struct NodeRaw {
    /// The numbers of the `distance` file, in order (`None` for a garbage token).
    pub distance_row: Vec<Option<u32>>,
    /// The `cpumap` mask, if it could be read and parsed.
    pub cpumap: Option<CpuSet>,
}

/// A memory tier: nodes of similar performance (lower abstract distance is faster).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryTier {
    /// The tier id (`memory_tierN`), which is its abstract distance band.
    pub id: u32,
    /// Nodes in the tier.
    pub nodes: NodeSet,
}

pub(crate) fn read_states(root: &Root) -> NodeStates {
    let r = |f: &str| read_nodelist(root, &format!("{NODE_DIR}/{f}"));
    NodeStates {
        possible: r("possible"),
        online: r("online"),
        has_cpu: r("has_cpu"),
        has_memory: r("has_memory"),
        has_normal_memory: r("has_normal_memory"),
        has_generic_initiator: r("has_generic_initiator"),
    }
}

pub(crate) fn read_nodes(root: &Root, states: &NodeStates, details: bool) -> Vec<Node> {
    // no node beyond the kernel's limit or those it could ever bring up
    let dirs: Vec<(u32, String)> = numbered_below(root, NODE_DIR, "node", MAX_NODES)
        .into_iter()
        .filter(|(i, _)| {
            // an empty `possible` is garbage: the kernel always has a node
            states
                .possible
                .as_ref()
                .is_none_or(|p| p.is_empty() || p.contains_raw(*i))
        })
        .collect();
    let ids: Vec<NodeId> = dirs.iter().map(|(i, _)| NodeId(*i)).collect();
    // A node's `distance` lists distances to the online nodes, in order.
    let columns: Vec<NodeId> = match &states.online {
        Some(online) => online.iter().collect(),
        None => ids.clone(),
    };
    let mut nodes: Vec<Node> = dirs
        .iter()
        .map(|(id, name)| {
            let base = format!("{NODE_DIR}/{name}");
            let id = NodeId(*id);
            let cpumap = read_cpumask(root, &format!("{base}/cpumap"));
            let cpus = read_cpulist(root, &format!("{base}/cpulist"))
                .or_else(|| cpumap.clone())
                .unwrap_or_default();
            let meminfo = read_node_meminfo(root, &format!("{base}/meminfo"));
            let raw_dist: Vec<Option<u32>> = root
                .read_trim(&format!("{base}/distance"))
                .map(|s| {
                    s.split_whitespace()
                        .map(|t| t.parse::<u32>().ok())
                        .collect()
                })
                .unwrap_or_default();
            let by_id: BTreeMap<NodeId, Option<u32>> = columns
                .iter()
                .copied()
                .zip(raw_dist.iter().copied())
                .collect();
            let distances = ids
                .iter()
                .map(|to| by_id.get(to).copied().flatten())
                .collect();
            let online = states.online.as_ref().map(|o| o.contains(id));
            let has_mem = meminfo.get("MemTotal").map(|&t| t > 0);
            let kind = node_kind(states, id, &cpus, has_mem);
            Node {
                id,
                online,
                kind,
                cpus,
                memory_total_bytes: meminfo.get("MemTotal").copied(),
                memory_free_bytes: meminfo.get("MemFree").copied(),
                meminfo,
                hugepages: if details {
                    read_hugepages(root, &format!("{base}/hugepages"))
                } else {
                    Vec::new()
                },
                distances,
                memory_tier: None,
                access: if details {
                    read_access(root, &base)
                } else {
                    Vec::new()
                },
                memory_side_caches: if details {
                    read_side_caches(root, &base)
                } else {
                    Vec::new()
                },
                synthetic: false,
                raw: NodeRaw {
                    distance_row: raw_dist,
                    cpumap,
                },
            }
        })
        .collect();
    nodes.sort_by_key(|n| n.id);
    nodes
}

fn node_kind(states: &NodeStates, id: NodeId, cpus: &CpuSet, has_mem: Option<bool>) -> NodeKind {
    let gi = states
        .has_generic_initiator
        .as_ref()
        .is_some_and(|g| g.contains(id));
    let has_cpu = !cpus.is_empty() || states.has_cpu.as_ref().is_some_and(|s| s.contains(id));
    let has_mem = match (&states.has_memory, has_mem) {
        (Some(s), _) => s.contains(id),
        (None, Some(m)) => m,
        (None, None) => false,
    };
    match (gi, has_cpu, has_mem) {
        (true, false, _) => NodeKind::GenericInitiator,
        (_, true, true) => NodeKind::CpuAndMemory,
        (_, true, false) => NodeKind::CpuOnly,
        (_, false, true) => NodeKind::MemoryOnly,
        (_, false, false) => NodeKind::Empty,
    }
}

/// Parses `Node 0 MemTotal:  8388608 kB` lines.
pub fn parse_node_meminfo(text: &str) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        // snapshot tools may leave NUL bytes after the last newline
        let Some((k, v)) = line.trim_matches('\0').split_once(':') else {
            continue;
        };
        // "Node 0 MemTotal" -> "MemTotal"
        let key = k.split_whitespace().last().unwrap_or("");
        if key.is_empty() {
            continue;
        }
        if let Some(v) = meminfo_value(v) {
            m.insert(key.to_string(), v);
        }
    }
    m
}

fn read_node_meminfo(root: &Root, path: &str) -> BTreeMap<String, u64> {
    root.read_to_string(path)
        .map(|t| parse_node_meminfo(&t))
        .unwrap_or_default()
}

pub(crate) fn read_hugepages(root: &Root, dir: &str) -> Vec<HugePagePool> {
    let mut v: Vec<HugePagePool> = root
        .read_dir(dir)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|name| {
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            let p = format!("{dir}/{name}");
            Some(HugePagePool {
                size_bytes: kb * 1024,
                total: root.read_u64(&format!("{p}/nr_hugepages")),
                free: root.read_u64(&format!("{p}/free_hugepages")),
                surplus: root.read_u64(&format!("{p}/surplus_hugepages")),
            })
        })
        .collect();
    v.sort_by_key(|p| p.size_bytes);
    v
}

/// The access classes the kernel defines (`access0`: any initiator,
/// `access1`: CPUs only); probed by name, since a node folder also lists
/// hundreds of `memoryN` blocks.
const ACCESS_CLASSES: u32 = 4;

fn read_access(root: &Root, base: &str) -> Vec<AccessClass> {
    (0..ACCESS_CLASSES)
        .filter(|c| root.is_dir(&format!("{base}/access{c}/initiators")))
        .map(|class| {
            let d = format!("{base}/access{class}/initiators");
            let initiators = numbered_below(root, &d, "node", MAX_NODES)
                .into_iter()
                .map(|(i, _)| NodeId(i))
                .collect();
            AccessClass {
                class,
                initiators,
                read_latency_ns: root.read_u64(&format!("{d}/read_latency")),
                write_latency_ns: root.read_u64(&format!("{d}/write_latency")),
                read_bandwidth_mbps: root.read_u64(&format!("{d}/read_bandwidth")),
                write_bandwidth_mbps: root.read_u64(&format!("{d}/write_bandwidth")),
            }
        })
        .collect()
}

fn read_side_caches(root: &Root, base: &str) -> Vec<MemorySideCache> {
    let d = format!("{base}/memory_side_cache");
    numbered_entries(root, &d, "index")
        .into_iter()
        .map(|(level, name)| {
            let p = format!("{d}/{name}");
            MemorySideCache {
                level,
                size_bytes: root.read_u64(&format!("{p}/size")),
                line_size: root.read_u64(&format!("{p}/line_size")),
                indexing: root.read_u64(&format!("{p}/indexing")),
                write_policy: root.read_u64(&format!("{p}/write_policy")),
            }
        })
        .collect()
}

pub(crate) fn read_system_memory(root: &Root) -> SystemMemory {
    let m = root
        .read_to_string("/proc/meminfo")
        .map(|t| parse_node_meminfo(&t))
        .unwrap_or_default();
    SystemMemory {
        total_bytes: m.get("MemTotal").copied(),
        free_bytes: m.get("MemFree").copied(),
        available_bytes: m.get("MemAvailable").copied(),
    }
}

/// Without `node/` in sysfs (a kernel without NUMA), everything is node 0.
pub(crate) fn synthetic_node(root: &Root, cpus: &[Cpu], mem: &SystemMemory) -> Node {
    let cpuset: CpuSet = if cpus.is_empty() {
        read_cpulist(root, "/sys/devices/system/cpu/online").unwrap_or_default()
    } else {
        cpus.iter().map(|c| c.id).collect()
    };
    let meminfo = root
        .read_to_string("/proc/meminfo")
        .map(|t| parse_node_meminfo(&t))
        .unwrap_or_default();
    Node {
        id: NodeId(0),
        online: Some(true),
        kind: if mem.total_bytes.is_some() {
            NodeKind::CpuAndMemory
        } else {
            NodeKind::Empty
        },
        cpus: cpuset,
        memory_total_bytes: mem.total_bytes,
        memory_free_bytes: mem.free_bytes,
        meminfo,
        hugepages: read_hugepages(root, "/sys/kernel/mm/hugepages"),
        distances: vec![Some(10)],
        memory_tier: None,
        access: Vec::new(),
        memory_side_caches: Vec::new(),
        synthetic: true,
        raw: NodeRaw::default(),
    }
}

pub(crate) fn read_tiers(root: &Root) -> Vec<MemoryTier> {
    let d = "/sys/devices/virtual/memory_tiering";
    numbered_entries(root, d, "memory_tier")
        .into_iter()
        .filter_map(|(id, name)| {
            Some(MemoryTier {
                id,
                nodes: read_nodelist(root, &format!("{d}/{name}/nodelist"))?,
            })
        })
        .collect()
}

pub(crate) fn assign_tiers(nodes: &mut [Node], tiers: &[MemoryTier]) {
    for n in nodes {
        n.memory_tier = tiers.iter().find(|t| t.nodes.contains(n.id)).map(|t| t.id);
    }
}

/// The width in bits of the kernel's node masks, measured as libnuma
/// measures it: from the length of the `Mems_allowed` line of
/// `/proc/self/status`, at nine characters (eight hex digits and a comma)
/// per 32 bits. `None` when the file or the line is missing.
///
/// # Example
/// ```
/// # let dir = std::env::temp_dir().join(format!("numakit-maskbits-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(dir.join("proc/self")).unwrap();
/// std::fs::write(dir.join("proc/self/status"), "Mems_allowed:\t00000000,00000003\n").unwrap();
/// let root = numakit_root::Root::open(&dir).unwrap();
/// assert_eq!(numakit_topo::node::node_mask_bits(&root), Some(64));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[doc(alias = "numa_num_possible_nodes")]
pub fn node_mask_bits(root: &Root) -> Option<u32> {
    let status = root.read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Mems_allowed:\t"))
        .map(|v| (v.len() as u32 + 1) * 32 / 9)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn meminfo_lines() {
        let m = parse_node_meminfo(
            "Node 0 MemTotal:       8388608 kB\nNode 0 HugePages_Total:     4\ngarbage\nNode 0 X: nope\n",
        );
        assert_eq!(m.get("MemTotal"), Some(&(8388608 * 1024)));
        assert_eq!(m.get("HugePages_Total"), Some(&4));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn mask_bits_from_mems_allowed() {
        let dir = std::env::temp_dir().join(format!("numakit-maskbits-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("proc/self")).unwrap();
        let root = Root::open(&dir).unwrap();
        let bits = |status: &str| {
            std::fs::write(dir.join("proc/self/status"), status).unwrap();
            node_mask_bits(&root)
        };
        assert_eq!(bits("Name:\tx\nMems_allowed:\t00000001\n"), Some(32));
        let long = vec!["00000000"; 32].join(",");
        assert_eq!(bits(&format!("Mems_allowed:\t{long}\n")), Some(1024));
        // the list form is a different line
        assert_eq!(bits("Mems_allowed_list:\t0-1\n"), None);
        assert_eq!(bits("Mems_allowed:\t\n"), Some(3));
        assert_eq!(bits("Mems_allowed: 1\n"), None);
        std::fs::remove_file(dir.join("proc/self/status")).unwrap();
        assert_eq!(node_mask_bits(&root), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
