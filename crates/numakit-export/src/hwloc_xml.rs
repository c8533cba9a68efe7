//! hwloc's v2 XML format (`<topology version="2.0">`), loadable by hwloc
//! 2.x and later (`lstopo --input FILE`, `HWLOC_XMLFILE`, `hwloc-calc`,
//! and the hwloc inside Slurm, Open MPI and Flux).
//!
//! What is written:
//! - the Machine, Packages, caches (`L3Cache` ... `L1iCache`), Cores and
//!   PUs with their OS indexes, nested by CPU set as hwloc nests them; a
//!   `Group` where a NUMA node's CPUs match no other object (sub-NUMA
//!   clustering);
//! - NUMA nodes as memory children of the object whose CPUs they hold
//!   (a CPU-less node under the CPUs its HMAT access class names as
//!   initiators, else under the nearest CPU nodes by distance, else under
//!   the Machine), with `local_memory` and a
//!   `page_type` per huge page size;
//! - the SLIT distances (`distances2`, `NUMALatency`) and the HMAT access
//!   attributes of CPU initiators (`memattr`: bandwidth and latency; class
//!   1 where the kernel gives it, as hwloc reads them);
//! - PCI host bridges, bridges and devices under the object that holds
//!   their NUMA node, with class, ids, link speed and names, and their OS
//!   devices (network, block, GPU, InfiniBand, DMA);
//! - as `info` pairs hwloc keeps but does not interpret: where numakit
//!   found a device's node (`NumakitNUMANodeSource`), its IOMMU group,
//!   degraded links, and the GPU memory node of a GPU.
//!
//! Offline CPUs are in `complete_cpuset` only, as hwloc writes them. The
//! PCI revision is not read by numakit and is written as `00`. Facts
//! numakit does not know are left out rather than guessed.

use std::fmt::Write;

use numakit_topo::node::AccessClass;
use numakit_topo::pci::{DeviceKind, NodeSource};
use numakit_topo::{Machine, PciDevice};
use numakit_types::{CpuSet, NodeId, NodeSet, PciAddress};

use crate::xml::{escape, hwloc_bitmap};

/// The kinds of normal objects, in the order hwloc nests objects whose CPU
/// sets are equal (a Package above its L3 above its Core).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Machine,
    Package,
    Group,
    Cache { rank: u32 },
    Core,
    Pu,
}

/// One normal object of the tree.
#[derive(Debug)]
struct Obj {
    kind: Kind,
    type_name: String,
    os_index: Option<u32>,
    cpus: CpuSet,
    /// Attributes after the sets (`cache_size=...`).
    attrs: String,
    kids: Vec<usize>,
    /// NUMA nodes attached here.
    mem: Vec<NodeId>,
    /// PCI host bridges attached here (their `host_bridge` names).
    io: Vec<String>,
}

/// The tree being built: objects in an arena, 0 is the Machine.
struct Tree {
    objs: Vec<Obj>,
}

impl Tree {
    /// Inserts `o` under the deepest object whose CPUs hold its CPUs;
    /// `None` when it straddles two objects (hwloc could not load that).
    fn insert(&mut self, o: Obj) -> Option<usize> {
        let mut at = 0;
        'down: loop {
            for &k in &self.objs[at].kids {
                let kc = &self.objs[k].cpus;
                if o.cpus.is_subset(kc) {
                    at = k;
                    continue 'down;
                }
                if o.cpus.intersects(kc) {
                    return None;
                }
            }
            break;
        }
        let id = self.objs.len();
        self.objs.push(o);
        self.objs[at].kids.push(id);
        Some(id)
    }

    /// The highest object whose CPUs are exactly `cpus`.
    fn anchor(&self, cpus: &CpuSet) -> Option<usize> {
        let mut todo = vec![0];
        while let Some(i) = todo.pop() {
            if self.objs[i].cpus == *cpus {
                return Some(i);
            }
            if cpus.is_subset(&self.objs[i].cpus) {
                todo.extend(self.objs[i].kids.iter().copied());
            }
        }
        None
    }

    /// The nodes attached at or below object `i`.
    fn nodeset(&self, i: usize) -> NodeSet {
        let mut s: NodeSet = self.objs[i].mem.iter().copied().collect();
        for &k in &self.objs[i].kids {
            s = s.union(&self.nodeset(k));
        }
        s
    }
}

