//! The cgroup view: `memory.numa_stat` per node and the effective
//! `cpuset.cpus`/`cpuset.mems`, for cgroup v2 and v1.

use std::collections::BTreeMap;

use numakit_root::Root;
use numakit_types::{CpuSet, NodeSet};
use serde::Serialize;

use crate::{Error, Result};

/// Where cgroups are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// One cgroup.
#[derive(Debug, Clone, Serialize)]
pub struct CgroupStat {
    /// The path as given.
    pub path: String,
    /// The folder read, inside the root.
    pub dir: String,
    /// 2 or 1.
    pub version: u8,
    /// `memory.numa_stat`: per item (`anon`, `file`, ...), bytes per node.
    /// For cgroup v1, pages are converted with the base page size.
    pub numa_stat: Vec<(String, BTreeMap<u32, u64>)>,
    /// `cpuset.cpus.effective`.
    pub cpus_effective: Option<CpuSet>,
    /// `cpuset.mems.effective`.
    pub mems_effective: Option<NodeSet>,
    /// `cpuset.mems` as configured (empty: inherited from the parent).
    pub mems_configured: Option<String>,
}

impl CgroupStat {
    /// Bytes per node of item `key`.
    pub fn item(&self, key: &str) -> Option<&BTreeMap<u32, u64>> {
        self.numa_stat
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

/// Parses `key N0=a N1=b` lines (v2: bytes; v1: `total=t N0=a`, pages).
pub fn parse_numa_stat(text: &str, scale: u64) -> Vec<(String, BTreeMap<u32, u64>)> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let first = words.next()?;
            let key = first.split_once('=').map_or(first, |(k, _)| k).to_string();
            let by: BTreeMap<u32, u64> = words
                .filter_map(|w| {
                    let (n, v) = w.strip_prefix('N')?.split_once('=')?;
                    Some((
                        n.parse().ok()?,
                        v.parse::<u64>().ok()?.saturating_mul(scale),
                    ))
                })
                .collect();
            Some((key, by))
        })
        .collect()
}

/// The folder of `path`: an absolute path under the cgroup mount is kept,
/// anything else is taken relative to it.
fn resolve(path: &str) -> String {
    if path.starts_with(CGROUP_ROOT) {
        path.trim_end_matches('/').to_string()
    } else {
        format!("{CGROUP_ROOT}/{}", path.trim_matches('/'))
            .trim_end_matches('/')
            .to_string()
    }
}

/// Reads a cgroup: v2 at `/sys/fs/cgroup/PATH`, else v1 under the
/// `memory` and `cpuset` hierarchies.
pub fn read(root: &Root, path: &str, base_page_size: u64) -> Result<CgroupStat> {
    let dir = resolve(path);
    let rel = dir.strip_prefix(CGROUP_ROOT).unwrap_or("").to_string();
    let v1_mem = format!("{CGROUP_ROOT}/memory{rel}");
    let v1_cpuset = format!("{CGROUP_ROOT}/cpuset{rel}");
    let (version, mem_dir, cpuset_dir) = if root.exists(&format!("{dir}/cgroup.controllers"))
        || root.exists(&format!("{dir}/cgroup.procs")) && !root.is_dir(&v1_mem)
    {
        (2, dir.clone(), dir.clone())
    } else if root.is_dir(&v1_mem) || root.is_dir(&v1_cpuset) {
        (1, v1_mem, v1_cpuset)
    } else {
        return Err(Error::NoSuchCgroup {
            path: path.to_string(),
        });
    };
    let (numa_file, scale, cpus, mems) = if version == 2 {
        (
            "memory.numa_stat",
            1,
            "cpuset.cpus.effective",
            "cpuset.mems.effective",
        )
    } else {
        (
            "memory.numa_stat",
            base_page_size,
            "cpuset.effective_cpus",
            "cpuset.effective_mems",
        )
    };
    let numa_stat = root
        .read_to_string(&format!("{mem_dir}/{numa_file}"))
        .map(|t| parse_numa_stat(&t, scale))
        .unwrap_or_default();
    Ok(CgroupStat {
        path: path.to_string(),
        dir,
        version,
        numa_stat,
        cpus_effective: root
            .read_trim(&format!("{cpuset_dir}/{cpus}"))
            .and_then(|s| CpuSet::parse_list(&s).ok()),
        mems_effective: root
            .read_trim(&format!("{cpuset_dir}/{mems}"))
            .and_then(|s| NodeSet::parse_list(&s).ok()),
        mems_configured: root.read_trim(&format!("{cpuset_dir}/cpuset.mems")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numa_stat_forms() {
        let v2 = parse_numa_stat("anon N0=4096 N1=8192\nfile N0=0 N1=1\nbad\n", 1);
        assert_eq!(v2[0].0, "anon");
        assert_eq!(v2[0].1[&1], 8192);
        let v1 = parse_numa_stat("total=3 N0=1 N1=2\nhierarchical_total=3 N0=1 N1=2\n", 4096);
        assert_eq!(v1[0].0, "total");
        assert_eq!(v1[0].1[&1], 8192);
        assert_eq!(resolve("/sys/fs/cgroup/a/b/"), "/sys/fs/cgroup/a/b");
        assert_eq!(resolve("a/b"), "/sys/fs/cgroup/a/b");
        assert_eq!(resolve("/"), "/sys/fs/cgroup");
    }
}
