//! Golden outputs: what `numakit` prints (stdout, stderr and exit code) for
//! every shipped DMA scenario in text and JSON, for bad scenario files, for
//! `topo` in each format on a set of fixture machines, and for the numactl
//! migratepages and numastat modes, `stat` and `doctor` on the same
//! machines, and the errors of actions and of `stat` items on a snapshot. Each case
//! is pinned byte for byte in `tests/golden/`, so that a change of the code's
//! layout cannot change what users see without the diff showing it.
//!
//! `NUMAKIT_BLESS=1 cargo test -p numakit-cli --test golden` rewrites the
//! files from the current binary; review the diff before committing it.

mod common;

use std::path::{Path, PathBuf};

use common::numakit;

/// One command run and where its pinned output lives.
struct Case {
    /// Path of the golden file, relative to `tests/golden/`.
    golden: String,
    /// `NUMAKIT_ROOT` for the run, relative to the workspace root.
    env_root: Option<String>,
    /// The arguments, with paths relative to the workspace root.
    args: Vec<String>,
    /// Environment variables for the run (launcher and GPU variables are
    /// otherwise cleared).
    vars: Vec<(String, String)>,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Every file ending in `.dma` under `dir`, as paths relative to `base`,
/// sorted.
fn dma_files(base: &Path, dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![base.join(dir)];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("list scenarios") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "dma") {
                let rel = p.strip_prefix(base).expect("under base");
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

fn case(golden: String, env_root: Option<&str>, args: &[&str]) -> Case {
    Case {
        golden,
        env_root: env_root.map(str::to_string),
        args: args.iter().map(|s| s.to_string()).collect(),
        vars: Vec::new(),
    }
}

/// A case run with environment variables.
fn case_env(golden: String, vars: &[(&str, &str)], args: &[&str]) -> Case {
    let mut c = case(golden, None, args);
    c.vars = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    c
}

fn cases() -> Vec<Case> {
    let ws = workspace();
    let mut v = Vec::new();
    for f in dma_files(&ws, "scenarios/dma") {
        let stem = f.trim_start_matches("scenarios/").trim_end_matches(".dma");
        v.push(case(format!("{stem}.txt"), None, &["dma", "simulate", &f]));
        v.push(case(
            format!("{stem}.json"),
            None,
            &["dma", "simulate", "--json", &f],
        ));
    }
    for f in dma_files(&ws, "crates/numakit-cli/tests/golden/bad") {
        let stem = Path::new(&f).file_stem().unwrap().to_string_lossy();
        v.push(case(
            format!("dma-bad/{stem}.txt"),
            None,
            &["dma", "simulate", &f],
        ));
    }
    v.push(case(
        "dma-bad/no-such-file.txt".into(),
        None,
        &["dma", "simulate", "no/such/file.dma"],
    ));
    let machines = [
        ("qemu-2node", "tests/fixtures/qemu-2node/sysfs.tar.gz"),
        (
            "qemu-3node-hmat",
            "tests/fixtures/qemu-3node-hmat/sysfs.tar.gz",
        ),
        (
            "qemu-gpuserver",
            "tests/fixtures/qemu-gpuserver/sysfs.tar.gz",
        ),
        (
            "40intel64-2g2n4c+pcilocality",
            "tests/fixtures/hwloc-linux/40intel64-2g2n4c+pcilocality.tar.bz2",
        ),
        (
            "16amd64-8n2c-cpusets",
            "tests/fixtures/hwloc-linux/16amd64-8n2c-cpusets.tar.bz2",
        ),
        (
            "fakeheteromemtiers",
            "tests/fixtures/hwloc-linux/fakeheteromemtiers.tar.bz2",
        ),
        (
            "nvidia-dgx-gb10",
            "tests/fixtures/hwloc-linux/nvidia-dgx-gb10.tar.bz2",
        ),
        (
            "offline-cpu0-node0",
            "tests/fixtures/hwloc-linux/offline-cpu0-node0.tar.bz2",
        ),
        ("gpu-nvidia", "tests/fixtures/gpu-nvidia/sysfs.tar.gz"),
        ("gpu-amd", "tests/fixtures/gpu-amd/sysfs.tar.gz"),
        ("gpu-gh200", "tests/fixtures/gpu-gh200/sysfs.tar.gz"),
    ];
    for (name, root) in machines {
        for (fmt, extra) in [
            ("tree", &[][..]),
            ("json", &["--json"][..]),
            ("matrix", &["--matrix"][..]),
            ("hardware", &["--hardware"][..]),
        ] {
            let mut args = vec!["--root", root, "topo"];
            args.extend_from_slice(extra);
            v.push(case(format!("topo/{name}.{fmt}"), None, &args));
        }
        v.push(case(
            format!("numactl/{name}.hardware"),
            Some(root),
            &["numactl", "--hardware"],
        ));
        for (fmt, extra) in [("txt", &[][..]), ("json", &["--json"][..])] {
            let mut args = vec!["--root", root, "stat"];
            args.extend_from_slice(extra);
            v.push(case(format!("stat/{name}.{fmt}"), None, &args));
            let mut args = vec!["--root", root, "doctor"];
            args.extend_from_slice(extra);
            v.push(case(format!("doctor/{name}.{fmt}"), None, &args));
        }
        for (fmt, args) in [
            ("default", &["numastat"][..]),
            ("n", &["numastat", "-n"]),
            ("m", &["numastat", "-m"]),
            ("cm", &["numastat", "-c", "-m"]),
        ] {
            v.push(case(format!("numastat/{name}.{fmt}"), Some(root), args));
        }
    }
    // the exports (hwloc XML, NodeResourceTopology, NFD labels, SVG) on a
    // few machines
    for (name, root) in [
        (
            "qemu-gpuserver",
            "tests/fixtures/qemu-gpuserver/sysfs.tar.gz",
        ),
        (
            "qemu-3node-hmat",
            "tests/fixtures/qemu-3node-hmat/sysfs.tar.gz",
        ),
        (
            "40intel64-2g2n4c+pcilocality",
            "tests/fixtures/hwloc-linux/40intel64-2g2n4c+pcilocality.tar.bz2",
        ),
        (
            "8em64t-2s2ca2c-buggynuma",
            "tests/fixtures/hwloc-linux/8em64t-2s2ca2c-buggynuma.tar.bz2",
        ),
    ] {
        for (fmt, extra) in [
            ("hwloc.xml", &["--of", "hwloc-xml"][..]),
            ("nrt.yaml", &["--of", "nrt", "--node-name", "worker-1"][..]),
            (
                "nrt.json",
                &["--of", "nrt-json", "--node-name", "worker-1"][..],
            ),
            ("svg", &["--of", "svg"][..]),
        ] {
            let mut args = vec!["--root", root, "topo"];
            args.extend_from_slice(extra);
            v.push(case(format!("export/{name}.{fmt}"), None, &args));
        }
        v.push(case(
            format!("export/{name}.nfd"),
            None,
            &["--root", root, "nfd"],
        ));
        v.push(case(
            format!("export/{name}.hugepages"),
            None,
            &["--root", root, "hugepages"],
        ));
    }
    let two = "tests/fixtures/qemu-2node/sysfs.tar.gz";
    for (name, args) in [
        (
            "membind-out-of-range",
            &["numactl", "--membind=5", "true"][..],
        ),
        (
            "cpunodebind-garbage",
            &["numactl", "--cpunodebind=xyz", "true"],
        ),
        ("membind-on-snapshot", &["numactl", "--membind=1", "true"]),
        ("interleave-missing-argument", &["numactl", "--interleave"]),
        ("unknown-option", &["numactl", "--bogus"]),
        ("no-arguments", &["numactl"]),
        ("version", &["numactl", "--version"]),
        ("physcpubind-out-of-range", &["numactl", "-C", "9", "true"]),
        (
            "preferred-two-nodes",
            &["numactl", "--preferred=0,1", "true"],
        ),
        (
            "pci-spec",
            &["numactl", "--cpunodebind=pci:0000:41:00.0", "true"],
        ),
        (
            "netdev-spec",
            &["numactl", "--membind=netdev:nosuch", "true"],
        ),
    ] {
        v.push(case(format!("numactl/{name}.txt"), Some(two), args));
    }
    for (name, args) in [
        (
            "root-does-not-exist",
            &["--root", "/nonexistent", "topo"][..],
        ),
        (
            "run-on-snapshot",
            &["--root", two, "run", "--membind", "1", "--", "true"],
        ),
        ("pages-on-snapshot", &["--root", two, "pages", "1"]),
        ("show-on-snapshot", &["--root", two, "show"]),
        (
            "migrate-on-snapshot",
            &["--root", two, "migrate", "1", "--from", "0", "--to", "1"],
        ),
        (
            "run-near-on-snapshot",
            &["--root", two, "run", "--near", "0000:41:00.0", "--", "true"],
        ),
        ("migratepages-no-arguments", &["migratepages"]),
        (
            "stat-process-on-snapshot",
            &["--root", two, "stat", "-p", "1", "-p", "nosuch"],
        ),
        (
            "stat-file-on-snapshot",
            &["--root", two, "stat", "--file", "/etc/hostname"],
        ),
        (
            "stat-cgroup-missing",
            &["--root", two, "stat", "--cgroup", "/nope"],
        ),
        (
            "stat-audit-without-process",
            &["--root", two, "stat", "--audit"],
        ),
        ("stat-watch-zero", &["--root", two, "stat", "--watch", "0"]),
        (
            "hugepages-on-snapshot",
            &[
                "--root",
                two,
                "hugepages",
                "--node",
                "1",
                "--size",
                "2M",
                "--count",
                "4",
            ],
        ),
        (
            "hugepages-bad-size",
            &[
                "--root",
                two,
                "hugepages",
                "--node",
                "1",
                "--size",
                "huge",
                "--count",
                "4",
            ],
        ),
        (
            "hugepages-node-without-count",
            &["--root", two, "hugepages", "--node", "1"],
        ),
        (
            "nfd-write-no-such-dir",
            &["--root", two, "nfd", "--write", "/nonexistent/features.d"],
        ),
    ] {
        v.push(case(format!("errors/{name}.txt"), None, args));
    }
    v.extend(run_check_cases());
    v.extend(vfio_cases());
    v
}

/// `numakit iommu`, the `vfio` dry runs and refusals, and the edu
/// self-test on the model.
fn vfio_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for (name, root) in [
        ("qemu-2node", "tests/fixtures/qemu-2node/sysfs.tar.gz"),
        (
            "qemu-gpuserver",
            "tests/fixtures/qemu-gpuserver/sysfs.tar.gz",
        ),
        (
            "16amd64-8n2c-cpusets",
            "tests/fixtures/hwloc-linux/16amd64-8n2c-cpusets.tar.bz2",
        ),
        (
            "qemu-2node-vfio",
            "tests/fixtures/qemu-2node-vfio/sysfs.tar.gz",
        ),
        ("qemu-noiommu", "tests/fixtures/qemu-noiommu/sysfs.tar.gz"),
        ("qemu-iommuoff", "tests/fixtures/qemu-iommuoff/sysfs.tar.gz"),
    ] {
        v.push(case(
            format!("iommu/{name}.txt"),
            None,
            &["--root", root, "iommu"],
        ));
        v.push(case(
            format!("iommu/{name}.json"),
            None,
            &["--root", root, "iommu", "--json"],
        ));
    }
    let two = "tests/fixtures/qemu-2node/sysfs.tar.gz";
    let gpu = "tests/fixtures/qemu-gpuserver/sysfs.tar.gz";
    let bound = "tests/fixtures/qemu-2node-vfio/sysfs.tar.gz";
    let off = "tests/fixtures/qemu-noiommu/sysfs.tar.gz";
    for (name, args) in [
        (
            "bind-nvme",
            &["--root", two, "vfio", "bind", "0000:41:00.0"][..],
        ),
        (
            "bind-edu-json",
            &["--root", two, "vfio", "bind", "42:00.0", "--json"],
        ),
        (
            "bind-group-of-bridge-and-gpu",
            &["--root", gpu, "vfio", "bind", "--group", "18"],
        ),
        (
            "bind-ich9-group",
            &["--root", gpu, "vfio", "bind", "--group", "4"],
        ),
        (
            "unbind-not-on-vfio",
            &["--root", two, "vfio", "unbind", "0000:42:00.0"],
        ),
        (
            "bind-apply-on-snapshot",
            &["--root", two, "vfio", "bind", "0000:42:00.0", "--apply"],
        ),
        (
            "bind-unknown-device",
            &["--root", two, "vfio", "bind", "0000:99:00.0"],
        ),
        (
            "bind-unknown-group",
            &["--root", two, "vfio", "bind", "--group", "77"],
        ),
        (
            "bind-no-iommu",
            &[
                "--root",
                "tests/fixtures/hwloc-linux/16amd64-8n2c-cpusets.tar.bz2",
                "vfio",
                "bind",
                "--group",
                "0",
            ],
        ),
        ("bind-nothing", &["--root", two, "vfio", "bind"]),
        (
            "unbind-without-a-record",
            &["--root", bound, "vfio", "unbind", "0000:42:00.0"],
        ),
        (
            "bind-already-bound",
            &["--root", bound, "vfio", "bind", "0000:42:00.0"],
        ),
        (
            "bind-nvme-with-block-devices",
            &["--root", bound, "vfio", "bind", "nvme:0"],
        ),
        (
            "bind-without-iommu",
            &["--root", off, "vfio", "bind", "0000:42:00.0"],
        ),
        (
            "bind-iommu-off-on-the-command-line",
            &[
                "--root",
                "tests/fixtures/qemu-iommuoff/sysfs.tar.gz",
                "vfio",
                "bind",
                "0000:42:00.0",
            ],
        ),
        ("selftest-model", &["dma", "selftest", "--model"]),
        (
            "selftest-model-json",
            &["dma", "selftest", "--model", "--json"],
        ),
        (
            "selftest-model-msi-no-faults",
            &["dma", "selftest", "--model", "--irq", "msi", "--no-faults"],
        ),
        (
            "selftest-on-snapshot",
            &["--root", two, "dma", "selftest", "0000:42:00.0"],
        ),
    ] {
        v.push(case(format!("vfio/{name}.txt"), None, args));
    }
    v
}

/// A `run --check` case: name, variables, root and arguments.
type CheckCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>);

