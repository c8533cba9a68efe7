//! CPUs: topology ids, SMT siblings, caches, kinds, and what this process may use.

use std::collections::{BTreeMap, BTreeSet};

use numakit_root::Root;
use numakit_types::{CpuId, CpuSet, MAX_CPUS, NodeId, NodeSet};
use serde::Serialize;

use crate::Node;
use crate::util::{numbered_below, numbered_entries, read_cpulist, read_cpumask, read_nodelist};

const CPU_DIR: &str = "/sys/devices/system/cpu";

/// One logical CPU (a hardware thread).
#[derive(Debug, Clone, Serialize)]
pub struct Cpu {
    /// The kernel's CPU number.
    pub id: CpuId,
    /// Whether it is online; `None` when unknown.
    pub online: Option<bool>,
    /// Its NUMA node.
    pub node: Option<NodeId>,
    /// `physical_package_id` (socket); `None` when unknown or `-1`.
    pub package: Option<u32>,
    /// `die_id`.
    pub die: Option<u32>,
    /// `cluster_id`.
    pub cluster: Option<u32>,
    /// `core_id` (unique within its package only).
    pub core: Option<u32>,
    /// SMT siblings including itself (`thread_siblings_list`).
    pub smt_siblings: CpuSet,
    /// Relative compute capacity (`cpu_capacity`, 1024 for the biggest).
    pub capacity: Option<u64>,
    /// Highest frequency in kHz (`cpufreq/cpuinfo_max_freq`).
    pub max_freq_khz: Option<u64>,
}

/// One cache instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cache {
    /// Level (1, 2, 3, ...).
    pub level: u32,
    /// `Data`, `Instruction` or `Unified`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Size in bytes.
    pub size_bytes: Option<u64>,
    /// Line size in bytes.
    pub line_size: Option<u64>,
    /// Associativity (0 is fully associative).
    pub ways: Option<u64>,
    /// CPUs sharing this cache.
    pub cpus: CpuSet,
}

/// A kind of CPU on a hybrid processor (performance or efficiency cores).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CpuKind {
    /// A name: `intel-core`, `intel-atom`, or `capacity-N` / `freq-N-khz`.
    pub name: String,
    /// Higher is more powerful; ranks kinds on this machine only.
    pub efficiency_rank: u32,
    /// CPUs of this kind.
    pub cpus: CpuSet,
}

/// What this process is allowed to use.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Allowed {
    /// Allowed CPUs; `None` when unknown.
    pub cpus: Option<CpuSet>,
    /// Allowed memory nodes; `None` when unknown.
    pub mems: Option<NodeSet>,
    /// Where the answer came from: `status` (`/proc/self/status`), `cgroup2`,
    /// `cgroup1` or `cpuset`.
    pub source: Option<String>,
    /// The cpuset/cgroup path of the process, when known.
    pub cgroup: Option<String>,
    /// This thread's current CPU affinity (`Cpus_allowed_list`), which may
    /// be narrower than `cpus` (the cpuset) after `taskset` or `sched_setaffinity`.
    pub affinity: Option<CpuSet>,
}

pub(crate) fn read_cpus(root: &Root) -> Vec<Cpu> {
    let online = read_cpulist(root, &format!("{CPU_DIR}/online"));
    let mut ids: BTreeSet<u32> = numbered_below(root, CPU_DIR, "cpu", MAX_CPUS)
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    if let Some(p) = read_cpulist(root, &format!("{CPU_DIR}/present")) {
        ids.extend(p.iter_raw());
    }
    // no CPU beyond those the kernel could ever bring up
    if let Some(possible) = read_cpulist(root, &format!("{CPU_DIR}/possible"))
        && !possible.is_empty()
    {
        ids.retain(|i| possible.contains_raw(*i));
    }
    ids.into_iter()
        .map(|i| {
            let b = format!("{CPU_DIR}/cpu{i}");
            let t = format!("{b}/topology");
            let id_of = |f: &str| {
                root.read_i64(&format!("{t}/{f}"))
                    .and_then(|v| u32::try_from(v).ok())
            };
            let online = match &online {
                Some(o) => Some(o.contains_raw(i)),
                None => match root.read_u64(&format!("{b}/online")) {
                    Some(v) => Some(v != 0),
                    // cpu0 often has no `online` file: it is online if it has a topology
                    None => root.is_dir(&t).then_some(true),
                },
            };
            let smt = read_cpulist(root, &format!("{t}/thread_siblings_list"))
                .or_else(|| read_cpumask(root, &format!("{t}/thread_siblings")))
                .unwrap_or_else(|| CpuSet::from_raw([i]));
            Cpu {
                id: CpuId(i),
                online,
                node: None,
                package: id_of("physical_package_id"),
                die: id_of("die_id"),
                // x86 writes 65535 (BAD_APICID) when it knows no cluster
                cluster: id_of("cluster_id").filter(|&c| c != 0xffff),
                core: id_of("core_id"),
                smt_siblings: smt,
                capacity: root.read_u64(&format!("{b}/cpu_capacity")),
                max_freq_khz: root.read_u64(&format!("{b}/cpufreq/cpuinfo_max_freq")),
            }
        })
        .collect()
}

