//! libnuma's calls for the calling thread (and, for CPU affinity, for any
//! process): membind, preferred, preferred-many, interleave and local
//! allocation set and read back; running on nodes; affinity by pid; what
//! this thread may use; where it runs.
//!
//! Linux keeps memory policies per thread: a policy set here is the calling
//! thread's, inherited by the threads it creates afterwards and by programs
//! it `exec`s (set it before starting threads to cover a whole process).

use numakit_sys::mempolicy::{self, GetMempolicyFlags};
use numakit_types::{CpuId, CpuSet, NodeId, NodeSet};

use crate::backend::Backend;
use crate::{CpuBinding, DeviceSpec, Error, Mode, Placer, Policy, PolicyFlags, Result};

/// Where the calling thread runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuLocation {
    /// Its CPU (the last it ran on: it may move at any time).
    pub cpu: CpuId,
    /// That CPU's node.
    pub node: NodeId,
}

impl<B: Backend> Placer<B> {
    /// Allocates only from `nodes` (`MPOL_BIND`) from now on.
    #[doc(alias = "numa_set_membind")]
    pub fn set_membind(&self, nodes: &NodeSet) -> Result<()> {
        self.set_thread_policy(&Policy::bind(nodes.clone()))
    }

    /// [`set_membind`](Self::set_membind) with automatic NUMA balancing
    /// allowed to move pages within `nodes` (Linux 5.12).
    #[doc(alias = "numa_set_membind_balancing")]
    pub fn set_membind_balancing(&self, nodes: &NodeSet) -> Result<()> {
        let p = Policy::bind(nodes.clone()).with_flags(PolicyFlags::NUMA_BALANCING);
        self.set_thread_policy(&p)
    }

    /// The nodes the calling thread allocates from: those of its bind
    /// policy, else every node it may use.
    #[doc(alias = "numa_get_membind")]
    pub fn membind(&self) -> Result<NodeSet> {
        let p = crate::current_policy()?;
        Ok(match p.policy.mode {
            Mode::Bind => p.policy.nodes,
            _ => p.mems_allowed,
        })
    }

    /// Allocates from `node` first, from others when it is full.
    #[doc(alias = "numa_set_preferred")]
    pub fn set_preferred(&self, node: NodeId) -> Result<()> {
        self.set_thread_policy(&Policy::preferred(node))
    }

    /// Allocates from any of `nodes` first (Linux 5.15).
    #[doc(alias = "numa_set_preferred_many")]
    pub fn set_preferred_many(&self, nodes: &NodeSet) -> Result<()> {
        self.set_thread_policy(&Policy::preferred_many(nodes.clone()))
    }

    /// The node the calling thread allocates from first: the first node of
    /// a preferred, preferred-many or bind policy, else (local allocation,
    /// interleaving) the node of the CPU it runs on.
    #[doc(alias = "numa_preferred")]
    pub fn preferred(&self) -> Result<NodeId> {
        let p = crate::current_policy()?;
        match (p.policy.mode, p.policy.nodes.first()) {
            (Mode::Preferred | Mode::PreferredMany | Mode::Bind, Some(n)) => Ok(n),
            _ => Ok(last_cpu_location()?.node),
        }
    }

    /// The nodes of a preferred or preferred-many policy; empty for any
    /// other policy.
    #[doc(alias = "numa_preferred_many")]
    pub fn preferred_many(&self) -> Result<NodeSet> {
        let p = crate::current_policy()?;
        Ok(match p.policy.mode {
            Mode::Preferred | Mode::PreferredMany => p.policy.nodes,
            _ => NodeSet::new(),
        })
    }

    /// Interleaves page by page over `nodes` from now on; an empty set
    /// turns interleaving off (the default policy again), as
    /// `numa_no_nodes_ptr` does.
    #[doc(alias = "numa_set_interleave_mask")]
    pub fn set_interleave_mask(&self, nodes: &NodeSet) -> Result<()> {
        if nodes.is_empty() {
            return self.set_thread_policy(&Policy::default_policy());
        }
        self.set_thread_policy(&Policy::interleave(nodes.clone()))
    }

    /// The nodes the calling thread interleaves over (plain or weighted);
    /// empty when it does not interleave.
    #[doc(alias = "numa_get_interleave_mask")]
    pub fn interleave_mask(&self) -> Result<NodeSet> {
        let p = crate::current_policy()?;
        Ok(match p.policy.mode {
            Mode::Interleave | Mode::WeightedInterleave => p.policy.nodes,
            _ => NodeSet::new(),
        })
    }

    /// Allocates on the node of the CPU that touches memory first: the
    /// thread's policy goes back to the default.
    #[doc(alias = "numa_set_localalloc")]
    pub fn set_localalloc(&self) -> Result<()> {
        self.set_thread_policy(&Policy::default_policy())
    }

    /// Runs the calling thread on the CPUs of `nodes` and allocates only
    /// from them: libnuma's `numa_bind`. Both are checked before either is
    /// applied.
    #[doc(alias = "numa_bind")]
    pub fn bind_to_nodes(&self, nodes: &NodeSet) -> Result<()> {
        let policy = Policy::bind(nodes.clone());
        self.check(&policy)?;
        crate::resolve_cpus(&CpuBinding::Nodes(nodes.clone()), self.machine())?;
        self.bind_thread(&CpuBinding::Nodes(nodes.clone()))?;
        self.set_thread_policy(&policy)
    }

