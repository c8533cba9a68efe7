//! numastat compatibility, byte for byte against the numastat installed at
//! `/usr/bin/numastat`, run in a chroot of each fixture machine (so both
//! read the same files) and on live processes.
//!
//! The reference is the numastat the machine has (Debian's numactl 2.0.16
//! where these tests were written); numakit follows 2.0.19. Where the two
//! differ, the test converts numakit's text to 2.0.16's form explicitly
//! ([`meminfo_as_2_0_16`]):
//! - `-m`: 2.0.16 has a fixed list of 36 `meminfo` keys in its own order
//!   (`KReclaimable` last) and prints `Token X not in hash table.` for the
//!   others (`SwapCached`, `SecPageTables`, `FileHugePages`,
//!   `FilePmdMapped`, `Unaccepted` on a 6.12 kernel); 2.0.19 prints every
//!   line in the kernel's order without such messages. Its label column
//!   under `-c` is as wide as its longest known label, present or not.
//! - `-m` with `-s`: rows of equal value may come in another order, so the
//!   rows are compared as sets and checked to be in descending order.
//! - `-p`: 2.0.16 counts every hugetlb page at the default huge page size;
//!   2.0.19 at the mapping's `kernelpagesize_kB` (the fixtures' huge
//!   mappings use the default size, and [`huge_pages_of_each_size`] checks
//!   the 2.0.19 numbers on their own).
//! - `-V`: the build date numastat prints is numakit's version here.
//! - the last of several processes failing to read no longer drops the
//!   table (numakit's fix, [`last_unreadable_process_keeps_the_table`]).
//!
//! Tests that need `/usr/bin/numastat`, `unshare` or `chroot` say so and
//! pass without them.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::fixtures;

const REAL: &str = "/usr/bin/numastat";

