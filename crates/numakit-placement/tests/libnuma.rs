//! libnuma's calls on the emulated machines of `tests/fixtures/` with the
//! recording backend: each makes the system call libnuma makes (mode, nodes,
//! flags), refuses what libnuma's checks refuse before any call, and ranges
//! are refused alike everywhere.

use numakit_placement::{
    AddrRange, Call, DeviceSpec, Error, KernelSupport, MbindFlags, Mode, NodeBinding, PageMove,
    Placer, Policy, RecordingBackend, Strictness,
};
use numakit_root::Root;
use numakit_topo::Machine;
use numakit_types::{CpuSet, NodeId, NodeSet};

fn placer(name: &str) -> Placer<RecordingBackend> {
    let p = format!(
        "{}/../../tests/fixtures/{name}/sysfs.tar.gz",
        env!("CARGO_MANIFEST_DIR")
    );
    let m = Machine::discover(&Root::open(&p).unwrap());
    Placer::with_backend(
        m,
        KernelSupport::from_release("6.12.9"),
        RecordingBackend::new(),
    )
}

fn nodes(s: &str) -> NodeSet {
    s.parse().unwrap()
}

fn range(start: u64, len: u64) -> AddrRange {
    AddrRange::from_len(start, len).unwrap()
}

fn last_mbind(p: &Placer<RecordingBackend>) -> (Policy, MbindFlags) {
    match p.backend().calls().pop() {
        Some(Call::Mbind { policy, flags, .. }) => (policy, flags),
        other => panic!("expected mbind, got {other:?}"),
    }
}

#[test]
fn tonode_follows_the_bind_policy_and_strict_switches() {
    let mut p = placer("qemu-3node-hmat");
    let r = range(0x10000, 0x4000);
    p.tonode_memory(r, NodeId(1)).unwrap();
    assert_eq!(
        last_mbind(&p),
        (Policy::on_node(NodeId(1)), MbindFlags::empty())
    );
    p.set_strict(Strictness::Strict);
    p.set_bind_policy(NodeBinding::Preferred);
    p.tonodemask_memory(r, &nodes("1-2")).unwrap();
    assert_eq!(
        last_mbind(&p),
        (Policy::preferred_many(nodes("1-2")), MbindFlags::STRICT)
    );
    p.tonode_memory(r, NodeId(2)).unwrap();
    assert_eq!(last_mbind(&p).0, Policy::preferred(NodeId(2)));
    p.interleave_memory(r, &nodes("0-2")).unwrap();
    assert_eq!(last_mbind(&p).0, Policy::interleave(nodes("0-2")));
    p.setlocal_memory(r).unwrap();
    assert_eq!(last_mbind(&p), (Policy::local(), MbindFlags::STRICT));
    // an old kernel has no preferred-many: the first node is preferred
    let mut old = placer("qemu-3node-hmat");
    old = Placer::with_backend(
        old.machine().clone(),
        KernelSupport::from_release("5.10.0"),
        RecordingBackend::new(),
    );
    old.set_bind_policy(NodeBinding::Preferred);
    old.tonodemask_memory(r, &nodes("1-2")).unwrap();
    assert_eq!(last_mbind(&old).0, Policy::preferred(NodeId(1)));
}

#[test]
fn ranges_are_refused_alike_everywhere() {
    let p = placer("qemu-2node");
    let reversed = |e: Error| {
        assert_eq!(
            e.to_string(),
            "bad memory range 5000-1000: the end is below the start"
        );
    };
    reversed(p.page_counts(0, 0x5000, 0x1000).unwrap_err());
    reversed(p.migrate_range(0, 0x5000, 0x1000, NodeId(1)).unwrap_err());
    let empty = |e: Error| assert!(e.to_string().ends_with(": it is empty"), "{e}");
    empty(p.page_counts(0, 0x5000, 0x5000).unwrap_err());
    empty(p.migrate_range(0, 0x5000, 0x5000, NodeId(1)).unwrap_err());
    empty(
        p.bind_range(0x5000, 0, &Policy::local(), MbindFlags::empty())
            .unwrap_err(),
    );
    empty(p.set_home_node(0x5000, 0, NodeId(0)).unwrap_err());
    let e = p
        .bind_area(range(0x5001, 10), &Policy::local(), MbindFlags::empty())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad memory range 5001-500b: the start is not page-aligned"
    );
    assert!(p.backend().calls().is_empty());
}

