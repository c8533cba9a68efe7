//! hwloc's everyday questions, asked of a [`Machine`]: the objects of a
//! kind (packages, cores, caches, NUMA nodes, CPUs), the smallest object or
//! cache covering a set of CPUs, the object a PCI device hangs under, and
//! the memory attributes (bandwidth, latency, capacity) of a node as seen
//! from an initiator.
//!
//! numakit keeps no object tree: an [`Object`] is made on demand from the
//! model, with hwloc's `cpuset` and `nodeset` and the kernel's number
//! (`os_index`).

use numakit_types::{CpuSet, NodeId, NodeSet, PciAddress};

use crate::{Cache, Machine};

/// A kind of object, as hwloc names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectType {
    /// The whole machine.
    Machine,
    /// A processor package (socket).
    Package,
    /// A NUMA node.
    NumaNode,
    /// A data or unified cache of this level (instruction caches are left
    /// out, as hwloc keeps them apart).
    Cache {
        /// 1, 2, 3...
        level: u32,
    },
    /// A core: the CPUs with the same package and core id.
    Core,
    /// A logical CPU (hwloc's processing unit).
    Pu,
}

/// One object: its kind, its number, and the CPUs and nodes it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The kind.
    pub kind: ObjectType,
    /// The kernel's number: package id, node id, core id (within its
    /// package) or CPU number; `None` for the machine and caches.
    pub os_index: Option<u32>,
    /// The CPUs it covers (hwloc's `cpuset`).
    pub cpus: CpuSet,
    /// The nodes whose CPUs it covers, or the node itself (hwloc's
    /// `nodeset`).
    pub nodes: NodeSet,
}

/// A memory attribute of a node, as hwloc names them (`HWLOC_MEMATTR_ID_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemAttr {
    /// The node's memory in bytes.
    Capacity,
    /// How many CPUs are local to the node.
    Locality,
    /// Bandwidth in MB/s: the average of read and write when both are known.
    Bandwidth,
    /// Read bandwidth in MB/s.
    ReadBandwidth,
    /// Write bandwidth in MB/s.
    WriteBandwidth,
    /// Latency in nanoseconds: the average of read and write when both are
    /// known.
    Latency,
    /// Read latency in nanoseconds.
    ReadLatency,
    /// Write latency in nanoseconds.
    WriteLatency,
}

impl MemAttr {
    /// Whether a higher value is better (bandwidth, capacity).
    pub fn higher_is_better(self) -> bool {
        !matches!(
            self,
            MemAttr::Latency | MemAttr::ReadLatency | MemAttr::WriteLatency
        )
    }
}

/// A memory attribute's value for one target node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrValue {
    /// The node.
    pub node: NodeId,
    /// The value, in the attribute's unit.
    pub value: u64,
}

impl Machine {
    /// Every object of a kind, in the kernel's order.
    ///
    /// ```
    /// use numakit_topo::objects::ObjectType;
    /// let m = numakit_topo::Machine::discover(&numakit_root::Root::live());
    /// assert_eq!(m.objects(ObjectType::Machine).len(), 1);
    /// assert_eq!(m.objects(ObjectType::Pu).len(), m.cpu_ids().len());
    /// ```
    #[doc(alias = "hwloc_get_obj_by_type")]
    #[doc(alias = "hwloc_get_nbobjs_by_type")]
    pub fn objects(&self, kind: ObjectType) -> Vec<Object> {
        let obj = |os_index, cpus: CpuSet| Object {
            kind,
            os_index,
            nodes: self.nodes_of_cpus(&cpus),
            cpus,
        };
        match kind {
            ObjectType::Machine => vec![Object {
                nodes: self.node_ids(),
                ..obj(None, self.cpu_ids())
            }],
            ObjectType::NumaNode => self
                .nodes
                .iter()
                .map(|n| Object {
                    nodes: std::iter::once(n.id).collect(),
                    ..obj(Some(n.id.get()), n.cpus.clone())
                })
                .collect(),
            ObjectType::Package => self.group_cpus(|c| c.package.map(|p| (p, p))),
            ObjectType::Core => self.group_cpus(|c| Some((c.package?, c.core?))),
            ObjectType::Pu => self
                .cpu_ids()
                .iter()
                .map(|c| obj(Some(c.get()), std::iter::once(c).collect()))
                .collect(),
            ObjectType::Cache { level } => self
                .caches
                .iter()
                .filter(|c| c.level == level && c.kind != "Instruction")
                .map(|c| obj(None, c.cpus.clone()))
                .collect(),
        }
        .into_iter()
        .map(|mut o| {
            o.kind = kind;
            o
        })
        .collect()
    }