    /// Runs the calling thread on the CPUs of `node` (those it may use);
    /// returns them.
    #[doc(alias = "numa_run_on_node")]
    pub fn run_on_node(&self, node: NodeId) -> Result<CpuSet> {
        self.bind_thread(&CpuBinding::Nodes(std::iter::once(node).collect()))
    }

    /// Runs the calling thread on every CPU of `nodes`, leaving it to the
    /// kernel to keep only those of its cpuset (libnuma's `_all` form does
    /// not check the nodes against the allowed set). The nodes must exist.
    #[doc(alias = "numa_run_on_node_mask_all")]
    pub fn run_on_nodes_all(&self, nodes: &NodeSet) -> Result<CpuSet> {
        if nodes.is_empty() {
            return Err(Error::EmptyNodes {
                what: "running on nodes".into(),
            });
        }
        crate::check_nodes(nodes, self.machine())?;
        let cpus = self.machine().cpus_of_nodes(nodes);
        if cpus.is_empty() {
            return Err(Error::NoCpusOnNodes {
                nodes: nodes.clone(),
            });
        }
        self.backend()
            .set_affinity(0, &cpus)
            .map_err(|e| Error::from_errno(format!("binding to CPUs {cpus}"), e, None))?;
        Ok(cpus)
    }

    /// The nodes the calling thread may run on: those with a CPU in its
    /// affinity.
    #[doc(alias = "numa_get_run_node_mask")]
    pub fn run_nodes(&self) -> Result<NodeSet> {
        Ok(self.machine().nodes_of_cpus(&affinity(0)?))
    }

    /// Sets the CPUs thread or process `pid` (0: the calling thread) may run
    /// on (`sched_setaffinity`). CPUs the machine lacks are refused; the
    /// kernel keeps only those of the target's cpuset.
    #[doc(alias = "numa_sched_setaffinity")]
    #[doc(alias = "hwloc_set_proc_cpubind")]
    pub fn set_affinity(&self, pid: i32, cpus: &CpuSet) -> Result<()> {
        if cpus.is_empty() {
            return Err(Error::EmptyCpus {
                what: "an affinity".into(),
            });
        }
        let known = self.machine().cpu_ids();
        if let Some(c) = cpus.difference(&known).first() {
            return Err(Error::UnknownCpu {
                cpu: c.get(),
                known,
            });
        }
        self.backend().set_affinity(pid, cpus).map_err(|e| {
            Error::from_errno(format!("binding thread {pid} to CPUs {cpus}"), e, Some(pid))
        })
    }

    /// The CPUs near a device (its local CPUs, else its node's), among
    /// those this process may use: where a thread feeding it should run.
    pub fn cpus_near(&self, device: &DeviceSpec) -> Result<CpuSet> {
        let d = device.resolve(self.machine(), None)?;
        let near = self.machine().cpus_near(&d);
        let cpus = match &self.machine().allowed.cpus {
            Some(a) => near.intersection(a),
            None => near,
        };
        if cpus.is_empty() {
            return Err(Error::NoCpusOnNodes {
                nodes: std::iter::once(d.node).collect(),
            });
        }
        Ok(cpus)
    }
}

/// The CPUs thread or process `pid` (0: the calling thread) may run on
/// (`sched_getaffinity`).
#[doc(alias = "numa_sched_getaffinity")]
#[doc(alias = "hwloc_get_cpubind")]
#[doc(alias = "hwloc_get_proc_cpubind")]
pub fn affinity(pid: i32) -> Result<CpuSet> {
    numakit_sys::sched::sched_getaffinity(pid)
        .map(|w| CpuSet::from_words(&w))
        .map_err(|e| Error::from_errno(format!("reading the CPUs of thread {pid}"), e, Some(pid)))
}

/// The nodes the calling thread may allocate from (`Mems_allowed`, from
/// `get_mempolicy(MPOL_F_MEMS_ALLOWED)`).
#[doc(alias = "numa_get_mems_allowed")]
pub fn mems_allowed() -> Result<NodeSet> {
    let (_, mask) = mempolicy::get_mempolicy(None, GetMempolicyFlags::MEMS_ALLOWED)
        .map_err(|e| Error::from_errno("get_mempolicy(MPOL_F_MEMS_ALLOWED)".into(), e, None))?;
    Ok(NodeSet::from_words(&mask))
}

/// Whether this kernel has NUMA memory policies (`get_mempolicy` works):
/// libnuma's `numa_available() == 0`. A kernel without NUMA support answers
/// `ENOSYS`; a seccomp filter may answer `EPERM`.
#[doc(alias = "numa_available")]
pub fn available() -> bool {
    mempolicy::get_mempolicy(None, GetMempolicyFlags::empty()).is_ok()
}

/// The CPU the calling thread runs on and its node (`getcpu`).
#[doc(alias = "hwloc_get_last_cpu_location")]
pub fn last_cpu_location() -> Result<CpuLocation> {
    let l =
        numakit_sys::sched::getcpu().map_err(|e| Error::from_errno("getcpu".into(), e, None))?;
    Ok(CpuLocation {
        cpu: CpuId(l.cpu),
        node: NodeId(l.node),
    })
}
