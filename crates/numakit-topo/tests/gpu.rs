//! GPUs on the GPU fixtures (`tests/fixtures/gpu-*`, built by
//! `tests/fixtures/make-gpu-fixtures.sh` in the drivers' formats): the facts
//! read from NVIDIA's procfs and the KFD topology, and the device order of
//! CUDA and ROCm under every form of their environment variables, against
//! the semantics NVIDIA and AMD document (and ROCr/CLR implement).

use std::path::PathBuf;

use numakit_root::Root;
use numakit_topo::Machine;
use numakit_topo::gpu::order::strtol0;
use numakit_topo::gpu::{
    BaseOrder, Framework, GpuEnv, GpuError, GpuSpec, GpuVendor, LinkKind, NearSpec, VisibleGpu,
    order, spec,
};

fn machine(name: &str) -> Machine {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
        .join("sysfs.tar.gz");
    Machine::discover(&Root::open(p).expect("fixture opens"))
}

fn env(pairs: &[(&str, &str)]) -> GpuEnv {
    GpuEnv::from_lookup(|k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    })
}

/// The addresses a framework would list, `?` for an entry it cannot place.
fn listed(m: &Machine, f: Framework, e: &GpuEnv) -> Vec<String> {
    order::visible(m, f, e)
        .devices
        .iter()
        .map(|d| match d {
            VisibleGpu::Gpu { address, .. } => address.to_string()[5..].to_string(),
            VisibleGpu::Unresolved { .. } => "?".into(),
        })
        .collect()
}

const H0: &str = "GPU-9221d5d1-b60b-a624-bf14-0a1819cfda31";
const A100: &str = "GPU-0c2a3d4e-0001-7a1b-9c0d-a100a100a100";

#[test]
fn nvidia_facts_from_the_drivers_procfs() {
    let m = machine("gpu-nvidia");
    let g = |a: &str| {
        m.pci_device(a.parse().unwrap())
            .unwrap()
            .gpu
            .clone()
            .unwrap()
    };
    let h = g("0000:23:00.0");
    assert_eq!(h.vendor, GpuVendor::Nvidia);
    assert_eq!(h.uuid.as_deref(), Some(H0));
    assert_eq!(h.model.as_deref(), Some("NVIDIA H100 80GB HBM3"));
    assert_eq!(h.minor, Some(1));
    assert_eq!(h.excluded, Some(false));
    // NVLink is in neither procfs nor sysfs: unknown, not "none"
    assert_eq!(h.links, None);
    assert_eq!(g("0000:01:00.0").uuid.as_deref(), Some(A100));
    // only GPUs carry GPU facts
    assert!(
        m.pci_device("0000:25:00.0".parse().unwrap())
            .unwrap()
            .gpu
            .is_none()
    );
}

#[test]
fn cuda_order_without_and_with_cuda_visible_devices() {
    let m = machine("gpu-nvidia");
    let all = ["01:00.0", "23:00.0", "24:00.0", "43:00.0", "44:00.0"];
    let pci = [("CUDA_DEVICE_ORDER", "PCI_BUS_ID")];
    assert_eq!(listed(&m, Framework::Cuda, &env(&pci)), all);
    let v = order::visible(&m, Framework::Cuda, &env(&pci));
    assert_eq!(v.base, BaseOrder::PciBusId);
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    // the documented examples: "2,1" hides 0 and lists 2 before 1;
    // "0,2,-1,1" ends at the invalid -1
    let with = |cvd: &str| {
        listed(
            &m,
            Framework::Cuda,
            &env(&[
                ("CUDA_DEVICE_ORDER", "PCI_BUS_ID"),
                ("CUDA_VISIBLE_DEVICES", cvd),
            ]),
        )
    };
    assert_eq!(with("2,1"), ["24:00.0", "23:00.0"]);
    assert_eq!(with("0,2,-1,1"), ["01:00.0", "24:00.0"]);
    assert_eq!(with(""), Vec::<String>::new());
    assert_eq!(with("3,7,1"), ["43:00.0"]);
    assert_eq!(with("1,1,2"), ["23:00.0"]);
    assert_eq!(with(" 4 , 3 "), ["44:00.0", "43:00.0"]);
    // UUIDs, whole or a unique prefix (with GPU-), in the list's order
    assert_eq!(with(&format!("{H0},GPU-0c2a")), ["23:00.0", "01:00.0"]);
    // a prefix shared by all four H100s is not unique: the list ends
    assert_eq!(with("GPU-9221d5d1,0"), Vec::<String>::new());
    assert_eq!(with("GPU-ffff,0"), Vec::<String>::new());
    // MIG: the old form names its GPU; the new form needs NVML
    assert_eq!(with(&format!("MIG-{H0}/1/0,3")), ["23:00.0", "43:00.0"]);
    assert_eq!(
        with("MIG-5e0d7c11-3a43-4f2e-8b1d-0d1c2b3a4f50,3"),
        ["?", "43:00.0"]
    );
    assert_eq!(with("nvidia0,1"), Vec::<String>::new());
}