    /// Objects made of the CPUs sharing a key; `os_index` is the key's
    /// second part.
    fn group_cpus(&self, key: impl Fn(&crate::Cpu) -> Option<(u32, u32)>) -> Vec<Object> {
        let mut groups: std::collections::BTreeMap<(u32, u32), CpuSet> = Default::default();
        for c in &self.cpus {
            if let Some(k) = key(c) {
                groups.entry(k).or_default().insert(c.id);
            }
        }
        groups
            .into_iter()
            .map(|((_, index), cpus)| Object {
                kind: ObjectType::Machine,
                os_index: Some(index),
                nodes: self.nodes_of_cpus(&cpus),
                cpus,
            })
            .collect()
    }

    /// The smallest object whose CPUs include all of `cpus`: a CPU, a
    /// core, a cache (lowest level first), a package or the machine. NUMA
    /// nodes are not in the CPU hierarchy (as in hwloc 2). `None` for an
    /// empty set or CPUs the machine lacks.
    #[doc(alias = "hwloc_get_obj_covering_cpuset")]
    pub fn object_covering(&self, cpus: &CpuSet) -> Option<Object> {
        if cpus.is_empty() || !cpus.is_subset(&self.cpu_ids()) {
            return None;
        }
        let mut kinds = vec![ObjectType::Pu, ObjectType::Core];
        let mut levels: Vec<u32> = self.caches.iter().map(|c| c.level).collect();
        levels.sort_unstable();
        levels.dedup();
        kinds.extend(levels.into_iter().map(|level| ObjectType::Cache { level }));
        kinds.extend([ObjectType::Package, ObjectType::Machine]);
        kinds
            .into_iter()
            .flat_map(|k| self.objects(k))
            .find(|o| cpus.is_subset(&o.cpus))
    }

    /// The smallest data or unified cache shared by all of `cpus`.
    #[doc(alias = "hwloc_get_cache_covering_cpuset")]
    pub fn cache_covering(&self, cpus: &CpuSet) -> Option<&Cache> {
        if cpus.is_empty() {
            return None;
        }
        self.caches
            .iter()
            .filter(|c| c.kind != "Instruction" && cpus.is_subset(&c.cpus))
            .min_by_key(|c| c.level)
    }

    /// The object a PCI device hangs under in hwloc's tree: of the objects
    /// with the smallest set of CPUs covering those local to the device
    /// (`local_cpulist`, else its node's CPUs), the largest, as hwloc
    /// attaches a host bridge (a package rather than the L3 cache of the
    /// same CPUs); the machine when neither is known. `None` for an address
    /// the machine has no device at.
    #[doc(alias = "hwloc_get_non_io_ancestor_obj")]
    pub fn non_io_ancestor(&self, device: PciAddress) -> Option<Object> {
        let d = self.pci_device(device)?;
        let cpus = d
            .local_cpus
            .clone()
            .filter(|c| !c.is_empty())
            .or_else(|| d.numa_node.and_then(|n| self.cpus_of_node(n).cloned()))
            .unwrap_or_default();
        let Some(cover) = self.object_covering(&cpus) else {
            return self.objects(ObjectType::Machine).pop();
        };
        let mut levels: Vec<u32> = self.caches.iter().map(|c| c.level).collect();
        levels.sort_unstable_by(|a, b| b.cmp(a));
        levels.dedup();
        let largest_first = [ObjectType::Machine, ObjectType::Package]
            .into_iter()
            .chain(levels.into_iter().map(|level| ObjectType::Cache { level }));
        largest_first
            .flat_map(|k| self.objects(k))
            .find(|o| o.cpus == cover.cpus)
            .or(Some(cover))
    }

