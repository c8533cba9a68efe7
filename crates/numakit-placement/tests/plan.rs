//! Planning and validation on the emulated machines of `tests/fixtures/`,
//! with the recording backend: every bad input gives a typed error and no
//! system call.

use numakit_placement::{
    AllocOptions, Call, CpuBinding, DeviceSpec, Error, HugePages, KernelSupport, Mode,
    PageLocation, PageMove, Placer, Policy, PolicyFlags, RecordingBackend, RunRequest,
};
use numakit_root::Root;
use numakit_sys::Errno;
use numakit_topo::Machine;
use numakit_types::{CpuSet, NodeId, NodeSet};

fn fixture(name: &str) -> (Root, Machine) {
    let p = format!(
        "{}/../../tests/fixtures/{name}/sysfs.tar.gz",
        env!("CARGO_MANIFEST_DIR")
    );
    let root = Root::open(&p).unwrap();
    let m = Machine::discover(&root);
    (root, m)
}

fn nodes(s: &str) -> NodeSet {
    s.parse().unwrap()
}
fn cpus(s: &str) -> CpuSet {
    s.parse().unwrap()
}

fn kernel() -> KernelSupport {
    KernelSupport::from_release("6.12.9-cloud-amd64")
}

fn placer(m: Machine) -> Placer<RecordingBackend> {
    Placer::with_backend(m, kernel(), RecordingBackend::new())
}

fn req(memory: Option<Policy>, cpu: Option<CpuBinding>) -> RunRequest {
    RunRequest {
        memory,
        cpus: cpu,
        ..Default::default()
    }
}

/// Validates on a recording placer and checks that nothing was called.
fn refused(p: &Placer<RecordingBackend>, r: &RunRequest) -> Error {
    let e = p.plan(r).unwrap_err();
    assert!(e.is_validation(), "{e}");
    assert!(p.backend().calls().is_empty());
    e
}

#[test]
fn membind_and_cpunodebind_apply_in_order() {
    let (_, m) = fixture("qemu-2node");
    let p = placer(m);
    let plan = p
        .plan(&req(
            Some(Policy::bind(nodes("1"))),
            Some(CpuBinding::Nodes(nodes("1"))),
        ))
        .unwrap();
    assert_eq!(plan.cpus, Some(cpus("2-3")));
    p.apply(&plan).unwrap();
    assert_eq!(
        p.backend().calls(),
        vec![
            Call::SetAffinity {
                tid: 0,
                cpus: cpus("2-3")
            },
            Call::SetMempolicy(Policy::bind(nodes("1"))),
        ]
    );
}

#[test]
fn near_nvme_binds_cpus_and_memory_to_its_node() {
    let (root, m) = fixture("qemu-2node");
    let r = RunRequest {
        near: Some("0000:41:00.0".parse().unwrap()),
        ..Default::default()
    };
    let plan = r.validate_with_root(&m, &kernel(), Some(&root)).unwrap();
    assert_eq!(plan.cpus, Some(cpus("2-3")));
    assert_eq!(plan.memory, Some(Policy::bind(nodes("1"))));
    assert_eq!(plan.device.as_ref().unwrap().node, NodeId(1));
    // an explicit policy wins over the device's node
    let r = RunRequest {
        near: Some("0000:41:00.0".parse().unwrap()),
        memory: Some(Policy::interleave(nodes("0-1"))),
        ..Default::default()
    };
    let plan = r.validate(&m, &kernel()).unwrap();
    assert_eq!(plan.memory, Some(Policy::interleave(nodes("0-1"))));
    assert_eq!(plan.cpus, Some(cpus("2-3")));
}

#[test]
fn gpus_in_topology_order() {
    let (_, m) = fixture("qemu-gpuserver");
    let p = placer(m);
    assert_eq!(p.node_of_device(&DeviceSpec::Gpu(0)).unwrap(), NodeId(0));
    assert_eq!(p.node_of_device(&DeviceSpec::Gpu(2)).unwrap(), NodeId(1));
    let e = p.node_of_device(&DeviceSpec::Gpu(4)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no device gpu:4 on this machine: it has gpu:0 to gpu:3"
    );
}

