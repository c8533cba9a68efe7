//! `numakit topo` and `numakit snapshot` end to end.

mod common;

use std::path::PathBuf;

use common::numakit;

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    common::fixtures().join(name)
}

fn json(args: &[&str]) -> Value {
    let out = numakit().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Memory counters move between two runs; everything else must not.
fn strip_volatile(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for k in [
                "memory_free_bytes",
                "meminfo",
                "free_bytes",
                "available_bytes",
                "free",
                "surplus",
            ] {
                m.remove(k);
            }
            for (_, x) in m.iter_mut() {
                strip_volatile(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_volatile),
        _ => {}
    }
}

#[test]
fn snapshot_of_this_machine_replays_to_the_live_model() {
    let dir = std::env::temp_dir().join(format!("numakit-snap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let snap = dir.join("this.tar.gz");
    let out = numakit().arg("snapshot").arg(&snap).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut live = json(&["topo", "--json"]);
    let mut replay = json(&["topo", "--json", "--root", snap.to_str().unwrap()]);
    strip_volatile(&mut live);
    strip_volatile(&mut replay);
    assert_eq!(
        live, replay,
        "a snapshot of this machine must replay to the same model"
    );
    // an existing file is not replaced without --force
    let again = numakit().arg("snapshot").arg(&snap).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).starts_with("numakit: "));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn snapshot_of_a_snapshot_is_identical() {
    let dir = std::env::temp_dir().join(format!("numakit-snap2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let snap = dir.join("gpu.tar.gz");
    let src = fixture("qemu-gpuserver/sysfs.tar.gz");
    let out = numakit()
        .args(["--root", src.to_str().unwrap(), "snapshot"])
        .arg(&snap)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = json(&["topo", "--json", "--root", src.to_str().unwrap()]);
    let b = json(&["topo", "--json", "--root", snap.to_str().unwrap()]);
    assert_eq!(a, b);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn json_schema_fields_on_the_two_node_vm() {
    let v = json(&[
        "topo",
        "--json",
        "--root",
        fixture("qemu-2node/sysfs.tar.gz").to_str().unwrap(),
    ]);
    assert_eq!(v["schema"], "numakit.topology/1");
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0]["id"], 0);
    assert_eq!(nodes[0]["cpus"], serde_json::json!([0, 1]));
    assert_eq!(nodes[1]["cpus"], serde_json::json!([2, 3]));
    assert_eq!(nodes[0]["distances"], serde_json::json!([10, 21]));
    assert_eq!(nodes[1]["distances"], serde_json::json!([21, 10]));
    assert!(nodes[0]["memory_total_bytes"].as_u64().unwrap() > 512 << 20);
    assert!(nodes[0]["memory_free_bytes"].is_u64());
    let pci = v["pci_devices"].as_array().unwrap();
    let nvme = pci
        .iter()
        .find(|d| d["address"] == "0000:41:00.0")
        .expect("the NVMe");
    assert_eq!(nvme["class_code"], "0x010802");
    assert_eq!(nvme["kind"], "nvme");
    assert_eq!(nvme["vendor_id"], "0x1b36");
    assert_eq!(nvme["numa_node"], 1);
    assert_eq!(nvme["numa_node_source"], "sysfs");
    assert!(nvme["iommu_group"].is_u64());
    for k in ["current_speed", "current_width", "max_speed", "max_width"] {
        assert!(nvme["link"].get(k).is_some(), "link.{k}");
    }
    let groups = v["iommu"]["groups"].as_array().unwrap();
    assert!(groups.iter().any(|g| {
        g["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == "0000:41:00.0")
    }));
    assert!(
        groups
            .iter()
            .all(|g| g["id"].is_u64() && g.get("type").is_some())
    );
}

#[test]
fn three_node_vm_has_a_cpuless_tiered_node() {
    let v = json(&[
        "topo",
        "--json",
        "--root",
        fixture("qemu-3node-hmat/sysfs.tar.gz").to_str().unwrap(),
    ]);
    let n2 = &v["nodes"][2];
    assert_eq!(n2["id"], 2);
    assert_eq!(n2["kind"], "memory-only");
    assert_eq!(n2["cpus"], serde_json::json!([]));
    assert_eq!(n2["distances"], serde_json::json!([30, 40, 10]));
    // HMAT: node 2 is reached best from node 0 at 40 ns
    assert_eq!(n2["access"][0]["initiators"], serde_json::json!([0]));
    assert_eq!(n2["access"][0]["read_latency_ns"], 40);
    // a lower tier than the DRAM nodes
    let t0 = v["nodes"][0]["memory_tier"].as_u64().unwrap();
    let t2 = n2["memory_tier"].as_u64().unwrap();
    assert!(t2 > t0);
}

#[test]
fn tree_puts_devices_under_their_node() {
    let out = numakit()
        .args([
            "topo",
            "--root",
            fixture("qemu-2node/sysfs.tar.gz").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines()
            .next()
            .unwrap()
            .starts_with("2 packages, 2 NUMA nodes, 4 CPUs"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "no colour when not on a terminal");
    let node1 = text.find("Node 1").unwrap();
    let nvme = text.find("0000:41:00.0").unwrap();
    let node0 = text.find("Node 0").unwrap();
    assert!(
        node0 < node1 && node1 < nvme,
        "the NVMe sits under node 1:\n{text}"
    );
}

#[test]
fn tree_summarises_a_distance_matrix_too_wide_for_a_terminal() {
    let out = numakit()
        .args([
            "topo",
            "--root",
            fixture("hwloc-linux/256ia64-64n2s2c.tar.bz2")
                .to_str()
                .unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Distances: 64×64 matrix, values 10, 22, 26, 30, 34;"),
        "{text}"
    );
    assert!(
        text.lines().all(|l| l.chars().count() <= 120),
        "lines fit a terminal"
    );
    // two nodes: the matrix itself
    let out = numakit()
        .args([
            "topo",
            "--root",
            fixture("qemu-2node/sysfs.tar.gz").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("    0:   10   21\n    1:   21   10\n"),
        "{text}"
    );
}