/// numastat 2.0.16's meminfo keys, in its table order.
const KEYS_2_0_16: [&str; 36] = [
    "MemTotal",
    "MemFree",
    "MemUsed",
    "HighTotal",
    "HighFree",
    "LowTotal",
    "LowFree",
    "Active",
    "Inactive",
    "Active(anon)",
    "Inactive(anon)",
    "Active(file)",
    "Inactive(file)",
    "Unevictable",
    "Mlocked",
    "Dirty",
    "Writeback",
    "FilePages",
    "Mapped",
    "AnonPages",
    "Shmem",
    "KernelStack",
    "PageTables",
    "NFS_Unstable",
    "Bounce",
    "WritebackTmp",
    "Slab",
    "SReclaimable",
    "SUnreclaim",
    "AnonHugePages",
    "ShmemHugePages",
    "ShmemPmdMapped",
    "HugePages_Total",
    "HugePages_Free",
    "HugePages_Surp",
    "KReclaimable",
];

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_numakit")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether the real numastat can run in a chroot here.
fn chroot_available() -> bool {
    let ok = Path::new(REAL).exists()
        && Command::new("unshare")
            .args(["-r", "true"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: {REAL} or an unprivileged 'unshare -r' is not available");
    }
    ok
}

/// A fixture unpacked into a folder with numastat and its libraries, and
/// two made-up processes (100: one table of every kind; 200: a second).
fn chroot_of(fixture: &Path, tag: &str) -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!("numakit-numastat-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ok = Command::new("tar")
        .arg("--no-same-owner")
        .arg("-xf")
        .arg(fixture)
        .arg("-C")
        .arg(&dir)
        .status()
        .ok()?
        .success();
    assert!(ok, "unpack {}", fixture.display());
    // some snapshots carry folders without search permission
    Command::new("chmod")
        .arg("-R")
        .arg("u+rwX")
        .arg(&dir)
        .status()
        .ok()?;
    // hwloc's tarballs hold one folder
    let root = if dir.join("sys").is_dir() {
        dir.clone()
    } else {
        std::fs::read_dir(&dir).unwrap().next()?.ok()?.path()
    };
    for lib in [
        REAL,
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib64/ld-linux-x86-64.so.2",
    ] {
        let to = root.join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(lib, &to).ok()?;
    }
    add_processes(&root)?;
    Some(root)
}

/// Two made-up processes in the unpacked fixture at `root` (100: one
/// mapping of every kind, spread over the first two nodes; 200: a second).
fn add_processes(root: &Path) -> Option<()> {
    let nodes: Vec<u32> = std::fs::read_dir(root.join("sys/devices/system/node"))
        .ok()?
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_prefix("node")?
                .parse()
                .ok()
        })
        .collect();
    // the huge mapping uses the machine's default huge page size, which
    // numastat 2.0.16 assumes for every huge mapping
    let mi = root.join("proc/meminfo");
    let meminfo = std::fs::read_to_string(&mi).ok();
    let huge_kb = meminfo
        .as_deref()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("Hugepagesize:")))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(2048);
    if let Some(t) = &meminfo
        && !t.contains("Hugepagesize")
    {
        std::fs::write(&mi, format!("{t}Hugepagesize:       2048 kB\n")).unwrap();
    }
    let mut ns = nodes.clone();
    ns.sort();
    let n = |i: usize| ns[i % ns.len().max(1)];
    let maps = [
        format!(
            "400000 default file=/usr/bin/app mapped=10 N{}=10 kernelpagesize_kB=4",
            n(0)
        ),
        format!(
            "600000 default heap anon=300 dirty=300 N{}=200 N{}=100 kernelpagesize_kB=4",
            n(0),
            n(1)
        ),
        format!(
            "7f0000000000 bind:{} anon=777 dirty=777 N{}=777 kernelpagesize_kB=4",
            n(1),
            n(1)
        ),
        format!(
            "7f0040000000 default file=/anon_hugepage\\040(deleted) huge anon=3 dirty=3 N{}=3 kernelpagesize_kB={huge_kb}",
            n(1)
        ),
        format!(
            "7f0080000000 interleave:{}-{} file=/dev/shm/w dirty=12 N{}=5 N{}=7 kernelpagesize_kB=4",
            n(0),
            n(1),
            n(0),
            n(1)
        ),
        format!(
            "7ffd00000000 default stack anon=33 dirty=33 N{}=33 kernelpagesize_kB=4",
            n(0)
        ),
    ];
    for (pid, name, body) in [
        (100, "app", maps.join("\n")),
        (200, "other", maps[1].clone()),
    ] {
        let p = root.join(format!("proc/{pid}"));
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("numa_maps"), body + "\n").unwrap();
        std::fs::write(
            p.join("status"),
            format!("Name:\t{name}\nState:\tS (sleeping)\n"),
        )
        .unwrap();
        std::fs::write(p.join("cmdline"), format!("/usr/bin/{name}\0--serve\0")).unwrap();
    }
    Some(())
}

fn real_in(root: &Path, args: &[&str], width: Option<&str>) -> Output {
    let mut c = Command::new("unshare");
    c.args(["-r", "chroot"])
        .arg(root)
        .arg("/usr/bin/numastat")
        .args(args)
        .env_remove("NUMASTAT_WIDTH");
    if let Some(w) = width {
        c.env("NUMASTAT_WIDTH", w);
    }
    c.output().unwrap()
}

fn ours_in(root: &Path, args: &[&str], width: Option<&str>) -> Output {
    let mut c = Command::new(bin());
    c.arg("numastat")
        .args(args)
        .env("NUMAKIT_ROOT", root)
        .env_remove("NUMASTAT_WIDTH");
    if let Some(w) = width {
        c.env("NUMASTAT_WIDTH", w);
    }
    c.output().unwrap()
}

