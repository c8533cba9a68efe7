//! The numakit machine model.
//!
//! [`Machine::discover`] reads one machine through a [`Root`] (the live
//! system, a directory copy or a snapshot tarball) and answers "where is this
//! CPU, this page, this device, and how far apart are they": NUMA nodes with
//! their memory, hugepage pools, distances, memory tiers and HMAT attributes;
//! CPUs with packages, dies, clusters, cores, SMT siblings and caches; the
//! CPUs and nodes this process may use; PCI devices with their NUMA node,
//! link, BARs, bridges and OS names; IOMMU groups; and the kernel knobs that
//! shape placement. [`locate`] finds a device by the name a user gives it
//! (`gpu:0`, `nic:0`, `net:eth0`, a PCI address, the block device of a
//! file), and [`gpu`] a GPU by the number its framework gives it (`cuda:1`
//! under `CUDA_VISIBLE_DEVICES`, `rocm:0`) or its UUID, with the links
//! between GPUs that the drivers publish.
//!
//! Besides the model's fields, a [`Machine`] answers libnuma's questions
//! (node and CPU counts, sizes, what this process may use: `max_node`,
//! `node_size`, `allowed_nodes`, ...), reads libnuma's node and CPU strings
//! ([`nodestring`]), answers hwloc's everyday questions ([`objects`]:
//! objects covering a set of CPUs, a device's non-I/O ancestor, memory
//! attributes per initiator), and reads again what changes
//! ([`Machine::refresh`]). `docs/libnuma.md` maps every libnuma and hwloc
//! name to its numakit path; rustdoc finds each by the old name.
//!
//! Nothing here panics on bad input: a missing, unreadable or garbage file
//! makes the fact it carries unknown (`None`), never a guess.
//!
//! # Example
//! ```
//! use numakit_root::Root;
//! use numakit_topo::Machine;
//! let dir = std::env::temp_dir().join(format!("numakit-topo-doc-{}", std::process::id()));
//! let node = dir.join("sys/devices/system/node");
//! std::fs::create_dir_all(node.join("node0")).unwrap();
//! std::fs::create_dir_all(node.join("node1")).unwrap();
//! std::fs::write(node.join("online"), "0-1\n").unwrap();
//! std::fs::write(node.join("node0/cpulist"), "0-3\n").unwrap();
//! std::fs::write(node.join("node1/cpulist"), "4-7\n").unwrap();
//! std::fs::write(node.join("node0/distance"), "10 21\n").unwrap();
//! std::fs::write(node.join("node1/distance"), "21 10\n").unwrap();
//! let m = Machine::discover(&Root::open(&dir).unwrap());
//! assert_eq!(m.nodes.len(), 2);
//! assert_eq!(m.distance(0.into(), 1.into()), Some(21));
//! assert_eq!(m.node_of_cpu(5.into()), Some(1.into()));
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```
#![deny(missing_docs)]

pub mod cpu;
pub mod gpu;
pub mod iommu;
pub mod knobs;
pub mod libnuma;
pub mod locate;
pub mod matrix;
pub mod node;
pub mod nodestring;
pub mod objects;
pub mod pci;
mod query;
mod refresh;
mod util;

use numakit_root::Root;
use numakit_types::{CpuId, CpuSet, NodeId, NodeSet, PciAddress};
use serde::Serialize;

pub use cpu::{Allowed, Cache, Cpu};
pub use iommu::Iommu;
pub use knobs::Knobs;
pub use node::{Node, NodeStates};
pub use pci::PciDevice;
pub use query::{NodeSize, cpu_mask_bits};

/// The schema name and version of [`Machine`]'s JSON form.
pub const SCHEMA: &str = "numakit.topology/1";

/// What to read. `numactl --hardware` needs only the nodes; `topo` reads all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// CPUs, caches, CPU kinds, and the allowed sets.
    pub cpus: bool,
    /// The CPUs and nodes this process may use (also read with `cpus`).
    pub allowed: bool,
    /// PCI devices.
    pub pci: bool,
    /// IOMMU units and groups.
    pub iommu: bool,
    /// Kernel knobs and tiers.
    pub knobs: bool,
    /// Per-node hugepage pools, HMAT attributes, memory-side caches, and
    /// system-wide memory.
    pub node_details: bool,
}

impl Parts {
    /// Everything.
    pub const ALL: Parts = Parts {
        cpus: true,
        allowed: true,
        pci: true,
        iommu: true,
        knobs: true,
        node_details: true,
    };
    /// Only NUMA nodes: CPUs, memory and distances.
    pub const NODES: Parts = Parts {
        cpus: false,
        allowed: false,
        pci: false,
        iommu: false,
        knobs: false,
        node_details: false,
    };

    /// Whether every part `other` reads is read here too.
    ///
    /// # Example
    /// ```
    /// use numakit_topo::Parts;
    /// assert!(Parts::ALL.contains(Parts::NODES));
    /// assert!(!Parts::NODES.contains(Parts { pci: true, ..Parts::NODES }));
    /// assert_eq!(Parts::NODES.union(Parts::ALL), Parts::ALL);
    /// ```
    pub fn contains(self, other: Parts) -> bool {
        self.union(other) == self
    }

    /// The parts either reads.
    pub fn union(self, other: Parts) -> Parts {
        Parts {
            cpus: self.cpus || other.cpus,
            allowed: self.allowed || other.allowed,
            pci: self.pci || other.pci,
            iommu: self.iommu || other.iommu,
            knobs: self.knobs || other.knobs,
            node_details: self.node_details || other.node_details,
        }
    }
}

