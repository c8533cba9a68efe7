//! A picture of the machine as SVG: packages, NUMA nodes with their memory,
//! caches and cores, and each PCI device under the node that owns it, as
//! lstopo draws them, plus what lstopo does not draw: the distance matrix
//! as a heatmap beside the boxes, degraded links and devices of unknown
//! node marked, and a GPU's memory node drawn next to the GPU.
//!
//! Every box is measured from its text before anything is placed (a
//! monospace font, [`CHAR_W`] per character), so boxes never overlap and
//! text never leaves its box. Each drawn box is a `<rect>` with a `class`
//! and, for nodes, devices and packages, a unique `id` (`node-1`,
//! `pci-0000:17:00.0`, `package-0`), which is how the tests find them.

use std::fmt::Write;

use numakit_topo::pci::DeviceKind;
use numakit_topo::{Machine, Node, PciDevice};
use numakit_types::{ByteSize, CpuSet, NodeId};

use crate::xml::escape;

/// Width of one character of the 12 px monospace font, with a margin.
pub const CHAR_W: f64 = 7.4;
/// Height of one line of text.
pub const LINE_H: f64 = 16.0;
/// Padding inside a box.
pub const PAD: f64 = 8.0;
/// Space between boxes.
pub const GAP: f64 = 8.0;
/// The font size.
pub const FONT_PX: f64 = 12.0;

/// How a box lays out its children.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Flow {
    /// One under the other.
    Column,
    /// Left to right, wrapping before `max_w`.
    Row { max_w: f64 },
}

/// One box: its text lines, its children, and (once measured) its size
/// and its children's offsets.
#[derive(Debug, Clone)]
struct Block {
    id: Option<String>,
    class: &'static str,
    fill: String,
    lines: Vec<String>,
    kids: Vec<Block>,
    flow: Flow,
    w: f64,
    h: f64,
    /// Offset from the parent's corner.
    dx: f64,
    dy: f64,
}

impl Block {
    fn new(class: &'static str, fill: &str, lines: Vec<String>) -> Block {
        Block {
            id: None,
            class,
            fill: fill.into(),
            lines,
            kids: Vec::new(),
            flow: Flow::Column,
            w: 0.0,
            h: 0.0,
            dx: 0.0,
            dy: 0.0,
        }
    }

    fn id(mut self, id: String) -> Block {
        self.id = Some(id);
        self
    }

    fn row(mut self, max_w: f64) -> Block {
        self.flow = Flow::Row { max_w };
        self
    }
}

fn text_w(s: &str) -> f64 {
    s.chars().count() as f64 * CHAR_W
}

/// Sizes `b` from its text and children, and places the children.
fn measure(b: &mut Block) {
    for k in &mut b.kids {
        measure(k);
    }
    let text = b.lines.iter().map(|l| text_w(l)).fold(0.0, f64::max);
    let head = if b.lines.is_empty() {
        PAD
    } else {
        PAD + b.lines.len() as f64 * LINE_H + GAP / 2.0
    };
    let (mut inner_w, mut y) = (0.0f64, head);
    match b.flow {
        Flow::Column => {
            for k in &mut b.kids {
                k.dx = PAD;
                k.dy = y;
                y += k.h + GAP;
                inner_w = inner_w.max(k.w);
            }
        }
        Flow::Row { max_w } => {
            let (mut x, mut row_h) = (0.0f64, 0.0f64);
            for k in &mut b.kids {
                if x > 0.0 && x + k.w > max_w {
                    y += row_h + GAP;
                    x = 0.0;
                    row_h = 0.0;
                }
                k.dx = PAD + x;
                k.dy = y;
                x += k.w + GAP;
                row_h = row_h.max(k.h);
                inner_w = inner_w.max(x - GAP);
            }
            if !b.kids.is_empty() {
                y += row_h + GAP;
            }
        }
    }
    b.w = (text + 2.0 * PAD).max(inner_w + 2.0 * PAD);
    b.h = if b.kids.is_empty() {
        head + PAD / 2.0
    } else {
        y - GAP + PAD
    };
}

