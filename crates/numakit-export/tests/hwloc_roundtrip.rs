//! numakit's hwloc XML against the real hwloc: for every fixture machine,
//! `lstopo-no-graphics --input numakit.xml` must load the XML without a
//! warning, and the facts it exports again (NUMA nodes, their CPUs and
//! memory, distances, HMAT memory attributes, PCI devices and the nodes
//! they sit under) must equal
//! what lstopo itself reads from the same root through `HWLOC_FSROOT`.
//!
//! Where the two differ on purpose, the fixture is listed in
//! [`DIFFERENCES`] with the reason, and only the facts not concerned are
//! compared. The test passes, saying so, where lstopo is not installed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use numakit_root::Root;
use numakit_topo::Machine;

mod common;
use common::{El, parse};

const LSTOPO: &str = "/usr/bin/lstopo-no-graphics";

/// Fixtures where hwloc and numakit differ by design, and in what.
const DIFFERENCES: &[(&str, Skip, &str)] = &[
    (
        "8em64t-2s2ca2c-buggynuma",
        Skip::Numa,
        "every node lists every CPU: hwloc drops the NUMA information and makes one node; numakit keeps the nodes and reports the CPUs' node as unknown",
    ),
    (
        "fakeheterocpunuma",
        Skip::Numa,
        "node CPU sets overlap: hwloc loads them only with HWLOC_DEBUG_ALLOW_OVERLAPPING_NODE_CPUSETS and then nests nodes in each other; numakit reports the overlap as inconsistent NUMA information",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    Nothing,
    /// Node CPUs, memory and distances.
    Numa,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// Every fixture snapshot: the hwloc ones and numakit's own.
fn snapshots() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures().join("hwloc-linux"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".tar.bz2"))
        .collect();
    for d in ["qemu-2node", "qemu-3node-hmat", "qemu-gpuserver"] {
        v.push(fixtures().join(d).join("sysfs.tar.gz"));
    }
    v.sort();
    v
}

/// The facts compared.
#[derive(Debug, Default, PartialEq)]
struct Facts {
    /// node -> (the PUs of the object it hangs from, local memory)
    nodes: BTreeMap<u32, (BTreeSet<u32>, Option<u64>)>,
    /// PUs
    pus: BTreeSet<u32>,
    /// (from, to) -> distance
    distances: BTreeMap<(u32, u32), u64>,
    /// PCI bus id -> the nodes below the object its host bridge hangs from
    pci: BTreeMap<String, BTreeSet<u32>>,
    /// HMAT memory attributes: (attribute, target node, initiator CPUs) -> value
    memattrs: BTreeMap<(String, u32, String), u64>,
    /// gp_index -> NUMA node, to read `memattr` targets
    gp_nodes: BTreeMap<String, u32>,
}

/// The PUs and NUMA nodes at or below `el` (hwloc's cpuset and nodeset,
/// counted rather than read from its compressed bitmap syntax).
fn below(el: &El) -> (BTreeSet<u32>, BTreeSet<u32>) {
    let mut pus = BTreeSet::new();
    let mut nodes = BTreeSet::new();
    match el
        .attrs
        .get("type")
        .filter(|_| el.name == "object")
        .map(String::as_str)
    {
        Some("PU") => {
            pus.insert(el.attrs["os_index"].parse().unwrap());
        }
        Some("NUMANode") => {
            nodes.insert(el.attrs["os_index"].parse().unwrap());
        }
        _ => {}
    }
    for k in &el.kids {
        let (p, n) = below(k);
        pus.extend(p);
        nodes.extend(n);
    }
    (pus, nodes)
}

fn distances(el: &El, f: &mut Facts) {
    let idx: Vec<u32> = el
        .kids
        .iter()
        .filter(|k| k.name == "indexes")
        .flat_map(|k| k.text.split_whitespace().map(|x| x.parse().unwrap()))
        .collect();
    let vals: Vec<u64> = el
        .kids
        .iter()
        .filter(|k| k.name == "u64values")
        .flat_map(|k| k.text.split_whitespace().map(|x| x.parse().unwrap()))
        .collect();
    for (i, a) in idx.iter().enumerate() {
        for (j, b) in idx.iter().enumerate() {
            f.distances.insert((*a, *b), vals[i * idx.len() + j]);
        }
    }
}