    /// A memory attribute of node `target` as seen from the CPUs of node
    /// `initiator`: capacity and locality from the node, bandwidth and
    /// latency from the firmware's HMAT (`accessN/initiators/`), which the
    /// kernel gives only for each node's best initiators. `None` when
    /// unknown: never guessed from distances.
    #[doc(alias = "hwloc_memattr_get_value")]
    pub fn memory_attribute(
        &self,
        attr: MemAttr,
        target: NodeId,
        initiator: NodeId,
    ) -> Option<u64> {
        let n = self.node(target)?;
        let access = || n.access.iter().find(|a| a.initiators.contains(initiator));
        let avg = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some((a + b) / 2),
            (a, b) => a.or(b),
        };
        match attr {
            MemAttr::Capacity => n.memory_total_bytes,
            MemAttr::Locality => Some(n.cpus.len() as u64),
            MemAttr::ReadBandwidth => access()?.read_bandwidth_mbps,
            MemAttr::WriteBandwidth => access()?.write_bandwidth_mbps,
            MemAttr::ReadLatency => access()?.read_latency_ns,
            MemAttr::WriteLatency => access()?.write_latency_ns,
            MemAttr::Bandwidth => {
                access().and_then(|a| avg(a.read_bandwidth_mbps, a.write_bandwidth_mbps))
            }
            MemAttr::Latency => access().and_then(|a| avg(a.read_latency_ns, a.write_latency_ns)),
        }
    }

    /// The node with the best value of `attr` from `initiator` (highest
    /// bandwidth or capacity, lowest latency), among nodes whose value is
    /// known.
    #[doc(alias = "hwloc_memattr_get_best_target")]
    pub fn best_target(&self, attr: MemAttr, initiator: NodeId) -> Option<AttrValue> {
        let values = self.nodes.iter().filter_map(|n| {
            let value = self.memory_attribute(attr, n.id, initiator)?;
            Some(AttrValue { node: n.id, value })
        });
        if attr.higher_is_better() {
            values.max_by_key(|v| (v.value, std::cmp::Reverse(v.node)))
        } else {
            values.min_by_key(|v| (v.value, v.node))
        }
    }

    /// The initiator node with the best value of `attr` to `target`.
    #[doc(alias = "hwloc_memattr_get_best_initiator")]
    pub fn best_initiator(&self, attr: MemAttr, target: NodeId) -> Option<AttrValue> {
        let values = self.nodes.iter().filter_map(|n| {
            let value = self.memory_attribute(attr, target, n.id)?;
            Some(AttrValue { node: n.id, value })
        });
        if attr.higher_is_better() {
            values.max_by_key(|v| (v.value, std::cmp::Reverse(v.node)))
        } else {
            values.min_by_key(|v| (v.value, v.node))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use numakit_root::Root;

    fn machine() -> (Machine, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("numakit-objects-{}", std::process::id()));
        let sys = dir.join("sys/devices/system");
        for c in 0..4 {
            let t = sys.join(format!("cpu/cpu{c}/topology"));
            std::fs::create_dir_all(&t).unwrap();
            std::fs::write(t.join("physical_package_id"), format!("{}", c / 2)).unwrap();
            std::fs::write(t.join("core_id"), format!("{}", c % 2)).unwrap();
            let l2 = sys.join(format!("cpu/cpu{c}/cache/index2"));
            std::fs::create_dir_all(&l2).unwrap();
            std::fs::write(l2.join("level"), "2").unwrap();
            std::fs::write(l2.join("type"), "Unified").unwrap();
            std::fs::write(
                l2.join("shared_cpu_list"),
                if c < 2 { "0-1" } else { "2-3" },
            )
            .unwrap();
        }
        for n in 0..2 {
            let d = sys.join(format!("node/node{n}"));
            std::fs::create_dir_all(d.join("access0/initiators")).unwrap();
            std::fs::write(d.join("cpulist"), if n == 0 { "0-1" } else { "2-3" }).unwrap();
            let mi = format!("Node {n} MemTotal: {} kB\n", (n + 1) * 1024);
            std::fs::write(d.join("meminfo"), mi).unwrap();
            let init = d.join("access0/initiators");
            std::fs::create_dir_all(init.join(format!("node{n}"))).unwrap();
            std::fs::write(init.join("read_bandwidth"), format!("{}", 1000 * (n + 1))).unwrap();
            std::fs::write(init.join("read_latency"), format!("{}", 100 - n)).unwrap();
        }
        (Machine::discover(&Root::open(&dir).unwrap()), dir)
    }

    #[test]
    fn objects_covering_and_attributes() {
        let (m, dir) = machine();
        assert_eq!(m.objects(ObjectType::Package).len(), 2);
        let cores = m.objects(ObjectType::Core);
        assert_eq!(cores.len(), 4);
        assert!(cores.iter().all(|c| c.kind == ObjectType::Core));
        let set = |s: &str| s.parse::<CpuSet>().unwrap();
        let o = m.object_covering(&set("0-1")).unwrap();
        assert_eq!(o.kind, ObjectType::Cache { level: 2 });
        assert_eq!(o.nodes.to_string(), "0");
        assert_eq!(m.object_covering(&set("1")).unwrap().kind, ObjectType::Pu);
        assert_eq!(
            m.object_covering(&set("1-2")).unwrap().kind,
            ObjectType::Machine
        );
        assert_eq!(m.object_covering(&set("9")), None);
        assert_eq!(m.cache_covering(&set("2-3")).unwrap().level, 2);
        assert_eq!(m.cache_covering(&set("1-2")), None);
        let (a, b) = (NodeId(0), NodeId(1));
        assert_eq!(m.memory_attribute(MemAttr::ReadBandwidth, b, b), Some(2000));
        assert_eq!(m.memory_attribute(MemAttr::ReadBandwidth, b, a), None);
        assert_eq!(
            m.memory_attribute(MemAttr::Capacity, b, a),
            Some(2048 * 1024)
        );
        assert_eq!(m.best_target(MemAttr::Capacity, a).unwrap().node, b);
        assert_eq!(m.best_initiator(MemAttr::ReadLatency, a).unwrap().node, a);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
