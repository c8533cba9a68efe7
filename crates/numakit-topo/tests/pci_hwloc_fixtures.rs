//! PCI facts of hwloc's fixtures with PCI, compared with what hwloc's
//! expected output lists: every function's address, class, vendor and device
//! ids, OS device names and (where hwloc prints it) link bandwidth. The
//! fixtures run with `HWLOC_PCI_LOCALITY`, which overrides sysfs localities, so
//! NUMA placement is compared with the sysfs files, not with the expected file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use numakit_root::Root;
use numakit_topo::Machine;
use numakit_topo::pci::NodeSource;
use numakit_types::{NodeId, PciAddress};

fn hwloc(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/hwloc-linux")
        .join(name)
}

/// One PCI function from the expected output.
#[derive(Debug, Default)]
struct Exp {
    /// `CCSS` and, from XML, the prog-if.
    class16: u32,
    progif: Option<u32>,
    vendor: u16,
    device: u16,
    /// hwloc's `pci_link_speed` in GB/s (XML only; 0 = none).
    link_gbps: Option<f64>,
    osdevs: BTreeSet<String>,
}

fn attr<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let i = line.find(&format!(" {key}=\""))? + key.len() + 3;
    let rest = &line[i..];
    Some(&rest[..rest.find('"')?])
}

fn hex(s: &str) -> u32 {
    u32::from_str_radix(s, 16).unwrap()
}

/// Parses hwloc XML: `PCIDev` and `Bridge` objects with a `pci_busid`, and the
/// `OSDev` objects nested in them.
fn parse_xml(text: &str) -> BTreeMap<PciAddress, Exp> {
    let mut out: BTreeMap<PciAddress, Exp> = BTreeMap::new();
    // Stack of open objects: the PCI address of the nearest PCI ancestor.
    let mut stack: Vec<Option<PciAddress>> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("</object>") {
            stack.pop();
            continue;
        }
        if !line.starts_with("<object ") {
            continue;
        }
        let parent = stack.iter().rev().find_map(|x| *x);
        let mut me = None;
        if let (Some(busid), Some(ty)) = (attr(line, "pci_busid"), attr(line, "pci_type")) {
            // "0200 [14e4:1639] [1028:02d3] 20 00": class, ids, subsystem ids, revision, prog-if
            let w: Vec<&str> = ty.split_whitespace().collect();
            let ids = w[1].trim_matches(|c| c == '[' || c == ']');
            let (v, d) = ids.split_once(':').unwrap();
            let a: PciAddress = busid.parse().unwrap();
            out.insert(
                a,
                Exp {
                    class16: hex(w[0]),
                    progif: Some(hex(w[4])),
                    vendor: hex(v) as u16,
                    device: hex(d) as u16,
                    link_gbps: attr(line, "pci_link_speed").map(|s| s.parse().unwrap()),
                    osdevs: BTreeSet::new(),
                },
            );
            me = Some(a);
        } else if attr(line, "type") == Some("OSDev") {
            let name = attr(line, "name").unwrap().to_string();
            out.get_mut(&parent.expect("OS device under a PCI device"))
                .unwrap()
                .osdevs
                .insert(name);
        }
        if !line.ends_with("/>") {
            stack.push(me.or(parent));
        }
    }
    out
}

/// Parses console output (`lstopo -v`): `PCI L#n (busid=... id=VVVV:DDDD
/// class=CCSS(...))` lines and the `OSDev` lines indented below them.
fn parse_console(text: &str) -> BTreeMap<PciAddress, Exp> {
    let mut out: BTreeMap<PciAddress, Exp> = BTreeMap::new();
    let mut cur: Option<(usize, PciAddress)> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim_start();
        if t.starts_with("PCI ") {
            let field = |k: &str| {
                t.split([' ', '(', ')'])
                    .find_map(|w| w.strip_prefix(k))
                    .unwrap()
            };
            let a: PciAddress = field("busid=").parse().unwrap();
            let (v, d) = field("id=").split_once(':').unwrap();
            out.insert(
                a,
                Exp {
                    class16: hex(&field("class=")[..4]),
                    vendor: hex(v) as u16,
                    device: hex(d) as u16,
                    ..Exp::default()
                },
            );
            cur = Some((indent, a));
        } else if t.starts_with("OSDev") {
            let (pi, a) = cur.expect("OS device under a PCI device");
            assert!(indent > pi);
            let name = t.rsplit('"').nth(1).unwrap().to_string();
            out.get_mut(&a).unwrap().osdevs.insert(name);
        } else if cur.is_some_and(|(pi, _)| indent <= pi) {
            cur = None;
        }
    }
    out
}

/// hwloc's link bandwidth: lanes × GT/s × encoding efficiency / 8, in GB/s.
fn hwloc_gbps(gts: f64, width: u32) -> f64 {
    let enc = if gts >= 8.0 { 128.0 / 130.0 } else { 0.8 };
    f64::from(width) * gts * enc / 8.0
}

