//! Topology mistakes a new user ran into (issue 14): the core summary on
//! machines with absent, offline or mixed-SMT CPUs, and firmware that gives
//! every node the same CPUs.

mod common;

use std::path::{Path, PathBuf};

use common::{numakit, run};

fn hwloc(name: &str) -> String {
    common::fixtures()
        .join("hwloc-linux")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// A root of one node whose `cpulist` names 88 CPUs of which only 8 are
/// present (SMT4: two cores of four threads), as on a POWER LPAR that can
/// grow.
fn absent_cpus_root() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("numakit-absent-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let node = dir.join("sys/devices/system/node");
    std::fs::create_dir_all(node.join("node0")).unwrap();
    std::fs::write(node.join("online"), "0\n").unwrap();
    std::fs::write(node.join("node0/cpulist"), "0-87\n").unwrap();
    std::fs::write(node.join("node0/distance"), "10\n").unwrap();
    let cpu = dir.join("sys/devices/system/cpu");
    for i in 0..8u32 {
        let t = cpu.join(format!("cpu{i}/topology"));
        std::fs::create_dir_all(&t).unwrap();
        let first = i / 4 * 4;
        write(
            &t,
            "thread_siblings_list",
            &format!("{first}-{}", first + 3),
        );
        write(&t, "core_id", &(i / 4).to_string());
        write(&t, "physical_package_id", "0");
    }
    std::fs::write(cpu.join("present"), "0-7\n").unwrap();
    std::fs::write(cpu.join("online"), "0-7\n").unwrap();
    std::fs::write(cpu.join("possible"), "0-87\n").unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), format!("{text}\n")).unwrap();
}

#[test]
fn threads_per_core_come_from_online_siblings_not_the_node_cpulist() {
    let root = absent_cpus_root();
    let (code, out, err) = run(&["--root", root.to_str().unwrap(), "topo"]);
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("2 cores, 4 threads per core, CPUs 8-87 absent"),
        "{out}"
    );
    assert!(!out.contains("44 threads"), "{out}");
}

#[test]
fn offline_cpus_are_not_counted_as_cores() {
    // hwloc's expected output for this machine: 7 cores, 12 PUs
    let (code, out, _) = run(&["--root", &hwloc("16em64t-4s2c2t-offlines.tar.bz2"), "topo"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("7 cores (5 with 2 threads, 2 with 1), CPUs 2,5,13-14 offline"),
        "{out}"
    );
    assert!(!out.contains("1 threads"), "{out}");
}

#[test]
fn hybrid_cores_say_how_many_threads_each_has() {
    // 6 P-cores with SMT2 and 8 E-cores: 14 cores, 20 PUs in hwloc's output
    let (_, out, _) = run(&[
        "--root",
        &hwloc("20em64t-hybrid-1p6c2t+2ca4co1t.tar.bz2"),
        "topo",
    ]);
    assert!(
        out.contains("14 cores (6 with 2 threads, 8 with 1)"),
        "{out}"
    );
}

#[test]
fn core_ids_repeated_across_unknown_packages_are_distinct_cores() {
    // s390: 20 cores (hwloc), core ids repeat and no package id is given
    let (_, out, _) = run(&["--root", &hwloc("20s390-2g6s4c.tar.bz2"), "topo"]);
    assert!(out.contains("└─ 20 cores\n"), "{out}");
}

#[test]
fn same_cpus_on_every_node_is_reported_as_inconsistent() {
    let root = hwloc("8em64t-2s2ca2c-buggynuma.tar.bz2");
    let (code, out, _) = run(&["--root", &root, "topo"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("the NUMA information is inconsistent: CPUs 0-7 are listed under more than one of nodes 0-7"),
        "{out}"
    );
    // no CPU is listed under any node; they are shown once
    assert!(
        !out.contains("Node 0: 2 GiB (914 MiB free), CPUs 0-7"),
        "{out}"
    );
    assert_eq!(out.matches("CPUs 0-7 (node unknown)").count(), 1, "{out}");

    let o = numakit()
        .args(["--root", &root, "topo", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let bad = &v["numa_inconsistent"];
    assert_eq!(bad["cpus"], serde_json::json!([0, 1, 2, 3, 4, 5, 6, 7]));
    assert_eq!(bad["nodes"], serde_json::json!([0, 1, 2, 3, 4, 5, 6, 7]));
    assert!(
        v["cpus"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["node"].is_null())
    );
    // the node's own list stays what sysfs says
    assert_eq!(
        v["nodes"][3]["cpus"],
        serde_json::json!([0, 1, 2, 3, 4, 5, 6, 7])
    );

    // --hardware prints what numactl prints: every node with every CPU
    let (_, hw, _) = run(&["--root", &root, "topo", "--hardware"]);
    assert_eq!(hw.matches("cpus: 0 1 2 3 4 5 6 7\n").count(), 8, "{hw}");
}

#[test]
fn consistent_machines_have_no_inconsistency() {
    let o = numakit()
        .args(["--root", &hwloc("16amd64-8n2c.tar.bz2"), "topo", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["numa_inconsistent"].is_null());
    assert_eq!(v["cpus"][0]["node"], 0);
}
