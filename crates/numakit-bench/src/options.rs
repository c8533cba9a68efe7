//! What every benchmark takes ([`Options`]) and how it is checked against
//! the machine before anything is allocated: which nodes initiate (run the
//! measuring threads) and which are targets (hold the buffers), how many
//! threads, how large the buffers, and whether they fit.

use numakit_placement::{Policy, check_nodes, check_policy};
use numakit_topo::Machine;
use numakit_types::{ByteSize, CpuId, CpuSet, NodeId, NodeSet};

use crate::{Error, Result};

/// Huge pages for the buffers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HugeChoice {
    /// 2 MiB hugetlb pages when the target node's pool has enough free,
    /// else transparent huge pages unless they are off, else base pages.
    #[default]
    Auto,
    /// Transparent huge pages (`madvise(MADV_HUGEPAGE)`).
    Transparent,
    /// 2 MiB hugetlb pages; refused when a pool is too small.
    Hugetlb,
    /// Base pages only (`MADV_NOHUGEPAGE`).
    None,
}

impl HugeChoice {
    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            HugeChoice::Auto => "auto",
            HugeChoice::Transparent => "thp",
            HugeChoice::Hugetlb => "hugetlb",
            HugeChoice::None => "none",
        }
    }
}

/// What every benchmark takes. `None` means the benchmark's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The nodes to measure (default: every node this process may use).
    /// Nodes with usable CPUs initiate; nodes with memory are targets.
    pub nodes: Option<NodeSet>,
    /// Initiator nodes, overriding `nodes` for that role; each must have
    /// CPUs this process may use.
    pub initiators: Option<NodeSet>,
    /// Target nodes, overriding `nodes` for that role; each must have memory.
    pub targets: Option<NodeSet>,
    /// Buffer size in bytes (what it sizes depends on the benchmark).
    pub size: Option<u64>,
    /// Threads per initiator.
    pub threads: Option<usize>,
    /// Timed repetitions per figure (after one untimed warm-up).
    pub repeat: Option<u32>,
    /// Huge pages.
    pub huge: HugeChoice,
}

/// An initiator: a node and the CPUs of it this process may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Initiator {
    /// The node.
    pub node: NodeId,
    /// Its usable CPUs, in order.
    pub cpus: Vec<CpuId>,
}

/// The nodes a benchmark runs on, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Initiators in node order.
    pub initiators: Vec<Initiator>,
    /// Targets in node order.
    pub targets: Vec<NodeId>,
}

/// The CPUs of `node` this process may use.
pub fn usable_cpus(machine: &Machine, node: NodeId) -> Vec<CpuId> {
    let Some(n) = machine.node(node) else {
        return Vec::new();
    };
    let cpus = match &machine.allowed.cpus {
        Some(a) => n.cpus.intersection(a),
        None => n.cpus.clone(),
    };
    cpus.iter().collect()
}

fn has_memory(machine: &Machine, node: NodeId) -> bool {
    let allowed = machine
        .allowed
        .mems
        .as_ref()
        .is_none_or(|a| a.contains(node));
    let mem = machine
        .node(node)
        .is_some_and(|n| n.memory_total_bytes != Some(0));
    allowed && mem
}

/// Checks the node options against the machine: every node named must
/// exist; explicit initiators must have usable CPUs, explicit targets
/// memory this process may use. From `nodes` (default: the allowed memory
/// nodes, else every node) the nodes with CPUs initiate and those with
/// memory are targets, so a CPU-less node is only ever a target.
pub fn select(machine: &Machine, o: &Options) -> Result<Selection> {
    let all = match &o.nodes {
        Some(n) => {
            if n.is_empty() {
                return Err(numakit_placement::Error::EmptyNodes {
                    what: "the benchmark".into(),
                }
                .into());
            }
            check_nodes(n, machine)?;
            n.clone()
        }
        None => machine
            .allowed
            .mems
            .clone()
            .map(|a| a.intersection(&machine.node_ids()))
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| machine.node_ids()),
    };
    let initiators = match &o.initiators {
        Some(set) => {
            check_nodes(set, machine)?;
            let mut v = Vec::new();
            for node in set.iter() {
                let cpus = usable_cpus(machine, node);
                if cpus.is_empty() {
                    return Err(Error::NoCpus { node });
                }
                v.push(Initiator { node, cpus });
            }
            v
        }
        None => all
            .iter()
            .map(|node| Initiator {
                node,
                cpus: usable_cpus(machine, node),
            })
            .filter(|i| !i.cpus.is_empty())
            .collect(),
    };
    if initiators.is_empty() {
        return Err(Error::NoInitiators { nodes: all });
    }
    let targets: Vec<NodeId> = match &o.targets {
        Some(set) => {
            if set.is_empty() {
                return Err(numakit_placement::Error::EmptyNodes {
                    what: "the targets".into(),
                }
                .into());
            }
            // the same checks as binding memory there: exists, online,
            // has memory, inside the cpuset's memory nodes
            check_policy(&Policy::bind(set.clone()), machine, &kernel_any())?;
            set.iter().collect()
        }
        None => all.iter().filter(|n| has_memory(machine, *n)).collect(),
    };
    if targets.is_empty() {
        return Err(Error::NoTargets { nodes: all });
    }
    Ok(Selection {
        initiators,
        targets,
    })
}

