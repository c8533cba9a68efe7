//! libnuma's calls against the running kernel (node 0 exists everywhere):
//! what a call sets is read back from the kernel, pages are located with
//! `move_pages`, and errors name what ran out.

use numakit_placement::{
    AddrRange, AllocOptions, Error, HugePages, MbindFlags, Mode, NodeVec, Placer, Policy,
};
use numakit_types::{NodeId, NodeSet};

fn node0() -> NodeSet {
    "0".parse().unwrap()
}

/// Runs `f` on a fresh thread, so that policies and affinity it sets do not
/// leak into other tests.
fn on_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| s.spawn(f).join().unwrap())
}

#[test]
fn what_is_set_reads_back() {
    on_thread(|| {
        let p = Placer::live().unwrap();
        assert!(numakit_placement::available());
        assert!(
            numakit_placement::mems_allowed()
                .unwrap()
                .contains(NodeId(0))
        );
        p.set_membind(&node0()).unwrap();
        assert_eq!(p.membind().unwrap(), node0());
        p.set_preferred(NodeId(0)).unwrap();
        assert_eq!(p.preferred().unwrap(), NodeId(0));
        assert_eq!(p.preferred_many().unwrap(), node0());
        p.set_interleave_mask(&node0()).unwrap();
        assert_eq!(p.interleave_mask().unwrap(), node0());
        assert_eq!(numakit_placement::interleave_next_node(), Some(NodeId(0)));
        p.set_localalloc().unwrap();
        assert!(p.interleave_mask().unwrap().is_empty());
        assert_eq!(
            numakit_placement::current_policy().unwrap().policy.mode,
            Mode::Default
        );
        let cpus = p.run_on_node(NodeId(0)).unwrap();
        assert_eq!(numakit_placement::affinity(0).unwrap(), cpus);
        assert!(p.run_nodes().unwrap().contains(NodeId(0)));
        let here = numakit_placement::last_cpu_location().unwrap();
        assert!(cpus.contains(here.cpu));
        assert_eq!(here.node, NodeId(0));
    });
}

#[test]
fn range_policy_set_and_read_back() {
    let p = Placer::live().unwrap();
    let m = p
        .allocate_local(8 * numakit_placement::page_size())
        .unwrap();
    assert_eq!(p.area_policy(m.range()).unwrap(), Policy::local());
    p.tonode_memory(m.range(), NodeId(0)).unwrap();
    assert_eq!(
        p.area_policy(m.range()).unwrap(),
        Policy::on_node(NodeId(0))
    );
    // half of it interleaved: the range now has two policies
    let ps = numakit_placement::page_size() as u64;
    let half = AddrRange::from_len(m.addr() as u64, 4 * ps).unwrap();
    p.interleave_memory(half, &node0()).unwrap();
    assert!(matches!(
        p.area_policy(m.range()),
        Err(Error::MixedPolicies { .. })
    ));
    assert_eq!(p.area_policy(half).unwrap(), Policy::interleave(node0()));
}

#[test]
fn node_vec_is_placed_typed_and_policed() {
    let p = Placer::live().unwrap();
    let mut v: NodeVec<u64> = p.node_vec(100_000, &Policy::on_node(NodeId(0))).unwrap();
    assert_eq!(
        v.page_counts(&p).unwrap().present(),
        0,
        "nothing touched yet"
    );
    v.police();
    let c = v.page_counts(&p).unwrap();
    assert_eq!(c.on_node(NodeId(0)), c.pages);
    assert!(v.iter().all(|x| *x == 0));
    let w = p.node_vec_from_fn(50_000, &node0(), |i| i as f32).unwrap();
    assert_eq!(w[49_999], 49_999.0);
    assert_eq!(
        w.page_counts(&p).unwrap().on_node(NodeId(0)),
        w.page_counts(&p).unwrap().pages
    );
    let mut m = p.allocate_interleaved_all(4096).unwrap();
    m.as_mut_slice()[0] = 9;
    let m = p.reallocate(m, 1 << 20).unwrap();
    assert_eq!(m.as_slice()[0], 9);
    assert_eq!(m.policy().map(|p| p.mode), Some(Mode::Interleave));
}

#[test]
fn errors_say_what_ran_out() {
    let p = Placer::live().unwrap();
    assert!(matches!(
        p.allocate_with(usize::MAX - 10, &AllocOptions::default()),
        Err(Error::TooLarge { .. })
    ));
    let e = p.allocate_local(1 << 60).unwrap_err();
    assert!(e.to_string().contains("out of address space"), "{e}");
    assert!(
        std::error::Error::source(&e).is_some(),
        "the errno is its source"
    );
    let free = std::fs::read_to_string("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok());
    let huge = AllocOptions {
        huge: HugePages::Hugetlb,
        populate: true,
        ..Default::default()
    };
    match free {
        // more than the pool holds
        Some(n) => {
            let e = p.allocate_with((n + 1) * (2 << 20), &huge).unwrap_err();
            assert!(e.to_string().contains("free 2 MiB huge pages"), "{e}");
        }
        None => assert!(p.allocate_with(2 << 20, &huge).is_err()),
    }
    // an mbind flag the kernel refuses shows its errno and what it means
    let m = p.allocate_local(4096).unwrap();
    let e = p
        .bind_area(
            m.range(),
            &Policy::local(),
            MbindFlags::from_bits_retain(1 << 20),
        )
        .unwrap_err();
    assert!(e.to_string().contains("EINVAL"), "{e}");
}
