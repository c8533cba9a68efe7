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

/// Writes a `.tar.gz` at `path` with `entries` (name, size of zeros),
/// streamed so that a large file costs the test no memory.
fn tarball(path: &std::path::Path, entries: &[(&str, u64)]) {
    let gz =
        flate2::write::GzEncoder::new(File::create(path).unwrap(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (name, size) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(*size);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, std::io::repeat(0).take(*size))
            .unwrap();
    }
    b.into_inner().unwrap().finish().unwrap();
}

use std::io::Read as _;

/// A snapshot whose one path has 100,000 components (a few hundred bytes
/// compressed) is refused at once: paths are bounded in length and depth,
/// and handled in linear time.
#[test]
fn issue15_a_path_of_100000_components_is_refused_at_once() {
    let d = tmp("deep");
    let f = d.join("deep.tar.gz");
    let deep = format!("sys/{}", vec!["a"; 100_000].join("/"));
    tarball(
        &f,
        &[("sys/devices/system/node/node0/cpulist", 2), (&deep, 1)],
    );
    assert!(std::fs::metadata(&f).unwrap().len() < 4096);
    let out = bounded(&["--root", f.to_str().unwrap(), "topo"], 30);
    assert_one_error(&out, "a path is longer than 4096 bytes");
    // deep, but within PATH_MAX: refused by depth
    let deep = format!("sys/{}", vec!["a"; 1000].join("/"));
    tarball(&f, &[(&deep, 1)]);
    let out = bounded(&["--root", f.to_str().unwrap(), "topo"], 30);
    assert_one_error(&out, "deeper than 256 folders");
    std::fs::remove_dir_all(&d).unwrap();
}

/// A snapshot's contents are bounded per file and in total at what sysfs
/// and procfs can hold: a 600 MiB file (a few hundred KiB compressed) is
/// refused before it is read, and so is more than is ever held in all.
#[test]
fn issue15_snapshot_contents_are_bounded_per_file_and_in_total() {
    let d = tmp("big");
    let f = d.join("big.tar.gz");
    let node = "sys/devices/system/node/node0";
    tarball(
        &f,
        &[
            (&format!("{node}/cpulist"), 0),
            (&format!("{node}/meminfo"), 600 << 20),
        ],
    );
    let out = bounded(&["--root", f.to_str().unwrap(), "topo"], 60);
    assert_one_error(&out, "no sysfs or procfs file is larger than 16 MiB");
    // five files of 15 MiB: more than is ever held
    let names: Vec<String> = (0..5).map(|i| format!("{node}/f{i}")).collect();
    let entries: Vec<(&str, u64)> = names.iter().map(|n| (n.as_str(), 15 << 20)).collect();
    tarball(&f, &entries);
    let out = bounded(&["--root", f.to_str().unwrap(), "topo"], 60);
    assert_one_error(&out, "holds more than 64 MiB");
    // within the bounds, the machine is read
    tarball(
        &f,
        &[(&format!("{node}/cpulist"), 0), ("sys/notes", 8 << 20)],
    );
    let out = bounded(&["--root", f.to_str().unwrap(), "topo"], 60);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::remove_dir_all(&d).unwrap();
}

/// A root directory that holds no machine (empty, or neither `sys/` nor
/// `proc/`) or that cannot be read is an error, exit 2, one line and a
/// hint; never an invented one-node machine.
#[test]
fn issue15_empty_or_unreadable_roots_are_errors() {
    let d = tmp("roots");
    let empty = d.join("empty");
    std::fs::create_dir(&empty).unwrap();
    for args in [&["topo"][..], &["topo", "--json"], &["topo", "--hardware"]] {
        let mut a = vec!["--root", empty.to_str().unwrap()];
        a.extend_from_slice(args);
        assert_one_error(
            &numakit().args(&a).output().unwrap(),
            "holds neither sys/ nor proc/",
        );
    }
    // unreadable: run as an unprivileged user where this test runs as root
    let locked = d.join("locked");
    std::fs::create_dir_all(locked.join("sys/devices/system/node")).unwrap();
    std::fs::create_dir_all(locked.join("proc")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (dir, mode) in [(&locked, 0o000), (&locked.join("sys"), 0o000)] {
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
        let mut c = if rustix::process::geteuid().is_root() {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(env!("CARGO_BIN_EXE_numakit"));
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_numakit"))
        };
        let out = c
            .env_remove("NUMAKIT_ROOT")
            .args(["--root", locked.to_str().unwrap(), "topo"])
            .output()
            .unwrap();
        assert_one_error(&out, "Permission denied");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// Whether the gzip-compressed file `f` holds `needle` once unpacked.
fn gz_holds(f: &std::path::Path, needle: &[u8]) -> bool {
    let mut data = Vec::new();
    flate2::read::GzDecoder::new(File::open(f).unwrap())
        .read_to_end(&mut data)
        .unwrap();
    data.windows(needle.len()).any(|w| w == needle)
}

/// 200 snapshots of a directory root while a file and a folder of it are
/// swapped, again and again, for links to a host file and folder: no byte
/// of the host's files is in any snapshot.
#[test]
fn issue15_snapshots_never_copy_a_file_swapped_for_a_link() {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    use std::sync::atomic::{AtomicBool, Ordering};
    let d = tmp("snaprace");
    let secret = d.join("secret");
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(
        secret.join("meminfo"),
        "Node 0 MemTotal: SECRET-HOST-BYTES\n",
    )
    .unwrap();
    std::fs::write(secret.join("cpulist"), "SECRET-HOST-BYTES\n").unwrap();
    let nodes = d.join("root/sys/devices/system/node");
    std::fs::create_dir_all(nodes.join("node0")).unwrap();
    std::fs::create_dir_all(nodes.join("node1")).unwrap();
    for n in ["node0", "node1"] {
        std::fs::write(nodes.join(n).join("cpulist"), "0\n").unwrap();
        std::fs::write(nodes.join(n).join("meminfo"), "Node 0 MemTotal: 1024 kB\n").unwrap();
    }
    std::os::unix::fs::symlink(secret.join("meminfo"), nodes.join("node0/alt")).unwrap();
    std::os::unix::fs::symlink(&secret, nodes.join("node1.alt")).unwrap();
    let pairs = [
        (nodes.join("node0/meminfo"), nodes.join("node0/alt")),
        (nodes.join("node1"), nodes.join("node1.alt")),
    ];
    let stop = AtomicBool::new(false);
    let leaked = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                for (a, b) in &pairs {
                    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).unwrap();
                }
            }
        });
        let mut leaked = 0;
        for i in 0..200 {
            let out = d.join(format!("s{i}.tar.gz"));
            let o = numakit()
                .args(["--root", d.join("root").to_str().unwrap(), "snapshot"])
                .arg(&out)
                .output()
                .unwrap();
            // a snapshot may fail to replay when the tree changed under it;
            // what it wrote must hold no host byte
            if out.exists() && gz_holds(&out, b"SECRET") {
                leaked += 1;
            }
            assert!(o.status.code().is_some(), "{}", text(&o.stderr));
        }
        stop.store(true, Ordering::Relaxed);
        leaked
    });
    assert_eq!(leaked, 0, "snapshots holding host bytes");
    std::fs::remove_dir_all(&d).unwrap();
}