#[test]
fn device_without_node_and_missing_device() {
    let (_, m) = fixture("qemu-2node");
    let p = placer(m);
    let e = refused(
        &p,
        &RunRequest {
            near: Some("0000:00:1f.2".parse().unwrap()),
            ..Default::default()
        },
    );
    assert!(matches!(e, Error::DeviceWithoutNode { .. }), "{e}");
    for spec in [
        "0000:99:00.0",
        "gpu:0",
        "net:nosuch0",
        "block:nosuch",
        "nvme:7",
    ] {
        let e = refused(
            &p,
            &RunRequest {
                near: Some(spec.parse().unwrap()),
                ..Default::default()
            },
        );
        assert!(matches!(e, Error::UnknownDevice { .. }), "{spec}: {e}");
    }
    assert!(matches!(
        "usb:1".parse::<DeviceSpec>().map_err(Error::from),
        Err(Error::BadDeviceSpec { .. })
    ));
}

/// The placement errors for devices say what the machine model's lookup
/// says, word for word.
#[test]
fn device_errors_keep_the_lookup_words() {
    let (root, m) = fixture("qemu-2node");
    let parse = "usb:1".parse::<DeviceSpec>().unwrap_err();
    assert_eq!(Error::from(parse.clone()).to_string(), parse.to_string());
    for spec in ["0000:00:1f.2", "gpu:0", "net:nosuch0"] {
        let e = spec
            .parse::<DeviceSpec>()
            .unwrap()
            .resolve(&m, Some(&root))
            .unwrap_err();
        assert_eq!(Error::from(e.clone()).to_string(), e.to_string(), "{spec}");
    }
}

#[test]
fn unknown_node() {
    let (_, m) = fixture("qemu-2node");
    let p = placer(m);
    let e = refused(&p, &req(Some(Policy::bind(nodes("0,5"))), None));
    assert_eq!(
        e.to_string(),
        "node 5 does not exist: this machine has nodes 0-1"
    );
    let e = refused(&p, &req(None, Some(CpuBinding::Nodes(nodes("4")))));
    assert!(matches!(e, Error::UnknownNode { .. }));
}

#[test]
fn offline_node() {
    let (_, mut m) = fixture("qemu-2node");
    m.nodes[1].online = Some(false);
    let p = placer(m);
    let e = refused(&p, &req(Some(Policy::preferred(NodeId(1))), None));
    assert_eq!(e.to_string(), "node 1 is offline");
    // possible but not present
    let (_, mut m) = fixture("qemu-2node");
    m.node_states.possible = Some(nodes("0-3"));
    let p = placer(m);
    let e = refused(&p, &req(Some(Policy::interleave(nodes("0,3"))), None));
    assert!(matches!(e, Error::OfflineNode { node: NodeId(3) }), "{e}");
}

#[test]
fn empty_sets() {
    let (_, m) = fixture("qemu-2node");
    let p = placer(m);
    for mode in [
        Mode::Bind,
        Mode::Interleave,
        Mode::WeightedInterleave,
        Mode::PreferredMany,
        Mode::Preferred,
    ] {
        let e = refused(
            &p,
            &req(
                Some(Policy::new(mode, NodeSet::new(), PolicyFlags::empty())),
                None,
            ),
        );
        assert!(matches!(e, Error::EmptyNodes { .. }), "{mode:?}: {e}");
    }
    let e = refused(&p, &req(None, Some(CpuBinding::Cpus(CpuSet::new()))));
    assert!(matches!(e, Error::EmptyCpus { .. }));
    let e = refused(&p, &req(None, Some(CpuBinding::Nodes(NodeSet::new()))));
    assert!(matches!(e, Error::EmptyNodes { .. }));
}

