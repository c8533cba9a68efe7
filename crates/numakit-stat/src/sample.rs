//! Rates between two samples of the system: NUMA misses, page migrations,
//! promotions and demotions, hint faults, per second.

use serde::Serialize;

use crate::system::SystemStat;

/// Events per second between two samples; `None` where a counter is
/// missing from either sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rates {
    /// Seconds between the samples.
    pub seconds: f64,
    /// `numa_miss` per node, per second.
    pub numa_miss: Vec<(u32, f64)>,
    /// Sum of `numa_miss` over the nodes, per second.
    pub misses: Option<f64>,
    /// Pages migrated (`pgmigrate_success`, else `numa_pages_migrated`).
    pub migrations: Option<f64>,
    /// Pages promoted to a faster tier (`pgpromote_success`).
    pub promotions: Option<f64>,
    /// Pages demoted (`pgdemote_*`).
    pub demotions: Option<f64>,
    /// NUMA hinting faults (`numa_hint_faults`).
    pub hint_faults: Option<f64>,
}

fn per_sec(a: Option<u64>, b: Option<u64>, secs: f64) -> Option<f64> {
    // a counter that went backwards (a reset) counts from zero
    let (a, b) = (a?, b?);
    let d = if b >= a { b - a } else { b };
    Some(d as f64 / secs)
}

impl Rates {
    /// The rates from `a` to `b`, `seconds` apart (at least a millisecond
    /// is assumed).
    pub fn between(a: &SystemStat, b: &SystemStat, seconds: f64) -> Rates {
        let secs = seconds.max(0.001);
        let miss = |s: &SystemStat, n: u32| s.node(n)?.numastat.as_ref()?.get("numa_miss");
        let numa_miss: Vec<(u32, f64)> = b
            .nodes
            .iter()
            .filter_map(|n| Some((n.node, per_sec(miss(a, n.node), miss(b, n.node), secs)?)))
            .collect();
        let misses = (!numa_miss.is_empty()).then(|| numa_miss.iter().map(|(_, r)| r).sum());
        let vm = |s: &SystemStat, k: &str| s.vmstat.as_ref()?.get(k);
        let vm_prefix = |s: &SystemStat, k: &str| s.vmstat.as_ref()?.sum_prefix(k);
        let migrations = per_sec(vm(a, "pgmigrate_success"), vm(b, "pgmigrate_success"), secs)
            .or_else(|| {
                per_sec(
                    vm(a, "numa_pages_migrated"),
                    vm(b, "numa_pages_migrated"),
                    secs,
                )
            });
        Rates {
            seconds,
            numa_miss,
            misses,
            migrations,
            promotions: per_sec(vm(a, "pgpromote_success"), vm(b, "pgpromote_success"), secs),
            demotions: per_sec(vm_prefix(a, "pgdemote_"), vm_prefix(b, "pgdemote_"), secs),
            hint_faults: per_sec(vm(a, "numa_hint_faults"), vm(b, "numa_hint_faults"), secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::parse;
    use crate::system::NodeStat;

    fn sys(miss: u64, migrated: u64) -> SystemStat {
        SystemStat {
            nodes: vec![NodeStat {
                node: 0,
                numastat: Some(parse(&format!("numa_miss {miss}\n"))),
                meminfo: None,
                vmstat: None,
                hugepages: vec![],
                memory_tier: None,
            }],
            vmstat: Some(parse(&format!(
                "pgmigrate_success {migrated}\npgdemote_kswapd 4\n"
            ))),
            default_huge_page_size: None,
        }
    }

    #[test]
    fn rates() {
        let r = Rates::between(&sys(10, 100), &sys(30, 140), 2.0);
        assert_eq!(r.misses, Some(10.0));
        assert_eq!(r.migrations, Some(20.0));
        assert_eq!(r.demotions, Some(0.0));
        assert_eq!(r.promotions, None);
        // a reset counts from zero
        assert_eq!(
            Rates::between(&sys(50, 0), &sys(8, 0), 1.0).misses,
            Some(8.0)
        );
    }
}