/// `dma simulate` reads a regular file of at most 1 MiB: a device that
/// streams without end, a FIFO with no writer, a folder or a large file is
/// refused at once, one line and a hint, exit 2.
#[test]
fn issue15_dma_simulate_reads_only_a_bounded_regular_file() {
    let d = tmp("dma-input");
    let fifo = d.join("fifo.dma");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let big = d.join("big.dma");
    std::fs::write(&big, "# comment\n".repeat(120_000)).unwrap();
    for (f, why) in [
        ("/dev/zero", "not a regular file"),
        ("/dev/urandom", "not a regular file"),
        (fifo.to_str().unwrap(), "not a regular file"),
        (d.to_str().unwrap(), "not a regular file"),
        (big.to_str().unwrap(), "larger than 1024 KiB"),
    ] {
        let out = bounded(&["dma", "simulate", f], 30);
        assert_one_error(&out, why);
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// Runs the scenario `text` under the memory limit: it must end with a
/// verdict or a one-line error (exit 0, 1 or 2), never an abort.
fn dma_scenario_ends_cleanly(name: &str, text: &str) {
    let d = tmp(name);
    let f = d.join("s.dma");
    std::fs::write(&f, text).unwrap();
    assert!(text.len() < 4096);
    let out = bounded(&["dma", "simulate", f.to_str().unwrap()], 60);
    let code = out.status.code();
    assert!(
        matches!(code, Some(0..=2)),
        "exit {code:?}: {}",
        text_tail(&out.stderr)
    );
    if code == Some(2) {
        assert_one_error(&out, "");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

fn text_tail(b: &[u8]) -> String {
    let t = text(b);
    t[t.len().saturating_sub(400)..].to_string()
}

/// A 2.4 KB scenario whose `fill:` data asks for 6.4 GB: the data must be
/// generated when it is used, not when the file is read.
#[test]
fn issue15_dma_fill_data_is_not_materialised_while_parsing() {
    let mut s = String::from("machine coherent\ndevice dev\nalloc buf 64M\n");
    for _ in 0..100 {
        s.push_str("write buf fill:0x41*64M\n");
    }
    dma_scenario_ends_cleanly("dma-fill", &s);
}

/// 50 DMA-BUFs of 1 GiB (1 KB of text): the model's memory budget must be
/// checked before host memory is allocated.
#[test]
fn issue15_dma_model_memory_is_bounded_before_allocation() {
    let mut s = String::from("machine coherent\ndevice dev\n");
    for i in 0..50 {
        s.push_str(&format!("dmabuf d{i} dev 1G\n"));
    }
    dma_scenario_ends_cleanly("dma-budget", &s);
}

/// `pages` on a process with a 16 TiB mapping it never touched (the shape
/// of a sanitizer's shadow memory) does not ask about every page: what is
/// not resident is skipped (it took 339 s).
#[test]
fn issue15_pages_skips_a_huge_untouched_mapping() {
    use numakit_sys::mm::Advice;
    use numakit_sys::mm::{AnonMapping, MapFlags};
    let Ok(mut m) = AnonMapping::new(16 << 40, MapFlags::NORESERVE) else {
        eprintln!("skipped: no room for a 16 TiB mapping here");
        return;
    };
    // a flag of its own, so that the kernel does not merge it with a
    // neighbouring mapping that holds pages
    m.advise(Advice::NoHugePage).unwrap();
    let pid = std::process::id().to_string();
    let out = bounded(&["pages", &pid, "--json"], 20);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let start = format!("{:x}", m.addr());
    let mapping = v["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["start"] == start.as_str())
        .expect("the mapping is listed");
    assert_eq!(mapping["pages"].as_u64(), Some((16u64 << 40) / 4096));
    assert_eq!(mapping["not_present"], mapping["pages"]);
    drop(m);
}