#[test]
fn two_policies_and_two_bindings() {
    let mut r = RunRequest::default();
    r.set_memory(Policy::bind(nodes("0"))).unwrap();
    let e = r.set_memory(Policy::interleave(nodes("0-1"))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "two memory policies given (bind 0 and interleave 0-1); choose one"
    );
    assert_eq!(r.memory, Some(Policy::bind(nodes("0"))));
    r.set_cpus(CpuBinding::Nodes(nodes("0"))).unwrap();
    assert!(matches!(
        r.set_cpus(CpuBinding::Cpus(cpus("1"))),
        Err(Error::TwoCpuBindings { .. })
    ));
}

#[test]
fn outside_the_cpuset() {
    let (_, mut m) = fixture("qemu-2node");
    m.allowed.mems = Some(nodes("0"));
    m.allowed.cpus = Some(cpus("0-1"));
    let p = placer(m);
    let e = refused(&p, &req(Some(Policy::bind(nodes("0-1"))), None));
    assert_eq!(
        e.to_string(),
        "node(s) 1 are outside this process's allowed memory nodes (0)"
    );
    let e = refused(&p, &req(None, Some(CpuBinding::Cpus(cpus("1-2")))));
    assert_eq!(
        e.to_string(),
        "CPU(s) 2 are outside this process's allowed CPUs (0-1)"
    );
    let e = refused(&p, &req(None, Some(CpuBinding::Nodes(nodes("1")))));
    assert!(matches!(e, Error::NoCpusOnNodes { .. }), "{e}");
    let e = refused(
        &p,
        &RunRequest {
            near: Some("0000:41:00.0".parse().unwrap()),
            ..Default::default()
        },
    );
    assert!(matches!(e, Error::NodesNotAllowed { .. }), "{e}");
    // node binding keeps only the allowed CPUs of a node
    let (_, mut m) = fixture("qemu-2node");
    m.allowed.cpus = Some(cpus("0,2"));
    let plan = placer(m)
        .plan(&req(None, Some(CpuBinding::Nodes(nodes("0-1")))))
        .unwrap();
    assert_eq!(plan.cpus, Some(cpus("0,2")));
}

#[test]
fn unknown_cpu() {
    let (_, m) = fixture("qemu-2node");
    let e = refused(&placer(m), &req(None, Some(CpuBinding::Cpus(cpus("3-4")))));
    assert_eq!(
        e.to_string(),
        "CPU 4 does not exist: this machine has CPUs 0-3"
    );
}

#[test]
fn cpuless_node() {
    let (_, m) = fixture("qemu-3node-hmat");
    let p = placer(m);
    let plan = p.plan(&req(Some(Policy::bind(nodes("2"))), None)).unwrap();
    assert_eq!(plan.memory, Some(Policy::bind(nodes("2"))));
    let e = refused(&p, &req(None, Some(CpuBinding::Nodes(nodes("2")))));
    assert_eq!(e.to_string(), "node(s) 2 have no CPUs this process may use");
}

#[test]
fn modes_the_kernel_lacks() {
    let (_, m) = fixture("qemu-2node");
    let old = Placer::with_backend(
        m.clone(),
        KernelSupport::from_release("5.10.0-30-amd64"),
        RecordingBackend::new(),
    );
    let e = refused(
        &old,
        &req(Some(Policy::weighted_interleave(nodes("0-1"))), None),
    );
    assert_eq!(
        e.to_string(),
        "this kernel (5.10.0-30-amd64) has no weighted interleave (needs Linux 6.9 or later)"
    );
    let e = refused(&old, &req(Some(Policy::preferred_many(nodes("0-1"))), None));
    assert!(e.to_string().contains("needs Linux 5.15"), "{e}");
    let ancient = Placer::with_backend(
        m,
        KernelSupport::from_release("5.4.0"),
        RecordingBackend::new(),
    );
    let r = RunRequest {
        memory: Some(Policy::bind(nodes("1"))),
        balancing: true,
        ..Default::default()
    };
    let e = refused(&ancient, &r);
    assert!(e.to_string().contains("needs Linux 5.12"), "{e}");
    assert!(ancient.set_home_node(0, 4096, NodeId(0)).is_err());
    assert!(ancient.backend().calls().is_empty());
}

