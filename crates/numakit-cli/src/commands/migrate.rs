//! `numakit migrate PID --from NODES --to NODES`: moves a process's pages
//! and reports the per-node counts before and after.

use std::path::PathBuf;

use numakit_types::NodeSet;
use serde::Serialize;

use crate::commands::common::{
    LiveAction, count_pages, explain, live_placer, no_user_memory, open_root, parse_nodes,
    read_maps,
};
use crate::error::{CliResult, EXIT_FINDINGS, EXIT_OK};
use crate::output;

/// Arguments of `numakit migrate`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Counts the process's pages per node (move_pages queries) before and after migrate_pages.\n\nExit status: 0 every page moved; 1 some pages were not moved; 2 bad input, no such process, a kernel thread or a zombie (no user memory), no permission."
)]
pub struct MigrateArgs {
    /// The process.
    pub pid: i32,
    /// Move pages from these nodes.
    #[arg(long, value_name = "NODES")]
    pub from: String,
    /// To these nodes.
    #[arg(long, value_name = "NODES")]
    pub to: String,
    /// Print JSON (schema `numakit.migrate/1`).
    #[arg(long)]
    pub json: bool,
}

/// Per-node counts of `numakit.migrate/1`.
#[derive(Debug, Serialize)]
pub struct NodeMove {
    /// The node.
    pub node: u32,
    /// Present pages before.
    pub before: u64,
    /// Present pages after.
    pub after: u64,
}

/// The `numakit.migrate/1` document.
#[derive(Debug, Serialize)]
pub struct MigrateReport {
    /// Always `numakit.migrate/1`.
    pub schema: &'static str,
    /// The process.
    pub pid: i32,
    /// Source nodes.
    pub from: NodeSet,
    /// Target nodes.
    pub to: NodeSet,
    /// Per node, before and after.
    pub nodes: Vec<NodeMove>,
    /// Pages that left the source nodes.
    pub moved: u64,
    /// Pages the kernel could not move (migrate_pages' return value).
    pub not_moved: u64,
}

/// Runs `numakit migrate`.
pub fn run(root: Option<PathBuf>, args: MigrateArgs) -> CliResult<u8> {
    let root = open_root(root)?;
    let placer = live_placer(&root, LiveAction::MigratePages)?;
    let from = parse_nodes("--from", &args.from, placer.machine())?;
    let to = parse_nodes("--to", &args.to, placer.machine())?;
    if let Some(e) = no_user_memory(&root, args.pid, "move") {
        return Err(e);
    }
    let count = || {
        read_maps(&root, args.pid)
            .and_then(|maps| count_pages(&root, &placer, args.pid, &maps, None))
            .map(|(_, total)| total)
            .map_err(|e| explain(&root, args.pid, "move", e))
    };
    let before = count()?;
    let outcome = placer
        .migrate_process(args.pid, &from, &to)
        .map_err(|e| explain(&root, args.pid, "move", e.into()))?;
    let after = count()?;
    let mut ids: Vec<u32> = placer.machine().node_ids().iter_raw().collect();
    ids.extend(before.by_node.keys().chain(after.by_node.keys()));
    ids.sort_unstable();
    ids.dedup();
    let get = |c: &numakit_placement::PageCounts, n: u32| c.by_node.get(&n).copied().unwrap_or(0);
    let nodes: Vec<NodeMove> = ids
        .iter()
        .map(|n| NodeMove {
            node: *n,
            before: get(&before, *n),
            after: get(&after, *n),
        })
        .collect();
    let moved = nodes
        .iter()
        .filter(|n| from.contains_raw(n.node) && !to.contains_raw(n.node))
        .map(|n| n.before.saturating_sub(n.after))
        .sum();
    let report = MigrateReport {
        schema: "numakit.migrate/1",
        pid: args.pid,
        from,
        to,
        nodes,
        moved,
        not_moved: outcome.not_moved,
    };
    if args.json {
        output::print_json(&report)?;
    } else {
        let mut t = format!("{:<6} {:>10} {:>10}\n", "NODE", "BEFORE", "AFTER");
        for n in &report.nodes {
            t.push_str(&format!("{:<6} {:>10} {:>10}\n", n.node, n.before, n.after));
        }
        t.push_str(&format!(
            "moved {} pages from node(s) {} to {}; not moved: {}\n",
            report.moved, report.from, report.to, report.not_moved
        ));
        output::print(&t)?;
    }
    Ok(if report.not_moved > 0 {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}