/// The whole picture as an SVG document.
pub fn render(m: &Machine) -> String {
    let mut top = Block::new("root", "none", Vec::new()).row(f64::INFINITY);
    top.kids.push(machine_block(m));
    if m.nodes.len() > 1 {
        top.kids.push(heatmap(m));
    }
    measure(&mut top);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\" font-family=\"DejaVu Sans Mono, monospace\" font-size=\"{FONT_PX}\">",
        w = top.w.ceil(),
        h = top.h.ceil()
    );
    let _ = writeln!(
        out,
        "<rect x=\"0\" y=\"0\" width=\"{:.0}\" height=\"{:.0}\" fill=\"#ffffff\"/>",
        top.w.ceil(),
        top.h.ceil()
    );
    for k in &top.kids {
        draw(k, 0.0, 0.0, &mut out);
    }
    out.push_str("</svg>\n");
    out
}

fn draw(b: &Block, px: f64, py: f64, out: &mut String) {
    let (x, y) = (px + b.dx, py + b.dy);
    let id =
        b.id.as_ref()
            .map(|i| format!(" id=\"{}\"", escape(i)))
            .unwrap_or_default();
    let dash = if b.class.contains("unknown") {
        " stroke-dasharray=\"6 3\""
    } else {
        ""
    };
    let stroke = if b.class.contains("degraded") || b.class.contains("unknown") {
        "#c0392b"
    } else {
        "#555555"
    };
    let _ = writeln!(
        out,
        "<rect{id} class=\"{}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\" stroke=\"{stroke}\"{dash}/>",
        b.class, b.w, b.h, b.fill
    );
    for (i, l) in b.lines.iter().enumerate() {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x + PAD,
            y + PAD + (i as f64 + 1.0) * LINE_H - 4.0,
            escape(l)
        );
    }
    for k in &b.kids {
        draw(k, x, y, out);
    }
}

/// Nodes that are a GPU's memory: drawn next to their GPU.
fn gpu_memory_nodes(m: &Machine) -> Vec<NodeId> {
    m.pci_devices
        .iter()
        .filter_map(|d| d.gpu_memory_node)
        .collect()
}

fn machine_block(m: &Machine) -> Block {
    let mem: Option<u64> = m.nodes.iter().map(|n| n.memory_total_bytes).sum();
    let title = format!(
        "Machine: {} NUMA nodes, {} CPUs, {}",
        m.nodes.len(),
        m.cpus.len(),
        mem.map_or("memory unknown".into(), |b| format!(
            "{} memory",
            ByteSize(b)
        ))
    );
    let mut b = Block::new("machine", "#f4f4f4", vec![title]).row(1400.0);
    if let Some(bad) = &m.numa_inconsistent {
        b.lines.push(format!(
            "NUMA information inconsistent: CPUs {} listed under several of nodes {}",
            bad.cpus, bad.nodes
        ));
    }
    let gpumem = gpu_memory_nodes(m);
    // node -> package, when all its CPUs are in one package
    let mut packages: std::collections::BTreeMap<Option<u32>, Vec<&Node>> = Default::default();
    for n in m.nodes.iter().filter(|n| !gpumem.contains(&n.id)) {
        packages.entry(m.node_package(n)).or_default().push(n);
    }
    for (pkg, nodes) in &packages {
        match pkg {
            Some(p) => {
                let cpus = nodes.iter().fold(CpuSet::new(), |a, n| a.union(&n.cpus));
                let mut pb = Block::new(
                    "package",
                    "#e8eef7",
                    vec![format!("Package {p} (CPUs {cpus})")],
                )
                .id(format!("package-{p}"));
                pb.kids = nodes.iter().map(|n| node_block(m, n)).collect();
                b.kids.push(pb);
            }
            None => b.kids.extend(nodes.iter().map(|n| node_block(m, n))),
        }
    }
    let known = m.node_ids();
    let unknown: Vec<&PciDevice> = m
        .pci_devices
        .iter()
        .filter(|d| shown(d) && d.numa_node.is_none_or(|n| !known.contains(n)))
        .collect();
    if !unknown.is_empty() {
        let mut u = Block::new(
            "unknown",
            "#fdf0ef",
            vec!["Devices of unknown NUMA node".into()],
        );
        u.kids = unknown.iter().map(|d| device_row(m, d)).collect();
        b.kids.push(u);
    }
    b
}

