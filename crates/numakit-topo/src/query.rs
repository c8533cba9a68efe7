//! The questions libnuma answers about a machine (how many nodes, which
//! CPUs, how much memory, what this process may use), asked of a
//! [`Machine`], and the CPUs near a device.
//!
//! These read the model, which is read once: call [`Machine::refresh`] for
//! the free memory and the other facts that change.

use numakit_root::Root;
use numakit_types::{CpuSet, NodeId, NodeSet};

use crate::Machine;
use crate::locate::ResolvedDevice;

/// A node's memory, as the model last read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeSize {
    /// MemTotal in bytes.
    pub total_bytes: u64,
    /// MemFree in bytes, when the node's meminfo has it.
    pub free_bytes: Option<u64>,
}

impl Machine {
    /// The highest node number of the machine.
    #[doc(alias = "numa_max_node")]
    pub fn max_node(&self) -> Option<NodeId> {
        self.nodes.iter().map(|n| n.id).max()
    }

    /// The nodes the kernel could ever bring online (its `possible` mask),
    /// when sysfs has it; the highest is `.last()`. libnuma's
    /// `numa_max_possible_node` answers from the width of the kernel's node
    /// masks instead ([`crate::node::node_mask_bits`] minus one), which
    /// counts node numbers no machine of this kernel can have.
    #[doc(alias = "numa_max_possible_node")]
    pub fn possible_nodes(&self) -> Option<&NodeSet> {
        self.node_states.possible.as_ref()
    }

    /// The nodes with memory (`MemTotal` above zero), online or not: how
    /// many there are is `numa_num_configured_nodes()`.
    #[doc(alias = "numa_num_configured_nodes")]
    pub fn memory_nodes(&self) -> NodeSet {
        self.nodes
            .iter()
            .filter(|n| n.memory_total_bytes.is_some_and(|t| t > 0))
            .map(|n| n.id)
            .collect()
    }

    /// Every CPU the machine has (`/sys/devices/system/cpu/cpuN`, present
    /// and possible): how many there are is `numa_num_configured_cpus()`.
    #[doc(alias = "numa_num_configured_cpus")]
    pub fn cpu_ids(&self) -> CpuSet {
        if self.cpus.is_empty() {
            return self
                .nodes
                .iter()
                .fold(CpuSet::new(), |a, n| a.union(&n.cpus));
        }
        self.cpus.iter().map(|c| c.id).collect()
    }

    /// The nodes this process may allocate from (`Mems_allowed`, within
    /// the machine's nodes); every node when the allowed set is unknown.
    /// Its length is `numa_num_task_nodes()`.
    #[doc(alias = "numa_all_nodes_ptr")]
    #[doc(alias = "numa_num_task_nodes")]
    #[doc(alias = "numa_num_thread_nodes")]
    #[doc(alias = "numa_all_nodes")]
    pub fn allowed_nodes(&self) -> NodeSet {
        let all = self.node_ids();
        match &self.allowed.mems {
            Some(m) => m.intersection(&all),
            None => all,
        }
    }

    /// The CPUs this thread may run on: its affinity (`Cpus_allowed`), else
    /// its cpuset, else every CPU. Its length is `numa_num_task_cpus()`.
    #[doc(alias = "numa_all_cpus_ptr")]
    #[doc(alias = "numa_num_task_cpus")]
    #[doc(alias = "numa_num_thread_cpus")]
    pub fn allowed_cpus(&self) -> CpuSet {
        match (&self.allowed.affinity, &self.allowed.cpus) {
            (Some(a), _) | (None, Some(a)) => a.clone(),
            (None, None) => self.cpu_ids(),
        }
    }

    /// A node's memory size and free memory, as last read (see
    /// [`Machine::refresh`]); `None` for a node the machine lacks or whose
    /// size is unknown.
    #[doc(alias = "numa_node_size")]
    #[doc(alias = "numa_node_size64")]
    pub fn node_size(&self, node: NodeId) -> Option<NodeSize> {
        let n = self.node(node)?;
        Some(NodeSize {
            total_bytes: n.memory_total_bytes?,
            free_bytes: n.memory_free_bytes,
        })
    }

