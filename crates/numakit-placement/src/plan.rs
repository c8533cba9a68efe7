//! Requests and plans: what `numakit run` and `numakit numactl` ask for
//! ([`RunRequest`]), checked against the machine into what will be applied
//! ([`Plan`]), applied to this process and followed by [`exec`].
//!
//! Validation happens entirely before any system call: a request with an
//! unknown, offline or disallowed node, an empty set, a CPU outside the
//! cpuset, a device that does not exist or a mode the kernel lacks gives an
//! [`Error`] and nothing is applied.

use std::ffi::{OsStr, OsString};
use std::fmt;

use numakit_root::Root;
use numakit_topo::Machine;
use numakit_types::{CpuSet, NodeId, NodeSet};

use crate::backend::{Backend, LiveBackend};
use crate::fallback::{Fallback, Step, cpu_ladder, memory_ladder};
use crate::near::NearMemory;
use crate::slice::{Share, cpu_slices};
use crate::{DeviceSpec, Error, KernelSupport, Mode, Policy, PolicyFlags, ResolvedDevice, Result};

/// Where the command's threads may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuBinding {
    /// The CPUs of these nodes (`--cpunodebind`), within the allowed CPUs.
    Nodes(NodeSet),
    /// These CPUs (`--physcpubind`).
    Cpus(CpuSet),
}

impl fmt::Display for CpuBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpuBinding::Nodes(n) => write!(f, "cpunodebind {n}"),
            CpuBinding::Cpus(c) => write!(f, "physcpubind {c}"),
        }
    }
}

/// What a user asked for, not yet checked.
///
/// # Example
/// ```
/// use numakit_placement::{CpuBinding, KernelSupport, Policy, RunRequest};
/// # let dir = std::env::temp_dir().join(format!("numakit-plan-doc-{}", std::process::id()));
/// # let node = dir.join("sys/devices/system/node");
/// # std::fs::create_dir_all(node.join("node0")).unwrap();
/// # std::fs::create_dir_all(node.join("node1")).unwrap();
/// # std::fs::write(node.join("online"), "0-1\n").unwrap();
/// # std::fs::write(node.join("node0/cpulist"), "0-1\n").unwrap();
/// # std::fs::write(node.join("node1/cpulist"), "2-3\n").unwrap();
/// # let root = numakit_root::Root::open(&dir).unwrap();
/// let machine = numakit_topo::Machine::discover(&root);
/// let kernel = KernelSupport::from_release("6.12.9");
/// let mut req = RunRequest::default();
/// req.set_memory(Policy::bind("1".parse().unwrap())).unwrap();
/// req.set_cpus(CpuBinding::Nodes("1".parse().unwrap())).unwrap();
/// let plan = req.validate(&machine, &kernel).unwrap();
/// assert_eq!(plan.cpus.unwrap().to_string(), "2-3");
/// // two policies: refused at once
/// assert!(req.set_memory(Policy::local()).is_err());
/// // a node the machine lacks: refused, nothing applied
/// let bad = RunRequest { memory: Some(Policy::bind("7".parse().unwrap())), ..Default::default() };
/// assert_eq!(bad.validate(&machine, &kernel).unwrap_err().to_string(),
///            "node 7 does not exist: this machine has nodes 0-1");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunRequest {
    /// The memory policy.
    pub memory: Option<Policy>,
    /// The CPU binding.
    pub cpus: Option<CpuBinding>,
    /// Run near this device: its node's CPUs and memory, unless `memory` or
    /// `cpus` say otherwise.
    pub near: Option<DeviceSpec>,
    /// Add `MPOL_F_NUMA_BALANCING` to a bind policy.
    pub balancing: bool,
    /// A home node: checked, then refused with [`Error::HomeNodeNeedsRange`]
    /// (the kernel sets home nodes on ranges, which exec discards; use
    /// [`crate::Placer::set_home_node`] on a range instead).
    pub home_node: Option<NodeId>,
    /// A device already resolved (by [`crate::near::resolve_near`]), used
    /// instead of `near`.
    pub near_device: Option<ResolvedDevice>,
    /// Run on this slice of the CPUs (the near node's, or the binding's):
    /// whole cores, exclusive of the other slices ([`crate::slice`]).
    pub share: Option<Share>,
    /// Where memory goes near a device.
    pub near_memory: NearMemory,
    /// How far a refused binding may step down ([`crate::fallback`]).
    pub fallback: Fallback,
}

/// A near device's nodes: the device, where its CPUs come from, where its
/// memory goes.
struct NearTarget {
    device: ResolvedDevice,
    cpu_node: NodeId,
    mem_node: NodeId,
}