/// `run --check` on the GPU fixtures under launcher and GPU variables.
fn run_check_cases() -> Vec<Case> {
    const NV: &str = "tests/fixtures/gpu-nvidia/sysfs.tar.gz";
    const AMD: &str = "tests/fixtures/gpu-amd/sysfs.tar.gz";
    const GH: &str = "tests/fixtures/gpu-gh200/sysfs.tar.gz";
    const CPUSET: &str = "tests/fixtures/hwloc-linux/16amd64-8n2c-cpusets.tar.bz2";
    const PCI: (&str, &str) = ("CUDA_DEVICE_ORDER", "PCI_BUS_ID");
    let rank3 = [
        PCI,
        ("CUDA_VISIBLE_DEVICES", "1,2,3,4"),
        ("LOCAL_RANK", "3"),
        ("LOCAL_WORLD_SIZE", "4"),
    ];
    let cases: Vec<CheckCase<'_>> = vec![
        ("cuda-fastest-first", vec![], vec![NV, "--near", "cuda:1"]),
        (
            "cuda-visible-devices",
            vec![PCI, ("CUDA_VISIBLE_DEVICES", "4,2")],
            vec![NV, "--near", "cuda:1"],
        ),
        (
            "cuda-uuid-prefix",
            vec![(
                "CUDA_VISIBLE_DEVICES",
                "GPU-0c2a,GPU-9221d5d1-b60b-a624-bf14-0a1819cfda34",
            )],
            vec![NV, "--near", "cuda:1"],
        ),
        (
            "cuda-mig-needs-nvml",
            vec![(
                "CUDA_VISIBLE_DEVICES",
                "MIG-5e0d7c11-3a43-4f2e-8b1d-0d1c2b3a4f50",
            )],
            vec![NV, "--near", "cuda:0"],
        ),
        (
            "cuda-past-the-list",
            vec![PCI, ("CUDA_VISIBLE_DEVICES", "0,2,-1,1")],
            vec![NV, "--near", "cuda:2"],
        ),
        (
            "cuda-list-ends-at-an-invalid-entry",
            vec![PCI, ("CUDA_VISIBLE_DEVICES", "4, 2,-1,1")],
            vec![NV, "--near", "cuda:1"],
        ),
        ("gpu-node-unknown", vec![PCI], vec![NV, "--near", "cuda:0"]),
        (
            "gpu-node-inferred",
            vec![PCI],
            vec![NV, "--near", "cuda:4", "--json"],
        ),
        (
            "gpu-uuid",
            vec![],
            vec![NV, "--near", "gpu:GPU-9221d5d1-b60b-a624-bf14-0a1819cfda33"],
        ),
        (
            "auto-share-auto",
            rank3.to_vec(),
            vec![NV, "--near", "auto", "--share", "auto"],
        ),
        (
            "auto-share-auto-json",
            rank3.to_vec(),
            vec![NV, "--near", "auto", "--share", "auto", "--json"],
        ),
        (
            "auto-slurm",
            vec![
                PCI,
                ("SLURM_LOCALID", "1"),
                ("SLURM_STEP_TASKS_PER_NODE", "2(x2)"),
                ("SLURM_NODEID", "1"),
            ],
            vec![NV, "--near", "auto", "--share", "auto"],
        ),
        ("auto-without-rank", vec![], vec![NV, "--near", "auto"]),
        (
            "share-too-many",
            vec![PCI],
            vec![NV, "--near", "cuda:1", "--share", "0/3"],
        ),
        ("rocm-kfd-order", vec![], vec![AMD, "--near", "rocm:0"]),
        (
            "rocm-visible-devices",
            vec![
                ("ROCR_VISIBLE_DEVICES", "3,2"),
                ("HIP_VISIBLE_DEVICES", "1"),
            ],
            vec![AMD, "--near", "rocm:0"],
        ),
        ("gh200-memory-node", vec![], vec![GH, "--near", "cuda:0"]),
        (
            "gh200-mem-gpu",
            vec![],
            vec![GH, "--near", "cuda:0", "--mem", "gpu"],
        ),
        (
            "cpuset-refused",
            vec![],
            vec![CPUSET, "--membind", "0", "--cpunodebind", "0"],
        ),
        (
            "cpuset-fallback-preferred",
            vec![],
            vec![CPUSET, "--membind", "0", "--fallback", "preferred"],
        ),
        (
            "cpuset-fallback-none",
            vec![],
            vec![
                CPUSET,
                "--membind",
                "0",
                "--cpunodebind",
                "0",
                "--fallback",
                "none",
                "--json",
            ],
        ),
        ("bad-near", vec![], vec![NV, "--near", "cuda:x"]),
        (
            "bad-share",
            vec![],
            vec![NV, "--near", "cuda:1", "--share", "4/4"],
        ),
    ];
    cases
        .into_iter()
        .map(|(name, vars, args)| {
            let mut a = vec!["--root", args[0], "run", "--check"];
            a.extend_from_slice(&args[1..]);
            case_env(format!("run-check/{name}.txt"), &vars, &a)
        })
        .collect()
}

