//! What the examples share: a checker that prints one line per fact and
//! sets the exit status, the nodes to work with, and an independent look at
//! where pages are (`/proc/self/numa_maps`).
#![allow(dead_code)]

use numakit::placement::Placer;
use numakit::topo::Machine;
use numakit::{AddrRange, NodeId, NodeSet, Root};

/// Prints `ok: WHAT` or `FAILED: WHAT` per check and `skip: WHAT (WHY)`
/// for what this machine cannot show; [`Checks::finish`] exits 1 after a
/// failure.
pub struct Checks {
    name: &'static str,
    failed: usize,
    passed: usize,
}

impl Checks {
    pub fn new(name: &'static str) -> Checks {
        Checks {
            name,
            failed: 0,
            passed: 0,
        }
    }

    pub fn check(&mut self, ok: bool, what: impl AsRef<str>) {
        if ok {
            self.passed += 1;
            println!("ok: {}", what.as_ref());
        } else {
            self.failed += 1;
            println!("FAILED: {}", what.as_ref());
        }
    }

    pub fn eq<T: PartialEq + std::fmt::Debug>(&mut self, got: T, want: T, what: impl AsRef<str>) {
        let ok = got == want;
        let what = what.as_ref();
        if ok {
            self.check(true, what);
        } else {
            self.check(false, format!("{what}: got {got:?}, want {want:?}"));
        }
    }

    pub fn skip(&mut self, what: &str, why: &str) {
        println!("skip: {what} ({why})");
    }

    /// A call that must succeed: its value, or a failure and `None`.
    pub fn ok<T, E: std::fmt::Display>(&mut self, r: Result<T, E>, what: &str) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.check(false, format!("{what}: {e}"));
                None
            }
        }
    }

    pub fn finish(self) -> ! {
        println!(
            "{}: {} passed, {} failed",
            self.name, self.passed, self.failed
        );
        std::process::exit(if self.failed == 0 { 0 } else { 1 })
    }
}

/// A placer for the running system, or exit 2 saying why.
pub fn placer(name: &str) -> Placer {
    Placer::live().unwrap_or_else(|e| {
        eprintln!("{name}: {e}");
        std::process::exit(2)
    })
}

/// The nodes with memory this process may allocate from.
pub fn memory_nodes(m: &Machine) -> NodeSet {
    m.allowed_nodes().intersection(&m.memory_nodes())
}

/// The nodes with CPUs this thread may run on.
pub fn cpu_nodes(m: &Machine) -> NodeSet {
    m.nodes_of_cpus(&m.allowed_cpus())
        .intersection(&m.allowed_nodes())
}

/// The node the examples place memory on: the highest node with memory
/// (node 1 on a two-node machine, the CPU-less node 2 on the three-node one).
pub fn target(m: &Machine) -> NodeId {
    memory_nodes(m).last().unwrap_or(NodeId(0))
}

/// Another node with memory than `n`, if any.
pub fn other_than(m: &Machine, n: NodeId) -> Option<NodeId> {
    memory_nodes(m).iter().find(|x| *x != n)
}

/// Pages per node of the mappings of this process that hold a byte of
/// `range`, as `/proc/self/numa_maps` counts them: a second opinion that
/// does not ask `move_pages`. The kernel merges neighbouring mappings with
/// the same policy, so the counts may include a neighbour's pages, which
/// that policy placed alike.
pub fn numa_maps_pages(range: AddrRange) -> std::collections::BTreeMap<u32, u64> {
    let root = Root::live();
    let maps = root.read_to_string("/proc/self/maps").unwrap_or_default();
    let starts: Vec<u64> = numakit::placement::maps::parse_maps(&maps)
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.start < range.end() && m.end > range.start())
        .map(|m| m.start)
        .collect();
    let text = root
        .read_to_string("/proc/self/numa_maps")
        .unwrap_or_default();
    let (entries, _) = numakit::stat::numa_maps::parse_lenient(&text);
    let mut by = std::collections::BTreeMap::new();
    for e in entries.iter().filter(|e| starts.contains(&e.address)) {
        for (n, p) in &e.nodes {
            *by.entry(*n).or_insert(0) += p;
        }
    }
    by
}

/// Whether `numa_maps` puts every page of the mappings holding `range` on
/// `node`, and at least `pages` of them.
pub fn numa_maps_all_on(range: AddrRange, node: NodeId, pages: u64) -> bool {
    let by = numa_maps_pages(range);
    let on = by.get(&node.get()).copied().unwrap_or(0);
    on >= pages && by.values().sum::<u64>() == on
}

/// Runs `f` on its own thread, so that the policies and CPU binding it sets
/// end with it.
pub fn on_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| s.spawn(f).join().expect("example thread panicked"))
}