impl RunRequest {
    /// Sets the memory policy; a second one is [`Error::TwoPolicies`].
    pub fn set_memory(&mut self, policy: Policy) -> Result<()> {
        if let Some(first) = &self.memory {
            return Err(Error::TwoPolicies {
                first: first.to_string(),
                second: policy.to_string(),
            });
        }
        self.memory = Some(policy);
        Ok(())
    }

    /// Sets the CPU binding; a second one is [`Error::TwoCpuBindings`].
    pub fn set_cpus(&mut self, cpus: CpuBinding) -> Result<()> {
        if let Some(first) = &self.cpus {
            return Err(Error::TwoCpuBindings {
                first: first.to_string(),
                second: cpus.to_string(),
            });
        }
        self.cpus = Some(cpus);
        Ok(())
    }

    /// Checks the request against the machine, its allowed CPUs and nodes
    /// (`machine.allowed`) and the kernel, and turns it into a [`Plan`].
    /// Devices are looked up in the model only.
    pub fn validate(&self, machine: &Machine, kernel: &KernelSupport) -> Result<Plan> {
        self.validate_with_root(machine, kernel, None)
    }

    /// Like [`validate`](Self::validate), reading more through `root`:
    /// device names the model does not list are followed through sysfs, and
    /// CPUs are checked against the cpuset's CPUs (cgroup
    /// `cpuset.cpus.effective`) rather than `machine.allowed.cpus`, which is
    /// the thread's current affinity: a program started under `taskset` may
    /// still bind to any CPU of its cpuset. When the cpuset cannot be read,
    /// CPUs are checked against the machine only (the kernel intersects the
    /// mask with the cpuset).
    pub fn validate_with_root(
        &self,
        machine: &Machine,
        kernel: &KernelSupport,
        root: Option<&Root>,
    ) -> Result<Plan> {
        let mut notes = Vec::new();
        let mut steps = Vec::new();
        let near = self.near_target(machine, root, &mut notes)?;
        let memory = match self.memory_policy(near.as_ref())? {
            Some(p) => memory_ladder(p, self.fallback, &mut steps, |p| {
                check_policy(p, machine, kernel)
            })?,
            None => None,
        };
        let (cpus, shared) = self.cpu_set(machine, near.as_ref(), &mut steps)?;
        self.check_home_node(memory.as_ref(), kernel)?;
        Ok(Plan {
            memory,
            cpus,
            device: near.map(|n| n.device),
            shared,
            notes,
            steps,
            fallback: self.fallback,
        })
    }

    fn near_target(
        &self,
        m: &Machine,
        root: Option<&Root>,
        notes: &mut Vec<String>,
    ) -> Result<Option<NearTarget>> {
        let device = match (&self.near_device, &self.near) {
            (Some(d), _) => d.clone(),
            (None, Some(spec)) => spec.resolve(m, root)?,
            (None, None) => return Ok(None),
        };
        let cpu_node = crate::near::cpu_node(m, device.node)
            .ok_or(Error::NoCpuNodeNear { node: device.node })?;
        if cpu_node != device.node {
            let d = m
                .distance(device.node, cpu_node)
                .map_or_else(|| "?".to_string(), |d| d.to_string());
            notes.push(format!(
                "node {} has no CPUs: the CPUs are node {cpu_node}'s, the nearest (distance {d})",
                device.node
            ));
        }
        let mem_node = match self.near_memory {
            NearMemory::Node => device.node,
            NearMemory::Gpu => m
                .pci_device(device.address)
                .and_then(|d| d.gpu_memory_node)
                .ok_or_else(|| Error::NoGpuMemoryNode {
                    device: device.address.to_string(),
                })?,
        };
        Ok(Some(NearTarget {
            device,
            cpu_node,
            mem_node,
        }))
    }

    /// The memory policy asked for, else the near device's node; with the
    /// balancing flag when asked.
    fn memory_policy(&self, near: Option<&NearTarget>) -> Result<Option<Policy>> {
        let mut memory = self.memory.clone();
        if memory.is_none()
            && let Some(n) = near
        {
            memory = Some(Policy::on_node(n.mem_node));
        }
        if self.balancing {
            match &mut memory {
                Some(p) => p.flags |= PolicyFlags::NUMA_BALANCING,
                None => {
                    return Err(Error::BadFlag {
                        flag: "--balancing",
                        mode: "no memory policy".into(),
                        why: "it needs a bind policy (--membind)",
                    });
                }
            }
        }
        Ok(memory)
    }