/// Facts about the running kernel.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Kernel {
    /// `uname -r`, from `/proc/sys/kernel/osrelease`.
    pub release: Option<String>,
    /// The kernel command line.
    pub cmdline: Option<String>,
}

/// System-wide memory from `/proc/meminfo`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SystemMemory {
    /// MemTotal in bytes.
    pub total_bytes: Option<u64>,
    /// MemFree in bytes.
    pub free_bytes: Option<u64>,
    /// MemAvailable in bytes.
    pub available_bytes: Option<u64>,
}

/// One machine, as read from a root. Serialises to the documented
/// `numakit.topology/1` JSON document (see `docs/topology-json.md`).
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The running kernel.
    pub kernel: Kernel,
    /// Node state masks (`possible`, `online`, `has_cpu`, ...).
    pub node_states: NodeStates,
    /// NUMA nodes, by increasing id. A machine without `node/` in sysfs gets
    /// one node 0 holding every CPU and all memory (as the kernel behaves
    /// without NUMA).
    pub nodes: Vec<Node>,
    /// Memory tiers (`/sys/devices/virtual/memory_tiering`).
    pub memory_tiers: Vec<node::MemoryTier>,
    /// System memory.
    pub memory: SystemMemory,
    /// CPUs by increasing id (present ones).
    pub cpus: Vec<Cpu>,
    /// CPU caches, one entry per distinct cache instance.
    pub caches: Vec<Cache>,
    /// CPU kinds on hybrid processors, when sysfs tells them.
    pub cpu_kinds: Vec<cpu::CpuKind>,
    /// What this process may use.
    pub allowed: Allowed,
    /// PCI devices by address.
    pub pci_devices: Vec<PciDevice>,
    /// The IOMMU.
    pub iommu: Iommu,
    /// Kernel knobs that shape placement.
    pub knobs: Knobs,
    /// Set when the firmware's NUMA information contradicts itself (a CPU
    /// listed under more than one node): which CPUs are affected. Their
    /// `Cpu::node` is then unknown. `None` when the information is
    /// consistent.
    pub numa_inconsistent: Option<NumaInconsistency>,
}

/// Firmware NUMA information that contradicts itself, the broken-BIOS
/// pattern where several (often all) nodes claim the same CPUs. hwloc
/// detects and ignores it; numakit says so and leaves those CPUs' node
/// unknown, while each node's own `cpus` keeps what sysfs says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NumaInconsistency {
    /// The CPUs listed under more than one node.
    pub cpus: CpuSet,
    /// The nodes that list them.
    pub nodes: NodeSet,
}

impl NumaInconsistency {
    /// Finds CPUs that several nodes claim.
    ///
    /// # Example
    /// ```
    /// use numakit_topo::NumaInconsistency;
    /// use numakit_types::CpuSet;
    /// let all: CpuSet = "0-7".parse().unwrap();
    /// let half: CpuSet = "0-3".parse().unwrap();
    /// let other: CpuSet = "4-7".parse().unwrap();
    /// assert!(NumaInconsistency::find([(0.into(), &half), (1.into(), &other)]).is_none());
    /// let bad = NumaInconsistency::find([(0.into(), &all), (1.into(), &all)]).unwrap();
    /// assert_eq!(bad.cpus, all);
    /// ```
    pub fn find<'a>(nodes: impl IntoIterator<Item = (NodeId, &'a CpuSet)>) -> Option<Self> {
        let mut seen = CpuSet::new();
        let mut shared = CpuSet::new();
        let list: Vec<(NodeId, &CpuSet)> = nodes.into_iter().collect();
        for (_, cpus) in &list {
            shared = shared.union(&seen.intersection(cpus));
            seen = seen.union(cpus);
        }
        if shared.is_empty() {
            return None;
        }
        let nodes = list
            .iter()
            .filter(|(_, c)| c.intersects(&shared))
            .map(|(id, _)| *id)
            .collect();
        Some(NumaInconsistency {
            cpus: shared,
            nodes,
        })
    }
}

impl Machine {
    /// Reads everything.
    #[doc(alias = "hwloc_topology_load")]
    pub fn discover(root: &Root) -> Machine {
        Self::discover_parts(root, Parts::ALL)
    }

