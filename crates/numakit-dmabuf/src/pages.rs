//! Where a mapped buffer's pages physically are: page frames from
//! `/proc/self/pagemap`, their nodes from the memory blocks each node owns
//! in sysfs (`/sys/devices/system/node/nodeN/memoryM`), and a fingerprint
//! of the frame list, so that two processes can show they map the same
//! physical pages.

use std::collections::BTreeMap;

use numakit_root::Root;
use numakit_sys::pagemap::pagemap_self;
use numakit_types::NodeId;
use serde::Serialize;

use crate::buffer::MappedDmaBuf;
use crate::error::{Error, Result};

/// Which node owns each memory block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeMap {
    block_bytes: u64,
    blocks: BTreeMap<u64, NodeId>,
}

impl NodeMap {
    /// Reads the memory block size and each node's blocks; `None` when
    /// sysfs does not have them (no memory hotplug support).
    pub fn read(root: &Root) -> Option<NodeMap> {
        let hex = root.read_trim("/sys/devices/system/memory/block_size_bytes")?;
        let block_bytes = u64::from_str_radix(hex.trim_start_matches("0x"), 16).ok()?;
        let mut blocks = BTreeMap::new();
        for dir in root.read_dir("/sys/devices/system/node").ok()? {
            let Some(n) = dir.strip_prefix("node").and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let entries = root
                .read_dir(&format!("/sys/devices/system/node/{dir}"))
                .unwrap_or_default();
            for e in entries {
                if let Some(b) = e.strip_prefix("memory").and_then(|b| b.parse::<u64>().ok()) {
                    blocks.insert(b, NodeId(n));
                }
            }
        }
        (block_bytes > 0 && !blocks.is_empty()).then_some(NodeMap {
            block_bytes,
            blocks,
        })
    }

    /// The node of a page frame.
    pub fn node_of_pfn(&self, pfn: u64, page: u64) -> Option<NodeId> {
        let block = pfn.checked_mul(page)? / self.block_bytes;
        self.blocks.get(&block).copied()
    }
}

/// The physical pages behind a mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Frames {
    /// Pages of the mapping.
    pub pages: u64,
    /// Pages in memory whose frame the kernel showed.
    pub known: u64,
    /// Pages in memory whose frame is hidden (no `CAP_SYS_ADMIN`).
    pub hidden: u64,
    /// Pages not in memory.
    pub not_present: u64,
    /// Known frames per node.
    pub by_node: BTreeMap<u32, u64>,
    /// Known frames on no node of the map (or no map).
    pub unknown_node: u64,
    /// The first page's frame.
    pub first_pfn: Option<u64>,
    /// FNV-1a over the frame list, in page order (0 when a frame is not
    /// known): equal fingerprints mean the same physical pages.
    pub fingerprint: Option<String>,
    /// Why no frame is shown, when none is.
    pub note: Option<String>,
}

/// Free memory per node (`MemFree` of `/sys/devices/system/node/nodeN/meminfo`),
/// in bytes: what an allocation took from each node shows as the
/// difference of two readings (approximate on a busy machine).
pub fn node_free(root: &Root) -> BTreeMap<u32, u64> {
    let mut out = BTreeMap::new();
    for dir in root
        .read_dir("/sys/devices/system/node")
        .unwrap_or_default()
    {
        let Some(n) = dir.strip_prefix("node").and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(text) = root.read_to_string(&format!("/sys/devices/system/node/{dir}/meminfo"))
        else {
            continue;
        };
        let kib = text.lines().find_map(|l| {
            let (_, rest) = l.split_once("MemFree:")?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        });
        if let Some(k) = kib {
            out.insert(n, k * 1024);
        }
    }
    out
}

/// `after - before` per node, in bytes (negative: memory was taken).
pub fn free_change(before: &BTreeMap<u32, u64>, after: &BTreeMap<u32, u64>) -> BTreeMap<u32, i64> {
    after
        .iter()
        .filter_map(|(n, a)| before.get(n).map(|b| (*n, *a as i64 - *b as i64)))
        .collect()
}

/// The frames of a mapped buffer. Each page is read once first (inside a
/// read access), so that mappings that fault their pages in lazily show
/// them.
pub fn frames(buf: &MappedDmaBuf, nodes: Option<&NodeMap>) -> Result<Frames> {
    let page = numakit_sys::mm::page_size();
    {
        let r = buf.read()?;
        let mut b = [0u8; 1];
        for off in (0..buf.len()).step_by(page) {
            r.read(off, &mut b)
                .map_err(|_| Error::Invalid("page outside the mapping".into()))?;
        }
    }
    let n = buf.len() / page;
    let entries =
        pagemap_self(buf.addr(), n).map_err(|e| Error::os("reading /proc/self/pagemap", e))?;
    let mut f = Frames {
        pages: n as u64,
        ..Frames::default()
    };
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for e in &entries {
        match e.pfn() {
            Some(pfn) => {
                f.known += 1;
                f.first_pfn.get_or_insert(pfn);
                hash = (hash ^ pfn).wrapping_mul(0x0100_0000_01b3);
                match nodes.and_then(|m| m.node_of_pfn(pfn, page as u64)) {
                    Some(node) => *f.by_node.entry(node.get()).or_default() += 1,
                    None => f.unknown_node += 1,
                }
            }
            None if e.present() => f.hidden += 1,
            None => f.not_present += 1,
        }
    }
    if f.known == f.pages {
        f.fingerprint = Some(format!("{hash:016x}"));
    }
    if f.known == 0 && f.hidden == 0 && f.not_present == f.pages {
        // Every page was just read, yet none shows: the exporter mapped raw
        // page frames (VM_PFNMAP), which the pagemap walk skips.
        f.not_present = 0;
        f.note = Some(
            "not shown: the exporter maps raw page frames (VM_PFNMAP), which /proc/self/pagemap skips"
                .into(),
        );
    }
    Ok(f)
}

/// `node 0: 3 pages, node 1: 5 pages, 2 not in memory`.
pub fn describe_counts(by_node: &BTreeMap<u32, u64>, not_present: u64) -> String {
    let mut parts: Vec<String> = by_node
        .iter()
        .map(|(n, c)| format!("node {n}: {c} pages"))
        .collect();
    if not_present > 0 {
        parts.push(format!("{not_present} not in memory"));
    }
    if parts.is_empty() {
        "no pages".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pfn_to_node() {
        let m = NodeMap {
            block_bytes: 128 << 20,
            blocks: [(0, NodeId(0)), (7, NodeId(0)), (8, NodeId(1))].into(),
        };
        assert_eq!(m.node_of_pfn(0, 4096), Some(NodeId(0)));
        assert_eq!(
            m.node_of_pfn((8 * (128 << 20)) / 4096, 4096),
            Some(NodeId(1))
        );
        assert_eq!(m.node_of_pfn(9 * (128 << 20) / 4096, 4096), None);
        assert_eq!(m.node_of_pfn(u64::MAX, 4096), None);
    }

    #[test]
    fn counts_in_words() {
        let by: BTreeMap<u32, u64> = [(0, 3), (1, 5)].into();
        assert_eq!(
            describe_counts(&by, 2),
            "node 0: 3 pages, node 1: 5 pages, 2 not in memory"
        );
        assert_eq!(describe_counts(&BTreeMap::new(), 0), "no pages");
    }
}