/// The Machine's XML: a complete `<topology version="2.0">` document.
pub fn render(m: &Machine) -> String {
    let tree = build(m);
    let mut w = Writer {
        m,
        tree: &tree,
        out: String::new(),
        gp: 1,
        node_gp: Vec::new(),
    };
    w.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    w.out
        .push_str("<!DOCTYPE topology SYSTEM \"hwloc2.dtd\">\n");
    w.out.push_str("<topology version=\"2.0\">\n");
    w.object(0, 1);
    distances(m, &mut w.out);
    memattrs(m, &w.node_gp, &mut w.out);
    w.out.push_str("</topology>\n");
    w.out
}

fn online_cpus(m: &Machine) -> CpuSet {
    let from_cpus: CpuSet = m
        .cpus
        .iter()
        .filter(|c| c.online != Some(false))
        .map(|c| c.id)
        .collect();
    if m.cpus.is_empty() {
        m.nodes.iter().fold(CpuSet::new(), |a, n| a.union(&n.cpus))
    } else {
        from_cpus
    }
}

fn obj(kind: Kind, type_name: &str, os_index: Option<u32>, cpus: CpuSet) -> Obj {
    Obj {
        kind,
        type_name: type_name.into(),
        os_index,
        cpus,
        attrs: String::new(),
        kids: Vec::new(),
        mem: Vec::new(),
        io: Vec::new(),
    }
}

/// Every normal object below the Machine, largest CPU set first.
fn candidates(m: &Machine, online: &CpuSet) -> Vec<Obj> {
    let mut v = Vec::new();
    let mut packages: std::collections::BTreeMap<u32, CpuSet> = Default::default();
    for c in m.cpus.iter().filter(|c| online.contains(c.id)) {
        if let Some(p) = c.package {
            packages.entry(p).or_default().insert(c.id);
        }
        // a core is its online SMT siblings
        if c.core.is_some() {
            let mut sib = c.smt_siblings.intersection(online);
            sib.insert(c.id);
            if sib.first() == Some(c.id) {
                v.push(obj(Kind::Core, "Core", c.core, sib));
            }
        }
        v.push(obj(
            Kind::Pu,
            "PU",
            Some(c.id.0),
            std::iter::once(c.id).collect(),
        ));
    }
    for (p, cpus) in packages {
        v.push(obj(Kind::Package, "Package", Some(p), cpus));
    }
    for c in &m.caches {
        let cpus = c.cpus.intersection(online);
        if cpus.is_empty() || c.level == 0 {
            continue;
        }
        let (suffix, ctype, rank) = match c.kind.as_str() {
            "Data" => ("d", 1, 0),
            "Instruction" => ("i", 2, 1),
            _ => ("", 0, 0),
        };
        let mut o = obj(
            Kind::Cache {
                rank: (10 - c.level.min(9)) * 2 + rank,
            },
            &format!("L{}{suffix}Cache", c.level),
            None,
            cpus,
        );
        let _ = write!(
            o.attrs,
            " cache_size=\"{}\" depth=\"{}\" cache_linesize=\"{}\" cache_associativity=\"{}\" cache_type=\"{ctype}\"",
            c.size_bytes.unwrap_or(0),
            c.level,
            c.line_size.unwrap_or(0),
            c.ways.unwrap_or(0),
        );
        v.push(o);
    }
    v
}

fn build(m: &Machine) -> Tree {
    let online = online_cpus(m);
    let mut tree = Tree {
        objs: vec![obj(Kind::Machine, "Machine", Some(0), online.clone())],
    };
    let mut cands = candidates(m, &online);
    let localities = node_localities(m, &online);
    // a Group for each node locality no other object has
    for cpus in localities.iter().filter_map(|(_, l)| l.as_ref()) {
        if !cands.iter().any(|o| o.cpus == *cpus) && *cpus != online {
            let mut g = obj(Kind::Group, "Group", None, cpus.clone());
            g.attrs = " kind=\"1001\" subkind=\"0\"".into();
            cands.push(g);
        }
    }
    cands.sort_by(|a, b| {
        b.cpus
            .len()
            .cmp(&a.cpus.len())
            .then(a.kind.cmp(&b.kind))
            .then(a.cpus.first().cmp(&b.cpus.first()))
    });
    for o in cands {
        let _ = tree.insert(o);
    }
    attach_nodes(&mut tree, &localities);
    attach_io(m, &mut tree);
    for i in 0..tree.objs.len() {
        let mut kids = std::mem::take(&mut tree.objs[i].kids);
        kids.sort_by_key(|&k| tree.objs[k].cpus.first());
        tree.objs[i].kids = kids;
    }
    tree
}

