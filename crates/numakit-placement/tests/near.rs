//! `--near` for GPU workers, planned on the GPU fixtures with a recording
//! backend: the node a `cuda:N` lands on under the launcher's environment,
//! GPU memory nodes, exclusive CPU slices per rank, and stepping down when
//! the cpuset or the kernel refuses. Real kernels: `tests/vm/checks/gpuserver`.

use std::path::PathBuf;

use numakit_placement::launcher::EnvVars;
use numakit_placement::near::{NearRequest, ShareRequest, cpu_node};
use numakit_placement::{
    Call, Errno, Error, Fallback, KernelSupport, NearMemory, NearSpec, Policy, RecordingBackend,
    Share, cpu_slices,
};
use numakit_root::Root;
use numakit_topo::Machine;
use numakit_topo::pci::NodeSource;
use numakit_types::{CpuSet, NodeId, NodeSet};

fn fixture(name: &str) -> (Root, Machine) {
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let p = if name.ends_with(".tar.bz2") {
        f.join("hwloc-linux").join(name)
    } else {
        f.join(name).join("sysfs.tar.gz")
    };
    let root = Root::open(p).expect("fixture");
    let m = Machine::discover(&root);
    (root, m)
}

fn kernel() -> KernelSupport {
    KernelSupport::from_release("6.12.9-cloud-amd64")
}

fn cpus(s: &str) -> CpuSet {
    CpuSet::parse_list(s).unwrap()
}

fn nodes(s: &str) -> NodeSet {
    NodeSet::parse_list(s).unwrap()
}

fn request(spec: &str) -> NearRequest {
    NearRequest::new(spec.parse::<NearSpec>().unwrap())
}

fn plan(
    m: &Machine,
    root: &Root,
    r: &NearRequest,
    env: &[(&str, &str)],
) -> numakit_placement::Result<(numakit_placement::NearResolution, numakit_placement::Plan)> {
    r.plan(
        m,
        Some(root),
        &EnvVars::from_pairs(env.iter().copied()),
        &kernel(),
    )
}

const PCI: (&str, &str) = ("CUDA_DEVICE_ORDER", "PCI_BUS_ID");

#[test]
fn cuda_n_lands_on_the_gpus_node_under_cuda_visible_devices() {
    let (root, m) = fixture("gpu-nvidia");
    for (cvd, n, node, cpu) in [
        (None, 1, 0, "0-1"),
        (None, 3, 1, "2-3"),
        (Some("4,2"), 0, 1, "2-3"),
        (Some("4,2"), 1, 0, "0-1"),
        (
            Some("GPU-9221d5d1-b60b-a624-bf14-0a1819cfda33"),
            0,
            1,
            "2-3",
        ),
    ] {
        let mut env = vec![PCI];
        if let Some(v) = cvd {
            env.push(("CUDA_VISIBLE_DEVICES", v));
        }
        let (res, p) = plan(&m, &root, &request(&format!("cuda:{n}")), &env).unwrap();
        assert_eq!(res.device.node, NodeId(node), "{cvd:?} cuda:{n}");
        assert_eq!(p.cpus, Some(cpus(cpu)));
        assert_eq!(p.memory, Some(Policy::bind(nodes(&node.to_string()))));
        assert!(res.warnings.is_empty());
    }
    // without CUDA_DEVICE_ORDER=PCI_BUS_ID the same answer comes with a warning
    let (res, _) = plan(&m, &root, &request("cuda:1"), &[]).unwrap();
    assert_eq!(res.warnings.len(), 1);
}

#[test]
fn a_gpu_with_node_minus_one() {
    let (root, m) = fixture("gpu-nvidia");
    // numa_node -1 behind a bridge that knows: inferred, and said so
    let (res, p) = plan(&m, &root, &request("cuda:4"), &[PCI]).unwrap();
    assert_eq!(res.device.node, NodeId(1));
    assert_eq!(res.node_source, NodeSource::Inferred);
    assert_eq!(p.cpus, Some(cpus("2-3")));
    // numa_node -1 and nothing tells: refused, never node 0
    let e = plan(&m, &root, &request("cuda:0"), &[PCI]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "device 0000:01:00.0 has no NUMA node (its numa_node is -1 or missing)"
    );
}

