//! `numakit pages PID`: how many pages of each mapping are on each node.

use std::collections::BTreeMap;
use std::path::PathBuf;

use numakit_placement::maps::{MapsEntry, parse_maps, parse_range};
use numakit_placement::{Error as PlacementError, KernelSupport, LiveBackend, PageCounts, Placer};
use numakit_root::Root;
use numakit_topo::{Machine, Parts};
use serde::Serialize;

use crate::commands::run::from_placement;
use crate::error::{CliError, CliResult};
use crate::output;

/// Arguments of `numakit pages`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Counts come from move_pages queries (one per 16384 pages), like numa_maps. Mappings without access rights (guard pages) are skipped.\n\nExit status: 0 ok; 2 no such process, no permission, bad range."
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

/// One mapping in `numakit.pages/1`.
#[derive(Debug, Serialize)]
pub struct MappingPages {
    /// Start, hex without 0x (as in /proc/PID/maps).
    pub start: String,
    /// End (exclusive), hex.
    pub end: String,
    /// Permissions.
    pub perms: String,
    /// Path or pseudo-name, empty for anonymous memory.
    pub path: String,
    /// The counts.
    #[serde(flatten)]
    pub counts: PageCounts,
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

/// Reads and parses `/proc/PID/maps` of a live process.
pub fn read_maps(root: &Root, pid: i32) -> CliResult<Vec<MapsEntry>> {
    let text = root
        .read_to_string(&format!("/proc/{pid}/maps"))
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => from_placement(PlacementError::NoSuchProcess { pid }),
            std::io::ErrorKind::PermissionDenied => CliError::new(format!(
                "cannot read the mappings of process {pid}: permission denied"
            ))
            .hint("reading another user's process needs root or CAP_SYS_PTRACE"),
            _ => CliError::new(format!("cannot read /proc/{pid}/maps: {e}")),
        })?;
    parse_maps(&text).map_err(from_placement)
}

/// A placer for querying and moving pages (needs the running system).
pub fn live_placer(root: &Root, what: &str) -> CliResult<Placer> {
    if !root.is_live() {
        return Err(CliError::new(format!(
            "cannot {what} on {}: it needs the running system",
            root.label()
        ))
        .hint("drop --root (or NUMAKIT_ROOT)"));
    }
    let m = Machine::discover_parts(
        root,
        Parts {
            cpus: true,
            ..Parts::NODES
        },
    );
    let k = KernelSupport::from_machine(&m);
    Ok(Placer::with_backend(m, k, LiveBackend))
}

/// Counts the pages of every accessible mapping of `pid` within `range`.
pub fn count(
    placer: &Placer,
    pid: i32,
    maps: &[MapsEntry],
    range: Option<(u64, u64)>,
) -> CliResult<(Vec<MappingPages>, PageCounts)> {
    let mut out = Vec::new();
    let mut total = PageCounts::default();
    // every node of the machine appears, with 0 when it holds nothing
    let zero = |c: &mut PageCounts| {
        for n in placer.machine().node_ids().iter_raw() {
            c.by_node.entry(n).or_insert(0);
        }
    };
    zero(&mut total);
    for e in maps.iter().filter(|e| e.accessible()) {
        let (s, t) = match range {
            Some((a, b)) => (e.start.max(a), e.end.min(b)),
            None => (e.start, e.end),
        };
        if s >= t {
            continue;
        }
        let mut c = placer.page_counts(pid, s, t).map_err(from_placement)?;
        zero(&mut c);
        total.add(&c);
        out.push(MappingPages {
            start: format!("{s:x}"),
            end: format!("{t:x}"),
            perms: e.perms.clone(),
            path: e.path.clone(),
            counts: c,
        });
    }
    Ok((out, total))
}

/// Runs `numakit pages`.
pub fn run(root: Option<PathBuf>, args: PagesArgs) -> CliResult<u8> {
    let root = crate::commands::topo::open_root(root)?;
    let placer = live_placer(&root, "count pages")?;
    let range = match &args.range {
        Some(r) => Some(parse_range(r).map_err(from_placement)?),
        None => None,
    };
    let maps = read_maps(&root, args.pid)?;
    let (mappings, total) = count(&placer, args.pid, &maps, range)?;
    let report = PagesReport {
        schema: "numakit.pages/1",
        pid: args.pid,
        page_size: numakit_sys::mm::page_size() as u64,
        mappings,
        total,
    };
    if args.json {
        output::print_json(&report)?;
        return Ok(0);
    }
    output::print(&render(&report, &placer))
        .map_err(|e| CliError::new(format!("cannot write output: {e}")))?;
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