/// The HMAT access class whose initiators are CPUs: class 1 where the
/// kernel gives it (class 0 may name a generic initiator), else class 0.
fn cpu_access(n: &numakit_topo::Node) -> Option<&AccessClass> {
    let class = |c: u32| n.access.iter().find(|a| a.class == c);
    class(1).or_else(|| class(0))
}

/// The CPUs a CPU-less node is near: those of its HMAT CPU access class
/// initiators ([`cpu_access`]), else of the CPU nodes at the smallest distance from it;
/// `None` when that is every CPU (it is near nothing in particular).
fn cpuless_locality(m: &Machine, n: &numakit_topo::Node, online: &CpuSet) -> Option<CpuSet> {
    let with_cpus: Vec<&numakit_topo::Node> = m
        .nodes
        .iter()
        .filter(|x| x.cpus.intersects(online))
        .collect();
    let initiators: NodeSet = match cpu_access(n) {
        Some(a) if !a.initiators.is_empty() => a.initiators.clone(),
        _ => {
            let d = |x: &numakit_topo::Node| m.distance(n.id, x.id);
            let min = with_cpus.iter().filter_map(|x| d(x)).min()?;
            with_cpus
                .iter()
                .filter(|x| d(x) == Some(min))
                .map(|x| x.id)
                .collect()
        }
    };
    let cpus = m.cpus_of_nodes(&initiators).intersection(online);
    (!cpus.is_empty() && cpus != *online).then_some(cpus)
}

/// The CPUs each node hangs from: its own, or for a CPU-less node those
/// it is near; `None` for the Machine.
fn node_localities(m: &Machine, online: &CpuSet) -> Vec<(NodeId, Option<CpuSet>)> {
    let bad = m.numa_inconsistent.as_ref();
    m.nodes
        .iter()
        .map(|n| {
            let cpus = n.cpus.intersection(online);
            let loc = if bad.is_some_and(|b| b.nodes.contains(n.id)) {
                None
            } else if cpus.is_empty() {
                cpuless_locality(m, n, online)
            } else {
                Some(cpus)
            };
            (n.id, loc)
        })
        .collect()
}

/// Each node hangs from the highest object with exactly its locality's
/// CPUs (a Group was made where no other object had them).
fn attach_nodes(tree: &mut Tree, localities: &[(NodeId, Option<CpuSet>)]) {
    for (id, loc) in localities {
        let at = loc.as_ref().and_then(|c| tree.anchor(c)).unwrap_or(0);
        tree.objs[at].mem.push(*id);
    }
}

/// Host bridges go under the object holding their devices' node.
fn attach_io(m: &Machine, tree: &mut Tree) {
    let mut hosts: Vec<(String, Option<NodeId>)> = Vec::new();
    for d in m.pci_devices.iter().filter(|d| hwloc_domain(d.address)) {
        let host = host_of(d);
        match hosts.iter_mut().find(|(h, _)| *h == host) {
            Some((_, node)) => *node = node.or(d.numa_node),
            None => hosts.push((host, d.numa_node)),
        }
    }
    for (host, node) in hosts {
        let at = node
            .and_then(|n| tree.objs.iter().position(|o| o.mem.contains(&n)))
            .unwrap_or(0);
        tree.objs[at].io.push(host);
    }
}

/// Whether hwloc can hold this address: its default build keeps PCI
/// domains to 16 bits and warns about the others.
fn hwloc_domain(a: PciAddress) -> bool {
    a.domain <= 0xffff
}

/// The host bridge a device hangs from (`pci0000:40`), or one named after
/// its domain and bus when sysfs did not say.
fn host_of(d: &PciDevice) -> String {
    d.host_bridge.clone().unwrap_or_else(|| {
        let a = d.upstream.last().copied().unwrap_or(d.address);
        format!("pci{:04x}:{:02x}", a.domain, a.bus)
    })
}

