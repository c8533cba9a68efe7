//! `numakit pages PID`: how many pages of each mapping are on each node.

use std::collections::BTreeMap;
use std::path::PathBuf;

use numakit_placement::maps::parse_range;
use numakit_placement::{PageCounts, Placer};
use serde::Serialize;

use crate::commands::common::{
    LiveAction, MappingPages, count_pages, explain, live_placer, no_user_memory, open_root,
    read_maps,
};
use crate::error::CliResult;
use crate::output;

/// Arguments of `numakit pages`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Counts come from move_pages queries (one per 16384 pages), like numa_maps. Mappings without access rights (guard pages) are skipped, and so are the queries of mappings with nothing resident (Rss 0 in /proc/PID/smaps). A long count shows its progress on a terminal.\n\nExit status: 0 ok; 2 no such process, a kernel thread or a zombie (no user memory), no permission, bad range."
)]
pub struct PagesArgs {
    /// The process.
    pub pid: i32,
    /// Only this address range: START-END in hex (END exclusive).
    #[arg(long, value_name = "ADDR-ADDR")]
    pub range: Option<String>,
    /// Print JSON (schema `numakit.pages/1`).
    #[arg(long)]
    pub json: bool,
}

/// The `numakit.pages/1` document. `by_node` maps node numbers (as strings)
/// to present pages; `not_present` counts pages never touched or swapped
/// out; `unavailable` pages the kernel could not report.
#[derive(Debug, Serialize)]
pub struct PagesReport {
    /// Always `numakit.pages/1`.
    pub schema: &'static str,
    /// The process.
    pub pid: i32,
    /// Base page size in bytes.
    pub page_size: u64,
    /// Mappings in address order.
    pub mappings: Vec<MappingPages>,
    /// Sums over all mappings.
    pub total: PageCounts,
}

/// Runs `numakit pages`.
pub fn run(root: Option<PathBuf>, args: PagesArgs) -> CliResult<u8> {
    let root = open_root(root)?;
    let placer = live_placer(&root, LiveAction::CountPages)?;
    let range = match &args.range {
        Some(r) => Some(parse_range(r)?),
        None => None,
    };
    if let Some(e) = no_user_memory(&root, args.pid, "count") {
        return Err(e);
    }
    let (mappings, total) = read_maps(&root, args.pid)
        .and_then(|maps| count_pages(&root, &placer, args.pid, &maps, range))
        .map_err(|e| explain(&root, args.pid, "count", e))?;
    let report = PagesReport {
        schema: "numakit.pages/1",
        pid: args.pid,
        page_size: numakit_placement::page_size() as u64,
        mappings,
        total,
    };
    if args.json {
        output::print_json(&report)?;
        return Ok(0);
    }
    output::print(&render(&report, &placer))?;
    Ok(0)
}

fn render(r: &PagesReport, placer: &Placer) -> String {
    let mut nodes: Vec<u32> = placer.machine().node_ids().iter_raw().collect();
    for n in r.total.by_node.keys() {
        if !nodes.contains(n) {
            nodes.push(*n);
        }
    }
    nodes.sort_unstable();
    let mut t = String::new();
    let mut head = format!("{:<33} {:<4} {:>9}", "MAPPING", "PERM", "PAGES");
    for n in &nodes {
        head.push_str(&format!(" {:>9}", format!("N{n}")));
    }
    head.push_str(&format!(" {:>11}  PATH\n", "NOT-PRESENT"));
    t.push_str(&head);
    let row = |c: &PageCounts| {
        let mut s = format!("{:>9}", c.pages);
        for n in &nodes {
            s.push_str(&format!(" {:>9}", c.by_node.get(n).copied().unwrap_or(0)));
        }
        s.push_str(&format!(" {:>11}", c.not_present + c.unavailable));
        s
    };
    let mut hidden = 0;
    for m in &r.mappings {
        if m.counts.present() == 0 {
            hidden += 1;
            continue;
        }
        t.push_str(&format!(
            "{:<33} {:<4} {}  {}\n",
            format!("{}-{}", m.start, m.end),
            m.perms,
            row(&m.counts),
            output::sanitize(&m.path)
        ));
    }
    t.push_str(&format!("{:<33} {:<4} {}\n", "total", "", row(&r.total)));
    let mut per: BTreeMap<u32, u64> = BTreeMap::new();
    for n in &nodes {
        per.insert(*n, r.total.by_node.get(n).copied().unwrap_or(0));
    }
    let ps = r.page_size;
    let line: Vec<String> = per
        .iter()
        .map(|(n, c)| format!("node {n}: {c} pages ({} KiB)", c * ps / 1024))
        .collect();
    t.push_str(&line.join(", "));
    t.push('\n');
    if hidden > 0 {
        t.push_str(&format!(
            "({hidden} mappings without present pages not shown)\n"
        ));
    }
    t
}