#[test]
fn gpu_memory_nodes_are_a_memory_target_never_a_cpu_node() {
    let (root, m) = fixture("gpu-gh200");
    let (res, p) = plan(&m, &root, &request("cuda:0"), &[]).unwrap();
    assert_eq!(res.device.node, NodeId(1));
    assert_eq!(p.cpus, Some(cpus("2-3")));
    assert_eq!(p.memory, Some(Policy::bind(nodes("1"))));
    let mut r = request("gpu:GPU-5e0d7c11");
    r.memory = NearMemory::Gpu;
    let (_, p) = plan(&m, &root, &r, &[]).unwrap();
    assert_eq!(p.memory, Some(Policy::bind(nodes("2"))));
    assert_eq!(p.cpus, Some(cpus("2-3")));
    // a GPU without a memory node
    let (root, m) = fixture("gpu-nvidia");
    let mut r = request("cuda:1");
    r.memory = NearMemory::Gpu;
    let e = plan(&m, &root, &r, &[PCI]).unwrap_err();
    assert!(matches!(e, Error::NoGpuMemoryNode { .. }), "{e}");
}

#[test]
fn cpu_less_nodes_borrow_the_nearest_nodes_cpus() {
    let (_, m) = fixture("qemu-3node-hmat");
    assert_eq!(cpu_node(&m, NodeId(1)), Some(NodeId(1)));
    // node 2: 30 from node 0, 40 from node 1
    assert_eq!(cpu_node(&m, NodeId(2)), Some(NodeId(0)));
    assert_eq!(cpu_node(&m, NodeId(9)), None);
}

/// Four ranks as torchrun starts them on the four H100s.
fn ranks(m: &Machine, root: &Root, share: ShareRequest, extra: &[(&str, &str)]) -> Vec<CpuSet> {
    (0..4)
        .map(|k| {
            let rank = k.to_string();
            let mut env = vec![
                PCI,
                ("LOCAL_RANK", rank.as_str()),
                ("LOCAL_WORLD_SIZE", "4"),
            ];
            env.extend_from_slice(extra);
            let mut r = request("auto");
            r.share = Some(share);
            let (_, p) = plan(m, root, &r, &env).unwrap();
            p.cpus.unwrap()
        })
        .collect()
}

#[test]
fn auto_and_share_auto_give_each_rank_its_gpu_and_its_own_cores() {
    let (root, m) = fixture("gpu-nvidia");
    let cvd = [("CUDA_VISIBLE_DEVICES", "1,2,3,4")];
    let got = ranks(&m, &root, ShareRequest::Auto, &cvd);
    assert_eq!(got, [cpus("0"), cpus("1"), cpus("2"), cpus("3")]);
    let mut r = request("auto");
    r.share = Some(ShareRequest::Auto);
    let env = [PCI, cvd[0], ("LOCAL_RANK", "3"), ("LOCAL_WORLD_SIZE", "4")];
    let (res, p) = plan(&m, &root, &r, &env).unwrap();
    assert_eq!(res.device.address.to_string(), "0000:44:00.0");
    let s = res.share.unwrap();
    assert_eq!(s.share, Share { index: 1, count: 2 });
    assert!(
        s.how.contains("local ranks 2,3 of 4 use GPUs on node 1"),
        "{}",
        s.how
    );
    assert_eq!(p.shared.unwrap().pool, cpus("2-3"));
    // each rank sees one GPU: rank K takes it; the slice is K of N
    let (res, _) = plan(
        &m,
        &root,
        &request("auto"),
        &[PCI, ("CUDA_VISIBLE_DEVICES", "3"), ("LOCAL_RANK", "2")],
    )
    .unwrap();
    assert_eq!(res.device.address.to_string(), "0000:43:00.0");
    // more ranks than GPUs, no rank variable, no size for --share auto
    let e = plan(
        &m,
        &root,
        &request("auto"),
        &[PCI, cvd[0], ("LOCAL_RANK", "4")],
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("no device cuda:4: CUDA would list 4 GPUs"),
        "{e}"
    );
    let e = plan(&m, &root, &request("auto"), &[]).unwrap_err();
    assert!(matches!(e, Error::NoLauncherRank { .. }), "{e}");
    let mut r = request("cuda:1");
    r.share = Some(ShareRequest::Auto);
    let e = plan(&m, &root, &r, &[("SLURM_LOCALID", "0")]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::NoLocalSize {
                from: "SLURM_LOCALID"
            }
        ),
        "{e}"
    );
}

