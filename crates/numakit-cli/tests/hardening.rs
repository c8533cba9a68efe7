//! Regression tests of issue 15 (hardening): what a hostile or careless
//! user gets from bad roots, hostile tarballs and trees, closed outputs and
//! odd arguments. Every input is made by the test itself, small; a command
//! that could blow up runs under a memory (and CPU) limit, so that a
//! blow-up fails the test rather than the machine.

mod common;

use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::numakit;
use numakit_sys::rlimit::{Resource, limit_child};

/// The address space every bounded run gets: the debug binary needs far
/// less than this for any fixture.
const MEMORY_LIMIT: u64 = 512 << 20;

/// A fresh, empty directory for the test `name`.
fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("numakit-hardening-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fixture(rel: &str) -> PathBuf {
    common::fixtures().join(rel)
}

/// Runs `numakit ARGS` under [`MEMORY_LIMIT`] and `cpu` seconds of CPU.
fn bounded(args: &[&str], cpu: u64) -> Output {
    let mut c = numakit();
    c.args(args);
    limit_child(
        &mut c,
        &[
            (Resource::AddressSpace, MEMORY_LIMIT),
            (Resource::CpuSeconds, cpu),
        ],
    )
    .output()
    .expect("run numakit")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Exit 2, nothing on stdout, `numakit: WHAT` and at most a `hint:` line,
/// the first containing `needle`.
fn assert_one_error(out: &Output, needle: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(out.stdout.is_empty(), "stdout: {}", text(&out.stdout));
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        (1..=2).contains(&lines.len()),
        "want one line and a hint: {err:?}"
    );
    assert!(lines[0].starts_with("numakit: "), "{err:?}");
    assert!(lines[0].contains(needle), "{err:?} lacks {needle:?}");
    if let Some(h) = lines.get(1) {
        assert!(h.starts_with("hint: "), "{err:?}");
    }
}

fn dev_full() -> Stdio {
    Stdio::from(File::options().write(true).open("/dev/full").unwrap())
}

/// An error message, a usage text or `snapshot`'s success line that cannot
/// be written ends with the documented exit status, never an abort; so does
/// output that cannot be written.
#[test]
fn issue15_unwritable_stderr_or_stdout_never_aborts() {
    let d = tmp("full");
    let snap = d.join("s.tar.gz");
    let two = fixture("qemu-2node/sysfs.tar.gz");
    let two = two.to_str().unwrap();
    let cases: &[(&[&str], i32)] = &[
        (&["--root", "/nonexistent", "topo"], 2),
        (&["topo", "--bogus"], 2),
        (&["--root", two, "snapshot", snap.to_str().unwrap()], 0),
        (&["migratepages"], 1),
        (&["numactl", "-m", "9", "true"], 1),
    ];
    for (args, code) in cases {
        let out = numakit().args(*args).stderr(dev_full()).output().unwrap();
        assert_eq!(out.status.code(), Some(*code), "{args:?} with stderr full");
    }
    assert!(snap.exists());
    // stdout full: the command says so on stderr, exit 2; both full: exit 2
    let topo = ["--root", two, "topo"];
    let out = numakit().args(topo).stdout(dev_full()).output().unwrap();
    assert_one_error(&out, "cannot write output");
    let out = numakit()
        .args(topo)
        .stdout(dev_full())
        .stderr(dev_full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = numakit().arg("--help").stdout(dev_full()).output().unwrap();
    assert_one_error(&out, "cannot write output");
    std::fs::remove_dir_all(&d).unwrap();
}

/// What the argument parser refuses is one line `numakit: WHAT` and a
/// `hint:`, exit 2, as every other error; help and version still print.
#[test]
fn issue15_usage_errors_are_one_line_and_a_hint() {
    for (args, needle) in [
        (
            &["--root", "", "topo"][..],
            "a value is required for '--root",
        ),
        (&["topo", "--bogus"], "unexpected argument '--bogus'"),
        (&["topo", "--jsn"], "'--jsn'"),
        (&["pages", "x"], "invalid value 'x'"),
        (&["migrate", "1"], "--from <NODES>, --to <NODES>"),
        (&["topo", "--json", "--matrix"], "cannot be used with"),
        (&[], "'numakit' needs a command"),
        (&["dma"], "'numakit dma' needs a command"),
    ] {
        let out = numakit().args(args).output().unwrap();
        assert_one_error(&out, needle);
    }
    let out = numakit().args(["topo", "--jsn"]).output().unwrap();
    assert!(
        text(&out.stderr)
            .contains("hint: a similar argument exists: '--json'; see 'numakit topo --help'")
    );
    for args in [&["--help"][..], &["topo", "--help"], &["--version"]] {
        let out = numakit().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!out.stdout.is_empty() && out.stderr.is_empty(), "{args:?}");
    }
}

