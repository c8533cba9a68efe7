//! Small parsing helpers over a root.

use numakit_root::Root;
use numakit_types::{CpuSet, NodeSet};

/// Reads a kernel list file (`0-3,8`); `None` if missing or garbage.
pub(crate) fn read_cpulist(root: &Root, path: &str) -> Option<CpuSet> {
    CpuSet::parse_list(&root.read_trim(path)?).ok()
}

/// Reads a kernel node list file.
pub(crate) fn read_nodelist(root: &Root, path: &str) -> Option<NodeSet> {
    NodeSet::parse_list(&root.read_trim(path)?).ok()
}

/// Reads a kernel CPU mask file (`ff,ffffffff`).
pub(crate) fn read_cpumask(root: &Root, path: &str) -> Option<CpuSet> {
    CpuSet::parse_mask(&root.read_trim(path)?).ok()
}

/// Names in `dir` of the form `PREFIXnumber`, with their numbers, sorted by number.
pub(crate) fn numbered_entries(root: &Root, dir: &str, prefix: &str) -> Vec<(u32, String)> {
    numbered_below(root, dir, prefix, u32::MAX)
}

/// [`numbered_entries`] whose numbers are below `limit` (the kernel's
/// [`numakit_types::MAX_CPUS`] or [`numakit_types::MAX_NODES`]): a folder
/// named `cpu4294967295` is not a CPU of any kernel.
pub(crate) fn numbered_below(
    root: &Root,
    dir: &str,
    prefix: &str,
    limit: u32,
) -> Vec<(u32, String)> {
    let mut v: Vec<(u32, String)> = root
        .read_dir(dir)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| {
            let rest = n.strip_prefix(prefix)?;
            if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let i: u32 = rest.parse().ok()?;
            (i < limit).then_some((i, n))
        })
        .collect();
    v.sort();
    v
}

/// Parses a meminfo-style value: `8388608 kB` → bytes; a bare number stays a count.
pub(crate) fn meminfo_value(v: &str) -> Option<u64> {
    let mut it = v.split_whitespace();
    let n: u64 = it.next()?.parse().ok()?;
    match it.next() {
        // a value too large for bytes is garbage, not u64::MAX
        Some("kB") => n.checked_mul(1024),
        Some(_) => None,
        None => Some(n),
    }
}