    /// The CPUs of one node; `None` for a node the machine lacks.
    #[doc(alias = "numa_node_to_cpus")]
    pub fn cpus_of_node(&self, node: NodeId) -> Option<&CpuSet> {
        self.node(node).map(|n| &n.cpus)
    }

    /// The nodes whose CPUs include one of `cpus`.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("numakit-q-doc-{}", std::process::id()));
    /// # let node = dir.join("sys/devices/system/node");
    /// # std::fs::create_dir_all(node.join("node0")).unwrap();
    /// # std::fs::create_dir_all(node.join("node1")).unwrap();
    /// # std::fs::write(node.join("node0/cpulist"), "0-3\n").unwrap();
    /// # std::fs::write(node.join("node1/cpulist"), "4-7\n").unwrap();
    /// # let m = numakit_topo::Machine::discover(&numakit_root::Root::open(&dir).unwrap());
    /// assert_eq!(m.nodes_of_cpus(&"3-4".parse().unwrap()).to_string(), "0-1");
    /// assert_eq!(m.cpus_of_nodes(&"1".parse().unwrap()).to_string(), "4-7");
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    #[doc(alias = "hwloc_cpuset_to_nodeset")]
    pub fn nodes_of_cpus(&self, cpus: &CpuSet) -> NodeSet {
        self.nodes
            .iter()
            .filter(|n| n.cpus.intersects(cpus))
            .map(|n| n.id)
            .collect()
    }

    /// The node whose CPUs serve `node`: itself when it has CPUs, else the
    /// nearest node with CPUs (lower id on a tie), as for a GPU's memory
    /// node; `None` when no node has CPUs or the distances are unknown.
    pub fn cpu_node_near(&self, node: NodeId) -> Option<NodeId> {
        if self.node(node).is_some_and(|n| !n.cpus.is_empty()) {
            return Some(node);
        }
        self.nodes
            .iter()
            .filter(|n| !n.cpus.is_empty())
            .filter_map(|n| Some((self.distance(node, n.id)?, n.id)))
            .min()
            .map(|(_, id)| id)
    }

    /// The CPUs near a device: the CPUs sysfs lists as local to it
    /// (`local_cpulist`) when they lie within the node whose CPUs serve its
    /// node ([`cpu_node_near`](Self::cpu_node_near)), else that node's CPUs;
    /// empty when no node with CPUs is known to be near. Not narrowed to
    /// the CPUs this process may use (see
    /// [`allowed_cpus`](Self::allowed_cpus)).
    pub fn cpus_near(&self, device: &ResolvedDevice) -> CpuSet {
        let node_cpus = self
            .cpu_node_near(device.node)
            .and_then(|n| self.cpus_of_node(n))
            .cloned()
            .unwrap_or_default();
        match &device.local_cpus {
            Some(l) if !l.is_empty() && l.is_subset(&node_cpus) => l.clone(),
            _ => node_cpus,
        }
    }
}

/// The width in bits of the kernel's CPU masks, as libnuma measures it: the
/// bytes `sched_getaffinity` fills, which are the kernel's CPU count
/// (`nr_cpu_ids`, one more than the highest possible CPU in
/// `/sys/devices/system/cpu/possible`) rounded up to 64 bits. `None` when
/// that file is missing or garbage. The node masks' width is
/// [`crate::node::node_mask_bits`].
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("numakit-cpubits-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(dir.join("sys/devices/system/cpu")).unwrap();
/// std::fs::write(dir.join("sys/devices/system/cpu/possible"), "0-71\n").unwrap();
/// let root = numakit_root::Root::open(&dir).unwrap();
/// assert_eq!(numakit_topo::cpu_mask_bits(&root), Some(128));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[doc(alias = "numa_num_possible_cpus")]
pub fn cpu_mask_bits(root: &Root) -> Option<u32> {
    let possible = crate::util::read_cpulist(root, "/sys/devices/system/cpu/possible")?;
    Some((possible.last_raw()? + 1).div_ceil(64) * 64)
}