#[test]
fn bad_policy_shapes() {
    let (_, m) = fixture("qemu-2node");
    let p = placer(m);
    let e = refused(
        &p,
        &req(
            Some(Policy::new(
                Mode::Preferred,
                nodes("0-1"),
                PolicyFlags::empty(),
            )),
            None,
        ),
    );
    assert!(matches!(e, Error::BadNodeCount { .. }), "{e}");
    let e = refused(
        &p,
        &req(
            Some(Policy::new(Mode::Local, nodes("1"), PolicyFlags::empty())),
            None,
        ),
    );
    assert!(matches!(e, Error::BadNodeCount { .. }), "{e}");
    let e = refused(
        &p,
        &req(
            Some(
                Policy::bind(nodes("1"))
                    .with_flags(PolicyFlags::STATIC_NODES | PolicyFlags::RELATIVE_NODES),
            ),
            None,
        ),
    );
    assert!(matches!(e, Error::BadFlag { .. }), "{e}");
    let r = RunRequest {
        memory: Some(Policy::interleave(nodes("0-1"))),
        balancing: true,
        ..Default::default()
    };
    assert!(matches!(refused(&p, &r), Error::BadFlag { .. }));
    let r = RunRequest {
        balancing: true,
        ..Default::default()
    };
    assert!(matches!(refused(&p, &r), Error::BadFlag { .. }));
}

#[test]
fn home_node_is_checked_then_refused_for_commands() {
    let (_, m) = fixture("qemu-2node");
    let p = placer(m);
    let r = RunRequest {
        memory: Some(Policy::interleave(nodes("0-1"))),
        home_node: Some(NodeId(1)),
        ..Default::default()
    };
    assert!(matches!(refused(&p, &r), Error::BadHomeNode { .. }));
    let r = RunRequest {
        memory: Some(Policy::bind(nodes("0-1"))),
        home_node: Some(NodeId(1)),
        ..Default::default()
    };
    assert!(matches!(refused(&p, &r), Error::HomeNodeNeedsRange));
    // on a range it is applied
    p.set_home_node(0x1000, 0x1000, NodeId(1)).unwrap();
    assert_eq!(
        p.backend().calls(),
        vec![Call::SetHomeNode {
            addr: 0x1000,
            len: 0x1000,
            node: NodeId(1)
        }]
    );
}

#[test]
fn actions_refuse_a_snapshot_root() {
    let (root, m) = fixture("qemu-2node");
    let plan = req(Some(Policy::bind(nodes("1"))), None)
        .validate(&m, &kernel())
        .unwrap();
    let e = plan.apply_to_current_process(&root).unwrap_err();
    assert!(matches!(e, Error::NotLive { .. }), "{e}");
    assert!(matches!(
        Placer::from_root(&root).unwrap_err(),
        Error::NotLive { .. }
    ));
}

#[test]
fn eperm_names_cap_sys_nice_and_seccomp() {
    let (_, m) = fixture("qemu-2node");
    let mut b = RecordingBackend::new();
    b.fail_set_mempolicy = Some(Errno::EPERM);
    let p = Placer::with_backend(m, kernel(), b);
    let e = p.set_thread_policy(&Policy::bind(nodes("1"))).unwrap_err();
    let s = e.to_string();
    assert!(s.contains("CAP_SYS_NICE") && s.contains("seccomp"), "{s}");
}

