//! Live tests: real system calls on the machine running the tests (node 0
//! exists everywhere). Each test changes only its own thread.

use numakit_placement::{
    AllocOptions, CpuBinding, Error, HugePages, Mode, PageLocation, Placer, Policy, current_policy,
};
use numakit_types::{CpuSet, NodeId, NodeSet};

#[test]
fn thread_policy_roundtrip() {
    let p = Placer::live().unwrap();
    p.set_thread_policy(&Policy::bind("0".parse().unwrap()))
        .unwrap();
    let cur = current_policy().unwrap();
    assert_eq!(cur.policy, Policy::bind("0".parse().unwrap()));
    assert!(cur.mems_allowed.contains(NodeId(0)));
    p.set_thread_policy(&Policy::interleave("0".parse().unwrap()))
        .unwrap();
    assert_eq!(current_policy().unwrap().policy.mode, Mode::Interleave);
    p.set_thread_policy(&Policy::local()).unwrap();
    assert_eq!(current_policy().unwrap().policy, Policy::local());
    p.set_thread_policy(&Policy::default_policy()).unwrap();
    assert_eq!(current_policy().unwrap().policy.mode, Mode::Default);
}

#[test]
fn bad_node_changes_nothing() {
    let p = Placer::live().unwrap();
    p.set_thread_policy(&Policy::preferred(NodeId(0))).unwrap();
    let e = p
        .set_thread_policy(&Policy::bind("1023".parse().unwrap()))
        .unwrap_err();
    assert!(matches!(e, Error::UnknownNode { .. }), "{e}");
    assert_eq!(
        current_policy().unwrap().policy,
        Policy::preferred(NodeId(0))
    );
}

#[test]
fn allocation_on_node0_and_page_query() {
    let p = Placer::live().unwrap();
    let mut m = p.allocate_on_node(1 << 20, NodeId(0)).unwrap();
    let ps = numakit_sys::mm::page_size();
    let pages = m.len() / ps;
    let c = p.mapping_page_counts(&m).unwrap();
    assert_eq!(c.not_present, pages as u64, "untouched: {c:?}");
    m.as_mut_slice().fill(7);
    let c = p.mapping_page_counts(&m).unwrap();
    assert_eq!(c.on_node(NodeId(0)), pages as u64, "{c:?}");
    let addrs: Vec<usize> = (0..pages).map(|i| m.addr() + i * ps).collect();
    let loc = p.locate_pages(0, &addrs).unwrap();
    assert!(loc.iter().all(|l| *l == PageLocation::Node(NodeId(0))));
    // already there: nothing to move, nothing left behind
    let out = p
        .migrate_range(0, m.addr() as u64, (m.addr() + m.len()) as u64, NodeId(0))
        .unwrap();
    assert_eq!(out.not_moved, 0);
    p.bind_mapping(&mut m, &Policy::interleave("0".parse().unwrap()), true)
        .unwrap();
    assert_eq!(m.as_slice()[m.len() - 1], 7);
}

#[test]
fn allocation_options() {
    let p = Placer::live().unwrap();
    let m = p
        .allocate_with(
            3 << 20,
            &AllocOptions {
                policy: Some(Policy::interleave("0".parse().unwrap())),
                huge: HugePages::Transparent,
                populate: true,
            },
        )
        .unwrap();
    assert_eq!(m.len(), 4 << 20);
    assert_eq!(
        p.mapping_page_counts(&m).unwrap().on_node(NodeId(0)),
        (m.len() / numakit_sys::mm::page_size()) as u64
    );
    assert!(p.allocate(0, &Policy::local()).is_err());
    assert!(p.allocate(4096, &Policy::bind(NodeSet::new())).is_err());
}

#[test]
fn first_touch_on_node0() {
    let p = Placer::live().unwrap();
    let mut m = p.allocate_with(8 << 20, &AllocOptions::default()).unwrap();
    let parts = p
        .first_touch_parts(m.as_mut_slice(), &[NodeId(0), NodeId(0)], |_, part| {
            part.fill(1)
        })
        .unwrap();
    assert_eq!(parts.len(), 2);
    let c = p.mapping_page_counts(&m).unwrap();
    assert_eq!(c.present(), c.pages);
    assert_eq!(c.on_node(NodeId(0)), c.pages);
}

#[test]
fn bind_thread_roundtrip() {
    let p = Placer::live().unwrap();
    let allowed = p.machine().allowed.cpus.clone().unwrap();
    let first: CpuSet = std::iter::once(allowed.first().unwrap()).collect();
    assert_eq!(
        p.bind_thread(&CpuBinding::Cpus(first.clone())).unwrap(),
        first
    );
    assert_eq!(current_policy().unwrap().cpus, first);
    p.bind_thread(&CpuBinding::Nodes("0".parse().unwrap()))
        .unwrap();
    assert_eq!(current_policy().unwrap().cpus, allowed);
}

#[test]
fn vanished_pid() {
    let p = Placer::live().unwrap();
    let e = p.page_counts(i32::MAX, 0x1000, 0x2000).unwrap_err();
    assert!(matches!(e, Error::NoSuchProcess { .. }), "{e}");
}
