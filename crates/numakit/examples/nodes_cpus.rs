//! libnuma's node and CPU questions: the distance table, the node of each
//! CPU and the CPUs of each node, checked against each other and against
//! where the kernel says this thread runs.
//!
//! Run: `cargo run -p numakit --example nodes_cpus`.

mod common;

use common::Checks;
use numakit::CpuSet;

fn main() {
    let mut c = Checks::new("nodes_cpus");
    let placer = common::placer("nodes_cpus");
    let m = placer.machine();
    let ids = m.node_ids();
    print!("distance:");
    for b in ids.iter() {
        print!(" {b:>4}");
    }
    println!();
    for a in ids.iter() {
        print!("{a:>8}:");
        for b in ids.iter() {
            print!(
                " {:>4}",
                m.distance(a, b).map_or("?".into(), |d| d.to_string())
            );
        }
        println!();
        if let Some(d) = m.distance(a, a) {
            c.eq(d, 10, format!("node {a} is at distance 10 from itself"));
        }
        for b in ids.iter().filter(|b| *b != a) {
            if let (Some(x), Some(y)) = (m.distance(a, b), m.distance(b, a)) {
                c.check(
                    x > 10 && x == y,
                    format!("nodes {a} and {b}: {x} both ways, more than local"),
                );
            }
        }
    }
    let mut union = CpuSet::new();
    for n in ids.iter() {
        let cpus = m.cpus_of_node(n).cloned().unwrap_or_default();
        println!(
            "node {n}: CPUs {}",
            if cpus.is_empty() {
                "none".into()
            } else {
                cpus.to_string()
            }
        );
        c.check(
            cpus.iter().all(|cpu| m.node_of_cpu(cpu) == Some(n)),
            format!("node {n}: each of its CPUs is on it"),
        );
        c.check(
            !cpus.intersects(&union),
            format!("node {n}: no CPU is on two nodes"),
        );
        union = union.union(&cpus);
        c.eq(
            m.cpus_of_nodes(&n.into()),
            cpus.clone(),
            format!("node {n}: cpus_of_nodes agrees"),
        );
        if !cpus.is_empty() {
            c.eq(
                m.nodes_of_cpus(&cpus),
                n.into(),
                format!("node {n}: nodes_of_cpus goes back"),
            );
        }
    }
    where_this_thread_runs(&mut c, &placer);
    c.finish()
}

/// On each node with CPUs this thread may use: `getcpu`'s node is the node
/// of the CPU it names.
fn where_this_thread_runs(c: &mut Checks, placer: &numakit::placement::Placer) {
    for n in common::cpu_nodes(placer.machine()).iter() {
        common::on_thread(|| {
            let Some(cpus) = c.ok(placer.run_on_node(n), "run_on_node") else {
                return;
            };
            if let Some(at) = c.ok(numakit::placement::last_cpu_location(), "getcpu") {
                c.check(
                    cpus.contains(at.cpu)
                        && at.node == n
                        && placer.machine().node_of_cpu(at.cpu) == Some(n),
                    format!(
                        "run on node {n}: getcpu says CPU {} of node {}",
                        at.cpu, at.node
                    ),
                );
            }
        });
    }
}
