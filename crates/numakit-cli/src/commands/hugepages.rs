//! `numakit hugepages`: persistent huge pages per NUMA node and size;
//! with `--count`, reserve or release them on one node (or system-wide)
//! and report what the kernel gave.

use std::fmt::Write;
use std::path::PathBuf;

use numakit_placement::hugepages::{self, PoolTarget, Shortfall};
use numakit_topo::{Machine, Parts};
use numakit_types::{ByteSize, NodeId};
use serde::Serialize;

use crate::commands::common::open_root;
use crate::error::{CliError, CliResult};
use crate::output;

/// The schema of `numakit hugepages --json`.
pub const SCHEMA: &str = "numakit.hugepages/1";

/// Arguments of `numakit hugepages`.
#[derive(Debug, clap::Args)]
pub struct HugepagesArgs {
    /// The node whose pool to change (default: the system-wide pool, which
    /// the kernel spreads over the nodes with memory).
    #[arg(long, value_name = "N")]
    pub node: Option<u32>,
    /// The huge page size: 2M, 1G, 64K, 2048kB... (default: the kernel's
    /// default huge page size).
    #[arg(long, value_name = "SIZE")]
    pub size: Option<String>,
    /// Set the pool to K pages (0 releases them all). Exit 1 when the kernel
    /// gives fewer; the pool is then set back to what it held.
    #[arg(long, value_name = "K")]
    pub count: Option<u64>,
    /// With --count: keep the pages the kernel gave when it gives fewer.
    #[arg(long, requires = "count")]
    pub keep_partial: bool,
    /// Print the pools as JSON (schema `numakit.hugepages/1`, see docs/exports.md).
    #[arg(long)]
    pub json: bool,
}

/// Parses a huge page size: a number with `K`, `M`, `G` (binary) or `kB`.
fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let (num, mul) = if let Some(n) = lower.strip_suffix("kb") {
        (n, 1u64 << 10)
    } else if let Some(n) = lower.strip_suffix("k").or(lower.strip_suffix("kib")) {
        (n, 1 << 10)
    } else if let Some(n) = lower.strip_suffix("m").or(lower.strip_suffix("mib")) {
        (n, 1 << 20)
    } else if let Some(n) = lower.strip_suffix("g").or(lower.strip_suffix("gib")) {
        (n, 1 << 30)
    } else {
        (lower.as_str(), 1)
    };
    num.trim()
        .parse::<u64>()
        .ok()?
        .checked_mul(mul)
        .filter(|v| *v > 0)
}

/// One pool in the listing.
#[derive(Debug, Serialize)]
struct Pool {
    node: u32,
    size_bytes: u64,
    total: Option<u64>,
    free: Option<u64>,
    surplus: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Listing {
    schema: &'static str,
    pools: Vec<Pool>,
}

/// Runs `numakit hugepages`.
pub fn run(root: Option<PathBuf>, args: HugepagesArgs) -> CliResult<u8> {
    let root = open_root(root)?;
    let m = Machine::discover_parts(
        &root,
        Parts {
            node_details: true,
            ..Parts::NODES
        },
    );
    let Some(count) = args.count else {
        if args.node.is_some() || args.size.is_some() {
            return Err(CliError::new("--node and --size need --count")
                .hint("'numakit hugepages' alone lists every pool"));
        }
        return list(&m, args.json);
    };
    let size_bytes = match &args.size {
        Some(s) => parse_size(s).ok_or_else(|| {
            CliError::new(format_args!(
                "cannot read huge page size '{}': expected a size such as 2M or 1G",
                output::sanitize(s)
            ))
        })?,
        None => default_size(&root).ok_or_else(|| {
            CliError::new(
                "the kernel's default huge page size is unknown (no Hugepagesize in /proc/meminfo)",
            )
            .hint("give one with --size 2M")
        })?,
    };
    let target = PoolTarget {
        node: args.node.map(NodeId),
        size_bytes,
    };
    let shortfall = if args.keep_partial {
        Shortfall::Keep
    } else {
        Shortfall::Restore
    };
    let change = hugepages::set_pool(&root, &m, &target, count, shortfall)?;
    report(&change, args.json)
}

fn default_size(root: &numakit_root::Root) -> Option<u64> {
    let text = root.read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("Hugepagesize:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn place(t: &PoolTarget) -> String {
    match t.node {
        Some(n) => format!("node {n}"),
        None => "the system".into(),
    }
}

fn report(c: &hugepages::PoolChange, json: bool) -> CliResult<u8> {
    let size = ByteSize(c.target.size_bytes);
    if json {
        output::print_json(&serde_json::json!({
            "schema": SCHEMA,
            "change": {
                "node": c.target.node.map(|n| n.0),
                "size_bytes": c.target.size_bytes,
                "before": c.before,
                "asked": c.asked,
                "given": c.given,
                "now": c.now,
            }
        }))?;
    } else if c.complete() {
        output::print(&format!(
            "{}: {} {size} huge pages (was {})\n",
            place(&c.target),
            c.now,
            c.before
        ))?;
    }
    if c.complete() {
        return Ok(0);
    }
    let what = if c.now == c.before && c.given != c.before {
        format!("set back to {}", c.before)
    } else {
        format!("kept {}", c.now)
    };
    crate::output::eprint(&format!(
        "numakit: {} got {} of the {} {size} huge pages asked (had {}); {what}\n\
         hint: memory may be short or fragmented; try fewer pages, or at boot (hugepages= on the kernel command line)\n",
        place(&c.target),
        c.given,
        c.asked,
        c.before
    ));
    Ok(1)
}

fn list(m: &Machine, json: bool) -> CliResult<u8> {
    let pools: Vec<Pool> = m
        .nodes
        .iter()
        .flat_map(|n| {
            n.hugepages.iter().map(move |p| Pool {
                node: n.id.0,
                size_bytes: p.size_bytes,
                total: p.total,
                free: p.free,
                surplus: p.surplus,
            })
        })
        .collect();
    if json {
        output::print_json(&Listing {
            schema: SCHEMA,
            pools,
        })?;
        return Ok(0);
    }
    let mut s = String::from("node  size     total   free  surplus\n");
    let n = |v: Option<u64>| v.map_or("?".to_string(), |x| x.to_string());
    for p in &pools {
        let _ = writeln!(
            s,
            "{:>4}  {:<6} {:>6} {:>6} {:>8}",
            p.node,
            ByteSize(p.size_bytes).to_string(),
            n(p.total),
            n(p.free),
            n(p.surplus)
        );
    }
    if pools.is_empty() {
        s.push_str("(no huge page pools)\n");
    }
    output::print(&s)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2M"), Some(2 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("2048kB"), Some(2 << 20));
        assert_eq!(parse_size("64K"), Some(64 << 10));
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("lots"), None);
    }
}