/// numakit's `-m` table as numastat 2.0.16 prints it: only 2.0.16's keys,
/// in its order, the label column at least 16 wide.
fn meminfo_as_2_0_16(ours: &str) -> String {
    let lines: Vec<&str> = ours.split_inclusive('\n').collect();
    let Some(title) = lines
        .iter()
        .position(|l| *l == "Per-node system memory usage (in MBs):\n")
    else {
        return ours.to_string();
    };
    let end = lines[title + 1..]
        .iter()
        .position(|l| l.trim().is_empty())
        .map_or(lines.len(), |i| title + 1 + i);
    let table = &lines[title + 1..end];
    let mut out: String = lines[..=title].concat();
    let Some(dashes) = table.get(1) else {
        return ours.to_string();
    };
    let w0 = dashes.len() - dashes.trim_start().len() - 1;
    let cut = |l: &str| {
        let l = l.trim_end_matches('\n');
        let i = w0.min(l.len());
        (l[..i].trim_end().to_string(), l[i..].to_string())
    };
    let w = w0.max(16);
    for l in &table[..2] {
        let (a, b) = cut(l);
        out.push_str(&format!("{a:<w$}{b}\n"));
    }
    let mut rows: Vec<(usize, String)> = table[2..]
        .iter()
        .filter_map(|l| {
            let (label, rest) = cut(l);
            let i = KEYS_2_0_16.iter().position(|k| *k == label)?;
            Some((i, format!("{label:<w$}{rest}\n")))
        })
        .collect();
    rows.sort_by_key(|(i, _)| *i);
    for (_, r) in rows {
        out.push_str(&r);
    }
    out.push_str(&lines[end..].concat());
    out
}

fn drop_tokens(real: &str) -> String {
    real.lines()
        .filter(|l| !(l.starts_with("Token ") && l.ends_with(" not in hash table.")))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn converter() {
    let ours = "\nPer-node system memory usage (in MBs):\n             Node 0 Total\n             ------ -----\nMemTotal         10    10\nSwapCached        0     0\nKReclaimable      1     1\nSlab              2     2\n";
    let want = "\nPer-node system memory usage (in MBs):\n                 Node 0 Total\n                 ------ -----\nMemTotal             10    10\nSlab                  2     2\nKReclaimable          1     1\n";
    assert_eq!(meminfo_as_2_0_16(ours), want);
    assert_eq!(drop_tokens("Token X not in hash table.\nA\n"), "A\n");
}

/// Every fixture machine with `numastat` and `meminfo` files per node.
fn numastat_fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures().join("hwloc-linux"))
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.to_string_lossy().ends_with(".tar.bz2"))
        .collect();
    v.sort();
    for q in ["qemu-2node", "qemu-3node-hmat", "qemu-gpuserver"] {
        v.push(fixtures().join(q).join("sysfs.tar.gz"));
    }
    v
}

fn compare(root: &Path, args: &[&str], width: Option<&str>, what: &str) {
    let (r, o) = (real_in(root, args, width), ours_in(root, args, width));
    let (rs, os) = (text(&r.stdout), text(&o.stdout));
    let meminfo = args.iter().any(|a| a.starts_with('-') && a.contains('m'));
    let sorted = args.iter().any(|a| a.starts_with("-s"));
    assert_eq!(
        o.status.code(),
        r.status.code(),
        "{what} {args:?}: status\n{}",
        text(&o.stderr)
    );
    if meminfo && sorted {
        let set = |s: &str| {
            let mut v: Vec<String> = s.lines().map(str::to_string).collect();
            v.sort();
            v
        };
        assert_eq!(
            set(&meminfo_as_2_0_16(&os)),
            set(&drop_tokens(&rs)),
            "{what} {args:?}"
        );
        return;
    }
    let os = if meminfo { meminfo_as_2_0_16(&os) } else { os };
    if os != drop_tokens(&rs) {
        let dump = std::env::temp_dir().join("numakit-numastat-diff");
        let _ = std::fs::write(dump.with_extension("ours"), &os);
        let _ = std::fs::write(dump.with_extension("real"), drop_tokens(&rs));
    }
    assert_eq!(os, drop_tokens(&rs), "{what} {args:?}");
    assert_eq!(text(&o.stderr), text(&r.stderr), "{what} {args:?}: stderr");
}

