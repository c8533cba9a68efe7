//! Where pages are and moving them: a query of a range, `move_pages` with a
//! node per page, moving a range, and `migrate_pages` for the whole process;
//! each result seen by `move_pages` and by `numa_maps`.
//!
//! Run: `cargo run -p numakit --example pages`.

mod common;

use common::Checks;
use numakit::placement::{
    AllocOptions, HugePages, Mapping, PageLocation, PageMove, Placer, Policy,
};
use numakit::{AddrRange, NodeId};

const PAGES: usize = 256;

fn main() {
    let mut c = Checks::new("pages");
    let p = common::placer("pages");
    let target = common::target(p.machine());
    let other = common::other_than(p.machine(), target).unwrap_or(target);
    let ps = numakit::page_size();
    let Some(m) = c.ok(placed(&p, other, PAGES * ps), "allocate") else {
        c.finish()
    };
    let addrs: Vec<usize> = (0..PAGES).map(|i| m.addr() + i * ps).collect();
    let at = c
        .ok(p.locate_pages(0, &addrs), "locate_pages")
        .unwrap_or_default();
    c.check(
        at.iter().all(|l| *l == PageLocation::Node(other)),
        format!("locate_pages: all {PAGES} pages on node {other}"),
    );
    // every other page to the target
    let moves: Vec<PageMove> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| PageMove {
            page: *a as u64,
            to: if i % 2 == 0 { target } else { other },
        })
        .collect();
    let after = c
        .ok(p.move_pages_to(0, &moves), "move_pages_to")
        .unwrap_or_default();
    let right = after
        .iter()
        .zip(&moves)
        .filter(|(l, m)| **l == PageLocation::Node(m.to))
        .count();
    c.eq(
        right,
        PAGES,
        format!("move_pages_to: even pages on node {target}, odd on node {other}"),
    );
    let k = p.mapping_page_counts(&m).unwrap_or_default();
    let want = if target == other {
        PAGES as u64
    } else {
        PAGES as u64 / 2
    };
    c.eq(
        k.on_node(target),
        want,
        "move_pages_to: move_pages counts agree",
    );
    let nm = common::numa_maps_pages(m.range());
    c.eq(
        nm.get(&target.get()).copied(),
        Some(want),
        "move_pages_to: numa_maps agrees",
    );
    // the whole range back to one node
    let out = c.ok(p.migrate_area(0, m.range(), other), "migrate_area");
    c.eq(
        out.map(|o| o.not_moved),
        Some(0),
        format!("migrate_area to node {other}: every page moved"),
    );
    c.check(
        common::numa_maps_all_on(m.range(), other, PAGES as u64),
        "migrate_area: numa_maps agrees",
    );
    whole_process(&mut c, &p, &m, target, other);
    refused(&mut c, &p);
    c.finish()
}

/// Base pages on `node`, touched.
fn placed(p: &Placer, node: NodeId, len: usize) -> numakit::placement::Result<Mapping> {
    let opts = AllocOptions {
        policy: Some(Policy::on_node(node)),
        huge: HugePages::Never,
        populate: true,
    };
    p.allocate_with(len, &opts)
}

/// `migrate_pages` of this process from `other` to `target`: the buffer
/// follows (its policy binds it to `other`, which migration overrides).
fn whole_process(c: &mut Checks, p: &Placer, m: &Mapping, target: NodeId, other: NodeId) {
    if target == other {
        c.skip("migrate_process", "one node with memory");
        return;
    }
    let out = c.ok(
        p.migrate_process(0, &other.into(), &target.into()),
        "migrate_process",
    );
    println!(
        "migrate_process: {} pages not moved",
        out.map_or(0, |o| o.not_moved)
    );
    let k = p.mapping_page_counts(m).unwrap_or_default();
    c.eq(
        k.on_node(target),
        k.pages,
        format!("migrate_process {other} -> {target}: the buffer moved"),
    );
}

/// Bad requests: refused before any call, with a reason.
fn refused(c: &mut Checks, p: &Placer) {
    let reversed = p.page_counts(0, 0x20000, 0x10000);
    c.check(reversed.is_err(), "a reversed range is refused");
    let e = AddrRange::new(0x1000, 0x1000).map(|r| r.len());
    c.check(e.is_err(), "an empty range cannot be made");
    let bad = [PageMove {
        page: 0x1000,
        to: NodeId(numakit::MAX_NODES - 1),
    }];
    c.check(
        p.move_pages_to(0, &bad).is_err(),
        "a node the machine lacks is refused",
    );
}