pub(crate) fn fill_nodes(
    cpus: &mut [Cpu],
    nodes: &[Node],
    inconsistent: Option<&crate::NumaInconsistency>,
) {
    for c in cpus {
        // a CPU several nodes claim has no known node
        if inconsistent.is_some_and(|bad| bad.cpus.contains(c.id)) {
            c.node = None;
            continue;
        }
        c.node = nodes.iter().find(|n| n.cpus.contains(c.id)).map(|n| n.id);
    }
}

/// Parses cache sizes as sysfs writes them: `32K`, `1024K`, `8M`, `512`.
pub fn parse_cache_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mul) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1024),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        b'G' | b'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.trim().parse::<u64>().ok().map(|n| n * mul)
}

pub(crate) fn read_caches(root: &Root, cpus: &[Cpu]) -> Vec<Cache> {
    let mut seen: BTreeMap<(u32, String, Vec<u32>), Cache> = BTreeMap::new();
    // per `indexN`, the CPUs whose cache at that index was read through
    // another CPU sharing it: theirs is the same instance, not read again
    let mut covered: BTreeMap<String, CpuSet> = BTreeMap::new();
    for c in cpus.iter().filter(|c| c.online != Some(false)) {
        let d = format!("{CPU_DIR}/cpu{}/cache", c.id);
        for (_, name) in numbered_entries(root, &d, "index") {
            if covered.get(&name).is_some_and(|s| s.contains(c.id)) {
                continue;
            }
            let p = format!("{d}/{name}");
            let Some(level) = root.read_u64(&format!("{p}/level")) else {
                continue;
            };
            let kind = root
                .read_trim(&format!("{p}/type"))
                .unwrap_or_else(|| "Unified".into());
            let shared = read_cpulist(root, &format!("{p}/shared_cpu_list"))
                .or_else(|| read_cpumask(root, &format!("{p}/shared_cpu_map")))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| CpuSet::from_raw([c.id.0]));
            let cover = covered.entry(name.clone()).or_default();
            *cover = cover.union(&shared);
            let key = (level as u32, kind.clone(), shared.iter_raw().collect());
            seen.entry(key).or_insert_with(|| Cache {
                level: level as u32,
                kind,
                size_bytes: root
                    .read_trim(&format!("{p}/size"))
                    .and_then(|s| parse_cache_size(&s)),
                line_size: root.read_u64(&format!("{p}/coherency_line_size")),
                ways: root.read_u64(&format!("{p}/ways_of_associativity")),
                cpus: shared,
            });
        }
    }
    let mut v: Vec<Cache> = seen.into_values().collect();
    v.sort_by(|a, b| {
        (b.level, a.cpus.first())
            .cmp(&(a.level, b.cpus.first()))
            .then(a.kind.cmp(&b.kind))
    });
    v
}

pub(crate) fn read_kinds(root: &Root, cpus: &[Cpu]) -> Vec<CpuKind> {
    // Intel hybrid: the PMU devices list their CPUs.
    let core = read_cpulist(root, "/sys/devices/cpu_core/cpus");
    let atom = read_cpulist(root, "/sys/devices/cpu_atom/cpus");
    if let (Some(core), Some(atom)) = (core, atom) {
        return vec![
            CpuKind {
                name: "intel-atom".into(),
                efficiency_rank: 0,
                cpus: atom,
            },
            CpuKind {
                name: "intel-core".into(),
                efficiency_rank: 1,
                cpus: core,
            },
        ];
    }
    let group =
        |key: &dyn Fn(&Cpu) -> Option<u64>, label: &dyn Fn(u64) -> String| -> Vec<CpuKind> {
            let mut by: BTreeMap<u64, CpuSet> = BTreeMap::new();
            for c in cpus {
                if let Some(k) = key(c) {
                    by.entry(k).or_default().insert(c.id);
                }
            }
            if by.len() < 2 {
                return Vec::new();
            }
            by.into_iter()
                .enumerate()
                .map(|(rank, (k, cpus))| CpuKind {
                    name: label(k),
                    efficiency_rank: rank as u32,
                    cpus,
                })
                .collect()
        };
    let v = group(&|c| c.capacity, &|k| format!("capacity-{k}"));
    if !v.is_empty() {
        return v;
    }
    group(&|c| c.max_freq_khz, &|k| format!("freq-{k}-khz"))
}