/// A kernel that supports every mode: the mode is not what is checked.
fn kernel_any() -> numakit_placement::KernelSupport {
    numakit_placement::KernelSupport::all("unknown")
}

/// The threads to run on each initiator: `threads`, or every usable CPU
/// of the node; refused when zero or more than a node has CPUs.
pub fn threads_for(sel: &Selection, threads: Option<usize>) -> Result<Vec<Vec<CpuId>>> {
    sel.initiators
        .iter()
        .map(|i| match threads {
            Some(0) => Err(Error::Zero { what: "threads" }),
            Some(t) if t > i.cpus.len() => Err(Error::TooManyThreads {
                node: i.node,
                threads: t,
                cpus: i.cpus.iter().copied().collect(),
            }),
            Some(t) => Ok(i.cpus[..t].to_vec()),
            None => Ok(i.cpus.clone()),
        })
        .collect()
}

/// Repetitions: `repeat`, or `default`; refused when zero.
pub fn repeat_or(repeat: Option<u32>, default: u32) -> Result<u32> {
    match repeat {
        Some(0) => Err(Error::Zero { what: "repeat" }),
        Some(r) => Ok(r),
        None => Ok(default),
    }
}

/// The last-level cache seen from a set of CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Llc {
    /// Its level (3 for an L3).
    pub level: u32,
    /// The largest instance, in bytes (what one thread can use).
    pub instance_bytes: u64,
    /// The sum of the instances the CPUs share, in bytes (what all of
    /// them together can use).
    pub total_bytes: u64,
}

/// The last-level cache of `cpus`: the highest level of data or unified
/// cache among the caches those CPUs use. `None` when the machine does
/// not say.
pub fn llc(machine: &Machine, cpus: &CpuSet) -> Option<Llc> {
    let caches: Vec<_> = machine
        .caches
        .iter()
        .filter(|c| c.kind != "Instruction" && c.cpus.intersects(cpus) && c.size_bytes.is_some())
        .collect();
    let level = caches.iter().map(|c| c.level).max()?;
    let sizes: Vec<u64> = caches
        .iter()
        .filter(|c| c.level == level)
        .filter_map(|c| c.size_bytes)
        .collect();
    Some(Llc {
        level,
        instance_bytes: sizes.iter().copied().max()?,
        total_bytes: sizes.iter().sum(),
    })
}

/// Rounds `bytes` up to a multiple of `unit`.
pub fn round_up(bytes: u64, unit: u64) -> u64 {
    bytes.div_ceil(unit).saturating_mul(unit)
}

/// The page kind and the size of each of three triad arrays of about
/// `want` bytes on `targets`: the pages chosen for all three, each array
/// rounded up to whole pages, checked to fit in each target's free memory.
pub fn triad_arrays(
    machine: &Machine,
    huge: HugeChoice,
    targets: &[NodeId],
    want: u64,
) -> Result<(crate::buffer::Pages, u64)> {
    let pages = crate::buffer::choose_pages(machine, huge, targets, want.saturating_mul(3))?;
    let array_bytes = round_up(want.max(64), page_unit(pages));
    check_fits(machine, targets, array_bytes.saturating_mul(3))?;
    Ok((pages, array_bytes))
}

/// The size buffers of `pages` are rounded to.
pub fn page_unit(pages: crate::buffer::Pages) -> u64 {
    if pages == crate::buffer::Pages::Base {
        4096
    } else {
        crate::buffer::HUGE
    }
}

/// Checks that `need` bytes fit in each target's free memory.
pub fn check_fits(machine: &Machine, targets: &[NodeId], need: u64) -> Result<()> {
    for t in targets {
        if let Some(free) = machine.node(*t).and_then(|n| n.memory_free_bytes)
            && need > free
        {
            return Err(Error::TooBig {
                node: *t,
                need: ByteSize(need),
                free: ByteSize(free),
            });
        }
    }
    Ok(())
}

/// A size that is given must not be zero.
pub fn check_size(size: Option<u64>) -> Result<()> {
    if size == Some(0) {
        return Err(Error::ZeroSize);
    }
    Ok(())
}