fn check(m: &Machine, exp: &BTreeMap<PciAddress, Exp>, all_listed: bool, name: &str) {
    if all_listed {
        let ours: Vec<PciAddress> = m.pci_devices.iter().map(|d| d.address).collect();
        let theirs: Vec<PciAddress> = exp.keys().copied().collect();
        assert_eq!(ours, theirs, "{name}: every PCI function");
    }
    for (a, e) in exp {
        let d = m
            .pci_device(*a)
            .unwrap_or_else(|| panic!("{name}: {a} missing"));
        let class = d.class_code.unwrap();
        assert_eq!(class >> 8, e.class16, "{name} {a} class");
        if let Some(p) = e.progif {
            assert_eq!(class & 0xff, p, "{name} {a} prog-if");
        }
        assert_eq!(d.vendor_id, Some(e.vendor), "{name} {a} vendor");
        assert_eq!(d.device_id, Some(e.device), "{name} {a} device");
        let ours: BTreeSet<String> = d.os_names.iter().map(|o| o.name.clone()).collect();
        if all_listed {
            // `--whole-io`: hwloc lists every OS device.
            assert_eq!(ours, e.osdevs, "{name} {a} OS names");
        } else {
            // lstopo's default filter hides DRM and DMA OS devices.
            assert!(ours.is_superset(&e.osdevs), "{name} {a} OS names");
            assert!(
                d.os_names
                    .iter()
                    .filter(|o| !e.osdevs.contains(&o.name))
                    .all(|o| o.class == "drm" || o.class == "dma"),
                "{name} {a} OS names"
            );
        }
        if let Some(gbps) = e.link_gbps.filter(|g| *g > 0.0) {
            let got = hwloc_gbps(d.link.current_gts().unwrap(), d.link.current_width.unwrap());
            assert!((got - gbps).abs() < 1e-3, "{name} {a} link {got} vs {gbps}");
        }
    }
}

/// Node facts straight from sysfs: a device's `numa_node` when >= 0, else
/// inferred (from its CPUs, a bridge or the single node) or unknown.
fn check_nodes_against_sysfs(root: &Root, m: &Machine, name: &str) {
    for d in &m.pci_devices {
        let raw = root
            .read_trim(&format!("/sys/bus/pci/devices/{}/numa_node", d.address))
            .and_then(|s| s.parse::<i64>().ok());
        match raw {
            Some(n) if n >= 0 => {
                assert_eq!(d.numa_node, Some(NodeId(n as u32)), "{name} {}", d.address);
                assert_eq!(d.numa_node_source, NodeSource::Sysfs);
            }
            _ => assert_ne!(
                d.numa_node_source,
                NodeSource::Sysfs,
                "{name} {}",
                d.address
            ),
        }
    }
}

#[test]
fn pcilocality_fixture() {
    let name = "40intel64-2g2n4c+pcilocality";
    let root = Root::open(hwloc(&format!("{name}.tar.bz2"))).unwrap();
    let m = Machine::discover(&root);
    let exp = parse_xml(&std::fs::read_to_string(hwloc(&format!("{name}.xml"))).unwrap());
    assert_eq!(exp.len(), 37, "the expected file lists 37 PCI functions");
    check(&m, &exp, true, name);
    check_nodes_against_sysfs(&root, &m, name);
    // The QLogic HCA: InfiniBand class 0x0c06 with netdev ib0 and verbs device qib0.
    let qib = m.pci_device("0000:43:00.0".parse().unwrap()).unwrap();
    assert_eq!(qib.kind, numakit_topo::pci::DeviceKind::Infiniband);
    assert_eq!(qib.numa_node, Some(NodeId(2)));
    let sda = m.pci_device("0000:01:00.0".parse().unwrap()).unwrap();
    assert_eq!(sda.os_names[0].class, "block");
    // Every device with numa_node -1 has local_cpulist 0-39, all CPUs of a
    // four-node machine: nothing tells, unless a bridge above knows.
    let unknown = m
        .pci_devices
        .iter()
        .filter(|d| d.numa_node_source == NodeSource::Unknown)
        .count();
    assert!(unknown > 0);
}

#[test]
fn fakepcilocalities_fixture() {
    let name = "fakepcilocalities";
    let root = Root::open(hwloc(&format!("{name}.tar.bz2"))).unwrap();
    let m = Machine::discover(&root);
    let exp = parse_xml(&std::fs::read_to_string(hwloc(&format!("{name}.xml"))).unwrap());
    check(&m, &exp, true, name);
    check_nodes_against_sysfs(&root, &m, name);
    // This copy gives every function a numa_node of 0..3.
    assert!(
        m.pci_devices
            .iter()
            .all(|d| d.numa_node_source == NodeSource::Sysfs)
    );
}

#[test]
fn pcidomain32bits_fixture() {
    let name = "2pa-pcidomain32bits";
    let root = Root::open(hwloc(&format!("{name}.tar.bz2"))).unwrap();
    let m = Machine::discover(&root);
    let exp = parse_console(&std::fs::read_to_string(hwloc(&format!("{name}.console"))).unwrap());
    // lstopo's default filter prints only some functions: compare those.
    assert_eq!(exp.len(), 4);
    check(&m, &exp, false, name);
    let vga = m.pci_device("0000:00:02.0".parse().unwrap()).unwrap();
    let names: Vec<&str> = vga.os_names.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        names,
        ["card0"],
        "DRM card, not its connector or control node"
    );
    let vda = m.pci_device("10000:00:04.0".parse().unwrap()).unwrap();
    assert_eq!(vda.address.domain, 0x10000);
    assert_eq!(vda.host_bridge.as_deref(), Some("pci10000:00"));
    // numa_node is -1 everywhere, and the machine has one node: inferred.
    assert!(
        m.pci_devices.iter().all(|d| {
            d.numa_node == Some(NodeId(0)) && d.numa_node_source == NodeSource::Inferred
        })
    );
}
