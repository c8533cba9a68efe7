//! Node and CPU specifications read against this machine: the bounds
//! libnuma checks numbers against (the allowed nodes and CPUs, or every one
//! with `--all`), `same`, and numactl's device forms (`netdev:`, `block:`,
//! `file:`, `pci:`), resolved as libnuma resolves them (`numakit_topo::libnuma`).

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use numakit_types::{CpuSet, NodeSet};

use super::fail::Fail;
use super::options::Seen;
use super::{PARTS, Session, spec};

/// libnuma's node mask size when `/proc/self/status` does not tell.
const DEFAULT_MASK_BITS: u32 = 1024;

impl Session {
    /// Reads a node specification (`same` is the previous one).
    pub(super) fn node_spec(&mut self, arg: &OsStr) -> Result<NodeSet, Fail> {
        let mut s = arg.as_bytes().to_vec();
        if s == b"same" {
            match &self.opts.last_spec {
                Some(l) => s = l.clone(),
                None => {
                    return Err(Fail::UsageMsg(
                        "same needs previous node specification".into(),
                    ));
                }
            }
        } else {
            self.opts.last_spec = Some(s.clone());
        }
        let bounds = self.node_bounds();
        // numa_num_task_nodes(): one more than the task's highest node
        let m = self.machine.get(&self.root, PARTS);
        let task_nodes = m
            .allowed
            .mems
            .as_ref()
            .and_then(|a| a.last_raw())
            .or_else(|| m.node_ids().last_raw())
            .map_or(1, |n| n as usize + 1);
        let root = &self.root;
        let mut resolve = |rest: &[u8]| numakit_topo::libnuma::resolve(root, task_nodes, rest);
        spec::parse(&s, spec::Kind::Node, &bounds, &mut resolve)
            .map(NodeSet::from_raw)
            .map_err(|e| Fail::Invalid {
                spec: arg.as_bytes().to_vec(),
                warning: e.warning,
            })
    }

    /// Reads a CPU specification.
    pub(super) fn cpu_spec(&mut self, arg: &OsStr) -> Result<CpuSet, Fail> {
        let bounds = self.cpu_bounds();
        let mut none = |_: &[u8]| None;
        spec::parse(arg.as_bytes(), spec::Kind::Cpu, &bounds, &mut none)
            .map(CpuSet::from_raw)
            .map_err(|e| Fail::Invalid {
                spec: arg.as_bytes().to_vec(),
                warning: e.warning,
            })
    }

    /// The bounds of a node specification.
    fn node_bounds(&mut self) -> spec::Bounds {
        let all = self.opts.seen.contains(Seen::ALL);
        let mask_bits = numakit_topo::node::node_mask_bits(&self.root).unwrap_or(DEFAULT_MASK_BITS);
        let m = self.machine.get(&self.root, PARTS);
        let ids: BTreeSet<u32> = m.node_ids().iter_raw().collect();
        let allowed = if all {
            (0..=ids.last().copied().unwrap_or(0)).collect()
        } else {
            match &m.allowed.mems {
                Some(a) => a.iter_raw().collect(),
                None => ids,
            }
        };
        let with_memory = m
            .nodes
            .iter()
            .filter(|n| n.memory_total_bytes.is_some_and(|b| b > 0))
            .count() as u32;
        spec::Bounds {
            allowed,
            mask_bits,
            invert_limit: with_memory,
        }
    }

    /// The bounds of a CPU specification.
    fn cpu_bounds(&mut self) -> spec::Bounds {
        let all = self.opts.seen.contains(Seen::ALL);
        let m = self.machine.get(&self.root, PARTS);
        let max = m.cpus.iter().map(|c| c.id.0).max().unwrap_or(0);
        let configured: BTreeSet<u32> = (0..=max).collect();
        // libnuma checks CPUs against `Cpus_allowed` of /proc/self/status:
        // this thread's affinity, which `taskset` may have narrowed below
        // the cpuset
        let current = m.allowed.affinity.as_ref().or(m.allowed.cpus.as_ref());
        let allowed = match (current, all) {
            (Some(a), false) => a.iter_raw().filter(|c| *c <= max).collect(),
            _ => configured,
        };
        spec::Bounds {
            allowed,
            mask_bits: (max + 1).div_ceil(64).max(1) * 64,
            invert_limit: max + 1,
        }
    }
}