#[test]
fn fixtures_byte_for_byte() {
    if !chroot_available() {
        return;
    }
    let cases: &[&[&str]] = &[
        &[],
        &["-n"],
        &["-c", "-n"],
        &["-z", "-n"],
        &["-s", "-n"],
        &["-s1", "-n"],
        &["-m"],
        &["-cm"],
        &["-zm"],
        &["-m", "-s"],
        &["-p", "100"],
        &["100", "200"],
        &["-v", "100", "200"],
        &["-c", "-p", "100"],
        &["-z", "-s", "100"],
        &["-p", "app"],
        &["-p", "nothing-matches"],
        &["-p", "100", "-m", "-n"],
    ];
    // two fixtures at a time: each case runs two processes
    let all = numastat_fixtures();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let checked = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(f) = all.get(i) else { break };
                    let Some(root) = chroot_of(f, &i.to_string()) else {
                        continue;
                    };
                    let node0 = root.join("sys/devices/system/node/node0");
                    if node0.join("numastat").exists() && node0.join("meminfo").exists() {
                        let what = f.file_name().unwrap().to_string_lossy().into_owned();
                        for args in cases {
                            compare(&root, args, None, &what);
                        }
                        compare(&root, &["-n"], Some("40"), &what);
                        compare(&root, &["100", "200"], Some("60"), &what);
                        compare(&root, &[], Some("33"), &what);
                        checked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    let _ = std::fs::remove_dir_all(root);
                }
            });
        }
    });
    let checked = checked.into_inner();
    assert!(checked >= 20, "only {checked} fixtures had numastat files");
}

