//! `numakit topo --hardware` is byte for byte `numactl --hardware` of
//! numactl 2.0.19.
//!
//! The expected text is built here, independently of the renderer, from the
//! snapshot's files as numactl 2.0.19 and libnuma read them (see
//! [`numactl_hardware`]). On this machine the output is also compared with
//! the installed `numactl`, converting an older numactl's distance widths
//! (`% 3d`, `node ` header) to 2.0.19's (`% 4d`, `node  `).

mod common;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fixtures, run};

use numakit_root::Root;

/// The leading number of `s` as C's `strtoul(s, &end, 0)` reads it after
/// blanks; `None` when no digit was consumed (`s == end`).
fn strtoul(s: &str) -> (Option<u64>, &str) {
    let t = s.trim_start();
    let (radix, body) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, h)
    } else if t.starts_with('0') && t.len() > 1 {
        (8, &t[1..])
    } else {
        (10, t)
    };
    let n = body
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(body.len());
    if n == 0 {
        // "0" alone, or "0x" with no hex digits, still reads as 0
        return match t.strip_prefix('0') {
            Some(rest) => (Some(0), rest),
            None => (None, s),
        };
    }
    (u64::from_str_radix(&body[..n], radix).ok(), &body[n..])
}

/// `numactl --hardware` as numactl 2.0.19 prints it, from the files of
/// `root`, following libnuma's reading of them:
/// - nodes: every `nodeN` entry of `/sys/devices/system/node`;
/// - CPUs: the bits of `nodeN/cpumap` (a comma-separated hex mask);
/// - size/free: the `MemTotal`/`MemFree` kB values of `nodeN/meminfo`,
///   shifted to MB; size `<not available>` and free `0 MB` without the file;
/// - distances: the i-th number of `nodeN/distance` goes to the i-th
///   existing node; reading stops at the first token that is not a number;
///   `% 4d` columns under a `node  ` header, or "No distance information
///   available." when the distance from the highest to the first node is 0.
fn numactl_hardware(root: &Root) -> String {
    let dir = "/sys/devices/system/node";
    let mut nodes: Vec<u32> = root
        .read_dir(dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n.strip_prefix("node")?.parse().ok())
        .collect();
    nodes.sort();
    if !root.is_dir(dir) {
        // libnuma's numa_available() fails on a kernel without NUMA
        return "No NUMA available on this system\n".into();
    }
    let maxnode = nodes.last().copied().unwrap_or(0);
    let mut o = String::new();
    // available: K nodes (a-b,c)
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for &n in &nodes {
        match ranges.last_mut() {
            Some((_, hi)) if *hi + 1 == n => *hi = n,
            _ => ranges.push((n, n)),
        }
    }
    let list: Vec<String> = ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    writeln!(o, "available: {} nodes ({})", nodes.len(), list.join(",")).unwrap();
    for &n in &nodes {
        let base = format!("{dir}/node{n}");
        write!(o, "node {n} cpus:").unwrap();
        if let Ok(mask) = root.read_to_string(&format!("{base}/cpumap")) {
            let mask = mask.trim_matches(|c: char| c.is_whitespace() || c == '\0');
            let mut bit = 0u32;
            let mut cpus = Vec::new();
            for word in mask.rsplit(',') {
                let v = u64::from_str_radix(word, 16).expect("cpumap word");
                for b in 0..word.len() as u32 * 4 {
                    if v >> b & 1 == 1 {
                        cpus.push(bit + b);
                    }
                }
                bit += word.len() as u32 * 4;
            }
            cpus.sort();
            for c in cpus {
                write!(o, " {c}").unwrap();
            }
            o.push('\n');
        }
        let (mut size, mut free) = (None, Some(0u64));
        if let Ok(mi) = root.read_to_string(&format!("{base}/meminfo")) {
            for line in mi.lines() {
                let kb = |key: &str| -> Option<u64> {
                    let rest = line.split_once(key)?.1;
                    let v = rest.trim_start_matches(':').split_whitespace().next()?;
                    v.parse::<u64>().ok().map(|k| k << 10)
                };
                if line.contains("MemTotal") {
                    size = kb("MemTotal");
                }
                if line.contains("MemFree") {
                    free = kb("MemFree");
                }
            }
        }
        let mb = |v: Option<u64>| match v {
            Some(b) => format!("{} MB", b >> 20),
            None => "<not available>".into(),
        };
        writeln!(o, "node {n} size: {}", mb(size)).unwrap();
        writeln!(o, "node {n} free: {}", mb(free)).unwrap();
    }
    let mut dist: BTreeMap<(u32, u32), u64> = BTreeMap::new();
    for &n in &nodes {
        let Ok(row) = root.read_to_string(&format!("{dir}/node{n}/distance")) else {
            continue;
        };
        let mut s = row.as_str();
        for &to in &nodes {
            let (v, rest) = strtoul(s);
            let Some(v) = v else { break };
            dist.insert((n, to), v);
            s = rest;
        }
    }
    let d = |a: u32, b: u32| dist.get(&(a, b)).copied().unwrap_or(0);
    let fst = nodes.first().copied().unwrap_or(0);
    if d(maxnode, fst) == 0 {
        o.push_str("No distance information available.\n");
        return o;
    }
    // C's `% 4d`: a blank where a `+` would go, then right-aligned in 4
    let c4 = |v: i64| {
        let s = if v < 0 {
            v.to_string()
        } else {
            format!(" {v}")
        };
        format!("{s:>4}")
    };
    o.push_str("node distances:\nnode  ");
    for &n in &nodes {
        write!(o, "{} ", c4(n.into())).unwrap();
    }
    o.push('\n');
    for &a in &nodes {
        write!(o, "{}: ", c4(a.into())).unwrap();
        for &b in &nodes {
            // libnuma keeps distances in an int
            write!(o, "{} ", c4((d(a, b) as u32 as i32).into())).unwrap();
        }
        o.push('\n');
    }
    o
}

