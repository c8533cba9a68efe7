//! The SVG picture: on every fixture and on a 2-socket machine with 8 GPUs
//! and 10 NICs, the document parses, every NUMA node and every PCI device
//! (bridges aside) is drawn exactly once, no two boxes overlap unless one
//! holds the other, every text line lies inside its box, and an SVG
//! renderer (rsvg-convert) draws it at its declared size. The pictures in
//! `docs/` are rendered here too (`NUMAKIT_BLESS=1` rewrites them), so a
//! broken picture fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{El, parse};
use numakit_export::svg::{CHAR_W, LINE_H};
use numakit_root::Root;
use numakit_topo::Machine;
use numakit_topo::pci::DeviceKind;
use numakit_types::{NodeId, PciAddress};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn machine(rel: &str) -> Machine {
    Machine::discover(&Root::open(fixtures().join(rel)).unwrap())
}

#[derive(Debug, Clone, Copy)]
struct R {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl R {
    fn contains(&self, o: &R) -> bool {
        o.x >= self.x - 0.01
            && o.y >= self.y - 0.01
            && o.x + o.w <= self.x + self.w + 0.01
            && o.y + o.h <= self.y + self.h + 0.01
    }
    fn disjoint(&self, o: &R) -> bool {
        o.x >= self.x + self.w - 0.01
            || self.x >= o.x + o.w - 0.01
            || o.y >= self.y + self.h - 0.01
            || self.y >= o.y + o.h - 0.01
    }
}

fn num(e: &El, k: &str) -> f64 {
    e.attrs[k].parse().unwrap()
}

/// Checks one picture; returns its boxes' ids.
fn check(name: &str, m: &Machine, svg: &str) -> Vec<String> {
    let doc = parse(svg);
    let root = &doc.kids[0];
    assert_eq!(root.name, "svg", "{name}");
    let rects: Vec<(Option<String>, R)> = root
        .kids
        .iter()
        .filter(|e| e.name == "rect" && e.attrs.contains_key("class"))
        .map(|e| {
            let r = R {
                x: num(e, "x"),
                y: num(e, "y"),
                w: num(e, "width"),
                h: num(e, "height"),
            };
            (e.attrs.get("id").cloned(), r)
        })
        .collect();
    let ids: Vec<String> = rects.iter().filter_map(|(i, _)| i.clone()).collect();
    for n in &m.nodes {
        let id = format!("node-{}", n.id);
        assert_eq!(ids.iter().filter(|i| **i == id).count(), 1, "{name}: {id}");
    }
    for d in m
        .pci_devices
        .iter()
        .filter(|d| d.kind != DeviceKind::Bridge)
    {
        let id = format!("pci-{}", d.address);
        assert_eq!(ids.iter().filter(|i| **i == id).count(), 1, "{name}: {id}");
    }
    // laminar: two boxes are apart, or one holds the other
    for (i, (ia, a)) in rects.iter().enumerate() {
        for (ib, b) in &rects[i + 1..] {
            assert!(
                a.disjoint(b) || a.contains(b) || b.contains(a),
                "{name}: {ia:?} {a:?} overlaps {ib:?} {b:?}"
            );
        }
    }
    // each text line inside the smallest box holding its start
    for t in root.kids.iter().filter(|e| e.name == "text") {
        let (x, y) = (num(t, "x"), num(t, "y"));
        let span = R {
            x,
            y: y - LINE_H + 4.0,
            w: t.text.chars().count() as f64 * CHAR_W,
            h: LINE_H,
        };
        let holder = rects
            .iter()
            .filter(|(_, r)| r.x <= x && x <= r.x + r.w && r.y <= y && y <= r.y + r.h)
            .min_by(|a, b| (a.1.w * a.1.h).total_cmp(&(b.1.w * b.1.h)));
        let (_, r) = holder.unwrap_or_else(|| panic!("{name}: text {:?} in no box", t.text));
        assert!(
            r.contains(&span),
            "{name}: text {:?} leaves its box {r:?}",
            t.text
        );
    }
    ids
}

#[test]
fn every_fixture_draws_every_node_and_device_once_without_overlap() {
    let mut n = 0;
    for e in std::fs::read_dir(fixtures().join("hwloc-linux")).unwrap() {
        let p = e.unwrap().path();
        if !p.to_string_lossy().ends_with(".tar.bz2") {
            continue;
        }
        let m = Machine::discover(&Root::open(&p).unwrap());
        check(
            &p.display().to_string(),
            &m,
            &numakit_export::svg::render(&m),
        );
        n += 1;
    }
    for d in ["qemu-2node", "qemu-3node-hmat", "qemu-gpuserver"] {
        let m = machine(&format!("{d}/sysfs.tar.gz"));
        check(d, &m, &numakit_export::svg::render(&m));
        n += 1;
    }
    assert!(n >= 40);
}

/// The GPU server fixture grown to 8 GPUs and 10 NICs over its two
/// sockets, with two GPU memory nodes, one degraded link and one device
/// whose node firmware does not give.
fn big_server() -> Machine {
    let mut m = machine("qemu-gpuserver/sysfs.tar.gz");
    let gpu = m
        .pci_devices
        .iter()
        .find(|d| d.kind == DeviceKind::Gpu)
        .unwrap()
        .clone();
    let nic = m
        .pci_devices
        .iter()
        .find(|d| d.kind == DeviceKind::Nic)
        .unwrap()
        .clone();
    m.pci_devices
        .retain(|d| !matches!(d.kind, DeviceKind::Gpu | DeviceKind::Nic));
    let addr = |bus: u8| PciAddress {
        domain: 0,
        bus,
        device: 0,
        function: 0,
    };
    for i in 0..8u8 {
        let mut g = gpu.clone();
        g.address = addr(0x80 + i);
        g.numa_node = Some(NodeId(u32::from(i / 4)));
        m.pci_devices.push(g);
    }
    for i in 0..10u8 {
        let mut n = nic.clone();
        n.address = addr(0xa0 + i);
        n.numa_node = Some(NodeId(u32::from(i % 2)));
        m.pci_devices.push(n);
    }
    // GPU memory nodes 2 and 3 for the first GPU of each socket
    for (gi, node) in [(0usize, 2u32), (4, 3)] {
        let mut n = m.nodes[0].clone();
        n.id = NodeId(node);
        n.cpus = Default::default();
        m.nodes.push(n);
        let g = m
            .pci_devices
            .iter_mut()
            .filter(|d| d.kind == DeviceKind::Gpu)
            .nth(gi)
            .unwrap();
        g.gpu_memory_node = Some(NodeId(node));
    }
    let count = m.nodes.len();
    for (i, n) in m.nodes.iter_mut().enumerate() {
        n.distances = (0..count)
            .map(|j| Some(if i == j { 10 } else { 40 }))
            .collect();
    }
    let d = m
        .pci_devices
        .iter_mut()
        .find(|d| d.kind == DeviceKind::Nic)
        .unwrap();
    d.link.degraded = true;
    d.link.max_width = Some(16);
    d.link.max_speed = Some("16.0 GT/s PCIe".into());
    m.pci_devices.last_mut().unwrap().numa_node = None;
    m.pci_devices.sort_by_key(|d| d.address);
    m
}

#[test]
fn a_two_socket_server_with_8_gpus_and_10_nics_is_readable() {
    let m = big_server();
    let svg = numakit_export::svg::render(&m);
    check("8 GPUs 10 NICs", &m, &svg);
    let doc = parse(&svg);
    let root = &doc.kids[0];
    let rect = |id: &str| {
        root.kids
            .iter()
            .find(|e| e.attrs.get("id").map(String::as_str) == Some(id))
            .unwrap_or_else(|| panic!("{id}"))
    };
    // the GPU memory node sits on the GPU's row, to its right
    let gpu = rect("pci-0000:80:00.0");
    let mem = rect("node-2");
    assert_eq!(num(gpu, "y"), num(mem, "y"));
    assert!(num(mem, "x") > num(gpu, "x") + num(gpu, "width"));
    // marks: the degraded link, the device of unknown node
    let degraded = root
        .kids
        .iter()
        .filter(|e| e.attrs.get("class").is_some_and(|c| c.contains("degraded")))
        .count();
    assert_eq!(degraded, 1);
    assert!(svg.contains("degraded link: x1 2.5 GT/s PCIe of x16 16.0 GT/s PCIe"));
    let unknown = rect("pci-0000:a9:00.0");
    let holder = root
        .kids
        .iter()
        .find(|e| e.attrs.get("class").map(String::as_str) == Some("unknown"))
        .unwrap();
    assert!(num(unknown, "y") > num(holder, "y"));
    // readable: not wider than two screens
    assert!(num(root, "width") <= 3840.0, "{}", root.attrs["width"]);
}

fn rsvg() -> Option<&'static str> {
    let p = "/usr/bin/rsvg-convert";
    Path::new(p).exists().then_some(p)
}

