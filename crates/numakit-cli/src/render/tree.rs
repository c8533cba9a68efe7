//! The default `numakit topo` view: a one-line summary, then a tree of
//! machine > package > node > CPUs, with each device under the node that
//! owns it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use numakit_topo::node::NodeKind;
use numakit_topo::pci::{DeviceKind, NodeSource};
use numakit_topo::{Machine, Node, PciDevice};
use numakit_types::{ByteSize, CpuSet, NodeId};

use crate::output::sanitize;

struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    fn warn(&self, s: &str) -> String {
        self.paint("33", s)
    }
}

/// A tree node: a label and children.
struct T {
    label: String,
    kids: Vec<T>,
}

impl T {
    fn new(label: impl Into<String>) -> T {
        T {
            label: label.into(),
            kids: Vec::new(),
        }
    }
}

fn draw(t: &T, prefix: &str, last: bool, top: bool, out: &mut String) {
    if top {
        let _ = writeln!(out, "{}", t.label);
    } else {
        let _ = writeln!(
            out,
            "{prefix}{}{}",
            if last { "└─ " } else { "├─ " },
            t.label
        );
    }
    let child_prefix = if top {
        String::new()
    } else {
        format!("{prefix}{}", if last { "   " } else { "│  " })
    };
    for (i, k) in t.kids.iter().enumerate() {
        draw(k, &child_prefix, i + 1 == t.kids.len(), false, out);
    }
}