/// `NUMAKIT_ROOT=` (set but empty) is the same as unset, for the commands
/// and for the numactl interface (by symlink and by subcommand).
#[test]
fn issue15_empty_numakit_root_means_unset() {
    let unset = numakit().args(["topo", "--hardware"]).output().unwrap();
    let empty = numakit()
        .args(["topo", "--hardware"])
        .env("NUMAKIT_ROOT", "")
        .output()
        .unwrap();
    assert_eq!(
        empty.status.code(),
        unset.status.code(),
        "{}",
        text(&empty.stderr)
    );
    assert!(empty.stderr.is_empty(), "{}", text(&empty.stderr));
    let d = tmp("empty-env");
    let link = d.join("numactl");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_numakit"), &link).unwrap();
    for mut c in [Command::new(&link), {
        let mut c = Command::new(env!("CARGO_BIN_EXE_numakit"));
        c.arg("numactl");
        c
    }] {
        let out = c.arg("--show").env("NUMAKIT_ROOT", "").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(text(&out.stdout).starts_with("policy: "));
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// `numakit --root R numactl ...` reads R, as `NUMAKIT_ROOT=R` does.
#[test]
fn issue15_root_option_reaches_the_numactl_interface() {
    let two = fixture("qemu-2node/sysfs.tar.gz");
    let by_env = numakit()
        .args(["numactl", "--hardware"])
        .env("NUMAKIT_ROOT", &two)
        .output()
        .unwrap();
    let by_opt = numakit()
        .arg("--root")
        .arg(&two)
        .args(["numactl", "--hardware"])
        .output()
        .unwrap();
    assert_eq!(by_opt.stdout, by_env.stdout);
    assert!(text(&by_opt.stdout).starts_with("available: 2 nodes (0-1)"));
    let missing = numakit()
        .args(["--root", "/nonexistent", "numactl", "--hardware"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).starts_with("numactl: --root: root '/nonexistent' does not exist")
    );
}

/// CPU and node numbers from folder names, links and lists are bounded by
/// the kernel's limits (8192 CPUs, 1024 nodes) and by `possible`: a huge
/// number costs nothing and is no CPU or node.
#[test]
fn issue15_huge_cpu_and_node_numbers_cost_nothing() {
    let d = tmp("huge-ids");
    let cpu = d.join("sys/devices/system/cpu");
    let node = d.join("sys/devices/system/node");
    std::fs::create_dir_all(cpu.join("cpu4294967295")).unwrap();
    std::fs::create_dir_all(cpu.join("cpu0")).unwrap();
    std::fs::create_dir_all(cpu.join("cpu8192")).unwrap();
    std::fs::create_dir_all(node.join("node4294967295")).unwrap();
    std::fs::create_dir_all(node.join("node1024")).unwrap();
    std::fs::create_dir_all(node.join("node0")).unwrap();
    std::fs::create_dir_all(node.join("node3")).unwrap();
    std::fs::write(node.join("possible"), "0-1\n").unwrap();
    std::fs::write(node.join("node0/cpulist"), "0,4194303\n").unwrap();
    std::os::unix::fs::symlink("../../node/node4294967295", cpu.join("cpu0/node4294967295"))
        .unwrap();
    let out = bounded(&["--root", d.to_str().unwrap(), "topo", "--json"], 30);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids = |k: &str| -> Vec<u64> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ids("cpus"), vec![0]);
    assert_eq!(ids("nodes"), vec![0]);
    std::fs::remove_dir_all(&d).unwrap();
}
