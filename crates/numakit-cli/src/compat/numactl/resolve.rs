//! Node and CPU specifications read against this machine: the bounds
//! libnuma checks numbers against (the allowed nodes and CPUs, or every one
//! with `--all`), `same`, and numactl's device forms (`netdev:`, `block:`,
//! `file:`, `pci:`), translated into [`DeviceSpec`]s for
//! [`numakit_topo::locate`] to find.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use numakit_placement::DeviceSpec;
use numakit_root::Root;
use numakit_topo::Machine;
use numakit_topo::locate::block_device_of_file;
use numakit_types::{CpuSet, NodeSet, PciAddress};

use super::fail::Fail;
use super::options::Seen;
use super::{PARTS, PARTS_WITH_PCI, Session, spec};
use crate::output::sanitize;

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
        // device names need the PCI devices, which nothing else reads
        let root = &self.root;
        let m = s
            .contains(&b':')
            .then(|| self.machine.get(root, PARTS_WITH_PCI));
        let mut resolve = |rest: &[u8]| device_nodes(root, m?, rest);
        spec::parse(&s, spec::Kind::Node, &bounds, &mut resolve)
            .map(NodeSet::from_raw)
            .map_err(|e| Fail::Invalid {
                spec: arg.to_string_lossy().into_owned(),
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
                spec: arg.to_string_lossy().into_owned(),
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

/// The node of a device specification (`netdev:`, `pci:`, `block:`,
/// `file:`, `ip:`), or the warning numactl prints for it; `None` when
/// `rest` is not one.
fn device_nodes(root: &Root, m: &Machine, rest: &[u8]) -> Option<Result<BTreeSet<u32>, String>> {
    let text = String::from_utf8_lossy(rest).into_owned();
    let (kind, what) = text.split_once(':')?;
    let spec = match device_spec(root, kind, what.trim_start())? {
        Ok(s) => s,
        Err(e) => return Some(Err(format!("numactl: {}\n", sanitize(&e)))),
    };
    Some(
        spec.resolve(m, Some(root))
            .map(|d| BTreeSet::from([d.node.0]))
            .map_err(|e| format!("numactl: {text}: {}\n", sanitize(&e.to_string()))),
    )
}

/// numactl's device forms as [`DeviceSpec`]s: `netdev:IF` a network
/// interface, `block:DEV` a block device, `pci:[seg:]bus:dev[.func]` a PCI
/// function, `file:PATH` the block device holding the file. `ip:` is not
/// supported. `None` for any other prefix.
fn device_spec(root: &Root, kind: &str, what: &str) -> Option<Result<DeviceSpec, String>> {
    Some(match kind {
        "netdev" => Ok(DeviceSpec::Net(what.to_string())),
        "block" => Ok(DeviceSpec::Block(what.to_string())),
        "pci" => PciAddress::parse_libnuma(what)
            .map(DeviceSpec::Pci)
            .ok_or_else(|| {
                format!("cannot read PCI device '{what}': expected [seg:]bus:dev[.func] in hex")
            }),
        "file" => block_device_of_file(root, Path::new(what))
            .map(DeviceSpec::Block)
            .map_err(|e| e.to_string()),
        "ip" => Err(format!(
            "ip:{what}: node specifications by IP address are not supported by numakit yet"
        )),
        _ => return None,
    })
}