#[test]
fn cuda_warns_when_its_order_is_not_pci_bus_order() {
    let m = machine("gpu-nvidia");
    for e in [
        vec![],
        vec![("CUDA_DEVICE_ORDER", "FASTEST_FIRST")],
        vec![("CUDA_VISIBLE_DEVICES", "1,0")],
    ] {
        let v = order::visible(&m, Framework::Cuda, &env(&e));
        assert_eq!(v.base, BaseOrder::PciForFastestFirst);
        assert_eq!(v.warnings.len(), 1, "{e:?}: {:?}", v.warnings);
        assert!(v.warnings[0].contains("CUDA_DEVICE_ORDER=PCI_BUS_ID"));
    }
    // UUIDs do not depend on the order: no warning
    let v = order::visible(&m, Framework::Cuda, &env(&[("CUDA_VISIBLE_DEVICES", H0)]));
    assert!(v.warnings.is_empty());
    let odd = order::visible(
        &m,
        Framework::Cuda,
        &env(&[("CUDA_DEVICE_ORDER", "SLOWEST")]),
    );
    assert!(
        odd.notes
            .iter()
            .any(|n| n.contains("CUDA_DEVICE_ORDER=SLOWEST"))
    );
}

#[test]
fn cuda_n_resolves_through_the_list() {
    let m = machine("gpu-nvidia");
    let e = env(&[
        ("CUDA_DEVICE_ORDER", "PCI_BUS_ID"),
        ("CUDA_VISIBLE_DEVICES", "3,4"),
    ]);
    let c = GpuSpec::Cuda(1).resolve(&m, &e).unwrap();
    assert_eq!(c.address.to_string(), "0000:44:00.0");
    assert!(
        c.how.starts_with(
            "cuda:1 = 0000:44:00.0: GPU 1 of the 2 cuda would list under CUDA_VISIBLE_DEVICES=3,4"
        ),
        "{}",
        c.how
    );
    let e2 = GpuSpec::Cuda(2).resolve(&m, &e).unwrap_err();
    assert_eq!(
        e2.to_string(),
        "no device cuda:2: CUDA would list 2 GPUs (CUDA_VISIBLE_DEVICES=3,4)"
    );
    let mig = env(&[(
        "CUDA_VISIBLE_DEVICES",
        "MIG-5e0d7c11-3a43-4f2e-8b1d-0d1c2b3a4f50",
    )]);
    assert!(matches!(
        GpuSpec::Cuda(0).resolve(&m, &mig),
        Err(GpuError::Unresolved { .. })
    ));
    // by UUID, any case, with or without GPU-
    for u in [
        H0,
        "GPU-9221D5D1-B60B-A624-BF14-0A1819CFDA31",
        "0c2a3d4e-0001",
    ] {
        let s: NearSpec = format!("gpu:{u}").parse().unwrap();
        let NearSpec::Gpu(g) = s else { panic!() };
        assert!(g.resolve(&m, &GpuEnv::default()).is_ok(), "{u}");
    }
    let ambiguous = GpuSpec::Uuid("GPU-9221".into()).resolve(&m, &GpuEnv::default());
    assert_eq!(
        ambiguous.unwrap_err(),
        GpuError::AmbiguousUuid {
            uuid: "GPU-9221".into(),
            count: 4
        }
    );
    let mig_parent = GpuSpec::Uuid(format!("MIG-{H0}/2/0")).resolve(&m, &GpuEnv::default());
    assert_eq!(mig_parent.unwrap().address.to_string(), "0000:23:00.0");
}

#[test]
fn machines_without_the_frameworks_gpus() {
    // the VM's GPU-like devices are neither NVIDIA nor AMD: every GPU counts,
    // with a warning; no UUID is known
    let m = machine("qemu-gpuserver");
    let v = order::visible(
        &m,
        Framework::Cuda,
        &env(&[("CUDA_DEVICE_ORDER", "PCI_BUS_ID")]),
    );
    assert_eq!(v.devices.len(), 4);
    assert!(v.warnings[0].starts_with("this machine has no NVIDIA GPU"));
    let e = env(&[("CUDA_VISIBLE_DEVICES", "GPU-1234")]);
    assert_eq!(listed(&m, Framework::Cuda, &e), ["?"]);
    assert!(matches!(
        GpuSpec::Uuid("GPU-1234".into()).resolve(&m, &GpuEnv::default()),
        Err(GpuError::UuidUnknown { .. })
    ));
    let none = machine("qemu-2node");
    assert_eq!(
        GpuSpec::Cuda(0)
            .resolve(&none, &GpuEnv::default())
            .unwrap_err(),
        GpuError::NoGpus
    );
    assert_eq!(spec::framework_of(&none).unwrap_err(), GpuError::NoGpus);
    assert_eq!(spec::framework_of(&m).unwrap(), Framework::Cuda);
    assert_eq!(
        spec::framework_of(&machine("gpu-amd")).unwrap(),
        Framework::Rocm
    );
}

