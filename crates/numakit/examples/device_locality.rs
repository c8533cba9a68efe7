//! Where a GPU, NIC or drive is, and where the threads and buffers that
//! feed it belong: its PCI function, its node, the CPUs near it, the object
//! hwloc hangs it under, and its distance to every node. On the running
//! system it then runs a thread near the device and places a buffer on its
//! node, and checks both.
//!
//! Usage: `device_locality [--root DIR|TARBALL] [DEVICE...]` where DEVICE is
//! `gpu:N`, `nic:N`, `nvme:N`, `net:IFACE`, `block:DEV` or a PCI address;
//! without DEVICE, every GPU, NIC, NVMe drive, accelerator and CXL device.
//! Exit status 0 when every device was found with a node, 1 otherwise, 2 for
//! bad arguments.

mod common;

use common::Checks;
use numakit::Root;
use numakit::placement::NodeVec;
use numakit::placement::{CpuBinding, Policy};
use numakit::topo::Machine;
use numakit::topo::locate::{DeviceSpec, ResolvedDevice};
use numakit::topo::matrix::Matrix;

fn usage(why: &str) -> ! {
    eprintln!("device_locality: {why}");
    eprintln!("usage: device_locality [--root DIR|TARBALL] [DEVICE...]");
    std::process::exit(2)
}

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    let mut root = None;
    let mut specs = Vec::new();
    while let Some(a) = args.next() {
        if a == "--root" {
            root = Some(args.next().unwrap_or_else(|| usage("--root needs a path")));
        } else {
            let spec = a
                .parse::<DeviceSpec>()
                .unwrap_or_else(|e| usage(&e.to_string()));
            specs.push((a, spec));
        }
    }
    let root = match &root {
        Some(p) => Root::open(p).unwrap_or_else(|e| usage(&e.to_string())),
        None => Root::live(),
    };
    let machine = Machine::discover(&root);
    if specs.is_empty() {
        specs = Matrix::build(&machine)
            .devices
            .iter()
            .map(|e| (e.label.clone(), DeviceSpec::Pci(e.address)))
            .collect();
    }
    let mut c = Checks::new("device_locality");
    for (name, spec) in &specs {
        match spec.resolve(&machine, Some(&root)) {
            Ok(d) => {
                describe(&machine, name, &d);
                if root.is_live() {
                    feed(&mut c, &d);
                }
            }
            Err(e) => c.check(false, format!("{name}: {e}")),
        }
    }
    c.finish()
}

fn describe(m: &Machine, name: &str, d: &ResolvedDevice) {
    let near = m.cpus_near(d);
    let up = m.non_io_ancestor(d.address).map_or("?".into(), |o| {
        format!(
            "{:?} {}",
            o.kind,
            o.os_index.map_or(String::new(), |i| i.to_string())
        )
    });
    let dist: Vec<String> = m
        .node_ids()
        .iter()
        .map(|n| {
            format!(
                "{n}:{}",
                m.distance(d.node, n).map_or("?".into(), |x| x.to_string())
            )
        })
        .collect();
    println!(
        "{name}: {} node {} cpus {} under {} distances {}",
        d.address,
        d.node,
        if near.is_empty() {
            "none".into()
        } else {
            near.to_string()
        },
        up.trim_end(),
        dist.join(" ")
    );
}

/// A thread on the CPUs near the device, with a buffer on its node: what a
/// driver's or a data loader's feeding thread does.
fn feed(c: &mut Checks, d: &ResolvedDevice) {
    let p = common::placer("device_locality");
    let near = match p.cpus_near(&d.spec) {
        Ok(n) => n,
        Err(e) => {
            c.skip(&format!("{}: a thread near it", d.spec), &e.to_string());
            return;
        }
    };
    common::on_thread(|| {
        let bound = c.ok(
            p.bind_thread(&CpuBinding::Cpus(near.clone())),
            "bind_thread",
        );
        c.eq(
            bound,
            Some(near.clone()),
            format!("{}: a thread runs on CPUs {near}", d.spec),
        );
        let v: Option<NodeVec<u64>> =
            c.ok(p.node_vec(1 << 16, &Policy::on_node(d.node)), "node_vec");
        if let Some(mut v) = v {
            v.fill(1);
            let k = v.page_counts(&p).unwrap_or_default();
            c.eq(
                k.on_node(d.node),
                k.pages,
                format!("{}: its buffer is on node {}", d.spec, d.node),
            );
        }
    });
}