/// What one run printed, in the golden file's format: a header, then
/// stdout and stderr as raw bytes.
fn render(c: &Case) -> Vec<u8> {
    let mut cmd = numakit();
    cmd.current_dir(workspace()).args(&c.args);
    if let Some(r) = &c.env_root {
        cmd.env("NUMAKIT_ROOT", r);
    }
    for k in numakit_placement::launcher::VARIABLES {
        cmd.env_remove(k);
    }
    cmd.envs(c.vars.iter().map(|(k, v)| (k, v)));
    let out = cmd.output().expect("run numakit");
    let mut s = String::new();
    if !c.vars.is_empty() {
        let vars: Vec<String> = c.vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
        s.push_str(&format!(
            "$ {} numakit {}\n",
            vars.join(" "),
            c.args.join(" ")
        ));
    } else if let Some(r) = &c.env_root {
        s.push_str(&format!(
            "$ NUMAKIT_ROOT={r} numakit {}\n",
            c.args.join(" ")
        ));
    } else {
        s.push_str(&format!("$ numakit {}\n", c.args.join(" ")));
    }
    s.push_str(&format!("exit: {}\n", out.status.code().unwrap_or(-1)));
    s.push_str("--- stdout\n");
    let mut bytes = s.into_bytes();
    bytes.extend_from_slice(&out.stdout);
    bytes.extend_from_slice(b"--- stderr\n");
    bytes.extend_from_slice(&out.stderr);
    bytes
}