fn shown(d: &PciDevice) -> bool {
    d.kind != DeviceKind::Bridge
}

fn node_block(m: &Machine, n: &Node) -> Block {
    let mut title = format!("Node {}", n.id);
    match n.memory_total_bytes {
        Some(t) => {
            let _ = write!(title, ": {}", ByteSize(t));
        }
        None => title.push_str(": memory unknown"),
    }
    if let Some(t) = n.memory_tier {
        let _ = write!(title, ", tier {t}");
    }
    let hp: Vec<String> = n
        .hugepages
        .iter()
        .filter(|p| p.total.unwrap_or(0) > 0)
        .map(|p| format!("{}×{}", p.total.unwrap_or(0), ByteSize(p.size_bytes)))
        .collect();
    if !hp.is_empty() {
        let _ = write!(title, ", hugepages {}", hp.join(" "));
    }
    let fill = if n.cpus.is_empty() {
        "#f3ecf8"
    } else {
        "#eef7ee"
    };
    let mut b = Block::new("node", fill, vec![title]).id(format!("node-{}", n.id));
    let bad = m.numa_inconsistent.as_ref();
    let own = bad.map_or(n.cpus.clone(), |x| n.cpus.difference(&x.cpus));
    if !own.is_empty() {
        b.lines.push(format!("CPUs {own}"));
        if let Some(c) = caches_line(m, &own) {
            b.lines.push(c);
        }
        b.kids.push(cores_block(m, &own));
    } else if n.cpus.is_empty() {
        b.lines.push("no CPUs (memory only)".into());
    } else {
        b.lines.push("CPUs unknown (inconsistent firmware)".into());
    }
    b.kids.extend(
        m.pci_devices
            .iter()
            .filter(|d| shown(d) && d.numa_node == Some(n.id))
            .map(|d| device_row(m, d)),
    );
    b
}

fn caches_line(m: &Machine, cpus: &CpuSet) -> Option<String> {
    let mut by: std::collections::BTreeMap<(u32, String), (u64, usize)> = Default::default();
    for c in m.caches.iter().filter(|c| c.cpus.intersects(cpus)) {
        let e = by
            .entry((c.level, c.kind.clone()))
            .or_insert((c.size_bytes.unwrap_or(0), 0));
        e.1 += 1;
    }
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
    (!parts.is_empty()).then(|| format!("caches: {}", parts.join(", ")))
}

/// A cell per core (its online SMT siblings); offline CPUs marked.
fn cores_block(m: &Machine, cpus: &CpuSet) -> Block {
    let mut cores: std::collections::BTreeSet<Vec<u32>> = Default::default();
    let mut offline = CpuSet::new();
    for c in m.cpus.iter().filter(|c| cpus.contains(c.id)) {
        if c.online == Some(false) {
            offline.insert(c.id);
            continue;
        }
        let mut sib = c.smt_siblings.intersection(cpus);
        sib.insert(c.id);
        cores.insert(sib.iter_raw().collect());
    }
    let mut b = Block::new("cores", "#ffffff", Vec::new()).row(560.0);
    for core in &cores {
        let label = core
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        b.kids.push(Block::new("core", "#d9ead3", vec![label]));
    }
    if !offline.is_empty() {
        b.kids.push(Block::new(
            "core offline",
            "#eeeeee",
            vec![format!("offline {offline}")],
        ));
    }
    b
}

