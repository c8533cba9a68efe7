//! The exports and tools of issue 14 end to end: the NodeResourceTopology
//! object (YAML read back by a YAML parser equals the JSON form; zones,
//! costs and resources equal the model), NFD labels (the Kubernetes label
//! grammar NFD enforces; `--write` replaces the file whole), the huge page
//! listing, shell completions run in bash, manual pages checked by groff,
//! and `--version`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{numakit, run};
use serde_json::Value;

fn fixture(rel: &str) -> String {
    common::fixtures().join(rel).to_string_lossy().into_owned()
}

const MACHINES: &[&str] = &[
    "qemu-gpuserver/sysfs.tar.gz",
    "qemu-3node-hmat/sysfs.tar.gz",
    "hwloc-linux/40intel64-2g2n4c+pcilocality.tar.bz2",
    "hwloc-linux/128arm-2pa2n8cluster4co.tar.bz2",
    "hwloc-linux/fakeheteromemtiers.tar.bz2",
];

fn json(args: &[&str]) -> Value {
    let out = numakit().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn nrt_zones_are_the_nodes_with_their_distances_cpus_and_memory() {
    for m in MACHINES {
        let root = fixture(m);
        let topo = json(&["--root", &root, "topo", "--json"]);
        let nrt = json(&[
            "--root",
            &root,
            "topo",
            "--of",
            "nrt-json",
            "--node-name",
            "w1",
        ]);
        assert_eq!(nrt["apiVersion"], "topology.node.k8s.io/v1alpha2");
        assert_eq!(nrt["kind"], "NodeResourceTopology");
        assert_eq!(nrt["metadata"]["name"], "w1");
        let nodes = topo["nodes"].as_array().unwrap();
        let zones = nrt["zones"].as_array().unwrap();
        assert_eq!(zones.len(), nodes.len(), "{m}");
        for (n, z) in nodes.iter().zip(zones) {
            assert_eq!(z["name"], format!("node-{}", n["id"]), "{m}");
            assert_eq!(z["type"], "Node");
            let costs: Vec<i64> = z["costs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["value"].as_i64().unwrap())
                .collect();
            let want: Vec<i64> = n["distances"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_i64().unwrap())
                .collect();
            assert_eq!(costs, want, "{m}");
            let res = |name: &str| {
                z["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|r| r["name"] == name)
                    .map(|r| r["capacity"].as_str().unwrap().to_string())
            };
            let online = topo["cpus"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["node"] == n["id"] && c["online"] != false)
                .count();
            assert_eq!(res("cpu"), Some(online.to_string()), "{m}");
            assert_eq!(
                res("memory"),
                n["memory_total_bytes"].as_u64().map(|b| b.to_string()),
                "{m}"
            );
            for r in z["resources"].as_array().unwrap() {
                assert_eq!(r["capacity"], r["allocatable"]);
                assert_eq!(r["capacity"], r["available"]);
            }
        }
    }
}

fn pyyaml() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import yaml"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: python3 with PyYAML is not installed");
    }
    ok
}

#[test]
fn nrt_yaml_reads_back_as_the_json_object() {
    if !pyyaml() {
        return;
    }
    for m in MACHINES {
        let root = fixture(m);
        let (_, yaml, _) = run(&["--root", &root, "topo", "--of", "nrt"]);
        let (_, js, _) = run(&["--root", &root, "topo", "--of", "nrt-json"]);
        let script = "import sys, json, yaml\nprint(json.dumps(yaml.safe_load(sys.stdin)))";
        let mut child = Command::new("python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(yaml.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{m}");
        let a: Value = serde_json::from_slice(&out.stdout).unwrap();
        let b: Value = serde_json::from_str(&js).unwrap();
        assert_eq!(a, b, "{m}");
    }
}

/// The Kubernetes label grammar, written out as NFD documents it: a
/// name is `[prefix/]name`, the prefix a DNS subdomain (lower-case
/// alphanumerics and `-`, dot-separated, at most 253), the name and the
/// value at most 63 of `[A-Za-z0-9._-]`, starting and ending alphanumeric
/// (a value may be empty).
fn k8s_segment(s: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    s.len() <= 63
        && s.chars().all(ok_char)
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())
}

fn dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