#[test]
fn amd_facts_from_the_kfd_topology() {
    let m = machine("gpu-amd");
    let g = |a: &str| {
        m.pci_device(a.parse().unwrap())
            .unwrap()
            .gpu
            .clone()
            .unwrap()
    };
    let a = g("0000:43:00.0");
    assert_eq!(a.vendor, GpuVendor::Amd);
    assert_eq!(a.kfd_node, Some(2));
    assert_eq!(a.uuid.as_deref(), Some("GPU-42c6c66a7e2a1000"));
    assert_eq!(a.minor, Some(128));
    let links = a.links.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].peer.to_string(), "0000:44:00.0");
    assert_eq!(links[0].kind, LinkKind::Xgmi);
    assert_eq!(links[0].weight, Some(15));
    assert_eq!(links[0].max_bandwidth_mbps, Some(50000));
    assert_eq!(
        g("0000:23:00.0").links.unwrap()[0].peer.to_string(),
        "0000:24:00.0"
    );
    assert_eq!(a.links_from, Some("kfd"));
}

#[test]
fn rocm_order_follows_kfd_then_rocr_then_hip() {
    let m = machine("gpu-amd");
    let kfd = ["43:00.0", "44:00.0", "23:00.0", "24:00.0"];
    let v = order::visible(&m, Framework::Rocm, &GpuEnv::default());
    assert_eq!(v.base, BaseOrder::KfdNodes);
    assert!(v.warnings.is_empty());
    assert_eq!(listed(&m, Framework::Rocm, &GpuEnv::default()), kfd);
    let with = |pairs: &[(&str, &str)]| listed(&m, Framework::Rocm, &env(pairs));
    // ROCr: indices as strtol reads them, UUID prefixes in any case,
    // terminators, at most as many tokens as GPUs
    assert_eq!(
        with(&[("ROCR_VISIBLE_DEVICES", "3,0x1")]),
        ["24:00.0", "44:00.0"]
    );
    assert_eq!(
        with(&[("ROCR_VISIBLE_DEVICES", " 02 , +1")]),
        ["23:00.0", "44:00.0"]
    );
    assert_eq!(
        with(&[("ROCR_VISIBLE_DEVICES", "gpu-42c6c66a7e2a1003,0")]),
        ["24:00.0", "43:00.0"]
    );
    assert_eq!(
        with(&[("ROCR_VISIBLE_DEVICES", "GPU-42c6,1")]),
        Vec::<String>::new()
    );
    assert_eq!(with(&[("ROCR_VISIBLE_DEVICES", "1,1,2")]), ["44:00.0"]);
    assert_eq!(with(&[("ROCR_VISIBLE_DEVICES", "1,9,2")]), ["44:00.0"]);
    assert_eq!(with(&[("ROCR_VISIBLE_DEVICES", "")]), Vec::<String>::new());
    assert_eq!(with(&[("ROCR_VISIBLE_DEVICES", "0,1,2,3,")]), kfd);
    // HIP on ROCr's list: HIP_VISIBLE_DEVICES, else CUDA_VISIBLE_DEVICES;
    // repeats skipped, a bad entry ends the list, UUIDs by substring
    assert_eq!(
        with(&[
            ("ROCR_VISIBLE_DEVICES", "3,2,1"),
            ("HIP_VISIBLE_DEVICES", "1")
        ]),
        ["23:00.0"]
    );
    assert_eq!(
        with(&[("HIP_VISIBLE_DEVICES", "2,2,0,x,1")]),
        ["23:00.0", "43:00.0"]
    );
    assert_eq!(
        with(&[("HIP_VISIBLE_DEVICES", ""), ("CUDA_VISIBLE_DEVICES", "3")]),
        ["24:00.0"]
    );
    assert_eq!(with(&[("HIP_VISIBLE_DEVICES", "01")]), Vec::<String>::new());
    assert_eq!(
        with(&[("HIP_VISIBLE_DEVICES", "GPU-42c6c66a7e2a1001")]),
        ["44:00.0"]
    );
    let c = GpuSpec::Rocm(0)
        .resolve(&m, &env(&[("ROCR_VISIBLE_DEVICES", "2")]))
        .unwrap();
    assert_eq!(c.address.to_string(), "0000:23:00.0");
    assert!(
        c.how.contains("base order: KFD topology order"),
        "{}",
        c.how
    );
}