/// A device, with its GPU memory node beside it.
fn device_row(m: &Machine, d: &PciDevice) -> Block {
    let mut label = format!("{} {}", d.address, d.kind.as_str());
    let name = d.display_name();
    if !name.is_empty() {
        let mut short: String = name.chars().take(48).collect();
        if name.chars().count() > 48 {
            short.push('…');
        }
        let _ = write!(label, " {short}");
    }
    if let (Some(w), Some(s)) = (d.link.current_width, &d.link.current_speed) {
        let _ = write!(label, " x{w} {}", s.trim_end_matches(" PCIe"));
    }
    let mut lines = vec![label];
    if d.link.degraded {
        lines.push(format!(
            "degraded link: x{} {} of x{} {}",
            d.link.current_width.unwrap_or(0),
            d.link.current_speed.as_deref().unwrap_or("?"),
            d.link.max_width.unwrap_or(0),
            d.link.max_speed.as_deref().unwrap_or("?")
        ));
    }
    let class = match (d.link.degraded, d.kind) {
        (true, _) => "pci degraded",
        (false, DeviceKind::Gpu) => "pci gpu",
        (false, DeviceKind::Nic | DeviceKind::Infiniband) => "pci nic",
        _ => "pci",
    };
    let fill = match d.kind {
        DeviceKind::Gpu | DeviceKind::Accelerator => "#fff2cc",
        DeviceKind::Nic | DeviceKind::Infiniband => "#deebf7",
        DeviceKind::Nvme | DeviceKind::Storage => "#e2f0d9",
        _ => "#ffffff",
    };
    let dev = Block::new(class, fill, lines).id(format!("pci-{}", d.address));
    let Some(mem) = d.gpu_memory_node.and_then(|n| m.node(n)) else {
        return dev;
    };
    let mut row = Block::new("pcirow", "none", Vec::new()).row(f64::INFINITY);
    row.kids.push(dev);
    let size = mem
        .memory_total_bytes
        .map_or("memory unknown".into(), |b| ByteSize(b).to_string());
    row.kids.push(
        Block::new(
            "node gpumem",
            "#f3ecf8",
            vec![format!("Node {}: GPU memory {size}", mem.id)],
        )
        .id(format!("node-{}", mem.id)),
    );
    row
}

/// The distance matrix as a heatmap: green at the local distance, red at
/// the largest.
fn heatmap(m: &Machine) -> Block {
    let n = m.nodes.len();
    let all: Vec<u32> = m
        .nodes
        .iter()
        .flat_map(|a| m.nodes.iter().filter_map(move |b| m.distance(a.id, b.id)))
        .collect();
    let (lo, hi) = (
        all.iter().copied().min().unwrap_or(10),
        all.iter().copied().max().unwrap_or(10),
    );
    let width = all
        .iter()
        .map(|d| d.to_string().len())
        .chain(m.nodes.iter().map(|x| x.id.to_string().len() + 1))
        .max()
        .unwrap_or(2)
        .max(3);
    let cell = |text: String, fill: String| {
        let mut c = Block::new("cell", &fill, vec![format!("{text:>width$}")]);
        c.fill = fill;
        c
    };
    let mut b = Block::new("distances", "#ffffff", vec!["Distances".into()]);
    let cell_w = width as f64 * CHAR_W + 2.0 * PAD;
    b.flow = Flow::Row {
        max_w: (n + 1) as f64 * (cell_w + GAP) - GAP + 0.5,
    };
    b.kids.push(cell(String::new(), "#ffffff".into()));
    for x in &m.nodes {
        b.kids.push(cell(format!("N{}", x.id), "#eeeeee".into()));
    }
    for a in &m.nodes {
        b.kids.push(cell(format!("N{}", a.id), "#eeeeee".into()));
        for c in &m.nodes {
            match m.distance(a.id, c.id) {
                Some(d) => b.kids.push(cell(d.to_string(), heat(d, lo, hi))),
                None => b.kids.push(cell("?".into(), "#ffffff".into())),
            }
        }
    }
    b
}

/// Green (near) to red (far).
fn heat(d: u32, lo: u32, hi: u32) -> String {
    let t = if hi > lo {
        f64::from(d - lo) / f64::from(hi - lo)
    } else {
        0.0
    };
    let r = (120.0 + 135.0 * t) as u8;
    let g = (220.0 - 120.0 * t) as u8;
    let b = (120.0 - 40.0 * t) as u8;
    format!("#{r:02x}{g:02x}{b:02x}")
}