#[test]
fn huge_pages_of_each_size() {
    let dir = std::env::temp_dir().join(format!("numakit-numastat-huge-{}", std::process::id()));
    let node = dir.join("sys/devices/system/node/node0");
    std::fs::create_dir_all(node.join("hugepages/hugepages-2048kB")).unwrap();
    std::fs::create_dir_all(node.join("hugepages/hugepages-1048576kB")).unwrap();
    std::fs::create_dir_all(dir.join("proc/7")).unwrap();
    std::fs::write(node.join("meminfo"), "Node 0 MemTotal: 4194304 kB\nNode 0 HugePages_Total: 4\nNode 0 HugePages_Free: 4\nNode 0 HugePages_Surp: 0\n").unwrap();
    for (d, n) in [("hugepages-2048kB", 4), ("hugepages-1048576kB", 2)] {
        let p = node.join("hugepages").join(d);
        std::fs::write(p.join("nr_hugepages"), format!("{n}\n")).unwrap();
        std::fs::write(p.join("free_hugepages"), format!("{n}\n")).unwrap();
        std::fs::write(p.join("surplus_hugepages"), "0\n").unwrap();
    }
    std::fs::write(
        dir.join("proc/meminfo"),
        "MemTotal: 4194304 kB\nHugepagesize: 2048 kB\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("proc/7/numa_maps"),
        "7f0000000000 default file=/mnt/huge1g/w huge dirty=1 N0=1 kernelpagesize_kB=1048576\n7f0080000000 default file=/anon_hugepage huge dirty=2 N0=2 kernelpagesize_kB=2048\n",
    )
    .unwrap();
    std::fs::write(dir.join("proc/7/status"), "Name:\tw\n").unwrap();
    let o = Command::new(bin())
        .args(["numastat", "-p", "7"])
        .env("NUMAKIT_ROOT", &dir)
        .output()
        .unwrap();
    let s = text(&o.stdout);
    // 1 GiB + 2 × 2 MiB, not 3 × 2 MiB
    assert!(
        s.contains("Huge                      1028.00         1028.00"),
        "{s}"
    );
    let o = Command::new(bin())
        .args(["numastat", "-m"])
        .env("NUMAKIT_ROOT", &dir)
        .output()
        .unwrap();
    let s = text(&o.stdout);
    // 4 × 2 MiB + 2 × 1 GiB
    assert!(
        s.contains("HugePages_Total          2056.00         2056.00"),
        "{s}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A sleeping child whose mappings do not change while both tools read them.
struct Sleeper(std::process::Child);
impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
fn sleeper() -> Sleeper {
    let c = Command::new("sleep").arg("60").spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    Sleeper(c)
}

#[test]
fn live_processes_byte_for_byte() {
    if !Path::new(REAL).exists() {
        eprintln!("skipped: {REAL} is not installed");
        return;
    }
    let (a, b) = (sleeper(), sleeper());
    let (pa, pb) = (a.0.id().to_string(), b.0.id().to_string());
    for args in [
        vec!["-p", &pa],
        vec![&pa, &pb],
        vec!["-v", &pa, &pb],
        vec!["-c", "-s", &pa, &pb],
        vec!["-x"],
        vec!["-p"],
    ] {
        let r = Command::new(REAL)
            .arg0("numastat")
            .args(&args)
            .env_remove("NUMASTAT_WIDTH")
            .output()
            .unwrap();
        let o = Command::new(bin())
            .arg("numastat")
            .args(&args)
            .env_remove("NUMASTAT_WIDTH")
            .env_remove("NUMAKIT_ROOT")
            .output()
            .unwrap();
        assert_eq!(text(&o.stdout), text(&r.stdout), "{args:?}");
        assert_eq!(text(&o.stderr), text(&r.stderr), "{args:?}");
        assert_eq!(o.status.code(), r.status.code(), "{args:?}");
    }
}

#[test]
fn invoked_through_a_symlink() {
    let dir = std::env::temp_dir().join(format!("numakit-numastat-link-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("numastat");
    let _ = std::os::unix::fs::symlink(bin(), &link);
    let o = Command::new(&link)
        .arg0("numastat")
        .arg("-?")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).starts_with("Usage: numastat [-c] [-m]"),
        "{}",
        text(&o.stderr)
    );
    let o = Command::new(&link)
        .arg0("numastat")
        .arg("-V")
        .output()
        .unwrap();
    assert!(text(&o.stdout).starts_with("numastat version: 20130723: "));
    let o = Command::new(&link)
        .arg0("numastat")
        .env("NUMAKIT_ROOT", fixtures().join("qemu-2node/sysfs.tar.gz"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(
        text(&o.stdout).starts_with("                           node0           node1\nnuma_hit ")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn last_unreadable_process_keeps_the_table() {
    let root = fixtures().join("qemu-2node/sysfs.tar.gz");
    let o = Command::new(bin())
        .args(["numastat", "1", "2"])
        .env("NUMAKIT_ROOT", &root)
        .output()
        .unwrap();
    let s = text(&o.stdout);
    assert!(
        s.contains("1 ((null))                   0.00            0.00            0.00\n"),
        "{s}"
    );
    assert!(s.contains("2 ((null))"));
    assert_eq!(
        text(&o.stderr),
        "Can't read /proc/1/numa_maps: No such file or directory\nCan't read /proc/2/numa_maps: No such file or directory\n"
    );
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn bad_roots() {
    let o = Command::new(bin())
        .args(["numastat", "-m"])
        .env("NUMAKIT_ROOT", "/nonexistent-root")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr)
            .starts_with("numastat: NUMAKIT_ROOT: root '/nonexistent-root' does not exist")
    );
    // a root of a machine without sysfs (proc/ only): numastat's own messages
    let empty = std::env::temp_dir().join(format!("numakit-numastat-empty-{}", std::process::id()));
    std::fs::create_dir_all(empty.join("proc")).unwrap();
    let o = Command::new(bin())
        .args(["numastat", "-m"])
        .env("NUMAKIT_ROOT", &empty)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr),
        "Couldn't open /sys/devices/system/node: No such file or directory\n"
    );
    let o = Command::new(bin())
        .arg("numastat")
        .env("NUMAKIT_ROOT", &empty)
        .output()
        .unwrap();
    assert_eq!(
        text(&o.stderr),
        "sysfs not mounted or system not NUMA aware: No such file or directory\n"
    );
    std::fs::remove_dir_all(&empty).unwrap();
}