#[test]
fn vanished_process() {
    let (_, m) = fixture("qemu-2node");
    let mut b = RecordingBackend::new();
    b.fail_pages = Some(Errno::ESRCH);
    let p = Placer::with_backend(m, kernel(), b);
    let e = p
        .migrate_process(4242, &nodes("0"), &nodes("1"))
        .unwrap_err();
    assert_eq!(e.to_string(), "no process 4242 (it may have exited)");
    let e = p.page_counts(4242, 0x1000, 0x5000).unwrap_err();
    assert!(matches!(e, Error::NoSuchProcess { pid: 4242 }));
}

#[test]
fn migrate_reports_pages_not_moved() {
    let (_, m) = fixture("qemu-2node");
    let mut b = RecordingBackend::new();
    b.not_moved = 5;
    let p = Placer::with_backend(m, kernel(), b);
    let out = p.migrate_process(77, &nodes("0"), &nodes("1")).unwrap();
    assert_eq!(out.not_moved, 5);
    assert_eq!(
        p.backend().calls(),
        vec![Call::MigratePages {
            pid: 77,
            from: nodes("0"),
            to: nodes("1")
        }]
    );
    // bad targets: refused before the call
    let p = placer(fixture("qemu-2node").1);
    assert!(p.migrate_process(77, &nodes("0"), &nodes("9")).is_err());
    assert!(p.migrate_process(77, &NodeSet::new(), &nodes("1")).is_err());
    assert!(p.backend().calls().is_empty());
}

#[test]
fn page_queries_are_batched() {
    let (_, m) = fixture("qemu-2node");
    let mut b = RecordingBackend::new();
    b.page_node = 1;
    let p = Placer::with_backend(m, kernel(), b);
    let pages = 40_000u64;
    let c = p.page_counts(9, 0x10000, 0x10000 + pages * 4096).unwrap();
    assert_eq!(c.on_node(NodeId(1)), pages);
    assert_eq!(c.pages, pages);
    let calls = p.backend().calls();
    assert_eq!(
        calls.len(),
        pages.div_ceil(numakit_placement::QUERY_CHUNK as u64) as usize
    );
    assert!(calls.iter().all(|c| matches!(
        c,
        Call::MovePages {
            pid: 9,
            moving: false,
            ..
        }
    )));
}

#[test]
fn first_touch_pins_one_thread_per_node() {
    let (_, m) = fixture("qemu-3node-hmat");
    let p = placer(m);
    let mut v = vec![0u32; 3 * 4096];
    let parts = p
        .first_touch(&mut v, &"0-2".parse().unwrap(), |start, part| {
            for (i, x) in part.iter_mut().enumerate() {
                *x = (start + i) as u32;
            }
        })
        .unwrap();
    assert!(v.iter().enumerate().all(|(i, x)| *x == i as u32));
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0].cpus, Some(cpus("0-1")));
    assert_eq!(parts[1].cpus, Some(cpus("2-3")));
    assert_eq!(parts[2].cpus, None, "node 2 has no CPUs");
    assert_eq!(parts.iter().map(|p| p.len).sum::<usize>(), v.len());
    let calls = p.backend().calls();
    for (c, n) in [(cpus("0-1"), 0), (cpus("2-3"), 1)] {
        assert!(calls.contains(&Call::SetAffinity { tid: 0, cpus: c }));
        assert!(calls.contains(&Call::SetMempolicy(Policy::preferred(NodeId(n)))));
    }
    assert!(calls.contains(&Call::SetMempolicy(Policy::preferred(NodeId(2)))));
    assert_eq!(calls.len(), 5);
    // a bad node: nothing runs
    let p = placer(fixture("qemu-2node").1);
    assert!(
        p.first_touch(&mut v, &"0,7".parse().unwrap(), |_, _| {})
            .is_err()
    );
    assert!(p.first_touch(&mut v, &NodeSet::new(), |_, _| {}).is_err());
    assert!(p.first_touch_parts(&mut v, &[], |_, _| {}).is_err());
    assert!(p.backend().calls().is_empty());
}