#[test]
fn share_k_of_n_and_too_many_ranks() {
    let (root, m) = fixture("gpu-nvidia");
    let mut r = request("cuda:1");
    r.share = Some(ShareRequest::Slice(Share { index: 1, count: 2 }));
    let (_, p) = plan(&m, &root, &r, &[PCI]).unwrap();
    assert_eq!(p.cpus, Some(cpus("1")));
    r.share = Some(ShareRequest::Slice(Share { index: 0, count: 3 }));
    let e = plan(&m, &root, &r, &[PCI]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot give 3 ranks whole cores of their own: CPUs 0-1 are 2 cores"
    );
}

/// The gpu-nvidia machine in a cpuset of node 0 (CPUs 0-1, memory 0).
fn confined() -> (Root, Machine) {
    let (root, mut m) = fixture("gpu-nvidia");
    m.allowed.cpus = Some(cpus("0-1"));
    m.allowed.mems = Some(nodes("0"));
    (root, m)
}

#[test]
fn a_cpuset_without_the_node_refuses_unless_asked_to_step_down() {
    let (root, m) = confined();
    let mut r = request("cuda:3");
    let e = plan(&m, &root, &r, &[PCI]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "node(s) 1 are outside this process's allowed memory nodes (0)"
    );
    r.fallback = Fallback::Preferred;
    let e = plan(&m, &root, &r, &[PCI]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("memory bind 1 refused (node(s) 1 are outside"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("; that was refused too: node(s) 1 are outside"),
        "{e}"
    );
    r.fallback = Fallback::None;
    let (_, p) = plan(&m, &root, &r, &[PCI]).unwrap();
    assert_eq!((p.cpus, p.memory), (None, None));
    let said: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
    assert_eq!(said.len(), 3, "{said:?}");
    assert!(
        said[0].ends_with("using memory preferred 1 instead"),
        "{}",
        said[0]
    );
    assert!(
        said[1].ends_with("running without a memory policy"),
        "{}",
        said[1]
    );
    assert!(
        said[2].starts_with("CPUs of node 1 refused (node(s) 1 have no CPUs this process may use)"),
        "{}",
        said[2]
    );
    // a device inside the cpuset is not affected
    let (_, p) = plan(&m, &root, &request("cuda:1"), &[PCI]).unwrap();
    assert!(p.steps.is_empty());
}

#[test]
fn the_kernel_refusing_steps_down_when_applied() {
    let (root, m) = fixture("gpu-nvidia");
    let mut r = request("cuda:3");
    let run = |r: &NearRequest, b: &RecordingBackend| {
        let (_, p) = plan(&m, &root, r, &[PCI]).unwrap();
        p.apply_stepping(b)
    };
    // seccomp or a missing CAP_SYS_NICE: EPERM from set_mempolicy
    let mut b = RecordingBackend::new();
    b.fail_set_mempolicy = Some(Errno::EPERM);
    let e = run(&r, &b).unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
    r.fallback = Fallback::Preferred;
    assert!(matches!(
        run(&r, &b).unwrap_err(),
        Error::SteppedDown { .. }
    ));
    r.fallback = Fallback::None;
    let mut b = RecordingBackend::new();
    b.fail_set_mempolicy = Some(Errno::EPERM);
    b.fail_set_affinity = Some(Errno::EINVAL);
    let steps = run(&r, &b).unwrap();
    assert_eq!(steps.len(), 3);
    assert_eq!(
        b.calls(),
        vec![
            Call::SetAffinity {
                tid: 0,
                cpus: cpus("2-3")
            },
            Call::SetMempolicy(Policy::bind(nodes("1"))),
            Call::SetMempolicy(Policy::preferred(1.into())),
        ]
    );
}

/// Slices of every node of machines with SMT, L3 domains, clusters and
/// sparse ids: disjoint, covering, whole cores, sizes within one core.
#[test]
fn slices_are_exclusive_whole_cores_covering_the_node() {
    for f in [
        "16em64t-4s2c2t.tar.bz2",
        "64amd64-4s2n4ca2co.tar.bz2",
        "128arm-2pa2n8cluster4co.tar.bz2",
        "256ppc-8n8s4t.tar.bz2",
        "48amd64-4pa2n6c-sparse.tar.bz2",
        "96em64t-4no4pa3ca2co.tar.bz2",
        "gpu-nvidia",
    ] {
        let (_, m) = fixture(f);
        for n in &m.nodes {
            let pool = n.cpus.clone();
            let cores: Vec<CpuSet> = m
                .cpus
                .iter()
                .filter(|c| pool.contains(c.id))
                .map(|c| c.smt_siblings.intersection(&pool))
                .collect();
            let ncores = {
                let mut v = cores.clone();
                v.sort_by_key(|c| c.first());
                v.dedup();
                v.len()
            };
            for count in 1..=ncores as u32 {
                let s = cpu_slices(&m, &pool, count).unwrap();
                assert_eq!(s.len(), count as usize);
                let union = s.iter().fold(CpuSet::new(), |a, x| a.union(x));
                assert_eq!(union, pool, "{f} node {} count {count}", n.id);
                for (i, a) in s.iter().enumerate() {
                    for b in &s[i + 1..] {
                        assert!(!a.intersects(b), "{f}: {a} and {b} overlap");
                    }
                    for c in &cores {
                        assert!(!c.intersects(a) || c.is_subset(a), "{f}: core {c} split");
                    }
                }
                let sizes: Vec<usize> = s
                    .iter()
                    .map(|x| {
                        cores
                            .iter()
                            .filter(|c| c.is_subset(x))
                            .map(|c| c.first())
                            .collect::<std::collections::BTreeSet<_>>()
                            .len()
                    })
                    .collect();
                let spread = sizes.iter().max().unwrap() - sizes.iter().min().unwrap();
                assert!(spread <= 1, "{f} node {} count {count}: {sizes:?}", n.id);
            }
            let e = cpu_slices(&m, &pool, ncores as u32 + 1).unwrap_err();
            assert!(matches!(e, Error::TooManySlices { .. }));
        }
    }
}

/// With as many slices as L3 domains (or a multiple), no slice spans two.
#[test]
fn slices_stay_within_an_l3() {
    let (_, m) = fixture("96em64t-4no4pa3ca2co.tar.bz2");
    for n in &m.nodes {
        let l3: Vec<&CpuSet> = m
            .caches
            .iter()
            .filter(|c| c.level == 3 && c.cpus.intersects(&n.cpus))
            .map(|c| &c.cpus)
            .collect();
        assert!(l3.len() >= 2, "node {} has {} L3s", n.id, l3.len());
        for count in [l3.len(), 2 * l3.len()] {
            for s in cpu_slices(&m, &n.cpus, count as u32).unwrap() {
                assert_eq!(l3.iter().filter(|c| c.intersects(&s)).count(), 1, "{s}");
            }
        }
    }
}
