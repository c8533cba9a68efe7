//! The system view: per node, the numastat counters, every meminfo field,
//! the hugepage pools of every size and the memory tier; system-wide, the
//! NUMA balancing, tiering and migration counters of `/proc/vmstat`.

use numakit_root::Root;
use serde::Serialize;

use crate::counters::{self, Counters};
use crate::meminfo::{self, Meminfo};
use crate::{Error, Result};

/// The sysfs folder of the nodes.
pub const NODE_DIR: &str = "/sys/devices/system/node";

/// One hugepage pool of a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HugePool {
    /// Page size in bytes.
    pub page_size: u64,
    /// `nr_hugepages`.
    pub total: Option<u64>,
    /// `free_hugepages`.
    pub free: Option<u64>,
    /// `surplus_hugepages`.
    pub surplus: Option<u64>,
}

/// One node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStat {
    /// The node number.
    pub node: u32,
    /// The node's `numastat` counters (pages), `None` when unreadable.
    pub numastat: Option<Counters>,
    /// Every field of the node's `meminfo`, `None` when unreadable.
    pub meminfo: Option<Meminfo>,
    /// The node's `vmstat` counters of balancing, tiering and migration.
    pub vmstat: Option<Counters>,
    /// Hugepage pools by size.
    pub hugepages: Vec<HugePool>,
    /// The memory tier (`memory_tierN`).
    pub memory_tier: Option<u32>,
}

/// The whole system at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct SystemStat {
    /// Nodes by number.
    pub nodes: Vec<NodeStat>,
    /// `/proc/vmstat` counters of balancing, tiering and migration.
    pub vmstat: Option<Counters>,
    /// The default huge page size (`Hugepagesize` of `/proc/meminfo`).
    pub default_huge_page_size: Option<u64>,
}

/// The node numbers of the root: every `nodeN` folder, sorted.
pub fn node_ids(root: &Root) -> Result<Vec<u32>> {
    let names = root.read_dir(NODE_DIR).map_err(|_| Error::NoNodes)?;
    let mut ids: Vec<u32> = names
        .iter()
        .filter_map(|n| {
            let d = n.strip_prefix("node")?;
            (!d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                .then(|| d.parse().ok())
                .flatten()
        })
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

/// The pools under a `hugepages` folder, by size.
pub fn read_hugepages(root: &Root, dir: &str) -> Vec<HugePool> {
    let mut v: Vec<HugePool> = root
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
            Some(HugePool {
                page_size: kb.checked_mul(1024)?,
                total: root.read_u64(&format!("{p}/nr_hugepages")),
                free: root.read_u64(&format!("{p}/free_hugepages")),
                surplus: root.read_u64(&format!("{p}/surplus_hugepages")),
            })
        })
        .collect();
    v.sort_by_key(|p| p.page_size);
    v
}

/// The tier of each node, from `/sys/devices/virtual/memory_tiering`.
fn read_tiers(root: &Root) -> Vec<(u32, numakit_types::NodeSet)> {
    let d = "/sys/devices/virtual/memory_tiering";
    root.read_dir(d)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| {
            let id: u32 = n.strip_prefix("memory_tier")?.parse().ok()?;
            let list = root.read_trim(&format!("{d}/{n}/nodelist"))?;
            Some((id, numakit_types::NodeSet::parse_list(&list).ok()?))
        })
        .collect()
}

/// The default huge page size from `/proc/meminfo`.
pub fn default_huge_page_size(root: &Root) -> Option<u64> {
    let m = meminfo::parse(&root.read_to_string("/proc/meminfo").ok()?);
    m.bytes("Hugepagesize")
}

impl SystemStat {
    /// Reads every node. A file that cannot be read leaves its part `None`.
    pub fn read(root: &Root) -> Result<SystemStat> {
        let tiers = read_tiers(root);
        let nodes = node_ids(root)?
            .into_iter()
            .map(|node| {
                let base = format!("{NODE_DIR}/node{node}");
                let read = |f: &str| root.read_to_string(&format!("{base}/{f}")).ok();
                NodeStat {
                    node,
                    numastat: read("numastat").map(|t| counters::parse(&t)),
                    meminfo: read("meminfo").map(|t| meminfo::parse(&t)),
                    vmstat: read("vmstat").map(|t| locality(counters::parse(&t))),
                    hugepages: read_hugepages(root, &format!("{base}/hugepages")),
                    memory_tier: tiers
                        .iter()
                        .find(|(_, s)| s.contains_raw(node))
                        .map(|(t, _)| *t),
                }
            })
            .collect();
        Ok(SystemStat {
            nodes,
            vmstat: root
                .read_to_string("/proc/vmstat")
                .ok()
                .map(|t| locality(counters::parse(&t))),
            default_huge_page_size: default_huge_page_size(root),
        })
    }

    /// The node `node`.
    pub fn node(&self, node: u32) -> Option<&NodeStat> {
        self.nodes.iter().find(|n| n.node == node)
    }
}

fn locality(mut c: Counters) -> Counters {
    c.values.retain(|(k, _)| counters::is_locality_counter(k));
    c
}