#[test]
fn outputs_match_the_golden_files() {
    let bless = std::env::var_os("NUMAKIT_BLESS").is_some_and(|v| v == "1");
    let dir = golden_dir();
    let mut failed = Vec::new();
    let all = cases();
    assert!(all.len() > 250, "only {} cases", all.len());
    for c in &all {
        let got = render(c);
        let path = dir.join(&c.golden);
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        match std::fs::read(&path) {
            Ok(want) if want == got => {}
            Ok(want) => {
                let (want, got) = (
                    String::from_utf8_lossy(&want),
                    String::from_utf8_lossy(&got),
                );
                let line = want
                    .lines()
                    .zip(got.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| want.lines().count().min(got.lines().count()));
                failed.push(format!(
                    "{}: differs from line {}:\n  want: {:?}\n  got:  {:?}",
                    c.golden,
                    line + 1,
                    want.lines().nth(line).unwrap_or("<end>"),
                    got.lines().nth(line).unwrap_or("<end>")
                ));
            }
            Err(e) => failed.push(format!("{}: {e}", c.golden)),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} golden outputs differ (NUMAKIT_BLESS=1 rewrites them):\n{}",
        failed.len(),
        all.len(),
        failed.join("\n")
    );
}

#[test]
fn every_golden_file_has_a_case() {
    let names: std::collections::BTreeSet<String> = cases().into_iter().map(|c| c.golden).collect();
    let dir = golden_dir();
    let mut stale = Vec::new();
    let mut todo = vec![dir.clone()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
            if rel == "bad" {
                continue;
            }
            if p.is_dir() {
                todo.push(p);
            } else if !names.contains(&rel) {
                stale.push(rel);
            }
        }
    }
    assert!(stale.is_empty(), "golden files with no case: {stale:?}");
}