    /// The CPUs to bind to (the binding asked for, else the near node's),
    /// cut to this request's slice; a refusal steps down as the fallback
    /// allows.
    fn cpu_set(
        &self,
        m: &Machine,
        near: Option<&NearTarget>,
        steps: &mut Vec<Step>,
    ) -> Result<(Option<CpuSet>, Option<SharedCpus>)> {
        // the cpuset's CPUs, not the affinity a taskset may have narrowed
        let cpuset = m.allowed.cpus.clone();
        let (label, wanted) = match (&self.cpus, near) {
            (Some(b), _) => (b.to_string(), resolve_cpus_within(b, m, cpuset.as_ref())),
            (None, Some(n)) => (
                format!("CPUs of node {}", n.cpu_node),
                near_cpus(n, m, cpuset.as_ref(), self.share),
            ),
            (None, None) => return Ok((None, None)),
        };
        let pool = match wanted {
            Ok(c) => c,
            Err(e) if self.fallback == Fallback::None && e.is_refusal() => {
                steps.push(Step {
                    refused: label,
                    why: e.to_string(),
                    instead: "running on the CPUs the process has".into(),
                });
                return Ok((None, None));
            }
            Err(e) => return Err(e),
        };
        let Some(share) = self.share else {
            return Ok((Some(pool), None));
        };
        let slices = cpu_slices(m, &pool, share.count)?;
        let mine = slices[share.index as usize % slices.len()].clone();
        Ok((Some(mine), Some(SharedCpus { share, pool })))
    }

    fn check_home_node(&self, memory: Option<&Policy>, kernel: &KernelSupport) -> Result<()> {
        let Some(h) = self.home_node else {
            return Ok(());
        };
        if !kernel.home_node {
            return Err(Error::Unsupported {
                feature: "home node (set_mempolicy_home_node)",
                needs: "5.17",
                kernel: kernel.release.clone(),
            });
        }
        match memory {
            Some(p)
                if matches!(p.mode, Mode::Bind | Mode::PreferredMany) && p.nodes.contains(h) => {}
            _ => return Err(Error::BadHomeNode { node: h }),
        }
        Err(Error::HomeNodeNeedsRange)
    }
}

/// A checked request, ready to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The memory policy to set on the calling thread (inherited by exec).
    pub memory: Option<Policy>,
    /// The CPUs to bind the calling thread to (inherited by exec).
    pub cpus: Option<CpuSet>,
    /// The device `--near` named, resolved.
    pub device: Option<ResolvedDevice>,
    /// The slice `cpus` is, and the CPUs it was cut from.
    pub shared: Option<SharedCpus>,
    /// How the plan was worked out where that is not obvious (CPUs from
    /// another node than the device's).
    pub notes: Vec<String>,
    /// Bindings refused at validation and stepped down.
    pub steps: Vec<Step>,
    /// How far a binding refused when applied may step down.
    pub fallback: Fallback,
}

/// A CPU slice: which, and of what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedCpus {
    /// The slice.
    pub share: Share,
    /// The CPUs cut into slices.
    pub pool: CpuSet,
}

impl Plan {
    /// Applies the plan to the calling thread through `backend`: CPU
    /// affinity first, then the memory policy. Both are inherited by
    /// threads created later and by a program started with [`exec`].
    pub fn apply(&self, backend: &dyn Backend) -> Result<()> {
        if let Some(c) = &self.cpus {
            backend
                .set_affinity(0, c)
                .map_err(|e| Error::from_errno(format!("binding to CPUs {c}"), e, None))?;
        }
        if let Some(p) = &self.memory {
            backend
                .set_mempolicy(p)
                .map_err(|e| Error::from_errno(format!("setting memory policy {p}"), e, None))?;
        }
        Ok(())
    }

    /// Applies the plan to this process (its calling thread) with the real
    /// kernel. Refuses a root that is not the running system.
    pub fn apply_to_current_process(&self, root: &Root) -> Result<()> {
        require_live(root, "apply a placement")?;
        self.apply(&LiveBackend)
    }

    /// Like [`apply`](Self::apply), stepping down as [`Plan::fallback`]
    /// allows when the kernel refuses; returns the steps taken.
    pub fn apply_stepping(&self, backend: &dyn Backend) -> Result<Vec<Step>> {
        let mut steps = Vec::new();
        if let Some(c) = &self.cpus {
            cpu_ladder(c, self.fallback, &mut steps, |c| {
                backend
                    .set_affinity(0, c)
                    .map_err(|e| Error::from_errno(format!("binding to CPUs {c}"), e, None))
            })?;
        }
        if let Some(p) = &self.memory {
            memory_ladder(p.clone(), self.fallback, &mut steps, |p| {
                backend
                    .set_mempolicy(p)
                    .map_err(|e| Error::from_errno(format!("setting memory policy {p}"), e, None))
            })?;
        }
        Ok(steps)
    }

