//! numactl compatibility, end to end: `numakit numactl ...` and a symlink
//! named `numactl` against the numactl installed at `/usr/bin/numactl`.
//!
//! The reference here is whatever numactl the machine has (Debian's 2.0.16
//! where these tests were written), while numakit follows 2.0.19. Only
//! behaviour the two versions share is compared byte for byte; where they
//! differ, the test converts or states the 2.0.19 form explicitly:
//! - the usage text: 2.0.19 added `--weighted-interleave`, `--cpu-compress`
//!   and `--version` lines, so usage is compared to [`USAGE_2_0_19`] and the
//!   text before it to numactl's;
//! - `--hardware` distances: 2.0.16 prints `node ` and `% 3d`, 2.0.19
//!   `node  ` and `% 4d` ([`distances_as_2_0_19`]);
//! - `--show`: both print the same lines for default, bind, interleave,
//!   preferred, preferred-many and local (including the trailing
//!   `preferred:` mask line); weighted-interleave only exists in 2.0.19 and
//!   is checked against the 2.0.19 rules (`policy: weighted-interleave`, no
//!   line end after `preferred node: `);
//! - getopt's messages name the program as invoked, so both run as `numactl`.
//!
//! Tests that need `/usr/bin/numactl` say so and pass without it.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const REAL: &str = "/usr/bin/numactl";

/// numactl 2.0.19's usage text.
const USAGE_2_0_19: &str = "\
usage: numactl [--all | -a] [--balancing | -b]
               [--interleave= | -i <nodes>] [--weighted-interleave= | -w <nodes>]
               [--preferred= | -p <node>] [--preferred-many= | -P <nodes>]
               [--physcpubind= | -C <cpus>] [--cpunodebind= | -N <nodes>]
               [--membind= | -m <nodes>] [--localalloc | -l] command args ...
               [--localalloc | -l] command args ...
       numactl [--show | -s]
       numactl [--hardware | -H] [--cpu-compress]
       numactl [--version]
       numactl [--length | -L <length>] [--offset | -o <offset>] [--shmmode | -M <shmmode>]
               [--strict | -t]
               [--shmid | -I <id>] --shm | -S <shmkeyfile>
               [--shmid | -I <id>] --file | -f <tmpfsfile>
               [--huge | -u] [--touch | -T] 
               memory policy [--dump | -d] [--dump-nodes | -D]

memory policy is --preferred | -p, --membind | -m, --localalloc | -l,
                 --interleave | -i, --weighted-interleave | -w
<nodes> is a comma delimited list of node numbers or A-B ranges or all.
Instead of a number a node can also be:
  netdev:DEV the node connected to network device DEV
  file:PATH  the node the block device of path is connected to
  ip:HOST    the node of the network device host routes through
  block:PATH the node of block device path
  pci:[seg:]bus:dev[:func] The node of a PCI device
<cpus> is a comma delimited list of cpu numbers or A-B ranges or all
all ranges can be inverted with !
all numbers and ranges can be made cpuset-relative with +
the old --cpubind argument is deprecated.
use --cpunodebind or --physcpubind instead
use --balancing | -b to enable Linux kernel NUMA balancing
for the process if it is supported by kernel
<length> can have g (GB), m (MB) or k (KB) suffixes
";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_numakit")
}

/// A directory holding a symlink named `numactl` to the numakit binary.
fn symlink_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("numakit-numactl-compat-{}", std::process::id()));
    let link = dir.join("numactl");
    if !link.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::os::unix::fs::symlink(bin(), &link);
    }
    dir
}

/// numakit through the `numactl` symlink, invoked as `numactl`.
fn ours(args: &[&str]) -> Output {
    Command::new(symlink_dir().join("numactl"))
        .arg0("numactl")
        .args(args)
        .env_remove("NUMAKIT_ROOT")
        .output()
        .unwrap()
}

