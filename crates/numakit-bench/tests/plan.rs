//! Requests checked against fixture machines before anything is allocated:
//! which nodes initiate and which are targets (a CPU-less node only ever a
//! target), default sizes from the last-level cache, and every bad input
//! refused with the error that says why.

use numakit_bench::options::{self, Options};
use numakit_bench::{
    BandwidthOptions, Error, FirstTouchOptions, GpuOptions, HugeChoice, Kernel, LatencyOptions,
    LoadedOptions, PolicyOptions, WeightsOptions, bandwidth, first_touch, gpu, latency, loaded,
    policy, weights,
};
use numakit_root::Root;
use numakit_topo::Machine;
use numakit_types::{NodeId, NodeSet};

fn fixture(name: &str) -> Machine {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
        .join("sysfs.tar.gz");
    Machine::discover(&Root::open(p).unwrap())
}

fn nodes(s: &str) -> Option<NodeSet> {
    Some(s.parse().unwrap())
}

fn ids(v: &[NodeId]) -> Vec<u32> {
    v.iter().map(|n| n.get()).collect()
}

#[test]
fn cpuless_node_is_a_target_only() {
    let m = fixture("qemu-3node-hmat");
    let sel = options::select(&m, &Options::default()).unwrap();
    let inits: Vec<u32> = sel.initiators.iter().map(|i| i.node.get()).collect();
    assert_eq!(inits, [0, 1]);
    assert_eq!(ids(&sel.targets), [0, 1, 2]);
    assert_eq!(sel.initiators[1].cpus.len(), 2);
    // named as an initiator: refused
    let o = Options {
        initiators: nodes("2"),
        ..Default::default()
    };
    let e = options::select(&m, &o).unwrap_err();
    assert!(matches!(e, Error::NoCpus { node: NodeId(2) }), "{e}");
    assert!(e.is_validation());
    assert!(e.to_string().contains("it can be a target"), "{e}");
    // only the CPU-less node selected: nothing can initiate
    let o = Options {
        nodes: nodes("2"),
        ..Default::default()
    };
    assert!(matches!(
        options::select(&m, &o).unwrap_err(),
        Error::NoInitiators { .. }
    ));
    // as an explicit target: fine
    let o = Options {
        targets: nodes("2"),
        ..Default::default()
    };
    assert_eq!(ids(&options::select(&m, &o).unwrap().targets), [2]);
}

#[test]
fn unknown_nodes_are_refused() {
    let m = fixture("qemu-2node");
    for o in [
        Options {
            nodes: nodes("7"),
            ..Default::default()
        },
        Options {
            initiators: nodes("0,5"),
            ..Default::default()
        },
        Options {
            targets: nodes("3"),
            ..Default::default()
        },
    ] {
        let e = options::select(&m, &o).unwrap_err();
        assert!(
            e.to_string()
                .contains("does not exist: this machine has nodes 0-1"),
            "{e}"
        );
    }
    let e = latency::plan(
        &m,
        &LatencyOptions {
            common: Options {
                nodes: nodes("9"),
                ..Default::default()
            },
            loads: None,
        },
    )
    .unwrap_err();
    assert!(e.is_validation(), "{e}");
}

#[test]
fn sizes_threads_and_repeats_are_checked() {
    let m = fixture("qemu-3node-hmat");
    let with = |f: fn(&mut Options)| {
        let mut o = Options::default();
        f(&mut o);
        o
    };
    let zero = with(|o| o.size = Some(0));
    assert!(matches!(
        latency::plan(
            &m,
            &LatencyOptions {
                common: zero.clone(),
                loads: None
            }
        ),
        Err(Error::ZeroSize)
    ));
    assert!(matches!(
        bandwidth::plan(
            &m,
            &BandwidthOptions {
                common: zero.clone(),
                kernels: None
            }
        ),
        Err(Error::ZeroSize)
    ));
    assert!(matches!(
        gpu::plan(
            &m,
            &GpuOptions {
                common: zero,
                gpus: None
            }
        ),
        Err(Error::ZeroSize)
    ));
    // node 2 has 453 MiB free: 3 arrays of 200 MiB do not fit there
    let big = with(|o| o.size = Some(200 << 20));
    let e = bandwidth::plan(
        &m,
        &BandwidthOptions {
            common: big,
            kernels: None,
        },
    )
    .unwrap_err();
    match &e {
        Error::TooBig { node, .. } => assert_eq!(*node, NodeId(2)),
        e => panic!("{e}"),
    }
    assert!(
        e.to_string()
            .starts_with("600 MiB of buffers do not fit on node 2: it has 453 MiB free"),
        "{e}"
    );
    let huge = with(|o| o.size = Some(1 << 40));
    assert!(matches!(
        latency::plan(
            &m,
            &LatencyOptions {
                common: huge,
                loads: None
            }
        ),
        Err(Error::TooBig { .. })
    ));
    let t = with(|o| o.threads = Some(3));
    let e = bandwidth::plan(
        &m,
        &BandwidthOptions {
            common: t,
            kernels: None,
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::TooManyThreads { threads: 3, .. }), "{e}");
    let t = with(|o| o.threads = Some(0));
    assert!(matches!(
        bandwidth::plan(
            &m,
            &BandwidthOptions {
                common: t,
                kernels: None
            }
        ),
        Err(Error::Zero { what: "threads" })
    ));
    let t = with(|o| o.threads = Some(2));
    assert!(matches!(
        latency::plan(
            &m,
            &LatencyOptions {
                common: t,
                loads: None
            }
        ),
        Err(Error::OneThread { .. })
    ));
    let r = with(|o| o.repeat = Some(0));
    assert!(matches!(
        latency::plan(
            &m,
            &LatencyOptions {
                common: r,
                loads: None
            }
        ),
        Err(Error::Zero { what: "repeat" })
    ));
    let h = with(|o| o.huge = HugeChoice::Hugetlb);
    let e = latency::plan(
        &m,
        &LatencyOptions {
            common: h,
            loads: None,
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::NoHugetlb { free: 0, .. }), "{e}");
}

