//! Every libnuma allocation call and typed node-local memory: on a node,
//! local, interleaved over every node or some, with the thread's policy,
//! reallocated; each checked with `move_pages` and with `numa_maps`.
//!
//! Run: `cargo run -p numakit --example allocation`.

mod common;

use common::Checks;
use numakit::placement::{AllocOptions, HugePages, Mapping, NodeVec, Placer, Policy};
use numakit::{NodeId, NodeSet};

const LEN: usize = 4 << 20;

fn main() {
    let mut c = Checks::new("allocation");
    let p = common::placer("allocation");
    let target = common::target(p.machine());
    on_node(&mut c, &p, target);
    local(&mut c, &p);
    interleaved(&mut c, &p);
    with_thread_policy(&mut c, &p, target);
    typed(&mut c, &p, target);
    c.finish()
}

/// Writes every page and returns its page counts per node.
fn touch_and_count(
    c: &mut Checks,
    p: &Placer,
    m: &mut Mapping,
) -> Option<numakit::placement::PageCounts> {
    m.as_mut_slice().fill(1);
    c.ok(p.mapping_page_counts(m), "move_pages query")
}

fn on_node(c: &mut Checks, p: &Placer, node: NodeId) {
    let Some(mut m) = c.ok(p.allocate_on_node(LEN, node), "allocate_on_node") else {
        return;
    };
    if let Some(n) = touch_and_count(c, p, &mut m) {
        c.eq(
            n.on_node(node),
            n.pages,
            format!("allocate_on_node({node}): every page on node {node}"),
        );
        c.check(
            common::numa_maps_all_on(m.range(), node, n.pages),
            format!("allocate_on_node({node}): numa_maps agrees"),
        );
    }
    // realloc keeps the policy, and the bytes
    m.as_mut_slice()[..4].copy_from_slice(b"numa");
    let Some(mut r) = c.ok(p.reallocate(m, 2 * LEN), "reallocate") else {
        return;
    };
    c.eq(
        &r.as_slice()[..4],
        b"numa".as_slice(),
        "reallocate kept the bytes",
    );
    if let Some(n) = touch_and_count(c, p, &mut r) {
        c.eq(
            n.on_node(node),
            n.pages,
            format!("reallocate: still every page on node {node}"),
        );
    }
}

fn local(c: &mut Checks, p: &Placer) {
    for n in common::cpu_nodes(p.machine())
        .intersection(&common::memory_nodes(p.machine()))
        .iter()
    {
        common::on_thread(|| {
            if c.ok(p.run_on_node(n), "run_on_node").is_none() {
                return;
            }
            let Some(mut m) = c.ok(p.allocate_local(LEN), "allocate_local") else {
                return;
            };
            if let Some(k) = touch_and_count(c, p, &mut m) {
                c.eq(
                    k.on_node(n),
                    k.pages,
                    format!("allocate_local on node {n}'s CPUs: on node {n}"),
                );
            }
        });
    }
}

fn interleaved(c: &mut Checks, p: &Placer) {
    let all = p.machine().allowed_nodes();
    let subset: NodeSet = common::memory_nodes(p.machine())
        .iter()
        .rev()
        .take(2)
        .collect();
    let made = [
        (
            p.allocate_interleaved_all(LEN),
            all.clone(),
            "allocate_interleaved_all",
        ),
        (
            p.allocate_interleaved(LEN, &subset),
            subset.clone(),
            "allocate_interleaved",
        ),
    ];
    for (m, nodes, what) in made {
        let Some(m) = c.ok(m, what) else {
            continue;
        };
        let got = c.ok(p.area_policy(m.range()), "area_policy");
        c.eq(
            got,
            Some(Policy::interleave(nodes.clone())),
            format!("{what}: interleaved over {nodes}"),
        );
        // the spread, page by page: base pages only (a transparent huge
        // page would go to one node whole)
        let opts = AllocOptions {
            policy: Some(Policy::interleave(nodes.clone())),
            huge: HugePages::Never,
            populate: false,
        };
        let Some(mut base) = c.ok(p.allocate_with(LEN, &opts), "allocate_with") else {
            continue;
        };
        if let Some(k) = touch_and_count(c, p, &mut base) {
            even(c, &k, &nodes, what);
        }
    }
}

/// Every node of `nodes` has its share of the pages, give or take one.
fn even(c: &mut Checks, k: &numakit::placement::PageCounts, nodes: &NodeSet, what: &str) {
    let share = k.pages / nodes.len() as u64;
    let spread = nodes.iter().all(|n| k.on_node(n).abs_diff(share) <= 1);
    c.check(
        spread && k.present() == k.pages,
        format!(
            "{what}: {} pages, {share} on each of nodes {nodes}",
            k.pages
        ),
    );
}

fn with_thread_policy(c: &mut Checks, p: &Placer, node: NodeId) {
    common::on_thread(|| {
        if c.ok(p.set_membind(&node.into()), "set_membind").is_none() {
            return;
        }
        // no policy of its own: the thread's places its pages
        let Some(mut m) = c.ok(
            p.allocate_with(LEN, &AllocOptions::default()),
            "allocate_with",
        ) else {
            return;
        };
        if let Some(k) = touch_and_count(c, p, &mut m) {
            c.eq(
                k.on_node(node),
                k.pages,
                format!("allocate_with under membind {node}: on node {node}"),
            );
        }
    });
}

fn typed(c: &mut Checks, p: &Placer, node: NodeId) {
    let v: Option<NodeVec<[f32; 4]>> =
        c.ok(p.node_vec(1 << 18, &Policy::on_node(node)), "node_vec");
    let Some(mut v) = v else {
        return;
    };
    v.fill([1.0, 2.0, 3.0, 4.0]);
    let sum: f32 = v.iter().map(|x| x[3]).sum();
    c.eq(
        sum,
        4.0 * (1 << 18) as f32,
        "NodeVec<[f32; 4]>: written and read as floats",
    );
    if let Some(k) = c.ok(v.page_counts(p), "page counts") {
        c.eq(
            k.on_node(node),
            k.pages,
            format!("NodeVec on node {node}: every page there"),
        );
        c.check(
            common::numa_maps_all_on(v.range(), node, k.pages),
            format!("NodeVec on node {node}: numa_maps agrees"),
        );
    }
}
