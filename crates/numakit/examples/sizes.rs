//! libnuma's availability and size questions: is there NUMA, how many nodes
//! and CPUs, how large the masks, what this process may use, how much memory
//! each node has and has free, read again after allocating.
//!
//! Run: `cargo run -p numakit --example sizes [--expect-drop]`. Prints one
//! `ok:` line per fact checked; exit status 0 when all hold, 1 otherwise.
//! With `--expect-drop` (on a quiet machine: other programs free and take
//! memory too) it checks that the node's free memory, read again, fell by
//! at least half of 256 MiB it populated.

mod common;

use common::Checks;
use numakit::placement::{AllocOptions, Policy};
use numakit::topo::{cpu_mask_bits, node::node_mask_bits};
use numakit::{NodeId, Root};

fn main() {
    let mut c = Checks::new("sizes");
    let placer = common::placer("sizes");
    let root = Root::live();
    let m = placer.machine();
    c.check(
        numakit::placement::available(),
        "NUMA policies are available",
    );
    let max = m.max_node().unwrap_or(NodeId(0));
    println!(
        "nodes {} (highest {max}), with memory {}",
        m.node_ids(),
        m.memory_nodes()
    );
    c.eq(
        m.node_ids().last(),
        Some(max),
        "the highest node is the last of the node ids",
    );
    if let Some(p) = m.possible_nodes() {
        c.check(
            m.node_ids().is_subset(p),
            format!("every node is possible ({p})"),
        );
    }
    let node_bits = node_mask_bits(&root).unwrap_or(0);
    let cpu_bits = cpu_mask_bits(&root).unwrap_or(0);
    println!(
        "node masks {node_bits} bits, CPU masks {cpu_bits} bits, pages {} bytes",
        numakit::page_size()
    );
    c.check(node_bits > max.get(), "the node mask holds every node");
    c.check(
        m.cpu_ids().last().is_some_and(|l| l.get() < cpu_bits) && cpu_bits.is_multiple_of(64),
        "the CPU mask holds every CPU, in whole words",
    );
    let allowed = c.ok(numakit::placement::mems_allowed(), "mems_allowed");
    if let Some(a) = allowed {
        c.eq(
            m.allowed_nodes(),
            a.intersection(&m.node_ids()),
            "the model's allowed nodes are the kernel's",
        );
    }
    c.check(
        m.allowed_cpus().is_subset(&m.cpu_ids()) && !m.allowed_cpus().is_empty(),
        format!("allowed CPUs {} are CPUs of the machine", m.allowed_cpus()),
    );
    for n in m.memory_nodes().iter() {
        if let Some(s) = m.node_size(n) {
            println!(
                "node {n}: {} MiB, {} MiB free",
                s.total_bytes >> 20,
                s.free_bytes.unwrap_or(0) >> 20
            );
            c.check(
                s.free_bytes.is_some_and(|f| f <= s.total_bytes),
                format!("node {n}: free within total"),
            );
        }
    }
    let strict = std::env::args().any(|a| a == "--expect-drop");
    free_memory_follows_allocation(&mut c, &placer, &root, strict);
    c.finish()
}

/// Populates 256 MiB on the target node and reads its free memory again.
fn free_memory_follows_allocation(
    c: &mut Checks,
    placer: &numakit::placement::Placer,
    root: &Root,
    strict: bool,
) {
    let node = common::target(placer.machine());
    let mut m = placer.machine().clone();
    let free =
        |m: &numakit::topo::Machine| m.node_size(node).and_then(|s| s.free_bytes).unwrap_or(0);
    let len = 256 << 20;
    if free(&m) < len as u64 + (64 << 20) {
        c.skip(
            "free memory after an allocation",
            "less than 320 MiB free on the node",
        );
        return;
    }
    m.refresh(root);
    let before = free(&m);
    let opts = AllocOptions {
        policy: Some(Policy::on_node(node)),
        populate: true,
        ..Default::default()
    };
    let Some(buf) = c.ok(placer.allocate_with(len, &opts), "populating 256 MiB") else {
        return;
    };
    m.refresh(root);
    let after = free(&m);
    println!(
        "node {node}: {} MiB free before, {} MiB after",
        before >> 20,
        after >> 20
    );
    if !strict {
        c.skip(
            "the drop in free memory",
            "a busy machine; pass --expect-drop on a quiet one",
        );
        return;
    }
    c.check(
        before.saturating_sub(after) >= (len / 2) as u64,
        format!("refresh sees node {node}'s free memory drop by at least 128 MiB"),
    );
    drop(buf);
}