struct Writer<'a> {
    m: &'a Machine,
    tree: &'a Tree,
    out: String,
    gp: u64,
    /// The gp_index given to each NUMA node, for `memattr`.
    node_gp: Vec<(NodeId, u64)>,
}

impl Writer<'_> {
    fn next_gp(&mut self) -> u64 {
        self.gp += 1;
        self.gp
    }

    fn indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
    }

    /// The sets of a normal object or NUMA node.
    fn sets(&mut self, cpus: &CpuSet, complete: &CpuSet, nodes: &NodeSet) {
        let c = hwloc_bitmap(cpus);
        let cc = hwloc_bitmap(complete);
        let n = hwloc_bitmap(nodes);
        let _ = write!(
            self.out,
            " cpuset=\"{c}\" complete_cpuset=\"{cc}\" nodeset=\"{n}\" complete_nodeset=\"{n}\""
        );
    }

    fn object(&mut self, i: usize, depth: usize) {
        let o = &self.tree.objs[i];
        self.indent(depth);
        let _ = write!(self.out, "<object type=\"{}\"", o.type_name);
        if let Some(x) = o.os_index {
            let _ = write!(self.out, " os_index=\"{x}\"");
        }
        let nodes = self.tree.nodeset(i);
        let complete = if o.kind == Kind::Machine {
            self.m
                .cpus
                .iter()
                .map(|c| c.id)
                .collect::<CpuSet>()
                .union(&o.cpus)
        } else {
            o.cpus.clone()
        };
        self.sets(&o.cpus, &complete, &nodes);
        if o.kind == Kind::Machine {
            let allowed_c = match &self.m.allowed.cpus {
                Some(a) => a.intersection(&o.cpus),
                None => o.cpus.clone(),
            };
            let allowed_n = match &self.m.allowed.mems {
                Some(a) => a.intersection(&nodes),
                None => nodes.clone(),
            };
            let _ = write!(
                self.out,
                " allowed_cpuset=\"{}\" allowed_nodeset=\"{}\"",
                hwloc_bitmap(&allowed_c),
                hwloc_bitmap(&allowed_n)
            );
        }
        let gp = self.next_gp();
        let _ = writeln!(self.out, " gp_index=\"{gp}\"{}>", o.attrs);
        if o.kind == Kind::Machine {
            self.info(depth + 1, "Backend", "numakit");
        }
        for &n in &o.mem.clone() {
            self.numa_node(n, &o.cpus.clone(), depth + 1);
        }
        for &k in &o.kids.clone() {
            self.object(k, depth + 1);
        }
        for host in &o.io.clone() {
            self.host_bridge(host, depth + 1);
        }
        self.indent(depth);
        self.out.push_str("</object>\n");
    }

    fn info(&mut self, depth: usize, name: &str, value: &str) {
        self.indent(depth);
        let _ = writeln!(
            self.out,
            "<info name=\"{}\" value=\"{}\"/>",
            escape(name),
            escape(value)
        );
    }

    fn numa_node(&mut self, id: NodeId, cpus: &CpuSet, depth: usize) {
        let Some(n) = self.m.node(id) else { return };
        self.indent(depth);
        let _ = write!(self.out, "<object type=\"NUMANode\" os_index=\"{id}\"");
        self.sets(cpus, cpus, &std::iter::once(id).collect());
        let gp = self.next_gp();
        self.node_gp.push((id, gp));
        let _ = write!(self.out, " gp_index=\"{gp}\"");
        if let Some(t) = n.memory_total_bytes {
            let _ = write!(self.out, " local_memory=\"{t}\"");
        }
        let pools: Vec<_> = n.hugepages.iter().filter(|p| p.total.is_some()).collect();
        if pools.is_empty() {
            self.out.push_str("/>\n");
            return;
        }
        self.out.push_str(">\n");
        for p in pools {
            self.indent(depth + 1);
            let _ = writeln!(
                self.out,
                "<page_type size=\"{}\" count=\"{}\"/>",
                p.size_bytes,
                p.total.unwrap_or(0)
            );
        }
        self.indent(depth);
        self.out.push_str("</object>\n");
    }
}

mod io;

