//! `numactl --hardware`, byte for byte as numactl 2.0.19 prints it.
//!
//! The rules, as libnuma applies them:
//! - without `/sys/devices/system/node` the kernel has no NUMA: numactl
//!   prints `No NUMA available on this system` (and exits 1);
//! - the nodes are the `nodeN` folders of `/sys/devices/system/node`; the
//!   highest id is "max node";
//! - `available: K nodes (LIST)` lists them with ranges (`0-1,4-5`);
//! - per node: `node N cpus:` then ` C` for every CPU of `cpumap` (nothing,
//!   not even the newline, when `cpumap` cannot be read), then
//!   `node N size: M MB` and `node N free: M MB` from the node's `meminfo`
//!   (`<not available>` when it cannot be read; free is then `0 MB`);
//! - the k-th number of a node's `distance` file belongs to the k-th node;
//!   distances print with `% 4d` under a `node  ` header; when the distance
//!   from the max node to the first node is unknown (0), the block is
//!   `No distance information available.`

use std::fmt::Write;

use numakit_topo::Machine;

/// What numactl prints, before exiting 1, on a kernel without NUMA.
pub const NO_NUMA: &str = "No NUMA available on this system\n";

/// Whether numactl would find NUMA on `m`: the kernel showed `node/` folders.
pub fn numa_available(m: &Machine) -> bool {
    m.nodes.iter().any(|n| !n.synthetic)
}

/// How a node's CPUs print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuLists {
    /// Every CPU (` 0 1 2 3`).
    Each,
    /// Ranges with a count (` 0-3 (4)`, `--cpu-compress`).
    Compressed,
}

/// The rest of a `node N cpus:` line: every CPU, or ranges and a count.
fn cpu_line(o: &mut String, list: &[u32], cpus: CpuLists) {
    if cpus == CpuLists::Each {
        for c in list {
            let _ = write!(o, " {c}");
        }
        o.push('\n');
        return;
    }
    let mut count = 0;
    let mut first = true;
    let mut i = 0;
    while i < list.len() {
        let start = list[i];
        let mut end = start;
        while i + 1 < list.len() && list[i + 1] == end + 1 {
            i += 1;
            end = list[i];
        }
        i += 1;
        if !first {
            o.push(',');
        }
        first = false;
        count += end - start + 1;
        if start == end {
            let _ = write!(o, " {start}");
        } else {
            let _ = write!(o, " {start}-{end}");
        }
    }
    let _ = writeln!(o, " ({count})");
}

/// Renders `numactl --hardware` for `m`.
pub fn numactl_hardware(m: &Machine, cpus: CpuLists) -> String {
    if !numa_available(m) {
        return NO_NUMA.to_string();
    }
    let mut o = String::new();
    let nodes: Vec<&numakit_topo::Node> = m.nodes.iter().filter(|n| !n.synthetic).collect();
    let ids: Vec<u32> = nodes.iter().map(|n| n.id.0).collect();
    let maxnode = ids.last().copied().unwrap_or(0);
    let _ = write!(o, "available: {} nodes (", ids.len());
    o.push_str(&available_list(&ids, maxnode));
    o.push_str(")\n");
    for n in &nodes {
        let _ = write!(o, "node {} cpus:", n.id);
        if let Some(map) = &n.raw.cpumap {
            let list: Vec<u32> = map.iter_raw().collect();
            cpu_line(&mut o, &list, cpus);
        }
        let size = match n.memory_total_bytes {
            Some(b) => format!("{} MB", b >> 20),
            None => "<not available>".into(),
        };
        let free = format!("{} MB", n.memory_free_bytes.unwrap_or(0) >> 20);
        let _ = writeln!(o, "node {} size: {size}", n.id);
        let _ = writeln!(o, "node {} free: {free}", n.id);
    }
    // distance table indexed by node id, as libnuma builds it
    let dist = |a: u32, b: u32| -> u32 {
        let Some(na) = nodes.iter().find(|n| n.id.0 == a) else {
            return 0;
        };
        let Some(col) = ids.iter().position(|&x| x == b) else {
            return 0;
        };
        let row = &na.raw.distance_row;
        // numbers are read until the first one that does not parse
        let valid = row.iter().take_while(|d| d.is_some()).count();
        if col < valid {
            row[col].unwrap_or(0)
        } else {
            0
        }
    };
    let fst = ids.first().copied().unwrap_or(0);
    if dist(maxnode, fst) == 0 {
        o.push_str("No distance information available.\n");
        return o;
    }
    o.push_str("node distances:\nnode  ");
    for &i in &ids {
        let _ = write!(o, "{} ", pct_4d(i as i64));
    }
    o.push('\n');
    for &i in &ids {
        let _ = write!(o, "{}: ", pct_4d(i as i64));
        for &k in &ids {
            let _ = write!(o, "{} ", pct_4d(dist(i, k) as i32 as i64));
        }
        o.push('\n');
    }
    o
}

/// C's `printf("% 4d", n)`: a space in place of a plus sign, right-aligned in 4.
fn pct_4d(n: i64) -> String {
    let s = if n >= 0 {
        format!(" {n}")
    } else {
        n.to_string()
    };
    format!("{s:>4}")
}

/// The `available:` list exactly as numactl's loop prints it.
fn available_list(ids: &[u32], maxnode: u32) -> String {
    let mut o = String::new();
    let mut prev: Option<u32> = None;
    let mut skip = false;
    for &i in ids {
        match prev {
            None => {
                let _ = write!(o, "{i}");
                prev = Some(i);
                continue;
            }
            Some(p) if i > p + 1 => {
                if skip {
                    let _ = write!(o, "{p}");
                    skip = false;
                }
                let _ = write!(o, ",{i}");
                prev = Some(i);
                continue;
            }
            Some(_) => {
                if !skip {
                    o.push('-');
                    skip = true;
                }
                prev = Some(i);
            }
        }
        if i == maxnode && skip {
            let _ = write!(o, "{i}");
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::available_list;
    #[test]
    fn space_flag() {
        assert_eq!(super::pct_4d(0), "   0");
        assert_eq!(super::pct_4d(10), "  10");
        assert_eq!(super::pct_4d(1000), " 1000");
        assert_eq!(super::pct_4d(-1), "  -1");
    }

    #[test]
    fn available() {
        assert_eq!(available_list(&[0], 0), "0");
        assert_eq!(available_list(&[0, 1], 1), "0-1");
        assert_eq!(available_list(&[0, 1, 4, 5], 5), "0-1,4-5");
        assert_eq!(available_list(&[0, 2, 3, 4, 9], 9), "0,2-4,9");
        assert_eq!(available_list(&[], 0), "");
    }
}