    /// Reads the parts asked for; the rest stays empty.
    pub fn discover_parts(root: &Root, parts: Parts) -> Machine {
        let kernel = Kernel {
            release: root.read_trim("/proc/sys/kernel/osrelease"),
            cmdline: if parts.iommu || parts.knobs {
                root.read_trim("/proc/cmdline")
            } else {
                None
            },
        };
        let node_states = node::read_states(root);
        let cpus = if parts.cpus {
            cpu::read_cpus(root)
        } else {
            Vec::new()
        };
        let mut nodes = node::read_nodes(root, &node_states, parts.node_details);
        let memory = if parts.node_details || nodes.is_empty() {
            node::read_system_memory(root)
        } else {
            SystemMemory::default()
        };
        if nodes.is_empty() {
            nodes.push(node::synthetic_node(root, &cpus, &memory));
        }
        let mut m = Machine {
            schema: SCHEMA,
            kernel,
            node_states,
            nodes,
            memory_tiers: Vec::new(),
            memory,
            caches: Vec::new(),
            cpu_kinds: Vec::new(),
            cpus,
            allowed: Allowed::default(),
            pci_devices: Vec::new(),
            iommu: Iommu::default(),
            knobs: Knobs::default(),
            numa_inconsistent: None,
        };
        m.numa_inconsistent = NumaInconsistency::find(m.nodes.iter().map(|n| (n.id, &n.cpus)));
        if parts.cpus || parts.allowed {
            m.allowed = cpu::read_allowed(root);
        }
        // PCI devices are read on a second thread while the CPUs, caches
        // and knobs are read here: the two walks share nothing but the nodes.
        let pci_nodes = if parts.pci {
            m.nodes.clone()
        } else {
            Vec::new()
        };
        m.pci_devices = std::thread::scope(|s| {
            // no thread to be had: the devices are read afterwards, here
            let pci = if parts.pci {
                std::thread::Builder::new()
                    .name("numakit-pci".into())
                    .spawn_scoped(s, || pci::discover(root, &pci_nodes))
                    .ok()
            } else {
                None
            };
            if parts.cpus {
                cpu::fill_nodes(&mut m.cpus, &m.nodes, m.numa_inconsistent.as_ref());
                m.caches = cpu::read_caches(root, &m.cpus);
                m.cpu_kinds = cpu::read_kinds(root, &m.cpus);
            }
            if parts.knobs {
                m.memory_tiers = node::read_tiers(root);
                node::assign_tiers(&mut m.nodes, &m.memory_tiers);
                m.knobs = knobs::read(root);
            }
            match pci.map(|h| h.join()) {
                Some(Ok(devs)) => devs,
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                None if parts.pci => pci::discover(root, &pci_nodes),
                None => Vec::new(),
            }
        });
        if parts.iommu {
            m.iommu = iommu::discover(root, m.kernel.cmdline.as_deref());
            iommu::assign_groups(&mut m.pci_devices, &m.iommu);
        }
        m
    }

    /// The node with this id.
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The package that holds every CPU of `node` (the CPUs it lists that
    /// are also placed on it); `None` when they span packages, the package
    /// is unknown, or the node has no CPUs.
    pub fn node_package(&self, node: &Node) -> Option<u32> {
        let mut pkgs = self
            .cpus
            .iter()
            .filter(|c| node.cpus.contains(c.id) && c.node == Some(node.id))
            .map(|c| c.package);
        let first = pkgs.next()??;
        pkgs.all(|p| p == Some(first)).then_some(first)
    }

    /// All node ids.
    #[doc(alias = "numa_nodes_ptr")]
    pub fn node_ids(&self) -> NodeSet {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// The SLIT distance from `a` to `b`, if known.
    #[doc(alias = "numa_distance")]
    pub fn distance(&self, a: NodeId, b: NodeId) -> Option<u32> {
        let col = self.nodes.iter().position(|n| n.id == b)?;
        self.node(a)?.distances.get(col).copied().flatten()
    }

    /// The node whose CPU list holds `cpu`.
    #[doc(alias = "numa_node_of_cpu")]
    pub fn node_of_cpu(&self, cpu: CpuId) -> Option<NodeId> {
        self.nodes
            .iter()
            .find(|n| n.cpus.contains(cpu))
            .map(|n| n.id)
    }

    /// The CPUs of the nodes in `nodes`.
    #[doc(alias = "hwloc_cpuset_from_nodeset")]
    pub fn cpus_of_nodes(&self, nodes: &NodeSet) -> CpuSet {
        self.nodes
            .iter()
            .filter(|n| nodes.contains(n.id))
            .fold(CpuSet::new(), |acc, n| acc.union(&n.cpus))
    }

    /// The PCI device at `addr`.
    #[doc(alias = "hwloc_get_pcidev_by_busid")]
    pub fn pci_device(&self, addr: PciAddress) -> Option<&PciDevice> {
        self.pci_devices.iter().find(|d| d.address == addr)
    }

    /// The CPU with this id.
    pub fn cpu(&self, id: CpuId) -> Option<&Cpu> {
        self.cpus.iter().find(|c| c.id == id)
    }
}