/// Walks the tree; `normal` is the nearest normal (CPU-side) ancestor,
/// `near` the nodes of the nearest one that holds any.
fn collect(el: &El, normal: &El, near: &BTreeSet<u32>, f: &mut Facts) {
    let ty = el
        .attrs
        .get("type")
        .filter(|_| el.name == "object")
        .map(String::as_str);
    match ty {
        Some("NUMANode") => {
            let id = el.attrs["os_index"].parse().unwrap();
            let mem = el.attrs.get("local_memory").map(|m| m.parse().unwrap());
            f.nodes.insert(id, (below(normal).0, mem));
            if let Some(gp) = el.attrs.get("gp_index") {
                f.gp_nodes.insert(gp.clone(), id);
            }
        }
        Some("PU") => {
            f.pus.insert(el.attrs["os_index"].parse().unwrap());
        }
        Some("PCIDev") | Some("Bridge") => {
            if let Some(b) = el.attrs.get("pci_busid") {
                f.pci.insert(b.clone(), near.clone());
            }
        }
        _ => {}
    }
    if el.name == "distances2" && el.attrs.get("name").map(String::as_str) == Some("NUMALatency") {
        distances(el, f);
    }
    if el.name == "memattr" {
        for v in el.kids.iter().filter(|k| k.name == "memattr_value") {
            let target = f.gp_nodes[&v.attrs["target_obj_gp_index"]];
            let key = (
                el.attrs["name"].clone(),
                target,
                v.attrs.get("initiator_cpuset").cloned().unwrap_or_default(),
            );
            f.memattrs.insert(key, v.attrs["value"].parse().unwrap());
        }
    }
    // memory-side caches hold NUMA nodes: not CPU-side objects
    let io = matches!(
        ty,
        Some("PCIDev" | "Bridge" | "OSDev" | "NUMANode" | "MemCache")
    );
    let next = if el.name == "object" && !io {
        el
    } else {
        normal
    };
    let nodes = below(next).1;
    let near = if nodes.is_empty() { near } else { &nodes };
    for k in &el.kids {
        collect(k, next, near, f);
    }
}

fn facts(xml: &str) -> Facts {
    let mut f = Facts::default();
    let doc = parse(xml);
    collect(&doc, &doc, &BTreeSet::new(), &mut f);
    // a CPU-less node near no CPU in particular: hwloc hangs it from a
    // Group without CPUs, numakit from the Machine; both say "all CPUs"
    for (pus, _) in f.nodes.values_mut() {
        if pus.is_empty() {
            *pus = f.pus.clone();
        }
    }
    f
}