#[test]
fn move_pages_with_a_target_per_page() {
    let p = placer("qemu-2node");
    let moves = [
        PageMove {
            page: 0x10000,
            to: NodeId(1),
        },
        PageMove {
            page: 0x11234,
            to: NodeId(0),
        },
    ];
    let at = p.move_pages_to(0, &moves).unwrap();
    assert_eq!(
        at,
        [
            numakit_placement::PageLocation::Node(NodeId(1)),
            numakit_placement::PageLocation::Node(NodeId(0))
        ]
    );
    assert_eq!(
        p.backend().calls(),
        [Call::MovePages {
            pid: 0,
            count: 2,
            moving: true
        }]
    );
    let bad = [PageMove {
        page: 0x10000,
        to: NodeId(5),
    }];
    assert!(matches!(
        p.move_pages_to(0, &bad),
        Err(Error::UnknownNode { .. })
    ));
    assert_eq!(
        p.backend().calls().len(),
        1,
        "nothing called for a bad target"
    );
}

#[test]
fn thread_policies_as_libnuma_sets_them() {
    let p = placer("qemu-3node-hmat");
    p.set_membind(&nodes("0-1")).unwrap();
    p.set_preferred(NodeId(2)).unwrap();
    p.set_preferred_many(&nodes("1-2")).unwrap();
    p.set_interleave_mask(&nodes("0,2")).unwrap();
    p.set_interleave_mask(&NodeSet::new()).unwrap();
    p.set_localalloc().unwrap();
    p.set_membind_balancing(&nodes("1")).unwrap();
    let set: Vec<Policy> = p
        .backend()
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::SetMempolicy(p) => Some(p),
            _ => None,
        })
        .collect();
    let modes: Vec<Mode> = set.iter().map(|p| p.mode).collect();
    assert_eq!(
        modes,
        [
            Mode::Bind,
            Mode::Preferred,
            Mode::PreferredMany,
            Mode::Interleave,
            Mode::Default,
            Mode::Default,
            Mode::Bind
        ]
    );
    assert_eq!(set[6].to_string(), "bind 1 (balancing)");
    // refused before any call: a node the machine lacks, a CPU-less run
    let before = p.backend().calls().len();
    assert!(p.set_membind(&nodes("7")).is_err());
    assert!(p.bind_to_nodes(&nodes("2")).is_err(), "node 2 has no CPUs");
    assert!(p.run_on_nodes_all(&nodes("2")).is_err());
    assert_eq!(p.backend().calls().len(), before);
}

#[test]
fn running_on_nodes_and_affinity_by_pid() {
    let p = placer("qemu-3node-hmat");
    assert_eq!(p.run_on_node(NodeId(1)).unwrap().to_string(), "2-3");
    assert_eq!(
        p.run_on_nodes_all(&nodes("0-1")).unwrap().to_string(),
        "0-3"
    );
    p.bind_to_nodes(&nodes("1")).unwrap();
    let cpus: CpuSet = "2".parse().unwrap();
    p.set_affinity(4242, &cpus).unwrap();
    let calls = p.backend().calls();
    assert!(calls.contains(&Call::SetAffinity { tid: 4242, cpus }));
    assert!(calls.contains(&Call::SetMempolicy(Policy::bind(nodes("1")))));
    let e = p.set_affinity(1, &"9".parse().unwrap()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "CPU 9 does not exist: this machine has CPUs 0-3"
    );
    assert!(p.set_affinity(1, &CpuSet::new()).is_err());
}

#[test]
fn cpus_near_a_device() {
    let p = placer("qemu-gpuserver");
    let nic1: DeviceSpec = "nic:1".parse().unwrap();
    assert_eq!(p.cpus_near(&nic1).unwrap().to_string(), "2-3");
    assert_eq!(p.node_of_device(&nic1).unwrap(), NodeId(1));
    let e = p.cpus_near(&"gpu:9".parse().unwrap()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no device gpu:9 on this machine: it has gpu:0 to gpu:3"
    );
}
