//! [`Machine::refresh`]: the facts that change while a program runs, read
//! again through the same root.

use numakit_root::Root;

use crate::node::{self, parse_node_meminfo};
use crate::util::{read_cpulist, read_cpumask};
use crate::{Machine, cpu};

const NODE_DIR: &str = "/sys/devices/system/node";

impl Machine {
    /// Reads again what changes while a program runs: each node's free and
    /// total memory and the rest of its `meminfo`, its hugepage pools, its
    /// CPUs and whether it is online (CPU hotplug), the node state masks,
    /// the system's memory (when it was read), and the CPUs and nodes this
    /// process may use (when they were read). Devices, caches, distances
    /// and the rest of the model stay as they were read.
    ///
    /// A fact that cannot be read again becomes unknown, as at discovery.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("numakit-refresh-doc-{}", std::process::id()));
    /// # let node = dir.join("sys/devices/system/node/node0");
    /// # std::fs::create_dir_all(&node).unwrap();
    /// let meminfo = |free_kb: u64| format!("Node 0 MemTotal: 1048576 kB\nNode 0 MemFree: {free_kb} kB\n");
    /// std::fs::write(node.join("meminfo"), meminfo(1000)).unwrap();
    /// let root = numakit_root::Root::open(&dir).unwrap();
    /// let mut m = numakit_topo::Machine::discover(&root);
    /// std::fs::write(node.join("meminfo"), meminfo(500)).unwrap();
    /// assert_eq!(m.node_size(0.into()).unwrap().free_bytes, Some(1000 * 1024));
    /// m.refresh(&root);
    /// assert_eq!(m.node_size(0.into()).unwrap().free_bytes, Some(500 * 1024));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    #[doc(alias = "numa_node_to_cpu_update")]
    pub fn refresh(&mut self, root: &Root) {
        self.node_states = node::read_states(root);
        for n in self.nodes.iter_mut().filter(|n| !n.synthetic) {
            let base = format!("{NODE_DIR}/node{}", n.id);
            n.meminfo = root
                .read_to_string(&format!("{base}/meminfo"))
                .map(|t| parse_node_meminfo(&t))
                .unwrap_or_default();
            n.memory_total_bytes = n.meminfo.get("MemTotal").copied();
            n.memory_free_bytes = n.meminfo.get("MemFree").copied();
            n.hugepages = node::read_hugepages(root, &format!("{base}/hugepages"));
            n.cpus = read_cpulist(root, &format!("{base}/cpulist"))
                .or_else(|| read_cpumask(root, &format!("{base}/cpumap")))
                .unwrap_or_default();
            n.online = self.node_states.online.as_ref().map(|o| o.contains(n.id));
        }
        if self.memory.total_bytes.is_some() || self.nodes.iter().any(|n| n.synthetic) {
            self.memory = node::read_system_memory(root);
            if let Some(n) = self.nodes.iter_mut().find(|n| n.synthetic) {
                n.memory_total_bytes = self.memory.total_bytes;
                n.memory_free_bytes = self.memory.free_bytes;
            }
        }
        if self.allowed.source.is_some() || self.allowed.affinity.is_some() {
            self.allowed = cpu::read_allowed(root);
        }
        self.numa_inconsistent =
            crate::NumaInconsistency::find(self.nodes.iter().map(|n| (n.id, &n.cpus)));
        cpu::fill_nodes(&mut self.cpus, &self.nodes, self.numa_inconsistent.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use crate::Machine;
    use numakit_root::Root;

    #[test]
    fn refresh_follows_memory_cpus_and_hugepages() {
        let dir = std::env::temp_dir().join(format!("numakit-refresh-{}", std::process::id()));
        let n0 = dir.join("sys/devices/system/node/node0");
        let hp = n0.join("hugepages/hugepages-2048kB");
        std::fs::create_dir_all(&hp).unwrap();
        let write = |free: u64, cpus: &str, huge: u64| {
            let mi = format!("Node 0 MemTotal: 2048 kB\nNode 0 MemFree: {free} kB\n");
            std::fs::write(n0.join("meminfo"), mi).unwrap();
            std::fs::write(n0.join("cpulist"), cpus).unwrap();
            std::fs::write(hp.join("free_hugepages"), huge.to_string()).unwrap();
        };
        write(1024, "0-1\n", 0);
        let root = Root::open(&dir).unwrap();
        let mut m = Machine::discover(&root);
        write(512, "0\n", 3);
        assert_eq!(m.node(0.into()).unwrap().cpus.to_string(), "0-1");
        m.refresh(&root);
        let n = m.node(0.into()).unwrap();
        assert_eq!(n.memory_free_bytes, Some(512 * 1024));
        assert_eq!(n.cpus.to_string(), "0");
        assert_eq!(n.hugepages[0].free, Some(3));
        std::fs::remove_file(n0.join("meminfo")).unwrap();
        m.refresh(&root);
        assert_eq!(m.node_size(0.into()), None, "unreadable: unknown");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