/// `numakit numactl ARGS`.
fn ours_sub(args: &[&str]) -> Output {
    Command::new(bin())
        .arg("numactl")
        .args(args)
        .env_remove("NUMAKIT_ROOT")
        .output()
        .unwrap()
}

fn real_available() -> bool {
    let ok = Path::new(REAL).exists();
    if !ok {
        eprintln!("skipped: {REAL} is not installed");
    }
    ok
}

fn real(args: &[&str]) -> Output {
    Command::new(REAL)
        .arg0("numactl")
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// stderr split where numactl's usage text starts: (before, usage).
fn split_usage(stderr: &[u8]) -> (String, Option<String>) {
    let s = text(stderr);
    match s.find("usage: numactl") {
        Some(i) => (s[..i].to_string(), Some(s[i..].to_string())),
        None => (s, None),
    }
}

/// Compares one invocation: exit status and stdout exactly, stderr exactly
/// up to the usage text; the usage text must be 2.0.19's when numactl prints
/// usage at all.
fn same_as_real(args: &[&str]) {
    let want = real(args);
    let got = ours(args);
    assert_eq!(
        got.status.code(),
        want.status.code(),
        "{args:?}: exit status"
    );
    assert_eq!(text(&got.stdout), text(&want.stdout), "{args:?}: stdout");
    let (want_err, want_usage) = split_usage(&want.stderr);
    let (got_err, got_usage) = split_usage(&got.stderr);
    assert_eq!(got_err, want_err, "{args:?}: stderr before the usage text");
    match want_usage {
        Some(_) => assert_eq!(got_usage.as_deref(), Some(USAGE_2_0_19), "{args:?}: usage"),
        None => assert_eq!(got_usage, None, "{args:?}: no usage"),
    }
}

#[test]
fn show_is_byte_for_byte_under_each_policy() {
    if !real_available() {
        return;
    }
    let link = symlink_dir().join("numactl");
    let link = link.to_str().unwrap();
    let policies: &[&[&str]] = &[
        &[],
        &["--membind=0"],
        &["-m", "0"],
        &["--interleave=all"],
        &["--preferred=0"],
        &["--localalloc"],
        &["--preferred-many=0"],
        &["--cpunodebind=0"],
        &["--physcpubind=0"],
        &["-m0", "-C", "all"],
        &["-a", "-i", "0"],
    ];
    for p in policies {
        // Each tool sets the policy and shows it: numactl ... numactl --show
        // against numakit-as-numactl ... numakit-as-numactl --show.
        let mut ra: Vec<&str> = p.to_vec();
        ra.extend([REAL, "--show"]);
        let want = real(&ra);
        if !want.status.success() {
            eprintln!("skipped {p:?}: numactl says {}", text(&want.stderr));
            continue;
        }
        let mut oa: Vec<&str> = p.to_vec();
        oa.extend([link, "--show"]);
        let got = ours(&oa);
        assert_eq!(text(&got.stdout), text(&want.stdout), "{p:?}");
        assert_eq!(got.status.code(), Some(0), "{p:?}: {}", text(&got.stderr));
        // numactl sets, numakit shows: the same again.
        let mut mixed: Vec<&str> = p.to_vec();
        mixed.extend([link, "--show"]);
        let cross = real(&mixed);
        assert_eq!(
            text(&cross.stdout),
            text(&want.stdout),
            "{p:?} (numactl sets)"
        );
        // -s after the options shows the policy just set, too.
        let mut inline: Vec<&str> = p.to_vec();
        inline.push("-s");
        assert_eq!(
            text(&ours(&inline).stdout),
            text(&real(&inline).stdout),
            "{p:?} -s"
        );
    }
}

#[test]
fn show_weighted_interleave_follows_2_0_19() {
    let link = symlink_dir().join("numactl");
    let out = ours(&["--weighted-interleave=0", link.to_str().unwrap(), "--show"]);
    if !out.status.success() {
        // A kernel before 6.9: a clear one-line refusal, status 1.
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).starts_with("numactl: "),
            "{}",
            text(&out.stderr)
        );
        return;
    }
    let s = text(&out.stdout);
    assert!(
        s.starts_with("policy: weighted-interleave\npreferred node: physcpubind: "),
        "{s}"
    );
    assert!(s.ends_with("preferred: 0 \n"), "{s}");
}

