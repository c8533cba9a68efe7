//! `numakit dmabuf alloc`: one DMA-BUF, on a node, and where its pages are.
//!
//! `--json` prints schema `numakit.dmabuf-alloc/1` (docs/dmabuf.md).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use numakit_dmabuf::Protection;
use numakit_dmabuf::alloc::{OnNode, allocate};
use numakit_dmabuf::pages::{Frames, NodeMap, describe_counts, frames, free_change, node_free};
use numakit_placement::{PageCounts, Placer};
use numakit_root::Root;
use numakit_types::NodeId;
use serde::Serialize;

use super::{SourceArgs, parse_size, size_error, size_text};
use crate::commands::common::open_root;
use crate::error::{CliError, CliResult};
use crate::output::{print, print_json, sanitize};

/// `numakit dmabuf alloc`.
#[derive(Debug, clap::Args)]
pub struct AllocArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Size (4096, 64K, 1M, 8MiB).
    #[arg(long, default_value = "1M")]
    size: String,
    /// Put the buffer's pages on this NUMA node (checked: exit 1 if they are not).
    #[arg(long, value_name = "N")]
    node: Option<u32>,
    /// Name the buffer (DMA_BUF_SET_NAME; at most 31 bytes).
    #[arg(long)]
    name: Option<String>,
    /// Keep the buffer (descriptor and mapping) until the process is stopped.
    #[arg(long)]
    hold: bool,
    /// Print JSON (schema numakit.dmabuf-alloc/1).
    #[arg(long)]
    json: bool,
}

/// What `alloc` reports.
#[derive(Debug, Serialize)]
pub struct AllocReport {
    schema: &'static str,
    pid: u32,
    inode: u64,
    size: u64,
    source: String,
    name: Option<String>,
    node: Option<u32>,
    /// udmabuf: the memfd's pages per node before the buffer was made.
    memfd_pages: Option<PageCounts>,
    /// The buffer's physical pages, as this process maps them.
    frames: Option<Frames>,
    /// Free memory change per node across the allocation, bytes.
    free_change: BTreeMap<u32, i64>,
}

/// Runs `numakit dmabuf alloc`.
pub fn run(root: Option<PathBuf>, a: AllocArgs) -> CliResult<u8> {
    let root = open_root(root)?;
    let size = parse_size(&a.size).map_err(|w| size_error("--size", w))?;
    let source = a.source.source();
    let placer = placer(&root, a.node)?;
    let on = placer.as_ref().zip(a.node).map(|(p, n)| OnNode {
        placer: p,
        node: NodeId(n),
    });
    let before = node_free(&root);
    let new = allocate(&root, &source, size, on, a.name.as_deref())?;
    let free_change = free_change(&before, &node_free(&root));
    let map = new.buf.map(Protection::Read)?;
    let nodes = NodeMap::read(&root);
    let f = frames(&map, nodes.as_ref()).ok();
    let report = AllocReport {
        schema: "numakit.dmabuf-alloc/1",
        pid: std::process::id(),
        inode: map.buffer().inode(),
        size: map.buffer().size(),
        source: source.to_string(),
        name: a.name.clone(),
        node: a.node,
        memfd_pages: new.memfd_pages,
        frames: f,
        free_change,
    };
    if a.json {
        print_json(&report)?;
    } else {
        print(&render(&report, a.hold))?;
    }
    let code = check_node(&report);
    if a.hold {
        loop {
            std::thread::park();
        }
    }
    drop(map);
    Ok(code)
}

/// The placer, when a node is asked for (its checks run before anything
/// is allocated).
pub fn placer(root: &Root, node: Option<u32>) -> CliResult<Option<Placer>> {
    if node.is_none() {
        return Ok(None);
    }
    if !root.is_live() {
        return Err(CliError::new(format!(
            "cannot place a DMA-BUF on {}: it needs the running system",
            root.label()
        ))
        .hint("drop --root (or NUMAKIT_ROOT)"));
    }
    let p = Placer::from_root(root)?;
    if let Some(n) = node {
        p.check(&numakit_placement::Policy::on_node(NodeId(n)))?;
    }
    Ok(Some(p))
}

/// 1 when the physical pages are known and some are not on the node.
fn check_node(r: &AllocReport) -> u8 {
    match (&r.frames, r.node) {
        (Some(f), Some(n)) if f.known > 0 && f.by_node.get(&n).copied().unwrap_or(0) != f.known => {
            crate::output::eprint(&format!(
                "numakit: {} of {} pages of DMA-BUF {} are not on node {n}\n",
                f.known - f.by_node.get(&n).copied().unwrap_or(0),
                f.known,
                r.inode
            ));
            1
        }
        _ => 0,
    }
}

/// A frames summary in words.
pub fn frames_text(f: &Frames) -> String {
    if let Some(n) = &f.note {
        return n.clone();
    }
    let mut s = describe_counts(&f.by_node, f.not_present);
    if f.hidden > 0 {
        let _ = write!(
            s,
            ", {} with hidden frame numbers (needs CAP_SYS_ADMIN)",
            f.hidden
        );
    }
    if f.unknown_node > 0 {
        let _ = write!(s, ", {} on no known node", f.unknown_node);
    }
    if let (Some(first), Some(fp)) = (f.first_pfn, &f.fingerprint) {
        let _ = write!(s, "; first frame {first:#x}, fingerprint {fp}");
    }
    s
}

fn render(r: &AllocReport, hold: bool) -> String {
    let mut s = String::new();
    let name = r
        .name
        .as_deref()
        .map(|n| format!(", name \"{}\"", sanitize(n)))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "DMA-BUF {}: {} from {}{name}",
        r.inode,
        size_text(r.size),
        r.source
    );
    if let Some(m) = &r.memfd_pages {
        let _ = writeln!(
            s,
            "memfd pages before the buffer was made: {}",
            describe_counts(&m.by_node, m.not_present)
        );
    }
    match &r.frames {
        Some(f) => {
            let _ = writeln!(s, "physical pages: {}", frames_text(f));
        }
        None => s.push_str("physical pages: unknown (/proc/self/pagemap not readable)\n"),
    }
    if !r.free_change.is_empty() {
        let ch: Vec<String> = r
            .free_change
            .iter()
            .map(|(n, d)| {
                format!(
                    "node {n} {}{}",
                    if *d < 0 { "-" } else { "+" },
                    size_text(d.unsigned_abs())
                )
            })
            .collect();
        let _ = writeln!(s, "free memory during the allocation: {}", ch.join(", "));
    }
    if hold {
        let _ = writeln!(s, "held by process {} until it is stopped", r.pid);
    }
    s
}
