//! Garbage in every file the model reads: no panic, facts unknown.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use numakit_root::Root;
use numakit_topo::Machine;

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("numakit-bad-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// The garbage kinds, cycled over the files.
fn garbage(k: usize) -> Vec<u8> {
    match k % 7 {
        0 => b"not a number\n".to_vec(),
        1 => b"99999999999999999999999999999999\n".to_vec(),
        2 => Vec::new(),
        3 => (0..=255u8).rev().collect(),
        4 => b"-1\n".to_vec(),
        5 => b"0-4294967295\n".to_vec(),
        _ => b"\0\0\0\n\xff\xfe".to_vec(),
    }
}

fn write(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

/// A tree with the files numakit reads, each one holding garbage `k`.
fn garbage_tree(dir: &Path, k: usize) {
    let node_files = [
        "cpulist",
        "cpumap",
        "meminfo",
        "distance",
        "hugepages/hugepages-2048kB/nr_hugepages",
        "hugepages/hugepages-2048kB/free_hugepages",
        "access0/initiators/read_latency",
        "memory_side_cache/index1/size",
    ];
    let cpu_files = [
        "online",
        "topology/physical_package_id",
        "topology/core_id",
        "topology/die_id",
        "topology/cluster_id",
        "topology/thread_siblings_list",
        "topology/thread_siblings",
        "cache/index0/level",
        "cache/index0/size",
        "cache/index0/type",
        "cache/index0/shared_cpu_list",
        "cache/index0/shared_cpu_map",
        "cpu_capacity",
        "cpufreq/cpuinfo_max_freq",
    ];
    let sys = dir.join("sys/devices/system");
    let mut i = k;
    for f in [
        "online",
        "possible",
        "has_cpu",
        "has_memory",
        "has_normal_memory",
    ] {
        write(&sys.join("node").join(f), &garbage(i));
        i += 1;
    }
    for n in ["node0", "node1", "node4294967295", "node99999999999"] {
        for f in node_files {
            write(&sys.join("node").join(n).join(f), &garbage(i));
            i += 1;
        }
    }
    for f in ["online", "present", "possible"] {
        write(&sys.join("cpu").join(f), &garbage(i));
        i += 1;
    }
    for c in ["cpu0", "cpu1", "cpu4294967296"] {
        for f in cpu_files {
            write(&sys.join("cpu").join(c).join(f), &garbage(i));
            i += 1;
        }
    }
    for f in [
        "proc/meminfo",
        "proc/self/status",
        "proc/self/cpuset",
        "proc/self/cgroup",
        "proc/mounts",
        "proc/cmdline",
        "proc/sys/kernel/osrelease",
        "proc/sys/kernel/numa_balancing",
        "sys/kernel/mm/transparent_hugepage/enabled",
    ] {
        write(&dir.join(f), &garbage(i));
        i += 1;
    }
    // a PCI device with garbage attributes
    let pci = dir.join("sys/bus/pci/devices/0000:00:01.0");
    for f in [
        "class",
        "vendor",
        "device",
        "numa_node",
        "local_cpulist",
        "resource",
        "current_link_speed",
        "max_link_width",
    ] {
        write(&pci.join(f), &garbage(i));
        i += 1;
    }
}

#[test]
fn garbage_files_make_unknown_facts() {
    for k in 0..7 {
        let d = tmp(&format!("garbage{k}"));
        garbage_tree(&d, k);
        let m = Machine::discover(&Root::open(&d).unwrap());
        serde_json::to_string(&m).unwrap();
        for n in &m.nodes {
            // no garbage number is taken as a memory size or a distance
            if let Some(t) = n.memory_total_bytes {
                panic!("garbage {k}: node {} memory {t}", n.id);
            }
            assert!(
                n.distances.iter().all(Option::is_none),
                "garbage {k}: {:?}",
                n.distances
            );
        }
        for c in &m.cpus {
            assert!(
                c.package.is_none() && c.core.is_none(),
                "garbage {k}: {c:?}"
            );
        }
        assert!(m.memory.total_bytes.is_none(), "garbage {k}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}

#[test]
fn links_loops_and_folders_where_files_belong() {
    let d = tmp("links");
    let node = d.join("sys/devices/system/node");
    std::fs::create_dir_all(node.join("node0")).unwrap();
    std::fs::write(node.join("online"), "0-1\n").unwrap();
    // dangling links
    symlink("/nonexistent/cpulist", node.join("node0/cpulist")).unwrap();
    symlink(
        "../../../../../../../../etc/passwd",
        node.join("node0/meminfo"),
    )
    .unwrap();
    // a loop
    symlink("distance2", node.join("node0/distance")).unwrap();
    symlink("distance", node.join("node0/distance2")).unwrap();
    // a folder where a file belongs
    std::fs::create_dir_all(node.join("node0/cpumap")).unwrap();
    // a node folder that is a link to itself
    symlink("node1", node.join("node1")).unwrap();
    // CPU folders that loop
    let cpu = d.join("sys/devices/system/cpu");
    std::fs::create_dir_all(cpu.join("cpu0")).unwrap();
    symlink("..", cpu.join("cpu0/topology")).unwrap();
    symlink("cpu1", cpu.join("cpu1")).unwrap();
    std::fs::create_dir_all(d.join("proc/self")).unwrap();
    symlink("self", d.join("proc/self/status")).unwrap();
    std::fs::create_dir_all(d.join("proc/meminfo")).unwrap();
    let m = Machine::discover(&Root::open(&d).unwrap());
    serde_json::to_string(&m).unwrap();
    let n0 = m.node(0.into()).expect("node0");
    assert!(n0.cpus.is_empty());
    assert_eq!(n0.memory_total_bytes, None, "meminfo escaped the root");
    assert!(n0.distances.iter().all(Option::is_none));
    assert!(n0.raw.cpumap.is_none());
    assert!(m.memory.total_bytes.is_none());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn well_shaped_lines_with_bad_numbers() {
    let d = tmp("shaped");
    let n = d.join("sys/devices/system/node/node0");
    write(&n.join("cpulist"), b"3-1\n");
    write(&n.join("distance"), b"x 4294967296 -5\n");
    write(
        &n.join("meminfo"),
        b"Node 0 MemTotal: 18446744073709551615 kB\nNode 0 MemFree: abc kB\nNode 0 MemUsed: 1 MB\n",
    );
    write(
        &d.join("proc/meminfo"),
        b"MemTotal: 99999999999999999999999 kB\n",
    );
    let m = Machine::discover(&Root::open(&d).unwrap());
    let n0 = m.node(0.into()).unwrap();
    assert!(n0.cpus.is_empty(), "{:?}", n0.cpus);
    assert_eq!(n0.distances, vec![None]);
    assert_eq!(
        n0.memory_total_bytes, None,
        "an overflowing kB value is unknown"
    );
    assert_eq!(n0.memory_free_bytes, None);
    assert!(!n0.meminfo.contains_key("MemUsed"));
    assert_eq!(m.memory.total_bytes, None);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn nul_padded_values_parse() {
    // hwloc-gather-topology leaves NUL bytes after values; they are not garbage
    let d = tmp("nul");
    let n = d.join("sys/devices/system/node/node0");
    write(&n.join("cpulist"), b"0-3\n\0");
    write(&n.join("distance"), b"10\n\0");
    write(&n.join("meminfo"), b"Node 0 MemTotal: 1024 kB\n\0");
    let m = Machine::discover(&Root::open(&d).unwrap());
    let n0 = m.node(0.into()).unwrap();
    assert_eq!(n0.cpus.len(), 4);
    assert_eq!(n0.distances, vec![Some(10)]);
    assert_eq!(n0.memory_total_bytes, Some(1 << 20));
    std::fs::remove_dir_all(&d).unwrap();
}