#[test]
fn invalid_specs_and_misuse_match_numactl() {
    if !real_available() {
        return;
    }
    let cases: &[&[&str]] = &[
        &["-m", "5", "true"],
        &["-m", "0-5", "true"],
        &["-m", "1-0", "true"],
        &["-m", "x", "true"],
        &["-m", "0,", "true"],
        &["-m", "all,0", "true"],
        &["-m", "+1", "true"],
        &["-m", "-1", "true"],
        &["-m", "0x", "true"],
        &["-N", "3", "true"],
        &["-C", "4096", "true"],
        &["-C", "0-4096", "true"],
        &["-C", "x", "true"],
        &["-p", "0-1", "true"],
        &["-m", "same", "true"],
        &["-m", "0", "-m", "0", "true"],
        &["-i", "0", "-m", "0", "true"],
        &["-m", "0", "-a", "true"],
        &["-m0", "-b", "true"],
        &["-m0", "-H"],
        &["--length", "1M", "true"],
        &["-o", "1", "-N", "0", "true"],
        &["-d", "true"],
        &["-D", "true"],
        &["-T", "true"],
        &["-M", "8", "true"],
        &["-I", "x", "true"],
        &["-x"],
        &["--foo=1"],
        &["--pre=0", "true"],
        &["--show=1"],
        &["--membind"],
        &["-m"],
        &["-m", "0", "/nonexistent/command"],
        &["-m", "0", "nosuch-command-numakit"],
        &["-m", "0", "/etc/passwd"],
        &[],
        &["-m", "0"],
    ];
    for c in cases {
        same_as_real(c);
    }
}

#[test]
fn accepted_forms_match_numactl() {
    if !real_available() {
        return;
    }
    let cases: &[&[&str]] = &[
        &["-m", "0", "true"],
        &["-m0", "true"],
        &["--membind", "0", "true"],
        &["--membind=0", "true"],
        &["--mem=0", "true"],
        &["--inter=all", "true"],
        &["-m", "+0", "true"],
        &["-m", " 0", "true"],
        &["-m", "0x0", "true"],
        &["-m", "0", "-N", "same", "true"],
        &["-a", "-m", "0", "true"],
        &["-p", "0,0", "true"],
        &["-C", "!0", "true"],
        &["-i", "", "true"],
        &["-I", "0x1", "true"],
        &["-b", "-m", "0", "true"],
        &["--cpubind", "0", "true"],
        &["-t", "true"],
        &["-m", "0", "--", "true"],
        &["-l", "sh", "-c", "exit 3"],
    ];
    for c in cases {
        same_as_real(c);
    }
}