/// `lstopo-no-graphics ARGS --of xml`: its XML and stderr.
fn lstopo(args: &[&str], fsroot: Option<&Path>) -> (String, String) {
    let mut c = Command::new(LSTOPO);
    c.args(["--whole-system", "--filter", "io:all", "--of", "xml"])
        .args(args)
        .env("LANG", "C")
        .env("LC_ALL", "C")
        .env("HWLOC_COMPONENTS", "linux,stop");
    if let Some(r) = fsroot {
        c.env("HWLOC_FSROOT", r);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn unpack(tarball: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let ok = Command::new("tar")
        .arg("xf")
        .arg(tarball)
        .arg("-C")
        .arg(dir)
        .status()
        .unwrap();
    assert!(ok.success());
    // hwloc-gather tarballs hold one directory; numakit's hold sys/ and proc/
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    match entries.as_slice() {
        [one] if one.is_dir() && !one.ends_with("sys") => one.clone(),
        _ => dir.to_path_buf(),
    }
}

fn name_of(p: &Path) -> String {
    let s = p.file_name().unwrap().to_string_lossy().into_owned();
    match s.strip_suffix(".tar.bz2") {
        Some(n) => n.to_string(),
        None => p
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned(),
    }
}

/// Where hwloc leaves a PCI tree at the Machine (it takes the locality of
/// a host bridge from its first device) and numakit places it, numakit's
/// node must be one its model gives a device of that host bridge (from
/// sysfs or inferred): then hwloc's answer is taken as numakit's.
fn accept_placed_pci(m: &Machine, a: &Facts, b: &mut Facts) {
    let all: BTreeSet<u32> = b.nodes.keys().copied().collect();
    for (bus, ours) in &a.pci {
        let theirs = b.pci.get(bus);
        if theirs != Some(&all) || !ours.is_subset(&all) || Some(ours) == theirs {
            continue;
        }
        let host = m
            .pci_devices
            .iter()
            .find(|d| d.address.to_string() == *bus)
            .and_then(|d| d.host_bridge.clone());
        let known: BTreeSet<u32> = m
            .pci_devices
            .iter()
            .filter(|d| host.is_some() && d.host_bridge == host)
            .filter_map(|d| d.numa_node.map(|n| n.0))
            .collect();
        if *ours == known {
            b.pci.insert(bus.clone(), ours.clone());
        }
    }
}

/// Compares one fixture; the differences found, one line each.
fn compare(snap: &Path, tmp: &Path) -> Vec<String> {
    let name = name_of(snap);
    let m = Machine::discover(&Root::open(snap).unwrap());
    let xml = numakit_export::hwloc_xml::render(&m);
    let file = tmp.join(format!("{name}.xml"));
    std::fs::write(&file, &xml).unwrap();
    let (ours, warn) = lstopo(&["--input", file.to_str().unwrap()], None);
    if !warn.trim().is_empty() {
        return vec![format!(
            "{name}: lstopo warned loading numakit's XML:\n{warn}"
        )];
    }
    let root = unpack(snap, &tmp.join(&name));
    let (theirs, _) = lstopo(&[], Some(&root));
    let (mut a, mut b) = (facts(&ours), facts(&theirs));
    let skip = DIFFERENCES
        .iter()
        .find(|d| d.0 == name)
        .map_or(Skip::Nothing, |d| d.1);
    if skip == Skip::Numa {
        for f in [&mut a, &mut b] {
            f.nodes.clear();
            f.distances.clear();
            f.pci.values_mut().for_each(|v| v.clear());
            f.memattrs.clear();
        }
    }
    accept_placed_pci(&m, &a, &mut b);
    let mut out = Vec::new();
    // the HMAT machines must have memory attributes to compare
    if ["qemu-3node-hmat", "fakeheteromemtiers"].contains(&name.as_str()) && b.memattrs.is_empty() {
        out.push(format!("{name}: no memory attributes from hwloc"));
    }
    for (what, x, y) in [
        ("nodes", format!("{:?}", a.nodes), format!("{:?}", b.nodes)),
        ("PUs", format!("{:?}", a.pus), format!("{:?}", b.pus)),
        (
            "distances",
            format!("{:?}", a.distances),
            format!("{:?}", b.distances),
        ),
        ("PCI", format!("{:?}", a.pci), format!("{:?}", b.pci)),
        (
            "memory attributes",
            format!("{:?}", a.memattrs),
            format!("{:?}", b.memattrs),
        ),
    ] {
        if x != y {
            out.push(format!(
                "{name}: {what} differ\n  numakit: {x}\n  hwloc:   {y}"
            ));
        }
    }
    out
}

#[test]
fn lstopo_loads_numakit_xml_and_sees_the_same_machine() {
    if !Path::new(LSTOPO).exists() {
        eprintln!("skipped: {LSTOPO} is not installed (apt-get install hwloc-nox)");
        return;
    }
    // unpacking ~40 trees of small files is disk-bound: memory when we can
    let base = Some(PathBuf::from("/dev/shm"))
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let tmp = base.join(format!("numakit-hwloc-xml-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let snaps = snapshots();
    // the work is mostly waiting for tar and lstopo: four at a time
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = snaps
            .chunks(snaps.len().div_ceil(4))
            .map(|chunk| {
                let tmp = &tmp;
                s.spawn(move || {
                    chunk
                        .iter()
                        .flat_map(|p| compare(p, tmp))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(snaps.len() >= 40, "only {} fixtures", snaps.len());
    assert!(
        failures.is_empty(),
        "{} of {}:\n{}",
        failures.len(),
        snaps.len(),
        failures.join("\n")
    );
}

/// What a batch scheduler asks hwloc: the node of a device, the CPUs of a
/// node. `hwloc-calc` on numakit's XML answers as numakit's model does.
#[test]
fn hwloc_calc_finds_devices_and_cpus_where_numakit_does() {
    let calc = "/usr/bin/hwloc-calc";
    if !Path::new(calc).exists() {
        eprintln!("skipped: {calc} is not installed");
        return;
    }
    let m = Machine::discover(&Root::open(fixtures().join("qemu-gpuserver/sysfs.tar.gz")).unwrap());
    let file = std::env::temp_dir().join(format!("numakit-calc-{}.xml", std::process::id()));
    std::fs::write(&file, numakit_export::hwloc_xml::render(&m)).unwrap();
    let ask = |args: &[&str]| {
        let out = Command::new(calc)
            .arg("--input")
            .arg(&file)
            .arg("--physical-output")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let mut checked = 0;
    // hwloc-calc names PCI devices, not bridges, by address
    let devices = m
        .pci_devices
        .iter()
        .filter(|d| d.numa_node.is_some() && d.kind != numakit_topo::pci::DeviceKind::Bridge);
    for d in devices {
        let node = d.numa_node.unwrap();
        let got = ask(&["--intersect", "numa", &format!("pci={}", d.address)]);
        assert_eq!(got, node.to_string(), "{}", d.address);
        checked += 1;
    }
    assert!(checked >= 8, "{checked}"); // 4 GPUs, 2 NICs, 2 NVMe, edu
    for n in &m.nodes {
        let got = ask(&["--intersect", "pu", &format!("node:{}", n.id)]);
        let want: Vec<String> = n.cpus.iter().map(|c| c.to_string()).collect();
        assert_eq!(got, want.join(","), "node {}", n.id);
    }
    let _ = std::fs::remove_file(&file);
}