#[test]
fn affinity_from_taskset_is_not_a_limit_only_the_cpuset_is() {
    // The affinity narrowed to 0-1 as by `taskset -c 0-1`, the cpuset whole:
    // a binding to node 1 is allowed (the kernel widens within the cpuset).
    let (_, mut m) = fixture("qemu-2node");
    m.allowed.cpus = Some(cpus("0-3"));
    m.allowed.affinity = Some(cpus("0-1"));
    let r = req(None, Some(CpuBinding::Nodes(nodes("1"))));
    let plan = r.validate(&m, &kernel()).unwrap();
    assert_eq!(plan.cpus, Some(cpus("2-3")));
    // a cpuset of 0-1: node 1 has no CPUs this process may use
    m.allowed.cpus = Some(cpus("0-1"));
    assert!(matches!(
        r.validate(&m, &kernel()),
        Err(Error::NoCpusOnNodes { .. })
    ));
}

/// `move_pages` returning a positive count leaves the statuses unwritten
/// and counts a split huge page as not moved even when all of it moved
/// (Linux 6.x): where the pages are is asked again.
#[test]
fn moves_that_report_pages_left_are_checked_by_asking_again() {
    let moves = [0x10000u64, 0x11000].map(|page| PageMove {
        page,
        to: NodeId(1),
    });
    let mut b = RecordingBackend::new();
    b.page_node = 1;
    b.move_left = 2;
    let p = Placer::with_backend(fixture("qemu-2node").1, kernel(), b);
    let at = p.move_pages_to(0, &moves).unwrap();
    assert_eq!(at, vec![PageLocation::Node(NodeId(1)); 2]);
    let moving = |c: &Call| matches!(c, Call::MovePages { moving, .. } if *moving);
    let calls = p.backend().calls();
    assert_eq!(calls.len(), 2);
    assert!(moving(&calls[0]) && !moving(&calls[1]), "{calls:?}");
    // pages that really stayed are counted from the second answer
    let mut b = RecordingBackend::new();
    b.move_left = 4;
    let p = Placer::with_backend(fixture("qemu-2node").1, kernel(), b);
    let out = p.migrate_range(0, 0x10000, 0x14000, NodeId(1)).unwrap();
    assert_eq!(out.not_moved, 4);
    assert_eq!(p.backend().calls().len(), 3);
}

#[test]
fn page_range_in_the_last_page_of_the_address_space_does_not_overflow() {
    let p = placer(fixture("qemu-2node").1);
    let c = p.page_counts(9, u64::MAX - 10, u64::MAX).unwrap();
    assert_eq!(c.pages, 1);
    let out = p
        .migrate_range(9, u64::MAX - 10, u64::MAX, NodeId(1))
        .unwrap();
    assert_eq!(out.not_moved, 0);
}

#[test]
fn allocation_length_that_overflows_when_rounded_is_an_error() {
    let p = placer(fixture("qemu-2node").1);
    assert!(
        p.allocate_with(usize::MAX, &AllocOptions::default())
            .is_err()
    );
    let huge = AllocOptions {
        huge: HugePages::Transparent,
        ..Default::default()
    };
    assert!(p.allocate_with(usize::MAX - 4096, &huge).is_err());
    assert!(p.backend().calls().is_empty());
}

#[test]
fn exec_failures_keep_the_shell_status_and_the_errno() {
    let missing = std::ffi::OsStr::new("/nonexistent/numakit-test-command");
    match numakit_placement::exec(missing, &[]) {
        Error::Exec {
            why, status, errno, ..
        } => {
            assert_eq!((why.as_str(), status), ("command not found", 127));
            assert_eq!(errno, Some(Errno::ENOENT));
        }
        e => panic!("not an exec error: {e}"),
    }
    // a directory cannot be executed
    match numakit_placement::exec(std::ffi::OsStr::new("/"), &[]) {
        Error::Exec { status, errno, .. } => {
            assert_eq!(status, 126);
            assert_eq!(errno, Some(Errno::EACCES));
        }
        e => panic!("not an exec error: {e}"),
    }
}