pub(crate) fn read_allowed(root: &Root) -> Allowed {
    // `Cpus_allowed_list` is this thread's affinity, which `taskset` may have
    // narrowed below the cpuset; a new binding may use the whole cpuset, so
    // the cpuset's own files come first and the status lines are the fallback.
    let (affinity, status_mems) = match root.read_to_string("/proc/self/status") {
        Ok(status) => {
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim_start_matches(':').trim().to_string())
            };
            (
                field("Cpus_allowed_list").and_then(|s| CpuSet::parse_list(&s).ok()),
                field("Mems_allowed_list").and_then(|s| NodeSet::parse_list(&s).ok()),
            )
        }
        Err(_) => (None, None),
    };
    if let Some(mut a) = read_allowed_cgroup(root) {
        if a.mems.is_none() {
            a.mems = status_mems;
        }
        if a.cpus.is_none() {
            a.cpus = affinity.clone();
        }
        a.affinity = affinity;
        return a;
    }
    if affinity.is_some() || status_mems.is_some() {
        return Allowed {
            cpus: affinity.clone(),
            mems: status_mems,
            source: Some("status".into()),
            cgroup: root.read_trim("/proc/self/cpuset"),
            affinity,
        };
    }
    Allowed::default()
}

/// Follows `/proc/self/cpuset` (or `/proc/self/cgroup`) and `/proc/mounts` to
/// the cpuset files, as the kernel lays them out for cgroup v2, cgroup v1
/// (with or without the `cpuset.` prefix) and the legacy cpuset filesystem.
fn read_allowed_cgroup(root: &Root) -> Option<Allowed> {
    let mounts = root.read_to_string("/proc/mounts").ok()?;
    let cg_v2 = || {
        root.read_to_string("/proc/self/cgroup").ok().and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("0::").map(str::to_string))
        })
    };
    let path = root.read_trim("/proc/self/cpuset").or_else(cg_v2)?;
    let path = path.trim_end_matches('/');
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        let (mnt, fstype, opts) = (f[1], f[2], f[3]);
        let opts: Vec<&str> = opts.split(',').collect();
        // the effective sets first: what the kernel enforces, parents included
        let (source, files): (&str, [(&str, &str); 2]) = match fstype {
            "cgroup2" => (
                "cgroup2",
                [
                    ("cpuset.cpus.effective", "cpuset.mems.effective"),
                    ("cpuset.cpus", "cpuset.mems"),
                ],
            ),
            "cgroup" if opts.contains(&"cpuset") => {
                if opts.contains(&"noprefix") {
                    (
                        "cgroup1",
                        [("effective_cpus", "effective_mems"), ("cpus", "mems")],
                    )
                } else {
                    (
                        "cgroup1",
                        [
                            ("cpuset.effective_cpus", "cpuset.effective_mems"),
                            ("cpuset.cpus", "cpuset.mems"),
                        ],
                    )
                }
            }
            "cpuset" => (
                "cpuset",
                [("effective_cpus", "effective_mems"), ("cpus", "mems")],
            ),
            _ => continue,
        };
        // A cgroup v2 group without the cpuset controller enabled has no
        // cpuset files: its parent's apply, so walk up to the mount.
        let mut p = path.to_string();
        loop {
            let dir = format!("{}{}", mnt.trim_end_matches('/'), p);
            for (cpus_f, mems_f) in files {
                let cpus = read_cpulist(root, &format!("{dir}/{cpus_f}")).filter(|c| !c.is_empty());
                let mems =
                    read_nodelist(root, &format!("{dir}/{mems_f}")).filter(|m| !m.is_empty());
                if cpus.is_some() || mems.is_some() {
                    return Some(Allowed {
                        cpus,
                        mems,
                        source: Some(source.into()),
                        cgroup: Some(if path.is_empty() {
                            "/".to_string()
                        } else {
                            path.to_string()
                        }),
                        affinity: None,
                    });
                }
            }
            match p.rfind('/') {
                Some(i) => p.truncate(i),
                None => break,
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::parse_cache_size;
    #[test]
    fn cache_sizes() {
        assert_eq!(parse_cache_size("32K"), Some(32768));
        assert_eq!(parse_cache_size("8M\n"), Some(8 << 20));
        assert_eq!(parse_cache_size("512"), Some(512));
        assert_eq!(parse_cache_size("K"), None);
        assert_eq!(parse_cache_size(""), None);
    }
}