/// The one-line summary.
pub fn summary(m: &Machine) -> String {
    let packages: std::collections::BTreeSet<u32> =
        m.cpus.iter().filter_map(|c| c.package).collect();
    let online = m.cpus.iter().filter(|c| c.online != Some(false)).count();
    let mut s = String::new();
    if !packages.is_empty() {
        let _ = write!(s, "{} package{}, ", packages.len(), plural(packages.len()));
    }
    let _ = write!(s, "{} NUMA node{}", m.nodes.len(), plural(m.nodes.len()));
    let _ = write!(s, ", {} CPUs", m.cpus.len());
    if online != m.cpus.len() {
        let _ = write!(s, " ({online} online)");
    }
    let mem: Option<u64> = m.nodes.iter().map(|n| n.memory_total_bytes).sum();
    match mem.or(m.memory.total_bytes) {
        Some(b) => {
            let _ = write!(s, ", {} memory", ByteSize(b));
        }
        None => s.push_str(", memory unknown"),
    }
    let endpoints = m
        .pci_devices
        .iter()
        .filter(|d| d.kind != DeviceKind::Bridge)
        .count();
    let _ = write!(s, ", {endpoints} PCI device{}", plural(endpoints));
    match m.iommu.active {
        Some(true) => {
            let _ = write!(s, ", IOMMU on ({} groups)", m.iommu.groups.len());
        }
        Some(false) => s.push_str(", IOMMU off"),
        None => s.push_str(", IOMMU unknown"),
    }
    s
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn node_label(m: &Machine, n: &Node, st: &Style) -> String {
    let mut s = st.bold(&format!("Node {}", n.id));
    match (n.memory_total_bytes, n.memory_free_bytes) {
        (Some(t), Some(f)) => {
            let _ = write!(s, ": {} ({} free)", ByteSize(t), ByteSize(f));
        }
        (Some(t), None) => {
            let _ = write!(s, ": {}", ByteSize(t));
        }
        _ => s.push_str(": memory unknown"),
    }
    let bad = m.numa_inconsistent.as_ref();
    let own = match bad {
        Some(b) => n.cpus.difference(&b.cpus),
        None => n.cpus.clone(),
    };
    if !own.is_empty() {
        let _ = write!(s, ", CPUs {own}");
    }
    if bad.is_some_and(|b| b.nodes.contains(n.id)) {
        s.push_str(&st.warn(", CPUs unknown"));
    }
    match n.kind {
        NodeKind::MemoryOnly => s.push_str(", no CPUs"),
        NodeKind::CpuOnly => s.push_str(", no memory"),
        NodeKind::GenericInitiator => s.push_str(", generic initiator"),
        _ => {}
    }
    if let Some(t) = n.memory_tier {
        let _ = write!(s, ", tier {t}");
    }
    if n.online == Some(false) {
        s.push_str(&st.warn(" [offline]"));
    }
    let hp: Vec<String> = n
        .hugepages
        .iter()
        .filter(|p| p.total.unwrap_or(0) > 0)
        .map(|p| format!("{}×{}", p.total.unwrap_or(0), ByteSize(p.size_bytes)))
        .collect();
    if !hp.is_empty() {
        let _ = write!(s, ", hugepages {}", hp.join(" "));
    }
    let _ = m;
    s
}

/// (package, die, cluster, core) of a CPU, each unknown as `None`.
type CoreKey = (Option<u32>, Option<u32>, Option<u32>, Option<u32>);

fn cpu_lines(m: &Machine, cpus: &CpuSet, verbose: bool, st: &Style) -> Vec<T> {
    let mut v = Vec::new();
    // caches shared within these CPUs, summarised per level/type
    let mut by: BTreeMap<(u32, String), (u64, usize)> = BTreeMap::new();
    for c in m
        .caches
        .iter()
        .filter(|c| c.cpus.is_subset(cpus) || c.cpus.intersects(cpus))
    {
        let e = by
            .entry((c.level, c.kind.clone()))
            .or_insert((c.size_bytes.unwrap_or(0), 0));
        e.1 += 1;
    }
    if !by.is_empty() {
        let parts: Vec<String> = by
            .iter()
            .rev()
            .map(|((l, k), (size, n))| {
                let t = match k.as_str() {
                    "Data" => "d",
                    "Instruction" => "i",
                    _ => "",
                };
                format!("L{l}{t} {}×{n}", ByteSize(*size))
            })
            .collect();
        v.push(T::new(st.dim(&format!("caches: {}", parts.join(", ")))));
    }
    // cores: group CPUs by (package, die, cluster, core)
    let mut cores: BTreeMap<CoreKey, CpuSet> = BTreeMap::new();
    for c in m.cpus.iter().filter(|c| cpus.contains(c.id)) {
        let key = if c.core.is_some() {
            (c.package, c.die, c.cluster, c.core)
        } else {
            (None, None, None, Some(c.id.0))
        };
        cores.entry(key).or_default().insert(c.id);
    }
    let offline: CpuSet = m
        .cpus
        .iter()
        .filter(|c| cpus.contains(c.id) && c.online == Some(false))
        .map(|c| c.id)
        .collect();
    if verbose {
        for ((_, _, _, core), set) in &cores {
            let mut l = match core {
                Some(c) => format!("Core {c}: CPU {set}"),
                None => format!("CPU {set}"),
            };
            if set.intersects(&offline) {
                l.push_str(&st.warn(" [offline]"));
            }
            v.push(T::new(l));
        }
    } else {
        let present: CpuSet = m.cpus.iter().map(|c| c.id).collect();
        let absent = cpus.difference(&present);
        let mut l = core_summary(m, cpus);
        if !offline.is_empty() {
            l.push_str(&st.warn(&format!(", CPUs {offline} offline")));
        }
        if !absent.is_empty() {
            l.push_str(&st.warn(&format!(", CPUs {absent} absent")));
        }
        if !l.is_empty() {
            v.push(T::new(l.trim_start_matches(", ").to_string()));
        }
    }
    v
}

/// Cores among `cpus` and their threads, counted from the online CPUs
/// (an offline CPU's core is unknown) and their SMT siblings that are
/// online: `8 cores, 2 threads per core`, or on a machine whose cores
/// differ, `7 cores (5 with 2 threads, 2 with 1)`. Empty when no online
/// CPU's core is known.
fn core_summary(m: &Machine, cpus: &CpuSet) -> String {
    let online: Vec<&numakit_topo::Cpu> = m
        .cpus
        .iter()
        .filter(|c| cpus.contains(c.id) && c.online != Some(false))
        .collect();
    let online_set: CpuSet = online.iter().map(|c| c.id).collect();
    // a core is its set of online SMT siblings (the kernel's
    // thread_siblings_list), which core ids alone do not name: they repeat
    // across packages, and the package is not always known
    let mut cores: std::collections::BTreeSet<Vec<u32>> = Default::default();
    for c in &online {
        let mut sib = c.smt_siblings.intersection(&online_set);
        sib.insert(c.id);
        cores.insert(sib.iter_raw().collect());
    }
    if cores.is_empty() {
        return String::new();
    }
    // threads per core -> number of such cores, most threads first
    let mut shapes: BTreeMap<std::cmp::Reverse<usize>, usize> = BTreeMap::new();
    for sib in &cores {
        *shapes.entry(std::cmp::Reverse(sib.len())).or_insert(0) += 1;
    }
    let n = cores.len();
    let mut s = format!("{n} core{}", plural(n));
    match shapes.len() {
        1 => {
            let t = shapes.keys().next().map_or(1, |r| r.0);
            if t > 1 {
                let _ = write!(s, ", {t} threads per core");
            }
        }
        _ => {
            let parts: Vec<String> = shapes
                .iter()
                .enumerate()
                .map(|(i, (t, k))| match i {
                    0 => format!("{k} with {} thread{}", t.0, plural(t.0)),
                    _ => format!("{k} with {}", t.0),
                })
                .collect();
            let _ = write!(s, " ({})", parts.join(", "));
        }
    }
    s
}

/// One line for a PCI device: address, kind, names, driver, OS names, link
/// (flagged when degraded), BAR size for GPUs and accelerators, SR-IOV and
/// where the NUMA node came from when it was inferred.
pub fn device_label(d: &PciDevice, st_color: bool) -> String {
    let st = Style { color: st_color };
    let mut s = format!("{} {}", d.address, st.bold(d.kind.as_str()));
    let _ = write!(s, " {}", sanitize(&d.display_name()));
    if let Some(drv) = &d.driver {
        let _ = write!(s, " ({})", sanitize(drv));
    }
    let names = os_names(d);
    if !names.is_empty() {
        let _ = write!(s, " [{}]", names.join(", "));
    }
    if let (Some(cs), Some(cw)) = (&d.link.current_speed, d.link.current_width) {
        let _ = write!(s, " {}", st.dim(&format!("x{cw} {}", short_speed(cs))));
    }
    if d.link.degraded {
        let max = format!(
            " [degraded, max x{} {}]",
            d.link.max_width.map_or("?".into(), |w| w.to_string()),
            d.link
                .max_speed
                .as_deref()
                .map(short_speed)
                .unwrap_or_else(|| "?".into())
        );
        s.push_str(&st.warn(&max));
    }
    if matches!(d.kind, DeviceKind::Gpu | DeviceKind::Accelerator)
        && let Some(bar) = d.largest_bar()
    {
        let _ = write!(s, " BAR {}", ByteSize(bar.size_bytes));
        match (d.resizable_bar, bar.resizable_max_bytes) {
            (Some(true), _) => s.push_str(" (ReBAR)"),
            (Some(false), Some(max)) => {
                let _ = write!(s, " (ReBAR off, up to {})", ByteSize(max));
            }
            (Some(false), None) => s.push_str(" (ReBAR off)"),
            (None, _) => {}
        }
    }
    if let Some(n) = d.gpu_memory_node {
        let _ = write!(s, ", memory on node {n}");
    }
    if let Some(pf) = d.sriov.physfn {
        let _ = write!(s, " (VF of {pf})");
    } else if let Some(total) = d.sriov.total_vfs.filter(|t| *t > 0) {
        let _ = write!(s, " SR-IOV {}/{total} VFs", d.sriov.num_vfs.unwrap_or(0));
    }
    if d.numa_node_source == NodeSource::Inferred {
        s.push_str(&st.dim(" (node inferred)"));
    }
    s
}

/// OS names for display; DMA channels are summarised as one count.
fn os_names(d: &PciDevice) -> Vec<String> {
    let dma = d.os_names.iter().filter(|o| o.class == "dma").count();
    let mut v: Vec<String> = d
        .os_names
        .iter()
        .filter(|o| o.class != "dma")
        .map(|o| sanitize(&o.name))
        .collect();
    match dma {
        0 => {}
        1 => v.extend(
            d.os_names
                .iter()
                .filter(|o| o.class == "dma")
                .map(|o| sanitize(&o.name)),
        ),
        n => v.push(format!("{n} DMA channels")),
    }
    v
}

fn short_speed(s: &str) -> String {
    s.trim_end_matches(" PCIe").replace(" GT/s", "GT/s")
}

fn shown(d: &PciDevice, verbose: bool) -> bool {
    verbose || d.kind != DeviceKind::Bridge
}

/// Renders the tree.
pub fn render(m: &Machine, verbose: bool, color: bool) -> String {
    let st = Style { color };
    let mut out = String::new();
    let _ = writeln!(out, "{}", st.bold(&summary(m)));
    let mut root = T::new("Machine");
    let placed = gpu_memory_nodes(m);
    let dev_nodes = |id: Option<NodeId>| -> Vec<T> {
        m.pci_devices
            .iter()
            .filter(|d| d.numa_node == id && shown(d, verbose))
            .map(|d| device_tree(m, d, &placed, &st))
            .collect()
    };
    // node -> package (when all its CPUs sit in one package); GPU memory
    // nodes go under their GPU instead
    let mut pkg_nodes: BTreeMap<Option<u32>, Vec<&Node>> = BTreeMap::new();
    for n in m.nodes.iter().filter(|n| !placed.contains(&n.id)) {
        pkg_nodes.entry(m.node_package(n)).or_default().push(n);
    }
    let bad = m.numa_inconsistent.as_ref();
    if let Some(b) = bad {
        let _ = writeln!(out, "{}", st.warn(&inconsistency(b)));
    }
    let node_tree = |n: &Node| -> T {
        let mut t = T::new(node_label(m, n, &st));
        let own = bad.map_or(n.cpus.clone(), |b| n.cpus.difference(&b.cpus));
        t.kids.extend(cpu_lines(m, &own, verbose, &st));
        t.kids.extend(dev_nodes(Some(n.id)));
        t
    };
    for (pkg, nodes) in &pkg_nodes {
        match pkg {
            Some(p) => {
                let cpus = nodes.iter().fold(CpuSet::new(), |a, n| a.union(&n.cpus));
                let mut t = T::new(st.bold(&format!("Package {p}")) + &format!(" (CPUs {cpus})"));
                t.kids.extend(nodes.iter().map(|n| node_tree(n)));
                root.kids.push(t);
            }
            None => root.kids.extend(nodes.iter().map(|n| node_tree(n))),
        }
    }
    if let Some(b) = bad {
        let mut t = T::new(st.warn(&format!("CPUs {} (node unknown)", b.cpus)));
        t.kids = cpu_lines(m, &b.cpus, verbose, &st);
        root.kids.push(t);
    }
    let orphans = dev_nodes(None);
    if !orphans.is_empty() {
        let mut t = T::new(st.dim("Devices with no known NUMA node"));
        t.kids = orphans;
        root.kids.push(t);
    }
    // devices whose node is not one of the nodes
    let known = m.node_ids();
    let stray: Vec<T> = m
        .pci_devices
        .iter()
        .filter(|d| d.numa_node.is_some_and(|n| !known.contains(n)) && shown(d, verbose))
        .map(|d| T::new(device_label(d, color)))
        .collect();
    if !stray.is_empty() {
        let mut t = T::new(st.warn("Devices on nodes sysfs does not list"));
        t.kids = stray;
        root.kids.push(t);
    }
    draw(&root, "", true, true, &mut out);
    if m.nodes.len() > 1 {
        out.push_str(&distance_table(m));
    }
    out
}

/// A device's line, with its GPU memory node under it when that node is
/// drawn there (`placed`).
fn device_tree(m: &Machine, d: &PciDevice, placed: &BTreeSet<NodeId>, st: &Style) -> T {
    let mut t = T::new(device_label(d, st.color));
    if let Some(n) = d
        .gpu_memory_node
        .filter(|g| placed.contains(g))
        .and_then(|g| m.node(g))
    {
        t.kids.push(T::new(format!(
            "{}, GPU memory of {}",
            node_label(m, n, st),
            d.address
        )));
    }
    t
}

/// The GPU memory nodes that are drawn under their GPU: CPU-less nodes a
/// GPU names as its memory, whose GPU sits on another node the tree shows.
fn gpu_memory_nodes(m: &Machine) -> BTreeSet<NodeId> {
    let known = m.node_ids();
    m.pci_devices
        .iter()
        .filter_map(|d| {
            let g = d.gpu_memory_node?;
            let home = d.numa_node?;
            let cpu_less = m.node(g).is_some_and(|n| n.cpus.is_empty());
            (cpu_less && home != g && known.contains(home)).then_some(g)
        })
        .collect()
}

/// The warning for firmware that lists CPUs under several nodes.
fn inconsistency(b: &numakit_topo::NumaInconsistency) -> String {
    format!(
        "warning: the NUMA information is inconsistent: CPUs {} are listed under more than one of nodes {}; their node is unknown",
        b.cpus, b.nodes
    )
}

/// Above this many nodes the matrix would not fit a terminal: it is summarised.
const MAX_DISTANCE_COLUMNS: usize = 16;

fn distance_table(m: &Machine) -> String {
    if m.nodes.len() > MAX_DISTANCE_COLUMNS {
        let values: std::collections::BTreeSet<u32> = m
            .nodes
            .iter()
            .flat_map(|n| n.distances.iter().flatten().copied())
            .collect();
        let values: Vec<String> = values.iter().map(u32::to_string).collect();
        let unknown = m
            .nodes
            .iter()
            .any(|n| n.distances.iter().any(Option::is_none));
        return format!(
            "Distances: {n}×{n} matrix, values {}{}; the whole matrix: numakit topo --hardware or --json\n",
            values.join(", "),
            if unknown { ", some unknown" } else { "" },
            n = m.nodes.len()
        );
    }
    let mut s = String::from("Distances:\n      ");
    for n in &m.nodes {
        let _ = write!(s, "{:>5}", n.id);
    }
    s.push('\n');
    for n in &m.nodes {
        let _ = write!(s, "{:>5}:", n.id);
        for d in &n.distances {
            match d {
                Some(d) => {
                    let _ = write!(s, "{d:>5}");
                }
                None => s.push_str("    ?"),
            }
        }
        s.push('\n');
    }
    s
}
