//! Memory policies, for the calling thread and for a range: membind,
//! preferred, preferred-many, interleave, weighted interleave and local
//! allocation set, read back from the kernel and seen in where pages land;
//! libnuma's range calls with their bind-policy and strict switches; and
//! `numa_police_memory`.
//!
//! Run: `cargo run -p numakit --example policy`.

mod common;

use common::Checks;
use numakit::placement::{
    AllocOptions, HugePages, MbindFlags, Mode, NodeBinding, Placer, Policy, Strictness,
};
use numakit::{NodeId, NodeSet};

const LEN: usize = 2 << 20;

fn main() {
    let mut c = Checks::new("policy");
    let mut p = common::placer("policy");
    let target = common::target(p.machine());
    thread_policies(&mut c, &p, target);
    range_calls(&mut c, &mut p, target);
    strict(&mut c, &mut p, target);
    police(&mut c, &p, target);
    c.finish()
}

/// Allocates with the thread's policy, base pages, touches every page and
/// counts them.
fn placed(c: &mut Checks, p: &Placer) -> Option<numakit::placement::PageCounts> {
    let opts = AllocOptions {
        huge: HugePages::Never,
        ..Default::default()
    };
    let mut m = c.ok(p.allocate_with(LEN, &opts), "allocate_with")?;
    m.as_mut_slice().fill(7);
    c.ok(p.mapping_page_counts(&m), "page counts")
}

fn thread_policies(c: &mut Checks, p: &Placer, target: NodeId) {
    common::on_thread(|| {
        c.ok(p.set_membind(&target.into()), "set_membind");
        c.eq(
            p.membind().ok(),
            Some(NodeSet::from(target)),
            "set_membind reads back",
        );
        let k = placed(c, p).unwrap_or_default();
        c.eq(
            k.on_node(target),
            k.pages,
            format!("membind {target}: pages on node {target}"),
        );
        c.ok(p.set_preferred(target), "set_preferred");
        c.eq(p.preferred().ok(), Some(target), "set_preferred reads back");
        let k = placed(c, p).unwrap_or_default();
        c.eq(
            k.on_node(target),
            k.pages,
            format!("preferred {target}: pages on node {target}"),
        );
        let all = common::memory_nodes(p.machine());
        if p.kernel().preferred_many {
            c.ok(p.set_preferred_many(&all), "set_preferred_many");
            c.eq(
                p.preferred_many().ok(),
                Some(all.clone()),
                "set_preferred_many reads back",
            );
        }
        c.ok(p.set_interleave_mask(&all), "set_interleave_mask");
        c.eq(
            p.interleave_mask().ok(),
            Some(all.clone()),
            "set_interleave_mask reads back",
        );
        let k = placed(c, p).unwrap_or_default();
        let share = k.pages / all.len() as u64;
        c.check(
            all.iter().all(|n| k.on_node(n).abs_diff(share) <= 1),
            format!("interleave {all}: {share} pages on each node"),
        );
        if p.kernel().weighted_interleave {
            let w = Policy::weighted_interleave(all.clone());
            c.ok(p.set_thread_policy(&w), "weighted interleave");
            let now = numakit::placement::current_policy()
                .map(|c| c.policy.mode)
                .ok();
            c.eq(
                now,
                Some(Mode::WeightedInterleave),
                "weighted interleave reads back",
            );
            let k = placed(c, p).unwrap_or_default();
            c.check(
                all.iter().all(|n| k.on_node(n) > 0),
                format!("weighted interleave {all}: pages on each node"),
            );
        }
        c.ok(p.set_localalloc(), "set_localalloc");
        c.check(
            p.interleave_mask().is_ok_and(|m| m.is_empty()),
            "set_localalloc: no interleaving left",
        );
    });
}

/// libnuma's range calls: the policy each sets, read back per range.
fn range_calls(c: &mut Checks, p: &mut Placer, target: NodeId) {
    let Some(m) = c.ok(p.allocate_with(LEN, &AllocOptions::default()), "allocate") else {
        return;
    };
    let r = m.range();
    c.ok(p.tonode_memory(r, target), "tonode_memory");
    c.eq(
        p.area_policy(r).ok(),
        Some(Policy::on_node(target)),
        "tonode_memory binds (the default)",
    );
    p.set_bind_policy(NodeBinding::Preferred);
    c.ok(p.tonode_memory(r, target), "tonode_memory");
    c.eq(
        p.area_policy(r).ok(),
        Some(Policy::preferred(target)),
        "after set_bind_policy(Preferred): preferred",
    );
    p.set_bind_policy(NodeBinding::Bind);
    let all = common::memory_nodes(p.machine());
    c.ok(p.tonodemask_memory(r, &all), "tonodemask_memory");
    c.eq(
        p.area_policy(r).ok(),
        Some(Policy::bind(all.clone())),
        "tonodemask_memory binds to the set",
    );
    c.ok(p.interleave_memory(r, &all), "interleave_memory");
    c.eq(
        p.area_policy(r).ok(),
        Some(Policy::interleave(all.clone())),
        "interleave_memory",
    );
    c.ok(p.setlocal_memory(r), "setlocal_memory");
    c.eq(
        p.area_policy(r).ok(),
        Some(Policy::local()),
        "setlocal_memory",
    );
}

/// `numa_set_strict`: binding pages that already live elsewhere fails.
fn strict(c: &mut Checks, p: &mut Placer, target: NodeId) {
    let Some(other) = common::other_than(p.machine(), target) else {
        c.skip("strict binding", "one node with memory");
        return;
    };
    let opts = AllocOptions {
        policy: Some(Policy::on_node(other)),
        huge: HugePages::Never,
        populate: true,
    };
    let Some(m) = c.ok(p.allocate_with(LEN, &opts), "allocate") else {
        return;
    };
    p.set_strict(Strictness::Strict);
    let e = p.tonode_memory(m.range(), target);
    c.check(
        e.as_ref().is_err_and(|e| e.to_string().contains("EIO")),
        format!("strict tonode_memory({target}) of pages on node {other}: refused ({e:?})"),
    );
    p.set_strict(Strictness::Lax);
    c.ok(p.tonode_memory(m.range(), target), "lax tonode_memory");
    let moved = p.bind_area(m.range(), &Policy::on_node(target), MbindFlags::MOVE);
    c.ok(moved, "bind_area with MOVE");
    let k = p.mapping_page_counts(&m).unwrap_or_default();
    c.eq(
        k.on_node(target),
        k.pages,
        format!("bind_area MOVE: pages moved from node {other} to {target}"),
    );
}

/// `numa_police_memory`: pages fault in under the range's policy, bytes kept.
fn police(c: &mut Checks, p: &Placer, target: NodeId) {
    let Some(mut v) = c.ok(p.node_vec::<u32>(LEN / 4, &Policy::local()), "node_vec") else {
        return;
    };
    c.ok(p.tonode_memory(v.range(), target), "tonode_memory");
    v.police();
    let k = v.page_counts(p).unwrap_or_default();
    c.eq(
        k.on_node(target),
        k.pages,
        format!("police: every page faulted in on node {target}"),
    );
    c.check(
        v.iter().all(|x| *x == 0),
        "police: the contents did not change",
    );
}