/// Width and height from a PNG's IHDR.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    (w, h)
}

#[test]
fn pictures_render_and_the_docs_pictures_are_current() {
    let Some(rsvg) = rsvg() else {
        eprintln!("skipped: rsvg-convert is not installed (apt-get install librsvg2-bin)");
        return;
    };
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let tmp = std::env::temp_dir().join(format!("numakit-svg-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for (name, m) in [
        (
            "topo-qemu-gpuserver",
            machine("qemu-gpuserver/sysfs.tar.gz"),
        ),
        (
            "topo-40intel64-pcilocality",
            machine("hwloc-linux/40intel64-2g2n4c+pcilocality.tar.bz2"),
        ),
        ("topo-8gpu-10nic", big_server()),
    ] {
        let svg = numakit_export::svg::render(&m);
        let svg_file = tmp.join(format!("{name}.svg"));
        let png_file = tmp.join(format!("{name}.png"));
        std::fs::write(&svg_file, &svg).unwrap();
        let out = Command::new(rsvg)
            .arg(&svg_file)
            .arg("-o")
            .arg(&png_file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let png = std::fs::read(&png_file).unwrap();
        let doc = parse(&svg);
        let (w, h) = (num(&doc.kids[0], "width"), num(&doc.kids[0], "height"));
        assert_eq!(png_size(&png), (w as u32, h as u32), "{name}");
        if name == "topo-8gpu-10nic" {
            if let Some(dir) = std::env::var_os("NUMAKIT_SVG_KEEP") {
                std::fs::write(Path::new(&dir).join(format!("{name}.png")), &png).unwrap();
            }
            continue;
        }
        let kept = docs.join(format!("{name}.png"));
        if std::env::var_os("NUMAKIT_BLESS").is_some() {
            std::fs::write(&kept, &png).unwrap();
        }
        let old = std::fs::read(&kept).unwrap_or_else(|_| panic!("{} missing", kept.display()));
        assert_eq!(
            png_size(&old),
            png_size(&png),
            "{name}: docs picture is stale (NUMAKIT_BLESS=1)"
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
