//! hwloc's everyday calls: objects by type (counted against `hwloc-calc`
//! where hwloc is installed), the object and the cache covering a set of
//! CPUs, nodeset and cpuset conversions, the object a PCI device hangs
//! under, the membind of an area set and read back, the last CPU a thread
//! ran on, and memory attributes per initiator (HMAT).
//!
//! Run: `cargo run -p numakit --example hwloc`.

mod common;

use common::Checks;
use numakit::placement::{MbindFlags, Placer, Policy};
use numakit::topo::Machine;
use numakit::topo::objects::{MemAttr, ObjectType};

fn main() {
    let mut c = Checks::new("hwloc");
    let p = common::placer("hwloc");
    let m = p.machine();
    objects(&mut c, m);
    covering(&mut c, m);
    devices(&mut c, m);
    area(&mut c, &p);
    attributes(m);
    c.finish()
}

/// `hwloc-calc --number-of TYPE machine:0`, when hwloc is installed.
fn hwloc_count(kind: &str) -> Option<usize> {
    let out = std::process::Command::new("hwloc-calc")
        .args(["--number-of", kind, "machine:0"])
        .output()
        .ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

fn objects(c: &mut Checks, m: &Machine) {
    for (kind, name) in [
        (ObjectType::Package, "package"),
        (ObjectType::Core, "core"),
        (ObjectType::Pu, "pu"),
        (ObjectType::NumaNode, "numa"),
        (ObjectType::Cache { level: 2 }, "l2"),
    ] {
        let ours = m.objects(kind).len();
        println!("{name}: {ours}");
        match hwloc_count(name) {
            Some(theirs) => c.eq(
                ours,
                theirs,
                format!("{name} objects: hwloc-calc counts {theirs}"),
            ),
            None => c.skip(&format!("{name} objects against hwloc"), "no hwloc-calc"),
        }
    }
}

fn covering(c: &mut Checks, m: &Machine) {
    for core in m.objects(ObjectType::Core) {
        let o = m.object_covering(&core.cpus);
        let kind = o.as_ref().map(|o| o.kind);
        let ok = matches!(
            kind,
            Some(ObjectType::Core | ObjectType::Pu | ObjectType::Cache { .. })
        );
        c.check(
            ok && o.is_some_and(|o| core.cpus.is_subset(&o.cpus)),
            format!("core {:?}: covered by {kind:?}", core.os_index),
        );
        if let Some(cache) = m.cache_covering(&core.cpus) {
            c.check(
                core.cpus.is_subset(&cache.cpus),
                format!("core {:?}: L{} cache covers it", core.os_index, cache.level),
            );
        }
    }
    let all = m.allowed_cpus();
    c.eq(
        m.object_covering(&all).map(|o| all.is_subset(&o.cpus)),
        Some(true),
        "the allowed CPUs are covered",
    );
    let nodes = m.nodes_of_cpus(&all);
    c.check(
        all.is_subset(&m.cpus_of_nodes(&nodes)),
        format!("cpuset {all} -> nodeset {nodes} -> back covers it"),
    );
}

fn devices(c: &mut Checks, m: &Machine) {
    for d in &m.pci_devices {
        let Some(node) = d.numa_node else {
            continue;
        };
        let Some(up) = m.non_io_ancestor(d.address) else {
            c.check(false, format!("{}: no ancestor", d.address));
            continue;
        };
        c.check(
            up.nodes.contains(node),
            format!(
                "{} (node {node}) hangs under a {:?} of nodes {}",
                d.address, up.kind, up.nodes
            ),
        );
    }
}

fn area(c: &mut Checks, p: &Placer) {
    let target = common::target(p.machine());
    let Some(mut v) = c.ok(p.node_vec::<u8>(1 << 20, &Policy::local()), "node_vec") else {
        return;
    };
    c.ok(
        p.bind_area(v.range(), &Policy::on_node(target), MbindFlags::empty()),
        "bind_area",
    );
    c.eq(
        p.area_policy(v.range()).ok(),
        Some(Policy::on_node(target)),
        "set_area_membind reads back",
    );
    v.fill(1);
    let k = p.area_page_counts(0, v.range()).unwrap_or_default();
    c.eq(
        k.on_node(target),
        k.pages,
        format!("area memlocation: node {target}"),
    );
    if let Ok(at) = numakit::placement::last_cpu_location() {
        c.eq(
            p.machine().node_of_cpu(at.cpu),
            Some(at.node),
            format!("last CPU location: CPU {} on node {}", at.cpu, at.node),
        );
    }
}

/// Prints what the firmware says; nothing to check where it says nothing.
fn attributes(m: &Machine) {
    for init in m.nodes_of_cpus(&m.cpu_ids()).iter() {
        for attr in [MemAttr::Bandwidth, MemAttr::Latency] {
            match m.best_target(attr, init) {
                Some(b) => println!(
                    "from node {init}: best {attr:?} to node {} ({})",
                    b.node, b.value
                ),
                None => println!("from node {init}: {attr:?} unknown (no HMAT)"),
            }
        }
    }
}
