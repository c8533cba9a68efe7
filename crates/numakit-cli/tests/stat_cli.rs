//! `numakit stat` end to end: the JSON documents deserialized and checked
//! against the fixture's files, processes read from a directory root
//! (malformed lines, missing processes), a live process, `--watch` records,
//! and the page cache of a file.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{fixtures, run};
use serde_json::Value;

fn json(args: &[&str]) -> (i32, Value, String) {
    let (code, out, err) = run(args);
    (
        code,
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}")),
        err,
    )
}

#[test]
fn system_json_follows_the_fixture() {
    let root = fixtures().join("qemu-3node-hmat/sysfs.tar.gz");
    let (code, v, _) = json(&["--root", root.to_str().unwrap(), "stat", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(v["schema"], "numakit.stat/1");
    let nodes = v["system"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[2]["memory_tier"], 72);
    // every meminfo line, in the kernel's order (the parsed object sorts
    // its keys, so the order is checked in the text)
    let (_, text, _) = run(&["--root", root.to_str().unwrap(), "stat", "--json"]);
    let at = |k: &str| text.find(&format!("\"{k}\"")).unwrap();
    assert!(
        at("MemTotal") < at("SwapCached")
            && at("SwapCached") < at("Active")
            && at("KReclaimable") < at("Slab")
    );
    assert!(nodes[0]["meminfo"].get("Unaccepted").is_some());
    assert_eq!(nodes[0]["meminfo"]["HugePages_Total"]["count"], 0);
    assert!(nodes[0]["numastat"]["numa_hit"].as_u64().unwrap() > 0);
    let sizes: Vec<u64> = nodes[0]["hugepages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["page_size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [2 << 20, 1 << 30]);
    assert_eq!(v["processes"].as_array().unwrap().len(), 0);
}

/// A directory root with the 2-node machine and a process 77 whose
/// numa_maps has one malformed line among good ones.
fn root_with_process() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("numakit-stat-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ok = Command::new("tar")
        .arg("--no-same-owner")
        .arg("-xzf")
        .arg(fixtures().join("qemu-2node/sysfs.tar.gz"))
        .arg("-C")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(ok.success());
    let p = dir.join("proc/77");
    std::fs::create_dir_all(p.join("task/77")).unwrap();
    std::fs::create_dir_all(p.join("task/78")).unwrap();
    std::fs::write(
        p.join("numa_maps"),
        "600000 default heap anon=256 dirty=256 N1=256 kernelpagesize_kB=4\n\
         7f0000000000 bind:1 anon=25600 dirty=25600 N1=25600 kernelpagesize_kB=4\n\
         this line is not numa_maps\n\
         7f0040000000 default file=/anon_hugepage\\040(deleted) huge dirty=2 N0=1 N1=1 kernelpagesize_kB=2048\n\
         7f0080000000 default file=/mnt/huge1g/w huge dirty=1 N1=1 kernelpagesize_kB=1048576\n\
         7f00c0000000 default file=/dev/shm/x dirty=10 N0=10 kernelpagesize_kB=4\n\
         7ffd00000000 default stack anon=8 dirty=8 N0=8 kernelpagesize_kB=4\n",
    )
    .unwrap();
    std::fs::write(
        p.join("status"),
        "Name:\tserver\nCpus_allowed_list:\t0-1\nMems_allowed_list:\t0-1\n",
    )
    .unwrap();
    std::fs::write(p.join("cmdline"), "/usr/bin/server\0--port\08080\0").unwrap();
    // fields 3 to 52 after the name; field 39 is the CPU it last ran on
    let stat = |cpu: u32| {
        let f: Vec<String> = (3..=52)
            .map(|i| if i == 39 { cpu.to_string() } else { "0".into() })
            .collect();
        format!("77 (ser ver) {}\n", f.join(" "))
    };
    std::fs::write(p.join("task/77/stat"), stat(0)).unwrap();
    std::fs::write(p.join("task/78/stat"), stat(1)).unwrap();
    dir
}

#[test]
fn a_process_by_kind_and_page_size() {
    let root = root_with_process();
    let r = root.to_str().unwrap();
    let (code, v, err) = json(&["--root", r, "stat", "-p", "server", "--json"]);
    assert_eq!(code, 0, "{err}");
    let p = &v["processes"][0];
    assert_eq!(p["pid"], 77);
    assert_eq!(p["malformed_lines"], 1);
    assert_eq!(p["categories"]["private_anon"]["1"], 25600u64 * 4096);
    assert_eq!(p["categories"]["heap"]["1"], 256u64 * 4096);
    assert_eq!(p["categories"]["shared"]["0"], 10u64 * 4096);
    assert_eq!(p["categories"]["huge"]["1"], (2u64 << 20) + (1 << 30));
    let huge = p["huge_pages"].as_array().unwrap();
    assert_eq!(huge[0]["page_size"], 2u64 << 20);
    assert_eq!(huge[0]["bytes"]["0"], 2u64 << 20);
    assert_eq!(huge[1]["page_size"], 1u64 << 30);
    assert_eq!(p["threads"].as_array().unwrap().len(), 2);
    assert_eq!(p["threads"][1]["cpu"], 1);
    assert_eq!(p["threads"][1]["node"], 0);
    assert_eq!(p["mappings"][1]["policy"], "bind:1");
    // text: each huge page size on its own row
    let (code, out, _) = run(&["--root", r, "stat", "-p", "77"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("huge (2.0 MiB)") && out.contains("huge (1.0 GiB)"),
        "{out}"
    );
    assert!(out.contains("threads: 2 (node 0: 2)"), "{out}");
    assert!(
        out.contains("(1 numa_maps lines could not be read"),
        "{out}"
    );
    // the audit: 99% of 1.1 GiB on node 1, threads on node 0
    let (code, out, _) = run(&["--root", r, "stat", "-p", "77", "--audit"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("warning: 99% of this process's 1.1 GiB is on node 1 but its 2 threads run on node 0 [memory-away-from-threads]"), "{out}");
    // a missing process next to a good one: the good one is reported
    let (code, v, err) = json(&["--root", r, "stat", "-p", "77", "-p", "78", "--json"]);
    assert_eq!(code, 2);
    assert_eq!(v["processes"].as_array().unwrap().len(), 1);
    assert_eq!(v["errors"][0]["item"], "process 78");
    assert_eq!(err, "numakit: process 78: no process 78\n");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_live_process() {
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let pid = child.id().to_string();
    let (code, v, _) = json(&["stat", "-p", &pid, "--json"]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, 0);
    let p = &v["processes"][0];
    assert_eq!(p["name"], "sleep");
    let file: u64 = p["categories"]["file"]
        .as_object()
        .unwrap()
        .values()
        .map(|b| b.as_u64().unwrap())
        .sum();
    assert!(file > 0);
    assert_eq!(p["threads"].as_array().unwrap().len(), 1);
}

#[test]
fn watch_records() {
    let root = fixtures().join("qemu-2node/sysfs.tar.gz");
    let r = root.to_str().unwrap();
    let (code, out, _) = run(&[
        "--root", r, "stat", "--watch", "0.05", "--count", "2", "--json",
    ]);
    assert_eq!(code, 0);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["schema"], "numakit.stat-watch/1");
    // a snapshot does not change: no misses per second
    assert_eq!(lines[1]["rates"]["misses"], 0.0);
    assert_eq!(lines[1]["rates"]["migrations"], Value::Null);
    let (code, out, _) = run(&["--root", r, "stat", "--watch", "0.05", "--count", "3"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 3);
    assert!(
        out.lines()
            .all(|l| l.starts_with("t=") && l.contains("misses/s=0.0")),
        "{out}"
    );
}

#[test]
fn page_cache_of_a_file() {
    let path = std::env::temp_dir().join(format!("numakit-stat-file-{}", std::process::id()));
    std::fs::write(&path, vec![3u8; 1 << 20]).unwrap();
    let (code, v, _) = json(&["stat", "--file", path.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let f = &v["files"][0];
    assert_eq!(f["size"], 1 << 20);
    let on_nodes: u64 = f["by_node"]
        .as_object()
        .unwrap()
        .values()
        .map(|x| x.as_u64().unwrap())
        .sum();
    assert_eq!(
        on_nodes + f["unknown"].as_u64().unwrap(),
        f["cached"].as_u64().unwrap()
    );
    assert!(f["cached"].as_u64().unwrap() > 0);
    std::fs::remove_file(&path).unwrap();
    let (code, _, err) = run(&["stat", "--file", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("No such file or directory"), "{err}");
}
