//! Running on nodes and CPU affinity: run on a node, on a set of nodes (also
//! past the cpuset check), bind CPUs and memory together, the nodes a thread
//! may run on, and the affinity of another process, set and read back.
//!
//! Run: `cargo run -p numakit --example affinity`.

mod common;

use common::Checks;
use numakit::placement::{CpuBinding, Placer, affinity};
use numakit::{CpuSet, NodeSet};

fn main() {
    let mut c = Checks::new("affinity");
    let p = common::placer("affinity");
    let nodes = common::cpu_nodes(p.machine());
    for n in nodes.iter() {
        common::on_thread(|| {
            let cpus = c.ok(p.run_on_node(n), "run_on_node").unwrap_or_default();
            c.eq(
                affinity(0).ok(),
                Some(cpus.clone()),
                format!("run_on_node({n}): affinity is CPUs {cpus}"),
            );
            c.eq(
                p.run_nodes().ok(),
                Some(NodeSet::from(n)),
                format!("run_on_node({n}): runs on node {n} only"),
            );
        });
    }
    common::on_thread(|| {
        let all = c
            .ok(p.run_on_nodes_all(&nodes), "run_on_nodes_all")
            .unwrap_or_default();
        c.eq(
            affinity(0).ok(),
            Some(all.clone()),
            format!("run_on_nodes_all({nodes}): CPUs {all}"),
        );
        let cpu = p.machine().allowed_cpus().first();
        if let Some(cpu) = cpu {
            let one = CpuSet::from(cpu);
            let bound = c.ok(p.bind_thread(&CpuBinding::Cpus(one.clone())), "bind_thread");
            c.eq(bound, Some(one.clone()), format!("bind_thread(CPU {cpu})"));
            let here = numakit::placement::last_cpu_location().map(|l| l.cpu).ok();
            c.eq(
                here,
                Some(cpu),
                format!("bind_thread(CPU {cpu}): getcpu says so"),
            );
        }
    });
    if let Some(n) = nodes.last() {
        common::on_thread(|| bind_cpus_and_memory(&mut c, &p, n));
    }
    another_process(&mut c, &p);
    c.finish()
}

/// `numa_bind`: the CPUs of the node and memory from it, set together.
fn bind_cpus_and_memory(c: &mut Checks, p: &Placer, n: numakit::NodeId) {
    if p.machine().node_size(n).is_none_or(|s| s.total_bytes == 0) {
        c.skip("bind_to_nodes", "the node has no memory");
        return;
    }
    c.ok(p.bind_to_nodes(&n.into()), "bind_to_nodes");
    c.eq(
        p.membind().ok(),
        Some(NodeSet::from(n)),
        format!("bind_to_nodes({n}): memory from node {n}"),
    );
    c.eq(
        p.run_nodes().ok(),
        Some(NodeSet::from(n)),
        format!("bind_to_nodes({n}): runs on node {n}"),
    );
}

/// The affinity of a child process, set by pid and read back by pid.
fn another_process(c: &mut Checks, p: &Placer) {
    let Some(mut child) = c.ok(
        std::process::Command::new("sleep").arg("30").spawn(),
        "spawning sleep",
    ) else {
        return;
    };
    let pid = child.id() as i32;
    for n in common::cpu_nodes(p.machine()).iter() {
        let cpus = p.machine().cpus_of_node(n).cloned().unwrap_or_default();
        let cpus = cpus.intersection(&p.machine().allowed_cpus());
        c.ok(p.set_affinity(pid, &cpus), "set_affinity");
        c.eq(
            affinity(pid).ok(),
            Some(cpus.clone()),
            format!("process {pid} set to node {n}'s CPUs {cpus}"),
        );
    }
    let e = p.set_affinity(pid, &CpuSet::from(numakit::CpuId(numakit::MAX_CPUS - 1)));
    c.check(
        e.is_err(),
        "a CPU the machine lacks is refused before any call",
    );
    let _ = child.kill();
    let _ = child.wait();
}
