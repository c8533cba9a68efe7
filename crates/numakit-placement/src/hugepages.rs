//! Persistent huge page pools, per NUMA node or system-wide: checked
//! against the machine, written to sysfs, and read back, because the kernel
//! may give fewer pages than asked (fragmented or short memory).
//!
//! A change is one write to one pool. Everything is checked before the
//! write (the root is live, the node exists and is online, it has a pool
//! of that size); after it, the pool is read back. With
//! [`Shortfall::Restore`] a pool the kernel could not fill is set back to
//! what it held, so that no change is left half done.

use numakit_root::Root;
use numakit_topo::Machine;
use numakit_types::NodeId;

use crate::error::{Error, Result};
use crate::plan::{check_nodes, require_live};

/// Which pool: one node's, or the system-wide one (which the kernel
/// spreads over the nodes with memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolTarget {
    /// The node, or `None` for the system-wide pool.
    pub node: Option<NodeId>,
    /// The huge page size in bytes.
    pub size_bytes: u64,
}

impl PoolTarget {
    /// The pool's sysfs directory, e.g.
    /// `/sys/devices/system/node/node1/hugepages/hugepages-2048kB`.
    pub fn dir(&self) -> String {
        let kb = self.size_bytes / 1024;
        match self.node {
            Some(n) => format!("/sys/devices/system/node/node{n}/hugepages/hugepages-{kb}kB"),
            None => format!("/sys/kernel/mm/hugepages/hugepages-{kb}kB"),
        }
    }

    fn place(&self) -> String {
        match self.node {
            Some(n) => format!("node {n}"),
            None => "the system".into(),
        }
    }
}

/// What to do when the kernel gives fewer pages than asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortfall {
    /// Set the pool back to what it held.
    Restore,
    /// Keep what the kernel gave.
    Keep,
}

/// What a change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolChange {
    /// The pool.
    pub target: PoolTarget,
    /// Pages before.
    pub before: u64,
    /// Pages asked for.
    pub asked: u64,
    /// Pages the kernel gave (read back after the write).
    pub given: u64,
    /// Pages now, after any restore.
    pub now: u64,
}

impl PoolChange {
    /// Whether the pool holds what was asked.
    pub fn complete(&self) -> bool {
        self.now == self.asked
    }
}

/// The sizes of the pools at `target`'s place, as the kernel names them.
fn sizes_at(root: &Root, target: &PoolTarget) -> Vec<String> {
    let dir = target.dir();
    let parent = dir.rsplit_once('/').map_or("/", |(p, _)| p);
    let mut v = root.read_dir(parent).unwrap_or_default();
    v.retain(|n| n.starts_with("hugepages-"));
    v.sort();
    v
}

/// Sets the pool at `target` to `count` pages and reads back what the
/// kernel gave. Nothing is written unless every check passes.
pub fn set_pool(
    root: &Root,
    machine: &Machine,
    target: &PoolTarget,
    count: u64,
    shortfall: Shortfall,
) -> Result<PoolChange> {
    require_live(root, "change huge page pools")?;
    if let Some(n) = target.node {
        check_nodes(&std::iter::once(n).collect(), machine)?;
    }
    let dir = target.dir();
    let file = format!("{dir}/nr_hugepages");
    let before = root.read_u64(&file).ok_or_else(|| Error::NoHugePagePool {
        place: target.place(),
        size: format!("{}kB", target.size_bytes / 1024),
        sizes: sizes_at(root, target)
            .iter()
            .map(|s| s.trim_start_matches("hugepages-").to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    write_count(&file, count)?;
    let given = root.read_u64(&file).unwrap_or(0);
    let mut now = given;
    if given != count && shortfall == Shortfall::Restore {
        write_count(&file, before)?;
        now = root.read_u64(&file).unwrap_or(0);
    }
    Ok(PoolChange {
        target: *target,
        before,
        asked: count,
        given,
        now,
    })
}

fn write_count(file: &str, count: u64) -> Result<()> {
    // the root is live (checked): its paths are the system's
    std::fs::write(file, format!("{count}\n")).map_err(|source| Error::HugePageWrite {
        path: file.to_string(),
        count,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_directories() {
        let t = PoolTarget {
            node: Some(NodeId(1)),
            size_bytes: 2 << 20,
        };
        assert_eq!(
            t.dir(),
            "/sys/devices/system/node/node1/hugepages/hugepages-2048kB"
        );
        let g = PoolTarget {
            node: None,
            size_bytes: 1 << 30,
        };
        assert_eq!(g.dir(), "/sys/kernel/mm/hugepages/hugepages-1048576kB");
    }
}
