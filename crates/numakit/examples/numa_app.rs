//! A small NUMA-aware program written as a newcomer from libnuma would: one
//! array per node, initialised first-touch by threads pinned to that node,
//! each summed by a worker running on its node with scratch memory
//! preferred there; then one array migrates to another node and follows.
//! Every placement is checked with `move_pages` and `numa_maps`.
//!
//! Run: `cargo run -p numakit --example numa_app [MIB-PER-NODE]` (default 8).

mod common;

use common::Checks;
use numakit::placement::{MbindFlags, NodeVec, Placer, Policy};
use numakit::{NodeId, NodeSet};

fn main() {
    let mib: usize = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 8,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: numa_app [MIB-PER-NODE]");
            std::process::exit(2)
        }
    };
    let mut c = Checks::new("numa_app");
    let p = common::placer("numa_app");
    let len = (mib << 20) / 8;
    // the nodes where both the data and its worker can live
    let nodes: NodeSet =
        common::cpu_nodes(p.machine()).intersection(&common::memory_nodes(p.machine()));
    let mut arrays: Vec<(NodeId, NodeVec<u64>)> = Vec::new();
    for n in nodes.iter() {
        // no policy of its own: where the pinned threads first write decides
        let v = c.ok(
            p.node_vec_from_fn(len, &n.into(), |i| i as u64),
            "node_vec_from_fn",
        );
        if let Some(v) = v {
            // pages to come stay near too; the array becomes a mapping of
            // its own, which numa_maps shows on its own line
            let keep = p.bind_area(v.range(), &Policy::preferred(n), MbindFlags::empty());
            c.ok(keep, "bind_area");
            let k = v.page_counts(&p).unwrap_or_default();
            c.eq(
                k.on_node(n),
                k.pages,
                format!("array {n}: first touch put it on node {n}"),
            );
            c.check(
                common::numa_maps_all_on(v.range(), n, k.pages),
                format!("array {n}: numa_maps agrees"),
            );
            arrays.push((n, v));
        }
    }
    let want = (len as u64 - 1) * len as u64 / 2;
    std::thread::scope(|s| {
        let workers: Vec<_> = arrays
            .iter()
            .map(|(n, v)| (*n, s.spawn(|| work(&p, *n, v))))
            .collect();
        for (n, w) in workers {
            match w.join() {
                Ok(Ok((sum, scratch_on))) => {
                    c.eq(sum, want, format!("worker on node {n}: sum of its array"));
                    c.eq(
                        scratch_on,
                        Some(n),
                        format!("worker on node {n}: its scratch memory is there"),
                    );
                }
                Ok(Err(e)) => c.check(false, format!("worker on node {n}: {e}")),
                Err(_) => c.check(false, format!("worker on node {n} panicked")),
            }
        }
    });
    migrate(&mut c, &p, &arrays);
    c.finish()
}

/// Runs on `node`, prefers it for its own allocations, sums `v`; returns the
/// sum and where its scratch page went.
fn work(
    p: &Placer,
    node: NodeId,
    v: &NodeVec<u64>,
) -> numakit::placement::Result<(u64, Option<NodeId>)> {
    p.run_on_node(node)?;
    p.set_preferred(node)?;
    let mut scratch = p.allocate_with(1 << 16, &Default::default())?;
    scratch.as_mut_slice().fill(1);
    let k = p.mapping_page_counts(&scratch)?;
    let on = (k.on_node(node) == k.pages).then_some(node);
    Ok((v.iter().sum(), on))
}

/// Moves the first array to another node and checks it followed.
fn migrate(c: &mut Checks, p: &Placer, arrays: &[(NodeId, NodeVec<u64>)]) {
    let Some((from, v)) = arrays.first() else {
        return;
    };
    let Some(to) = common::other_than(p.machine(), *from) else {
        c.skip("migrating an array", "one node with memory");
        return;
    };
    let out = c.ok(p.migrate_area(0, v.range(), to), "migrate_area");
    c.eq(
        out.map(|o| o.not_moved),
        Some(0),
        format!("array {from} moved to node {to}"),
    );
    let k = v.page_counts(p).unwrap_or_default();
    c.eq(
        k.on_node(to),
        k.pages,
        format!("array {from}: move_pages finds it on node {to}"),
    );
    c.check(
        common::numa_maps_all_on(v.range(), to, k.pages),
        format!("array {from}: numa_maps finds it on node {to}"),
    );
}