#[test]
fn rocm_without_kfd_takes_pci_order_and_says_so() {
    let m = machine("qemu-gpuserver");
    let v = order::visible(&m, Framework::Rocm, &GpuEnv::default());
    assert_eq!(v.base, BaseOrder::PciForKfd);
    assert_eq!(v.devices.len(), 4);
    assert!(v.notes.iter().any(|n| n.contains("no KFD topology")));
    assert!(v.warnings[0].starts_with("this machine has no AMD GPU"));
}

#[test]
fn strtol_as_c_reads_it() {
    for (s, want) in [
        ("0", Some(0)),
        ("7", Some(7)),
        ("010", Some(8)),
        ("0x1f", Some(31)),
        ("0X10", Some(16)),
        ("-1", Some(-1)),
        ("+3", Some(3)),
        ("08", None),
        ("0x", None),
        ("", None),
        ("1a", None),
        ("GPU", None),
    ] {
        assert_eq!(strtol0(s), want, "{s:?}");
    }
}

#[test]
fn near_forms() {
    let p = |s: &str| s.parse::<NearSpec>();
    assert_eq!(p("rocm:3").unwrap(), NearSpec::Gpu(GpuSpec::Rocm(3)));
    assert_eq!(
        p("gpu:MIG-abc").unwrap(),
        NearSpec::Gpu(GpuSpec::Uuid("MIG-abc".into()))
    );
    assert_eq!(
        p("gpu:8932f937-d72c").unwrap(),
        NearSpec::Gpu(GpuSpec::Uuid("GPU-8932f937-d72c".into()))
    );
    assert_eq!(p("0000:41:00.0").unwrap().to_string(), "0000:41:00.0");
    assert_eq!(p("cuda:7").unwrap().to_string(), "cuda:7");
    for bad in [
        "cuda:",
        "cuda:-1",
        "rocm:x",
        "gpu:zz",
        "gpu:",
        "autos",
        "usb:0",
        "cuda:99999999999",
    ] {
        let e = p(bad).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "cannot read device '{bad}': expected auto, cuda:N"
            )),
            "{e}"
        );
    }
}

#[test]
fn matrix_shows_xgmi_and_says_which_links_are_unknown() {
    use numakit_topo::matrix::Matrix;
    let amd = Matrix::build(&machine("gpu-amd"));
    let link = |mx: &Matrix, a: &str, b: &str| {
        let i = mx.devices.iter().position(|e| e.label == a).unwrap();
        let j = mx.devices.iter().position(|e| e.label == b).unwrap();
        mx.links[i][j].map(|l| l.code())
    };
    // GPU0/GPU1 are 23:00.0/24:00.0, one xGMI pair; 43/44 the other
    assert_eq!(link(&amd, "GPU0", "GPU1").as_deref(), Some("XGMI"));
    assert_eq!(link(&amd, "GPU2", "GPU3").as_deref(), Some("XGMI"));
    assert_eq!(link(&amd, "GPU0", "GPU2"), None);
    assert_eq!(link(&amd, "GPU0", "NIC0"), None);
    assert!(amd.links_unknown.is_empty());
    let nv = Matrix::build(&machine("gpu-nvidia"));
    assert_eq!(nv.links_unknown, ["GPU0", "GPU1", "GPU2", "GPU3", "GPU4"]);
    assert!(nv.links.iter().flatten().all(Option::is_none));
}

#[test]
fn the_drivers_own_list() {
    let e = env(&[("CUDA_VISIBLE_DEVICES", "3,1")]);
    let ids = [
        "0000:43:00.0".to_string(),
        "00000000:23:00.0".into(),
        "garbage".into(),
    ];
    let v = order::from_driver(Framework::Cuda, &e, &ids);
    assert_eq!(v.base, BaseOrder::Driver);
    assert_eq!(v.filters, ["CUDA_VISIBLE_DEVICES=3,1"]);
    let c = spec::pick(v.clone(), 1, "cuda:1".into()).unwrap();
    assert_eq!(c.address.to_string(), "0000:23:00.0");
    assert!(
        c.how.ends_with("base order: the driver's order"),
        "{}",
        c.how
    );
    assert!(matches!(
        spec::pick(v, 2, "cuda:2".into()),
        Err(GpuError::Unresolved { .. })
    ));
}
