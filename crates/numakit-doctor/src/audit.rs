//! The placement audit of one process: where its threads run, where its
//! memory is, which devices it uses and on which node each is.

use std::collections::BTreeMap;

use numakit_stat::devices::UsedDevice;
use numakit_stat::process::ProcessStat;
use numakit_topo::Machine;
use numakit_types::NodeSet;

use crate::{Finding, Severity, human};

/// Memory smaller than this makes no memory finding (a process that has
/// barely started).
pub const MIN_BYTES: u64 = 16 << 20;
/// The share of memory away from the threads' nodes that makes a finding.
pub const AWAY_PERCENT: u64 = 50;

/// What the audit looks at, besides the process itself.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    /// The devices it has open.
    pub devices: &'a [UsedDevice],
    /// Pages AutoNUMA migrated for it (`numa_pages_migrated` of
    /// `/proc/PID/sched`), in the last interval when watching, else since
    /// it started.
    pub migrated_pages: Option<u64>,
    /// The base page size.
    pub page_size: u64,
}

/// The nodes whose CPUs hold every CPU of `cpus` (the nodes a process is
/// bound to), or `None` when it may use every node's CPUs.
fn bound_nodes(m: &Machine, p: &ProcessStat) -> Option<NodeSet> {
    let cpus = p.cpus_allowed.as_ref()?;
    let nodes: NodeSet = m
        .nodes
        .iter()
        .filter(|n| n.cpus.intersects(cpus))
        .map(|n| n.id)
        .collect();
    let with_cpus = m.nodes.iter().filter(|n| !n.cpus.is_empty()).count();
    (nodes.len() < with_cpus).then_some(nodes)
}

fn list(s: &NodeSet) -> String {
    let v: Vec<String> = s.iter_raw().map(|n| n.to_string()).collect();
    match v.len() {
        1 => format!("node {}", v[0]),
        _ => format!("nodes {}", s),
    }
}

fn memory_away(p: &ProcessStat, m: &Machine) -> Option<Finding> {
    let total = p.total();
    let bytes: u64 = total.values().sum();
    let thread_nodes: NodeSet = p
        .threads
        .iter()
        .filter_map(|t| t.node)
        .map(Into::into)
        .collect();
    if bytes < MIN_BYTES || thread_nodes.is_empty() || m.nodes.len() < 2 {
        return None;
    }
    let away: u64 = total
        .iter()
        .filter(|(n, _)| !thread_nodes.contains_raw(**n))
        .map(|(_, b)| b)
        .sum();
    if away * 100 < bytes * AWAY_PERCENT {
        return None;
    }
    let (top, top_bytes) = total.iter().max_by_key(|(_, b)| **b)?;
    let mut per: BTreeMap<u32, usize> = BTreeMap::new();
    for t in &p.threads {
        if let Some(n) = t.node {
            *per.entry(n).or_default() += 1;
        }
    }
    let runs: Vec<String> = per
        .iter()
        .map(|(n, c)| format!("{c} on node {n}"))
        .collect();
    Some(
        Finding::new(
            "memory-away-from-threads",
            Severity::Warning,
            format!(
                "{}% of this process's {} is on node {top} but its {} threads run on {}",
                top_bytes * 100 / bytes,
                human(bytes),
                p.threads.len(),
                list(&thread_nodes)
            ),
        )
        .evidence(format!("memory per node: {}", by_node(&total)))
        .evidence(format!("threads: {}", runs.join(", ")))
        .fix(format!(
            "run it on the node of its memory (numakit run --cpunodebind {top} --membind {top} -- CMD), or move its pages: numakit migrate {} --from {top} --to {}",
            p.pid,
            thread_nodes.iter_raw().next().unwrap_or(0)
        )),
    )
}

fn by_node(t: &BTreeMap<u32, u64>) -> String {
    t.iter()
        .map(|(n, b)| format!("node {n} {}", human(*b)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn devices_elsewhere(p: &ProcessStat, m: &Machine, ctx: &Context) -> Vec<Finding> {
    let bound = bound_nodes(m, p);
    let thread_nodes: NodeSet = p
        .threads
        .iter()
        .filter_map(|t| t.node)
        .map(Into::into)
        .collect();
    let (nodes, how) = match &bound {
        Some(b) => (b.clone(), "is bound to"),
        None if !thread_nodes.is_empty() => (thread_nodes, "its threads run on"),
        None => return Vec::new(),
    };
    let mut out = Vec::new();
    for d in ctx.devices {
        for a in &d.pci {
            let Some(dev) = m.pci_device(*a) else {
                continue;
            };
            let Some(node) = dev.numa_node else { continue };
            if nodes.contains(node) || m.nodes.len() < 2 {
                continue;
            }
            out.push(
                Finding::new(
                    "device-on-other-node",
                    Severity::Warning,
                    format!(
                        "it uses {} {a} (node {}) but {how} {}",
                        dev.kind.as_str(),
                        node.get(),
                        list(&nodes)
                    ),
                )
                .evidence(format!("open: {}", d.name))
                .fix(format!(
                    "run it on the device's node: numakit run --near {a} -- CMD"
                )),
            );
        }
    }
    out
}

fn autonuma_pinned(p: &ProcessStat, m: &Machine, ctx: &Context) -> Option<Finding> {
    let on = m.knobs.numa_balancing.is_some_and(|v| v & 1 == 1);
    let bound = bound_nodes(m, p)?;
    let migrated = ctx.migrated_pages.filter(|n| *n > 0)?;
    on.then(|| {
        Finding::new(
            "autonuma-moves-pinned",
            Severity::Warning,
            format!(
                "AutoNUMA migrated {} of this process, which is pinned to {}",
                human(migrated.saturating_mul(ctx.page_size)),
                list(&bound)
            ),
        )
        .evidence(format!("numa_pages_migrated {migrated}, kernel.numa_balancing {}", m.knobs.numa_balancing.unwrap_or(0)))
        .fix("bind its memory too (numakit run --membind), or turn AutoNUMA off for pinned workloads: sysctl kernel.numa_balancing=0")
    })
}

/// The findings for process `p` on machine `m`.
pub fn audit(p: &ProcessStat, m: &Machine, ctx: &Context) -> Vec<Finding> {
    let mut v: Vec<Finding> = memory_away(p, m).into_iter().collect();
    v.extend(devices_elsewhere(p, m, ctx));
    v.extend(autonuma_pinned(p, m, ctx));
    v
}
