//! The audit's findings on the 2-node QEMU machine (CPUs 0-1 on node 0,
//! 2-3 on node 1; the NVMe 0000:41:00.0 on node 1), each where it fires
//! and where it does not.

use std::collections::BTreeMap;
use std::path::Path;

use numakit_doctor::audit::{Context, audit};
use numakit_root::Root;
use numakit_stat::devices::{UseKind, UsedDevice};
use numakit_stat::process::{Category, ProcessStat, ThreadStat};
use numakit_topo::Machine;
use numakit_types::CpuSet;

fn machine() -> Machine {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/qemu-2node/sysfs.tar.gz");
    Machine::discover(&Root::open(p).unwrap())
}

fn process(mem_node: u32, thread_node: u32, cpus: &str) -> ProcessStat {
    let mut by = BTreeMap::new();
    by.insert(mem_node, 41u64 << 30);
    by.insert(thread_node, 8u64 << 30);
    let mut categories = BTreeMap::new();
    categories.insert(Category::PrivateAnon, by);
    ProcessStat {
        pid: 4242,
        name: Some("server".into()),
        categories,
        huge_pages: vec![],
        mappings: vec![],
        threads: (0..16)
            .map(|i| ThreadStat {
                tid: 4242 + i,
                cpu: Some(thread_node * 2),
                node: Some(thread_node),
            })
            .collect(),
        cpus_allowed: Some(CpuSet::parse_list(cpus).unwrap()),
        mems_allowed: None,
        malformed_lines: 0,
    }
}

fn ctx(devices: &[UsedDevice], migrated: Option<u64>) -> Context<'_> {
    Context {
        devices,
        migrated_pages: migrated,
        page_size: 4096,
    }
}

#[test]
fn memory_away_from_threads() {
    let m = machine();
    let f = audit(&process(1, 0, "0-3"), &m, &ctx(&[], None));
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].check, "memory-away-from-threads");
    assert_eq!(
        f[0].message,
        "83% of this process's 49.0 GiB is on node 1 but its 16 threads run on node 0"
    );
    assert!(audit(&process(0, 0, "0-3"), &m, &ctx(&[], None)).is_empty());
}

#[test]
fn device_on_other_node() {
    let m = machine();
    let nvme = [UsedDevice {
        name: "nvme0n1".into(),
        kind: UseKind::Block,
        pci: vec!["0000:41:00.0".parse().unwrap()],
    }];
    let f = audit(&process(0, 0, "0-1"), &m, &ctx(&nvme, None));
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        f[0].message,
        "it uses nvme 0000:41:00.0 (node 1) but is bound to node 0"
    );
    assert!(audit(&process(1, 1, "2-3"), &m, &ctx(&nvme, None)).is_empty());
}

#[test]
fn autonuma_moves_pinned() {
    let mut m = machine();
    m.knobs.numa_balancing = Some(1);
    let f = audit(&process(0, 0, "0-1"), &m, &ctx(&[], Some(300_000)));
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        f[0].message,
        "AutoNUMA migrated 1.1 GiB of this process, which is pinned to node 0"
    );
    assert!(audit(&process(0, 0, "0-1"), &m, &ctx(&[], Some(0))).is_empty());
    assert!(audit(&process(0, 0, "0-3"), &m, &ctx(&[], Some(300_000))).is_empty());
    m.knobs.numa_balancing = Some(0);
    assert!(audit(&process(0, 0, "0-1"), &m, &ctx(&[], Some(300_000))).is_empty());
}
