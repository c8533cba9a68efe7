//! Kernel knobs that shape placement: NUMA balancing, demotion, weighted
//! interleave weights, transparent hugepages, zone reclaim.

use std::collections::BTreeMap;

use numakit_root::Root;
use serde::Serialize;

use crate::util::numbered_below;

/// Kernel settings read from `/proc/sys` and `/sys/kernel/mm`; `None` when unknown.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Knobs {
    /// `kernel.numa_balancing`, raw.
    pub numa_balancing: Option<u32>,
    /// What `numa_balancing` means: `off`, `normal`, `memory-tiering`,
    /// `normal+memory-tiering`, or `unknown(N)`.
    pub numa_balancing_mode: Option<String>,
    /// `/sys/kernel/mm/numa/demotion_enabled`.
    pub demotion_enabled: Option<bool>,
    /// Weighted-interleave weight per node (`/sys/kernel/mm/mempolicy/weighted_interleave/nodeN`).
    pub weighted_interleave: BTreeMap<u32, u32>,
    /// Whether the weights are set automatically from HMAT bandwidth (`.../weighted_interleave/auto`).
    pub weighted_interleave_auto: Option<bool>,
    /// Transparent hugepage mode: `always`, `madvise` or `never`.
    pub thp_enabled: Option<String>,
    /// Transparent hugepage defrag mode.
    pub thp_defrag: Option<String>,
    /// `vm.zone_reclaim_mode`.
    pub zone_reclaim_mode: Option<u32>,
}

/// Decodes `kernel.numa_balancing`.
pub fn numa_balancing_mode(v: u32) -> String {
    match v {
        0 => "off".into(),
        1 => "normal".into(),
        2 => "memory-tiering".into(),
        3 => "normal+memory-tiering".into(),
        n => format!("unknown({n})"),
    }
}

/// Picks the bracketed choice of a sysfs selector (`always [madvise] never`).
pub fn bracketed(s: &str) -> Option<String> {
    let a = s.find('[')?;
    let b = s[a..].find(']')? + a;
    Some(s[a + 1..b].to_string())
}

/// A boolean as sysfs writes them (`true`/`false`, `1`/`0`, `Y`/`N`).
fn sysfs_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "1" | "Y" => Some(true),
        "false" | "0" | "N" => Some(false),
        _ => None,
    }
}

pub(crate) fn read(root: &Root) -> Knobs {
    let nb = root
        .read_u64("/proc/sys/kernel/numa_balancing")
        .and_then(|v| u32::try_from(v).ok());
    let wi = "/sys/kernel/mm/mempolicy/weighted_interleave";
    let weighted_interleave = numbered_below(root, wi, "node", numakit_types::MAX_NODES)
        .into_iter()
        .filter_map(|(n, name)| {
            Some((
                n,
                u32::try_from(root.read_u64(&format!("{wi}/{name}"))?).ok()?,
            ))
        })
        .collect();
    let auto = root
        .read_trim(&format!("{wi}/auto"))
        .and_then(|s| sysfs_bool(&s));
    Knobs {
        numa_balancing: nb,
        numa_balancing_mode: nb.map(numa_balancing_mode),
        demotion_enabled: root
            .read_trim("/sys/kernel/mm/numa/demotion_enabled")
            .and_then(|s| sysfs_bool(&s)),
        weighted_interleave,
        weighted_interleave_auto: auto,
        thp_enabled: root
            .read_trim("/sys/kernel/mm/transparent_hugepage/enabled")
            .and_then(|s| bracketed(&s)),
        thp_defrag: root
            .read_trim("/sys/kernel/mm/transparent_hugepage/defrag")
            .and_then(|s| bracketed(&s)),
        zone_reclaim_mode: root
            .read_u64("/proc/sys/vm/zone_reclaim_mode")
            .and_then(|v| u32::try_from(v).ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn decode() {
        assert_eq!(numa_balancing_mode(0), "off");
        assert_eq!(numa_balancing_mode(3), "normal+memory-tiering");
        assert_eq!(numa_balancing_mode(9), "unknown(9)");
        assert_eq!(
            bracketed("always [madvise] never").as_deref(),
            Some("madvise")
        );
        assert_eq!(bracketed("garbage"), None);
        assert_eq!(bracketed("a ]b["), None);
        assert_eq!(sysfs_bool("Y"), Some(true));
        assert_eq!(sysfs_bool("false"), Some(false));
        assert_eq!(sysfs_bool("maybe"), None);
    }
}