/// The SLIT distances as one `distances2` block, when every one is known.
fn distances(m: &Machine, out: &mut String) {
    let n = m.nodes.len();
    if n < 2 {
        return;
    }
    let mut values = Vec::with_capacity(n * n);
    for a in &m.nodes {
        for b in &m.nodes {
            match m.distance(a.id, b.id) {
                Some(d) => values.push(d),
                None => return,
            }
        }
    }
    let _ = writeln!(
        out,
        "  <distances2 type=\"NUMANode\" nbobjs=\"{n}\" kind=\"5\" name=\"NUMALatency\" indexing=\"os\">"
    );
    let idx: String = m.nodes.iter().map(|x| format!("{} ", x.id)).collect();
    let _ = writeln!(out, "    <indexes length=\"{}\">{idx}</indexes>", idx.len());
    // ten values per element, as hwloc writes them
    for chunk in values.chunks(10) {
        let s: String = chunk.iter().map(|v| format!("{v} ")).collect();
        let _ = writeln!(out, "    <u64values length=\"{}\">{s}</u64values>", s.len());
    }
    out.push_str("  </distances2>\n");
}

/// One HMAT attribute: its hwloc name, flags, and the value of a class.
struct Attr {
    name: &'static str,
    flags: u32,
    value: fn(&AccessClass) -> Option<u64>,
}

const ATTRS: &[Attr] = &[
    Attr {
        name: "Bandwidth",
        flags: 5,
        value: |a| match (a.read_bandwidth_mbps, a.write_bandwidth_mbps) {
            (Some(r), Some(w)) => Some(r.min(w)),
            (r, w) => r.or(w),
        },
    },
    Attr {
        name: "Latency",
        flags: 6,
        value: |a| match (a.read_latency_ns, a.write_latency_ns) {
            (Some(r), Some(w)) => Some(r.max(w)),
            (r, w) => r.or(w),
        },
    },
    Attr {
        name: "ReadBandwidth",
        flags: 5,
        value: |a| a.read_bandwidth_mbps,
    },
    Attr {
        name: "WriteBandwidth",
        flags: 5,
        value: |a| a.write_bandwidth_mbps,
    },
    Attr {
        name: "ReadLatency",
        flags: 6,
        value: |a| a.read_latency_ns,
    },
    Attr {
        name: "WriteLatency",
        flags: 6,
        value: |a| a.write_latency_ns,
    },
];

/// The HMAT CPU access class ([`cpu_access`]) as `memattr` blocks: per target node, the value
/// seen from the CPUs of its initiator nodes.
fn memattrs(m: &Machine, node_gp: &[(NodeId, u64)], out: &mut String) {
    for attr in ATTRS {
        let mut lines = String::new();
        for n in &m.nodes {
            let Some(gp) = node_gp.iter().find(|(id, _)| *id == n.id).map(|x| x.1) else {
                continue;
            };
            if let Some(a) = cpu_access(n) {
                // the kernel's 0 means the firmware gave no value
                let (Some(v @ 1..), cpus) = ((attr.value)(a), m.cpus_of_nodes(&a.initiators))
                else {
                    continue;
                };
                if cpus.is_empty() {
                    continue;
                }
                let _ = writeln!(
                    lines,
                    "    <memattr_value target_obj_type=\"NUMANode\" target_obj_gp_index=\"{gp}\" value=\"{v}\" initiator_cpuset=\"{}\"/>",
                    hwloc_bitmap(&cpus)
                );
            }
        }
        if !lines.is_empty() {
            let _ = writeln!(
                out,
                "  <memattr name=\"{}\" flags=\"{}\">",
                attr.name, attr.flags
            );
            out.push_str(&lines);
            out.push_str("  </memattr>\n");
        }
    }
}

/// PCI facts used by [`io`].
fn downstream_buses(m: &Machine, bridge: PciAddress) -> Option<(u8, u8)> {
    let buses: Vec<u8> = m
        .pci_devices
        .iter()
        .filter(|d| d.upstream.contains(&bridge))
        .map(|d| d.address.bus)
        .collect();
    Some((*buses.iter().min()?, *buses.iter().max()?))
}

fn is_bridge(d: &PciDevice) -> bool {
    d.kind == DeviceKind::Bridge && d.class_code.is_some_and(|c| c >> 8 == 0x0604)
}

fn source_name(s: NodeSource) -> &'static str {
    match s {
        NodeSource::Sysfs => "sysfs",
        NodeSource::Inferred => "inferred",
        NodeSource::Unknown => "unknown",
    }
}
