//! One scrape: the stat readers' view of the machine and of the selected
//! processes and cgroups, as Prometheus metrics encoded by the official
//! `prometheus-client` crate (OpenMetrics text).

use numakit_root::Root;
use numakit_stat::meminfo::Value;
use numakit_stat::process::{self, ReadOptions};
use numakit_stat::system::SystemStat;
use numakit_stat::{cgroup, counters::Counters};
use numakit_topo::{Machine, Parts};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeField {
    node: String,
    field: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeCounter {
    node: String,
    counter: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Hugepages {
    node: String,
    page_size_bytes: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Node {
    node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Name {
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProcessNode {
    pid: String,
    name: String,
    node: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CgroupNode {
    cgroup: String,
    node: String,
    item: String,
}

/// What to export besides the machine.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Process patterns or PIDs, resolved at each scrape.
    pub processes: Vec<String>,
    /// Cgroup paths.
    pub cgroups: Vec<String>,
}

fn gauge<L>(reg: &mut Registry, name: &str, help: &str) -> Family<L, Gauge>
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
{
    let f = Family::<L, Gauge>::default();
    reg.register(name, help, f.clone());
    f
}

fn counter<L>(reg: &mut Registry, name: &str, help: &str) -> Family<L, Counter>
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
{
    let f = Family::<L, Counter>::default();
    reg.register(name, help, f.clone());
    f
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn system(reg: &mut Registry, s: &SystemStat) {
    let bytes = gauge::<NodeField>(
        reg,
        "numakit_node_meminfo_bytes",
        "A node's meminfo size field, in bytes",
    );
    let counts = gauge::<NodeField>(
        reg,
        "numakit_node_meminfo_count",
        "A node's meminfo field without a unit",
    );
    let numastat = counter::<NodeCounter>(
        reg,
        "numakit_node_numastat_pages",
        "A node's numastat counter (pages)",
    );
    let nodevm = counter::<NodeCounter>(
        reg,
        "numakit_node_vmstat",
        "A node's vmstat counter of balancing, tiering or migration",
    );
    let huge = gauge::<Hugepages>(
        reg,
        "numakit_node_hugepages",
        "Huge pages of a node's pool of one size",
    );
    let tier = gauge::<Node>(reg, "numakit_node_memory_tier", "The memory tier of a node");
    for n in &s.nodes {
        let node = n.node.to_string();
        for f in n.meminfo.iter().flat_map(|m| &m.fields) {
            let l = NodeField {
                node: node.clone(),
                field: f.key.clone(),
            };
            match f.value {
                Value::Bytes(b) => bytes.get_or_create(&l).set(i(b)),
                Value::Count(c) => counts.get_or_create(&l).set(i(c)),
            };
        }
        let add = |fam: &Family<NodeCounter, Counter>, c: &Option<Counters>| {
            for (k, v) in c.iter().flat_map(|c| &c.values) {
                fam.get_or_create(&NodeCounter {
                    node: node.clone(),
                    counter: k.clone(),
                })
                .inc_by(*v);
            }
        };
        add(&numastat, &n.numastat);
        add(&nodevm, &n.vmstat);
        for p in &n.hugepages {
            for (state, v) in [("total", p.total), ("free", p.free), ("surplus", p.surplus)] {
                if let Some(v) = v {
                    let l = Hugepages {
                        node: node.clone(),
                        page_size_bytes: p.page_size.to_string(),
                        state: state.into(),
                    };
                    huge.get_or_create(&l).set(i(v));
                }
            }
        }
        if let Some(t) = n.memory_tier {
            tier.get_or_create(&Node { node }).set(i64::from(t));
        }
    }
    let vm = counter::<Name>(
        reg,
        "numakit_vmstat",
        "A /proc/vmstat counter of NUMA balancing, tiering or migration",
    );
    for (k, v) in s.vmstat.iter().flat_map(|c| &c.values) {
        vm.get_or_create(&Name { name: k.clone() }).inc_by(*v);
    }
}

fn knobs(reg: &mut Registry, root: &Root) {
    let m = Machine::discover_parts(
        root,
        Parts {
            knobs: true,
            ..Parts::NODES
        },
    );
    let k = &m.knobs;
    let g = gauge::<Name>(
        reg,
        "numakit_knob",
        "A kernel setting that shapes placement (absent when unknown)",
    );
    let set = |name: &str, v: Option<i64>| {
        if let Some(v) = v {
            g.get_or_create(&Name { name: name.into() }).set(v);
        }
    };
    set("numa_balancing", k.numa_balancing.map(i64::from));
    set("demotion_enabled", k.demotion_enabled.map(i64::from));
    set("zone_reclaim_mode", k.zone_reclaim_mode.map(i64::from));
    set(
        "weighted_interleave_auto",
        k.weighted_interleave_auto.map(i64::from),
    );
    let thp = gauge::<Name>(
        reg,
        "numakit_thp_enabled",
        "1 for the transparent huge page mode in force",
    );
    if let Some(mode) = &k.thp_enabled {
        thp.get_or_create(&Name { name: mode.clone() }).set(1);
    }
}

fn processes(reg: &mut Registry, root: &Root, sel: &Selection) {
    let mem = gauge::<ProcessNode>(
        reg,
        "numakit_process_memory_bytes",
        "A selected process's memory on a node, by kind",
    );
    let mut errors = Vec::new();
    let pids = crate::commands::stat::select(root, &sel.processes, &mut errors);
    let opts = ReadOptions {
        threads: false,
        ..crate::commands::stat::read_options(root, false)
    };
    let none = Default::default();
    for p in process::read_all(root, &pids, &opts, &none)
        .into_iter()
        .flatten()
    {
        let name = p.name.clone().unwrap_or_default();
        for (cat, by) in &p.categories {
            for (n, b) in by {
                let l = ProcessNode {
                    pid: p.pid.to_string(),
                    name: name.clone(),
                    node: n.to_string(),
                    kind: cat.name().into(),
                };
                mem.get_or_create(&l).set(i(*b));
            }
        }
    }
    let cg = gauge::<CgroupNode>(
        reg,
        "numakit_cgroup_memory_bytes",
        "A selected cgroup's memory.numa_stat item on a node",
    );
    for c in &sel.cgroups {
        let Ok(s) = cgroup::read(root, c, opts.base_page_size) else {
            continue;
        };
        for (item, by) in &s.numa_stat {
            for (n, b) in by {
                cg.get_or_create(&CgroupNode {
                    cgroup: c.clone(),
                    node: n.to_string(),
                    item: item.clone(),
                })
                .set(i(*b));
            }
        }
    }
}

/// The metrics text of one scrape.
pub fn scrape(root: &Root, sel: &Selection) -> String {
    let start = std::time::Instant::now();
    let mut reg = Registry::default();
    if let Ok(s) = SystemStat::read(root) {
        system(&mut reg, &s);
    }
    knobs(&mut reg, root);
    processes(&mut reg, root, sel);
    let d = Family::<Name, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    reg.register(
        "numakit_scrape_duration_seconds",
        "How long reading the machine took",
        d.clone(),
    );
    d.get_or_create(&Name {
        name: "read".into(),
    })
    .set(start.elapsed().as_secs_f64());
    let mut out = String::new();
    // writing into a String cannot fail
    let _ = prometheus_client::encoding::text::encode(&mut out, &reg);
    out
}