#[test]
fn default_sizes_follow_the_last_level_cache() {
    let m = fixture("qemu-3node-hmat");
    let l = latency::plan(&m, &LatencyOptions::default()).unwrap();
    // 8 x the 16 MiB L3 of one CPU
    assert_eq!(l.bytes, 128 << 20);
    assert_eq!(l.llc.unwrap().instance_bytes, 16 << 20);
    assert_eq!(l.cpus, [(NodeId(0), 0.into()), (NodeId(1), 2.into())]);
    assert_eq!(l.loads, 1 << 21);
    let b = bandwidth::plan(&m, &BandwidthOptions::default()).unwrap();
    // STREAM's rule: 4 x the L3 the node's threads share
    assert_eq!(b.array_bytes, 64 << 20);
    assert_eq!(
        b.threads,
        [vec![0.into(), 1.into()], vec![2.into(), 3.into()]]
    );
    assert_eq!(ids(&b.selection.targets), [0, 1, 2]);
    let k = bandwidth::plan(
        &m,
        &BandwidthOptions {
            kernels: Some(vec![Kernel::Triad]),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(k.kernels, [Kernel::Triad]);
    // sizes round up to whole huge pages
    let s = latency::plan(
        &m,
        &LatencyOptions {
            common: Options {
                size: Some(3 << 20),
                ..Default::default()
            },
            loads: None,
        },
    )
    .unwrap();
    assert_eq!(s.bytes, 4 << 20);
    let s = latency::plan(
        &m,
        &LatencyOptions {
            common: Options {
                size: Some(5000),
                huge: HugeChoice::None,
                ..Default::default()
            },
            loads: None,
        },
    )
    .unwrap();
    assert_eq!(s.bytes, 8192);
}

#[test]
fn loaded_latency_needs_an_injector() {
    let m = fixture("qemu-2node");
    let o = LoadedOptions {
        common: Options {
            threads: Some(1),
            ..Default::default()
        },
        ..Default::default()
    };
    let e = loaded::plan(&m, &o).unwrap_err();
    assert!(
        matches!(
            e,
            Error::TooFewCpus {
                need: 2,
                have: 1,
                ..
            }
        ),
        "{e}"
    );
    let p = loaded::plan(
        &m,
        &LoadedOptions {
            delays: Some(vec![10, 0]),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(p.delays, [None, Some(10), Some(0)]);
    assert_eq!(p.threads[0].len(), 2);
}

#[test]
fn first_touch_picks_two_nodes() {
    let m = fixture("qemu-3node-hmat");
    let p = first_touch::plan(&m, &FirstTouchOptions::default()).unwrap();
    assert_eq!((p.init.0, p.work.0), (NodeId(0), NodeId(1)));
    let o = FirstTouchOptions {
        work_node: Some(NodeId(2)),
        ..Default::default()
    };
    assert!(matches!(
        first_touch::plan(&m, &o).unwrap_err(),
        Error::NoCpus { node: NodeId(2) }
    ));
    let o = FirstTouchOptions {
        init_node: Some(NodeId(1)),
        work_node: Some(NodeId(0)),
        ..Default::default()
    };
    let p = first_touch::plan(&m, &o).unwrap();
    assert_eq!((p.init, p.work.0), ((NodeId(1), 2.into()), NodeId(0)));
}

#[test]
fn policies_to_compare() {
    let m = fixture("qemu-3node-hmat");
    let p = policy::plan(&m, &PolicyOptions::default()).unwrap();
    let names: Vec<&str> = p.candidates.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "bind-local",
            "bind-remote 1",
            "bind-remote 2",
            "interleave 0-2",
            "preferred-local",
            "weighted-interleave 0-2"
        ]
    );
    // this snapshot's kernel shows no weights: that row says why it is skipped
    assert!(
        p.candidates[5]
            .skip
            .as_deref()
            .unwrap()
            .contains("weighted_interleave")
    );
    assert!(p.candidates[..5].iter().all(|c| c.skip.is_none()));
}

#[test]
fn weights_plan() {
    let m = fixture("qemu-2node");
    let p = weights::plan(&m, &WeightsOptions::default()).unwrap();
    assert_eq!((p.node, p.kernel), (NodeId(0), Kernel::Read));
    assert_eq!(ids(&p.targets), [0, 1]);
}