/// 2.0.16 prints distances with `% 3d` under `node `; 2.0.19 with `% 4d`
/// under `node  `. Converts exactly those lines of `numactl --hardware`.
fn distances_as_2_0_19(s: &str) -> String {
    let mut out = String::new();
    let mut in_distances = false;
    for line in s.lines() {
        if line == "node distances:" {
            in_distances = true;
            out.push_str(line);
        } else if in_distances && line.starts_with("node ") {
            out.push_str("node  ");
            for n in line["node ".len()..].split_whitespace() {
                out.push_str(&format!("{:4} ", n.parse::<i32>().unwrap()));
            }
        } else if in_distances {
            let (node, rest) = line.split_once(':').unwrap();
            out.push_str(&format!("{:4}: ", node.trim().parse::<i32>().unwrap()));
            for d in rest.split_whitespace() {
                out.push_str(&format!("{:4} ", d.parse::<i32>().unwrap()));
            }
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Free memory moves between two runs.
fn without_free(s: &str) -> String {
    s.lines()
        .filter(|l| !(l.starts_with("node ") && l.contains(" free: ")))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn hardware_is_byte_for_byte_with_2_0_19_distances() {
    assert_eq!(
        distances_as_2_0_19("node distances:\nnode   0   1 \n  0:  10  20 \n  1:  20  10 \n"),
        "node distances:\nnode     0    1 \n   0:   10   20 \n   1:   20   10 \n"
    );
    if !real_available() {
        return;
    }
    let want = real(&["--hardware"]);
    let got = ours(&["--hardware"]);
    assert_eq!(got.status.code(), want.status.code());
    assert_eq!(
        without_free(&text(&got.stdout)),
        without_free(&distances_as_2_0_19(&text(&want.stdout)))
    );
    let h = ours(&["-H"]);
    assert_eq!(
        without_free(&text(&h.stdout)),
        without_free(&text(&got.stdout))
    );
    // --cpu-compress is 2.0.19's: CPU lists as ranges with a count.
    let c = text(&ours(&["--hardware", "--cpu-compress"]).stdout);
    assert!(
        c.lines().any(|l| l.contains(" cpus: ") && l.ends_with(')')),
        "{c}"
    );
}

#[test]
fn version_is_2_0_19() {
    let out = ours(&["--version"]);
    assert_eq!(text(&out.stdout), "2.0.19\n");
    assert_eq!(out.status.code(), Some(0));
    // After a policy it is "specify policy after --shm/--file", as in 2.0.19.
    let out = ours(&["-m", "0", "--version"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("numactl: specify policy after --shm/--file"));
}

#[test]
fn usage_without_a_command() {
    let out = ours(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(text(&out.stderr), USAGE_2_0_19);
}

#[test]
fn symlink_and_subcommand_behave_the_same() {
    for args in [
        &["--show"][..],
        &["-m", "9", "true"],
        &["-m", "0", "-m", "0", "true"],
        &["--version"],
        &["-x"],
        &["-m", "0", "sh", "-c", "echo hi; exit 4"],
    ] {
        let a = ours(args);
        let b = ours_sub(args);
        assert_eq!(a.status.code(), b.status.code(), "{args:?}");
        assert_eq!(a.stdout, b.stdout, "{args:?}");
        assert_eq!(a.stderr, b.stderr, "{args:?}");
    }
    let a = ours(&["-m", "0", "sh", "-c", "echo hi; exit 4"]);
    assert_eq!(a.status.code(), Some(4));
    assert_eq!(text(&a.stdout), "hi\n");
}

/// Reads a field of /proc/self/status as printed by `cat` under numakit.
fn status_field(args: &[&str], field: &str) -> Option<String> {
    let mut a = args.to_vec();
    a.extend(["cat", "/proc/self/status"]);
    let out = ours_sub(&a);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_string()))
}

#[test]
fn real_placements_on_this_machine() {
    assert_eq!(
        status_field(&["--membind=0"], "Mems_allowed_list:").as_deref(),
        Some("0")
    );
    let out = Command::new(bin())
        .args(["numactl", "--membind=0", bin(), "numactl", "--show"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.starts_with("policy: bind\npreferred node: 0\n"), "{s}");
    assert!(s.contains("\nmembind: 0 \n"), "{s}");
    let out = Command::new(bin())
        .args(["numactl", "--physcpubind=0", bin(), "numactl", "--show"])
        .output()
        .unwrap();
    assert!(text(&out.stdout).contains("\nphyscpubind: 0 \n"));
    assert_eq!(
        status_field(&["--physcpubind=0"], "Cpus_allowed_list:").as_deref(),
        Some("0")
    );
}

/// [`same_as_real`] with arguments that need not be UTF-8.
fn same_as_real_os(args: &[std::ffi::OsString]) {
    let want = Command::new(REAL)
        .arg0("numactl")
        .args(args)
        .output()
        .unwrap();
    let got = Command::new(symlink_dir().join("numactl"))
        .arg0("numactl")
        .args(args)
        .env_remove("NUMAKIT_ROOT")
        .output()
        .unwrap();
    assert_eq!(
        got.status.code(),
        want.status.code(),
        "{args:?}: exit status"
    );
    assert_eq!(got.stdout, want.stdout, "{args:?}: stdout");
    let cut = |b: &[u8]| -> Vec<u8> {
        let i = b
            .windows(14)
            .position(|w| w == b"usage: numactl")
            .unwrap_or(b.len());
        b[..i].to_vec()
    };
    assert_eq!(cut(&got.stderr), cut(&want.stderr), "{args:?}: stderr");
}

/// The first name in a sysfs folder of this machine, if any.
fn first_in(dir: &str) -> Option<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v.into_iter().next()
}

/// Issue 15: device forms (a device whose `numa_node` is -1 or missing, a
/// network device without a PCI device such as `lo`), empty sets for each
/// option, `--` before the options, and raw bytes in arguments all behave
/// as numactl does: same exit status, same stdout, same stderr.
#[test]
fn issue15_devices_empty_sets_and_raw_bytes_match_numactl() {
    if !real_available() {
        return;
    }
    let mut cases: Vec<Vec<String>> = [
        &["--membind=netdev:lo", "true"][..],
        &["--membind=netdev:nosuch", "true"],
        &["--membind=netdev:a.b", "true"],
        &["--membind=file:/", "true"],
        &["--membind=file:/nonexistent", "true"],
        &["--membind=pci:zz", "true"],
        &["--cpunodebind=pci:0000:ff:1f.7", "true"],
        &["--membind=", "true"],
        &["-m", "", "true"],
        &["-P", "", "true"],
        &["-N", "", "true"],
        &["-C", "", "true"],
        &["--cpubind=", "true"],
        &["-i", "", "true"],
        &["--", "-m", "0", "true"],
    ]
    .iter()
    .map(|c| c.iter().map(|s| s.to_string()).collect())
    .collect();
    if let Some(net) = first_in("/sys/class/net") {
        cases.push(vec![format!("--membind=netdev:{net}"), "true".into()]);
    }
    if let Some(block) = first_in("/sys/class/block") {
        cases.push(vec![format!("--membind=block:{block}"), "true".into()]);
    }
    if let Some(pci) = first_in("/sys/bus/pci/devices") {
        cases.push(vec![format!("--membind=pci:{pci}"), "true".into()]);
        cases.push(vec![
            format!("-N"),
            format!("pci:{}", &pci[5..]),
            "true".into(),
        ]);
    }
    for c in &cases {
        let c: Vec<&str> = c.iter().map(String::as_str).collect();
        same_as_real(&c);
    }
    use std::os::unix::ffi::OsStringExt;
    let raw = |b: &[u8]| std::ffi::OsString::from_vec(b.to_vec());
    for c in [
        vec![raw(b"-m"), raw(b"\xff"), raw(b"true")],
        vec![raw(b"--\xff"), raw(b"true")],
        vec![raw(b"-\xff"), raw(b"true")],
        vec![raw(b"-m"), raw(b"0"), raw(b"\xfftrue")],
        vec![raw(b"--membind=netdev:\xff"), raw(b"true")],
        vec![raw(b"-C"), raw(b"0-\xff"), raw(b"true")],
    ] {
        same_as_real_os(&c);
    }
    // `numakit numactl --` passes the `--` on, as the symlink does
    let sub = ours_sub(&["--", "-m", "0", "true"]);
    let want = real(&["--", "-m", "0", "true"]);
    assert_eq!(sub.status.code(), want.status.code());
    assert_eq!(sub.stderr, want.stderr);
}

const MIGRATEPAGES: &str = "/usr/bin/migratepages";

/// Runs a migratepages: the real one or numakit's, by subcommand.
fn migratepages(real: bool, args: &[&[u8]]) -> Output {
    use std::os::unix::ffi::OsStrExt;
    let mut c = if real {
        let mut c = Command::new(MIGRATEPAGES);
        c.arg0("migratepages");
        c
    } else {
        let mut c = Command::new(bin());
        c.arg("migratepages");
        c
    };
    c.args(args.iter().map(|a| std::ffi::OsStr::from_bytes(a)))
        .env_remove("NUMAKIT_ROOT")
        .output()
        .unwrap()
}

/// Issue 15: migratepages' operands and options as the real tool reads
/// them: pid 0 (the caller), an empty node list, `--`, options anywhere,
/// hex pids, bad specifications; and what the kernel says.
#[test]
fn issue15_migratepages_matches_the_real_tool() {
    if !Path::new(MIGRATEPAGES).exists() {
        eprintln!("skipped: {MIGRATEPAGES} is not installed");
        return;
    }
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id().to_string();
    let hex = format!("0x{:x}", child.id());
    let p = pid.as_bytes();
    let cases: Vec<Vec<&[u8]>> = vec![
        vec![b"0", b"0", b"0"],
        vec![p, b"", b"0"],
        vec![p, b"0", b""],
        vec![b"--", p, b"0", b"0"],
        vec![p, b"0", b"0", b"-h"],
        vec![b"-x", p, b"0", b"0"],
        vec![b"--foo", p, b"0", b"0"],
        vec![b"--he", p, b"0", b"0"],
        vec![b"--help=1", p, b"0", b"0"],
        vec![hex.as_bytes(), b"0", b"0"],
        vec![p, b"0", b"9"],
        vec![p, b"0", b"\xff"],
        vec![b"12,1", b"0", b"0"],
        vec![p, b"0"],
        vec![b"999999999", b"0", b"0"],
    ];
    for c in &cases {
        let want = migratepages(true, c);
        let got = migratepages(false, c);
        assert_eq!(got.status.code(), want.status.code(), "{c:?}: exit");
        assert_eq!(got.stdout, want.stdout, "{c:?}: stdout");
        assert_eq!(
            String::from_utf8_lossy(&got.stderr),
            String::from_utf8_lossy(&want.stderr),
            "{c:?}: stderr"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Issue 15: a kernel thread, a zombie, or a process that is gone: `pages`,
/// `migrate` and `migratepages` say what happened (no user memory, the
/// process exited), not that the kernel refused the mode, flags or nodes;
/// migratepages keeps the real tool's exit status.
#[test]
fn issue15_kernel_threads_and_zombies_are_named() {
    let zombie = Command::new("true").spawn().unwrap();
    let zpid = zombie.id().to_string();
    // let it exit without reaping it
    while std::fs::read_to_string(format!("/proc/{zpid}/stat")).is_ok_and(|s| !s.contains(") Z ")) {
        std::thread::yield_now();
    }
    let kthread = std::fs::read_to_string("/proc/2/stat")
        .is_ok_and(|s| s.contains("(kthreadd)"))
        .then_some("2");
    // the pid, what numakit says, what migratepages says after the errno
    let zombie_says = "it has exited (a zombie)";
    let mut cases = vec![
        (zpid.as_str(), zombie_says, zombie_says),
        ("999999999", "no process 999999999", "no such process"),
    ];
    if let Some(k) = kthread {
        let why = "it is a kernel thread, which has no user memory";
        cases.push((k, why, why));
    }
    for (pid, said, why) in cases {
        for args in [
            &["pages", pid][..],
            &["migrate", pid, "--from", "0", "--to", "0"],
        ] {
            let out = Command::new(bin()).args(args).output().unwrap();
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(
                err.starts_with("numakit: ") && err.contains(said),
                "{args:?}: {err}"
            );
            assert!(!err.contains("refused the mode"), "{err}");
        }
        let out = migratepages(false, &[pid.as_bytes(), b"0", b"0"]);
        let err = text(&out.stderr);
        if Path::new(MIGRATEPAGES).exists() {
            let want = migratepages(true, &[pid.as_bytes(), b"0", b"0"]);
            assert_eq!(out.status.code(), want.status.code(), "{pid}");
            assert!(
                err.starts_with(&text(&want.stderr).trim_end().to_string()),
                "{err}"
            );
        }
        assert!(err.to_lowercase().contains(why), "{err}");
    }
    drop(zombie);
}

/// What `numactl ARGS` does when started through `wrap` (a command line
/// that ends by running its arguments): exit status, stdout, and stderr up
/// to the usage text, for the real numactl and for numakit's.
fn both_under(wrap: &[&str], args: &[&str]) -> [(Option<i32>, String, String); 2] {
    let link = symlink_dir().join("numactl");
    let link = link.to_str().unwrap().to_string();
    let probe = ["sh", "-c", "grep Cpus_allowed_list /proc/self/status"];
    [REAL.to_string(), link].map(|prog| {
        let mut argv: Vec<&str> = wrap.to_vec();
        argv.push(&prog);
        argv.extend_from_slice(args);
        argv.extend_from_slice(&probe);
        let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
        let (err, _) = split_usage(&out.stderr);
        (out.status.code(), text(&out.stdout), err)
    })
}

/// Every option that takes CPUs or nodes, with and without `--all`.
const RESTRICTED_CASES: &[&[&str]] = &[
    &["--physcpubind=1"],
    &["-C", "1"],
    &["-C", "+1"],
    &["-C", "0-1"],
    &["-C", "all"],
    &["-C", "!0"],
    &["-C", "0"],
    &["--all", "--physcpubind=1"],
    &["-a", "-C", "0-1"],
    &["-a", "-C", "+1"],
    &["--cpunodebind=0"],
    &["-a", "-N", "0"],
    &["-N", "all"],
    &["--membind=0"],
    &["-a", "-m", "0"],
    &["--interleave=all"],
    &["--preferred=0"],
    &["-a", "--preferred-many=0"],
];

fn two_cpus() -> bool {
    let ok = std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
    if !ok {
        eprintln!("skipped: needs two CPUs");
    }
    ok
}

#[test]
fn cpu_and_node_options_under_a_restricted_affinity_match_numactl() {
    // `taskset -c 0 numactl --physcpubind=1 true`: libnuma checks CPUs
    // against the current affinity and refuses CPU 1
    if !real_available() || !two_cpus() || !Path::new("/usr/bin/taskset").exists() {
        return;
    }
    for args in RESTRICTED_CASES {
        let [want, got] = both_under(&["/usr/bin/taskset", "-c", "0"], args);
        assert_eq!(got, want, "taskset -c 0 numactl {args:?}");
    }
}

/// A cgroup v1 cpuset holding CPU 0 and node 0, removed on drop; `None`
/// where cpusets cannot be made (not root, cgroup v2 only, a container).
struct Cpuset(PathBuf);

impl Cpuset {
    fn make() -> Option<Cpuset> {
        let base = Path::new("/sys/fs/cgroup/cpuset");
        let dir = base.join(format!("numakit-compat-{}", std::process::id()));
        std::fs::create_dir(&dir).ok()?;
        let set = Cpuset(dir);
        std::fs::write(set.0.join("cpuset.cpus"), "0").ok()?;
        std::fs::write(set.0.join("cpuset.mems"), "0").ok()?;
        Some(set)
    }
}

impl Drop for Cpuset {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn cpu_and_node_options_under_a_restricted_cpuset_match_numactl() {
    if !real_available() || !two_cpus() {
        return;
    }
    let Some(set) = Cpuset::make() else {
        eprintln!("skipped: cannot make a cgroup v1 cpuset here");
        return;
    };
    let enter = format!("echo $$ > {}/tasks && exec \"$@\"", set.0.to_str().unwrap());
    for args in RESTRICTED_CASES {
        let [want, got] = both_under(&["sh", "-c", &enter, "sh"], args);
        assert_eq!(got, want, "numactl {args:?} in a cpuset of CPU 0");
    }
}
