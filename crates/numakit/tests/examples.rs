//! The examples, built by `cargo test` and run here on the running system:
//! each exits 0 and says `ok:` for what it checked, and nothing failed.
//! Where a fact needs two nodes the examples say `skip:` here; the VM tests
//! (`tests/vm/checks/2node/70-library-examples.sh`, `3node/`) run them on
//! machines with two and three nodes, where they must not skip.

use std::path::PathBuf;
use std::process::Command;

/// The example's binary: next to this test's `deps/` folder, built by
/// `cargo test` (or by `cargo build --examples` here when a filtered run
/// did not build it).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let bin = dir.join(name);
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "-p", "numakit", "--examples"])
            .status()
            .unwrap();
        assert!(st.success(), "building the examples failed");
    }
    bin
}

/// Runs an example; returns its stdout, which must end with its summary
/// and hold no failure.
fn run(name: &str, args: &[&str]) -> String {
    let out = Command::new(example(name)).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name} {args:?} exited {:?}\n{stdout}\n{stderr}",
        out.status.code()
    );
    assert!(!stdout.contains("FAILED"), "{name}:\n{stdout}");
    assert!(
        stdout
            .lines()
            .last()
            .is_some_and(|l| l.starts_with(&format!("{name}: ")) && l.ends_with(" 0 failed")),
        "{name}: no summary\n{stdout}"
    );
    stdout
}

fn oks(out: &str) -> usize {
    out.lines().filter(|l| l.starts_with("ok: ")).count()
}

#[test]
fn sizes() {
    let out = run("sizes", &[]);
    assert!(out.contains("ok: NUMA policies are available"), "{out}");
    assert!(oks(&out) >= 7, "{out}");
}

#[test]
fn nodes_cpus() {
    let out = run("nodes_cpus", &[]);
    assert!(out.contains("ok: run on node 0: getcpu says CPU"), "{out}");
}

#[test]
fn allocation() {
    let out = run("allocation", &[]);
    for what in [
        "allocate_on_node",
        "reallocate",
        "allocate_local",
        "allocate_interleaved_all",
        "allocate_with under membind",
        "NodeVec on node",
    ] {
        assert!(out.contains(&format!("ok: {what}")), "{what}:\n{out}");
    }
}

#[test]
fn affinity() {
    let out = run("affinity", &[]);
    assert!(out.contains("ok: process "), "{out}");
    assert!(out.contains("ok: bind_to_nodes("), "{out}");
}

#[test]
fn policy() {
    let out = run("policy", &[]);
    for what in [
        "set_membind reads back",
        "set_preferred reads back",
        "set_interleave_mask reads back",
        "tonode_memory binds",
        "police: every page",
    ] {
        assert!(out.contains(what), "{what}:\n{out}");
    }
}

#[test]
fn pages() {
    let out = run("pages", &[]);
    assert!(out.contains("ok: move_pages_to: numa_maps agrees"), "{out}");
    assert!(out.contains("ok: migrate_area: numa_maps agrees"), "{out}");
}

#[test]
fn strings() {
    let out = run("strings", &[]);
    assert!(oks(&out) >= 20, "{out}");
    let out = Command::new(example("strings"))
        .arg("all")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("all: nodes "));
}

#[test]
fn hwloc() {
    let out = run("hwloc", &[]);
    assert!(out.contains("ok: set_area_membind reads back"), "{out}");
}

#[test]
fn numa_app() {
    let out = run("numa_app", &["2"]);
    assert!(
        out.contains("ok: array 0: first touch put it on node 0"),
        "{out}"
    );
    assert!(out.contains("its scratch memory is there"), "{out}");
}

#[test]
fn dma_driver() {
    let out = run("dma_driver", &[]);
    assert!(
        out.contains("ok: model, wrong direction: reported [DeviceWriteToDevice]"),
        "{out}"
    );
    assert!(
        out.contains("ok: double: the model's buffer is refused"),
        "{out}"
    );
    assert_eq!(oks(&out), 10, "{out}");
}

#[test]
fn device_locality_on_a_snapshot() {
    let snap = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/qemu-gpuserver/sysfs.tar.gz"
    );
    let out = run(
        "device_locality",
        &["--root", snap, "nic:1", "gpu:0", "0000:26:00.0"],
    );
    let want = "nic:1: 0000:45:00.0 node 1 cpus 2-3 under Package 1 distances 0:21 1:10\n\
                gpu:0: 0000:23:00.0 node 0 cpus 0-1 under Package 0 distances 0:10 1:21\n\
                0000:26:00.0: 0000:26:00.0 node 0 cpus 0-1 under Package 0 distances 0:10 1:21\n";
    assert!(out.starts_with(want), "{out}");
    // every device of the matrix, by its label
    let all = run("device_locality", &["--root", snap]);
    assert_eq!(
        all.lines().filter(|l| l.contains(" node ")).count(),
        8,
        "{all}"
    );
    assert!(all.contains("NIC1: 0000:45:00.0 node 1"), "{all}");
}

#[test]
fn device_locality_refuses_what_it_cannot_find() {
    let snap = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/qemu-gpuserver/sysfs.tar.gz"
    );
    let out = Command::new(example("device_locality"))
        .args(["--root", snap, "nic:2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAILED: nic:2: no device nic:2 on this machine: it has nic:0 to nic:1"),
        "{stdout}"
    );
    let out = Command::new(example("device_locality"))
        .arg("floppy:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read device 'floppy:0'"));
}