/// Shows both texts in full when they differ.
fn assert_same(what: &str, expected: &str, got: &str) {
    if expected != got {
        panic!("{what}: output differs\n--- expected\n{expected}--- numakit\n{got}---");
    }
}

#[test]
fn vm_snapshots_and_hwloc_fixtures_match_the_numactl_format() {
    let f = fixtures();
    let mut roots: Vec<PathBuf> = ["qemu-2node", "qemu-3node-hmat", "qemu-gpuserver"]
        .iter()
        .map(|d| f.join(d).join("sysfs.tar.gz"))
        .collect();
    // sparse ids, an offline node 0 with a long distance row, a 0 distance,
    // asymmetric distances, CPU-less nodes, 17 and 64 nodes
    for t in [
        "256ppc-8n8s4t",
        "48amd64-4pa2n6c-sparse",
        "offline-cpu0-node0",
        "8ia64-2s2c2t",
        "fakeheterocpunuma",
        "fakememinitiators-1np2c+1npp+gi",
        "128ia64-17n4s2c",
        "256ia64-64n2s2c",
        "16amd64-8n2c-cpusets",
        "v2.x/4ia64-4s",
        "v2.x/8em64t-4c2t",
        "2arm-2c",
        "20s390-2g6s4c",
    ] {
        roots.push(f.join("hwloc-linux").join(format!("{t}.tar.bz2")));
    }
    let mut failures = Vec::new();
    for r in &roots {
        let root = Root::open(r).expect("fixture opens");
        let expected = numactl_hardware(&root);
        let (code, out, err) = run(&["topo", "--hardware", "--root", r.to_str().unwrap()]);
        // numactl exits 1 when it finds no NUMA
        let want_code = if expected.starts_with("No NUMA") {
            1
        } else {
            0
        };
        if code != want_code {
            failures.push(format!("{}: exit {code}: {err}", r.display()));
        } else if out != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}--- numakit\n{out}---",
                r.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The expected-text builder itself, on a hand-made root: catches a builder
/// that agrees with the renderer for the wrong reason.
#[test]
fn expected_text_builder_on_a_known_root() {
    let dir = std::env::temp_dir().join(format!("numakit-hw-{}", std::process::id()));
    let node = dir.join("sys/devices/system/node");
    for (n, map, mem, dist) in [
        (
            0,
            "00000000,00000003\n",
            "Node 0 MemTotal: 2097152 kB\nNode 0 MemFree: 1048576 kB\n",
            "10 20 30\n",
        ),
        (
            1,
            "00000000,0000000c\n",
            "Node 1 MemTotal: 1024 kB\nNode 1 MemFree: 0 kB\n",
            "20 10 junk\n",
        ),
        (4, "0\n", "", "30 25 10\n"),
    ] {
        let d = node.join(format!("node{n}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("cpumap"), map).unwrap();
        if !mem.is_empty() {
            std::fs::write(d.join("meminfo"), mem).unwrap();
        }
        std::fs::write(d.join("distance"), dist).unwrap();
    }
    let root = Root::open(&dir).unwrap();
    let text = numactl_hardware(&root);
    let want = "available: 3 nodes (0-1,4)
node 0 cpus: 0 1
node 0 size: 2048 MB
node 0 free: 1024 MB
node 1 cpus: 2 3
node 1 size: 1 MB
node 1 free: 0 MB
node 4 cpus:
node 4 size: <not available>
node 4 free: 0 MB
node distances:
node     0    1    4 
   0:   10   20   30 
   1:   20   10    0 
   4:   30   25   10 
";
    assert_same("builder", want, &text);
    let (code, out, err) = run(&["topo", "--hardware", "--root", dir.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 0, "{err}");
    assert_same("numakit on the hand-made root", want, &out);
}

/// numactl before 2.0.19 prints distances with `% 3d` under `node `; 2.0.19
/// with `% 4d` under `node  `. Rewrites only the header and distance rows.
fn distances_to_2_0_19(text: &str) -> String {
    let mut out = String::new();
    let mut in_dist = false;
    for line in text.lines() {
        if line == "node distances:" {
            in_dist = true;
            out.push_str(line);
        } else if in_dist && line.starts_with("node ") {
            out.push_str("node  ");
            for t in line["node ".len()..].split_whitespace() {
                write!(out, "{t:>4} ").unwrap();
            }
        } else if in_dist && line.contains(':') {
            let (head, rest) = line.split_once(':').unwrap();
            write!(out, "{:>4}: ", head.trim()).unwrap();
            for t in rest.split_whitespace() {
                write!(out, "{t:>4} ").unwrap();
            }
        } else {
            in_dist = false;
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[test]
fn distance_width_conversion() {
    let old = "available: 2 nodes (0-1)\nnode 0 cpus: 0\nnode distances:\nnode   0   1 \n  0:  10  21 \n  1:  21  10 \n";
    let new = "available: 2 nodes (0-1)\nnode 0 cpus: 0\nnode distances:\nnode     0    1 \n   0:   10   21 \n   1:   21   10 \n";
    assert_eq!(distances_to_2_0_19(old), new);
    assert_eq!(distances_to_2_0_19(new), new, "2.0.19 text is kept");
}

/// Splits out `node N free: M MB` lines, which change between two runs.
fn split_free(text: &str) -> (String, Vec<(String, i64)>) {
    let mut rest = String::new();
    let mut free = Vec::new();
    for line in text.lines() {
        if let Some((head, v)) = line.split_once(" free: ")
            && let Some(mb) = v.strip_suffix(" MB").and_then(|m| m.parse().ok())
        {
            free.push((head.to_string(), mb));
            continue;
        }
        rest.push_str(line);
        rest.push('\n');
    }
    (rest, free)
}

#[test]
fn live_machine_matches_installed_numactl() {
    // Built independently from this machine's sysfs.
    let (code, _, err) = run(&["topo", "--hardware"]);
    assert_eq!(code, 0, "{err}");
    let Some(numactl) = ["/usr/bin/numactl", "/usr/local/bin/numactl", "/bin/numactl"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
    else {
        eprintln!("skipped: numactl is not installed");
        return;
    };
    // Free memory moves between runs: retry, and allow a small drift.
    let mut last = String::new();
    for _ in 0..5 {
        let real = Command::new(numactl)
            .arg("--hardware")
            .output()
            .expect("run numactl");
        if !real.status.success() {
            eprintln!(
                "skipped: numactl --hardware failed: {}",
                String::from_utf8_lossy(&real.stderr)
            );
            return;
        }
        let (_, ours, _) = run(&["topo", "--hardware"]);
        let theirs = distances_to_2_0_19(&String::from_utf8_lossy(&real.stdout));
        let (a, fa) = split_free(&theirs);
        let (b, fb) = split_free(&ours);
        let close = fa.len() == fb.len()
            && fa
                .iter()
                .zip(&fb)
                .all(|((ha, va), (hb, vb))| ha == hb && (va - vb).abs() <= 64);
        if a == b && close {
            // And the independent builder agrees with numakit exactly
            // (free lines aside, which it reads at another moment).
            let (c, _) = split_free(&numactl_hardware(&Root::live()));
            assert_same("builder on the live root", &c, &b);
            return;
        }
        last = format!("--- numactl (widths converted)\n{theirs}--- numakit\n{ours}---");
    }
    panic!("numakit topo --hardware differs from numactl --hardware:\n{last}");
}