#[test]
fn nfd_labels_follow_the_label_grammar_and_describe_the_machine() {
    for m in MACHINES {
        let root = fixture(m);
        let (code, out, err) = run(&["--root", &root, "nfd"]);
        assert_eq!(code, 0, "{err}");
        let topo = json(&["--root", &root, "topo", "--json"]);
        let mut names = std::collections::BTreeSet::new();
        for line in out.lines() {
            let (name, value) = line.split_once('=').unwrap_or((line, ""));
            let (prefix, short) = name.rsplit_once('/').unwrap();
            assert_eq!(prefix, "numakit.feature.node.kubernetes.io", "{line}");
            assert!(
                dns_subdomain(prefix) && k8s_segment(short),
                "{m}: name {line}"
            );
            assert!(value.is_empty() || k8s_segment(value), "{m}: value {line}");
            assert!(names.insert(name.to_string()), "{m}: {name} twice");
        }
        let label = |n: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("numakit.feature.node.kubernetes.io/{n}=")))
                .map(str::to_string)
        };
        let nodes = topo["nodes"].as_array().unwrap();
        assert_eq!(label("numa-nodes"), Some(nodes.len().to_string()), "{m}");
        for n in nodes {
            let mib = n["memory_total_bytes"]
                .as_u64()
                .map(|b| (b >> 20).to_string());
            assert_eq!(label(&format!("node-{}.memory-mib", n["id"])), mib, "{m}");
        }
    }
}

#[test]
fn nfd_write_replaces_the_feature_file_whole() {
    let dir = std::env::temp_dir().join(format!("numakit-nfd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("numakit"), "stale=1\n").unwrap();
    let root = fixture(MACHINES[0]);
    let d = dir.to_string_lossy().into_owned();
    let (code, out, err) = run(&["--root", &root, "nfd", "--write", &d]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    let (_, printed, _) = run(&["--root", &root, "nfd"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("numakit")).unwrap(),
        printed
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["numakit"], "no temporary file left");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hugepages_listing_is_the_model_s_pools() {
    let root = fixture("hwloc-linux/2i386-2t-hugepagesizecount.tar.bz2");
    let topo = json(&["--root", &root, "topo", "--json"]);
    let list = json(&["--root", &root, "hugepages", "--json"]);
    assert_eq!(list["schema"], "numakit.hugepages/1");
    let mut want = Vec::new();
    for n in topo["nodes"].as_array().unwrap() {
        for p in n["hugepages"].as_array().unwrap() {
            want.push((n["id"].clone(), p["size_bytes"].clone(), p["total"].clone()));
        }
    }
    let got: Vec<_> = list["pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["node"].clone(),
                p["size_bytes"].clone(),
                p["total"].clone(),
            )
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
}

#[test]
fn bash_completion_completes_commands_options_and_values() {
    let (code, script, _) = run(&["completions", "bash"]);
    assert_eq!(code, 0);
    let file = std::env::temp_dir().join(format!("numakit-compl-{}.bash", std::process::id()));
    std::fs::write(&file, &script).unwrap();
    let ask = |words: &str, cword: usize| -> String {
        let sh = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; _numakit; echo \"${{COMPREPLY[*]}}\"",
            file.display()
        );
        let out = Command::new("bash").args(["-c", &sh]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(ask("numakit hu", 1), "hugepages");
    assert!(ask("numakit ''", 1).contains("topo"));
    assert_eq!(
        ask("numakit topo --of ''", 3),
        "tree json matrix hardware hwloc-xml nrt nrt-json svg"
    );
    assert!(ask("numakit topo --", 2).contains("--svg"));
    assert_eq!(ask("numakit completions ''", 2), "bash zsh fish");
    std::fs::remove_file(&file).unwrap();
    for shell in ["zsh", "fish"] {
        let (code, text, _) = run(&["completions", shell]);
        assert_eq!(code, 0);
        assert!(
            text.contains("hugepages") && text.contains("hwloc-xml"),
            "{shell}"
        );
    }
}

#[test]
fn manual_pages_format_without_warnings() {
    let dir = std::env::temp_dir().join(format!("numakit-man-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (code, _, err) = run(&["manpages", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let pages: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(pages.iter().any(|p| p.ends_with("numakit.1")));
    assert!(pages.iter().any(|p| p.ends_with("numakit-hugepages.1")));
    if Path::new("/usr/bin/groff").exists() {
        for p in &pages {
            let out = Command::new("groff")
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(p)
                .env("LC_ALL", "C")
                .output()
                .unwrap();
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "{}: {}",
                p.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn version_names_the_git_revision() {
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    let rev = out
        .trim()
        .strip_prefix(&format!("numakit {} (", env!("CARGO_PKG_VERSION")))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{out}"));
    let hex = rev.trim_end_matches("-modified");
    assert!(
        hex == "unknown" || (hex.len() == 12 && hex.bytes().all(|b| b.is_ascii_hexdigit())),
        "{out}"
    );
}