    /// Tries the plan with the real kernel on a thread of its own, which
    /// then ends: whether the kernel would accept it (and the steps it
    /// would take), without changing the calling thread. Refuses a root
    /// that is not the running system.
    pub fn try_on_a_thread(&self, root: &Root) -> Result<Vec<Step>> {
        require_live(root, "try a placement")?;
        let plan = self.clone();
        std::thread::scope(|s| {
            s.spawn(move || plan.apply_stepping(&LiveBackend))
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// One line per thing the plan sets, for `-v`.
    pub fn describe(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(d) = &self.device {
            v.push(format!("near {} ({}): node {}", d.spec, d.address, d.node));
        }
        v.extend(self.notes.iter().cloned());
        if let Some(c) = &self.cpus {
            match &self.shared {
                Some(s) => v.push(format!(
                    "cpus {c} (slice {} of {} of {})",
                    s.share.index, s.share.count, s.pool
                )),
                None => v.push(format!("cpus {c}")),
            }
        }
        if let Some(p) = &self.memory {
            v.push(format!("memory {p}"));
        }
        if v.is_empty() {
            v.push("nothing to change".into());
        }
        v
    }
}

/// Refuses a root that is not the running system for `action` (`apply a
/// placement`) with [`Error::NotLive`]: placing memory or threads means
/// system calls on this machine, which a snapshot cannot stand for.
pub fn require_live(root: &Root, action: &'static str) -> Result<()> {
    if root.is_live() {
        return Ok(());
    }
    Err(Error::NotLive {
        action,
        root: root.label().to_string(),
    })
}

/// Replaces this process with `program` (searched in `PATH` when it has no
/// `/`), with `args`; not through a shell. Returns only on failure, with
/// [`Error::Exec`] whose status is 127 when the program is not found and
/// 126 when it cannot be executed, as shells do, and whose `errno` keeps
/// the kernel's answer for interfaces that word it as the C library does.
pub fn exec(program: &OsStr, args: &[OsString]) -> Error {
    use std::os::unix::process::CommandExt;
    let e = std::process::Command::new(program).args(args).exec();
    let (why, status) = match e.kind() {
        std::io::ErrorKind::NotFound => ("command not found".to_string(), 127),
        std::io::ErrorKind::PermissionDenied => ("permission denied".to_string(), 126),
        _ if e.raw_os_error() == Some(numakit_sys::Errno::ENOEXEC.raw()) => {
            ("not an executable format".to_string(), 126)
        }
        _ => (e.to_string(), 126),
    };
    Error::Exec {
        program: program.to_os_string(),
        why,
        status,
        errno: e.raw_os_error().map(numakit_sys::Errno::from_raw),
    }
}

/// Checks a memory policy against the machine, the allowed memory nodes and
/// the kernel. Nothing is applied.
pub fn check_policy(p: &Policy, machine: &Machine, kernel: &KernelSupport) -> Result<()> {
    kernel.check_mode(p.mode)?;
    let what = crate::mode_name(p.mode);
    match p.mode {
        Mode::Default | Mode::Local => {
            if !p.nodes.is_empty() {
                return Err(Error::BadNodeCount {
                    mode: what.into(),
                    expected: "no nodes",
                    nodes: p.nodes.clone(),
                });
            }
        }
        Mode::Preferred => {
            if p.nodes.len() != 1 {
                if p.nodes.is_empty() {
                    return Err(Error::EmptyNodes { what: what.into() });
                }
                return Err(Error::BadNodeCount {
                    mode: what.into(),
                    expected: "exactly one node (use preferred-many for several)",
                    nodes: p.nodes.clone(),
                });
            }
        }
        _ => {
            if p.nodes.is_empty() {
                return Err(Error::EmptyNodes { what: what.into() });
            }
        }
    }
    if p.flags
        .contains(PolicyFlags::STATIC_NODES | PolicyFlags::RELATIVE_NODES)
    {
        return Err(Error::BadFlag {
            flag: "static nodes",
            mode: "relative nodes".into(),
            why: "a policy's nodes are either static or relative",
        });
    }
    if p.flags.contains(PolicyFlags::NUMA_BALANCING) {
        if p.mode != Mode::Bind {
            return Err(Error::BadFlag {
                flag: "NUMA balancing",
                mode: what.into(),
                why: "it goes with a bind policy only",
            });
        }
        if !kernel.numa_balancing {
            return Err(Error::Unsupported {
                feature: "NUMA balancing flag for bind policies",
                needs: "5.12",
                kernel: kernel.release.clone(),
            });
        }
    }
    if p.flags.contains(PolicyFlags::RELATIVE_NODES) {
        // Relative node numbers index the allowed set: not machine nodes.
        return Ok(());
    }
    check_nodes(&p.nodes, machine)?;
    for n in p.nodes.iter() {
        if machine
            .node(n)
            .is_some_and(|x| x.memory_total_bytes == Some(0))
        {
            return Err(Error::NodeWithoutMemory { node: n });
        }
    }
    if let Some(allowed) = &machine.allowed.mems {
        let outside = p.nodes.difference(allowed);
        if !outside.is_empty() {
            return Err(Error::NodesNotAllowed {
                nodes: outside,
                allowed: allowed.clone(),
            });
        }
    }
    Ok(())
}

/// Checks that every node exists and is online.
pub fn check_nodes(nodes: &NodeSet, machine: &Machine) -> Result<()> {
    let known = machine.node_ids();
    for n in nodes.iter() {
        match machine.node(n) {
            Some(x) if x.online == Some(false) => return Err(Error::OfflineNode { node: n }),
            Some(_) => {}
            None => {
                let possible = machine.node_states.possible.as_ref();
                if possible.is_some_and(|p| p.contains(n)) {
                    return Err(Error::OfflineNode { node: n });
                }
                return Err(Error::UnknownNode {
                    node: n,
                    known: known.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The CPUs a binding means, checked against the machine and the allowed
/// CPUs. Node bindings keep only allowed CPUs; CPU lists must be allowed.
pub fn resolve_cpus(b: &CpuBinding, machine: &Machine) -> Result<CpuSet> {
    resolve_cpus_within(b, machine, machine.allowed.cpus.as_ref())
}

fn resolve_cpus_within(
    b: &CpuBinding,
    machine: &Machine,
    allowed: Option<&CpuSet>,
) -> Result<CpuSet> {
    match b {
        CpuBinding::Nodes(nodes) => {
            if nodes.is_empty() {
                return Err(Error::EmptyNodes {
                    what: "CPU binding".into(),
                });
            }
            check_nodes(nodes, machine)?;
            let mut cpus = machine.cpus_of_nodes(nodes);
            if let Some(a) = allowed {
                cpus = cpus.intersection(a);
            }
            if cpus.is_empty() {
                return Err(Error::NoCpusOnNodes {
                    nodes: nodes.clone(),
                });
            }
            Ok(cpus)
        }
        CpuBinding::Cpus(cpus) => {
            if cpus.is_empty() {
                return Err(Error::EmptyCpus {
                    what: "CPU binding".into(),
                });
            }
            let known = machine_cpus(machine);
            if !known.is_empty()
                && let Some(c) = cpus.difference(&known).first()
            {
                return Err(Error::UnknownCpu {
                    cpu: c.get(),
                    known,
                });
            }
            if let Some(a) = allowed {
                let outside = cpus.difference(a);
                if !outside.is_empty() {
                    return Err(Error::CpusNotAllowed {
                        cpus: outside,
                        allowed: a.clone(),
                    });
                }
            }
            Ok(cpus.clone())
        }
    }
}

/// The CPUs near a device: its `local_cpulist` when that lies within its
/// CPU node (and no `share` is asked for: slices are cut from the whole
/// node, so that ranks on one node agree), else the node's CPUs; within
/// the allowed CPUs.
fn near_cpus(
    n: &NearTarget,
    machine: &Machine,
    allowed: Option<&CpuSet>,
    share: Option<Share>,
) -> Result<CpuSet> {
    let sliced = share.is_some();
    let node_cpus = machine.cpus_of_nodes(&std::iter::once(n.cpu_node).collect());
    let mut cpus = match &n.device.local_cpus {
        Some(l) if !sliced && !l.is_empty() && l.is_subset(&node_cpus) => l.clone(),
        _ => node_cpus,
    };
    if let Some(a) = allowed {
        cpus = cpus.intersection(a);
    }
    if cpus.is_empty() {
        return Err(Error::NoCpusOnNodes {
            nodes: std::iter::once(n.cpu_node).collect(),
        });
    }
    Ok(cpus)
}

/// Every CPU the machine has: its CPU list, or the union of its nodes' CPUs.
fn machine_cpus(m: &Machine) -> CpuSet {
    if m.cpus.is_empty() {
        m.nodes.iter().fold(CpuSet::new(), |a, n| a.union(&n.cpus))
    } else {
        m.cpus.iter().map(|c| c.id).collect()
    }
}
