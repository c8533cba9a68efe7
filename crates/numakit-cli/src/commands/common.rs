//! What the commands share: opening the root, refusing a root that is not
//! the running system for actions, node lists, the live placer, and a
//! process's mappings with their page counts. Commands import from here and
//! never from each other.

use std::collections::HashMap;
use std::path::PathBuf;

use numakit_placement::maps::{MapsEntry, parse_maps};
use numakit_placement::{Error as PlacementError, KernelSupport, LiveBackend, PageCounts, Placer};
use numakit_root::Root;
use numakit_topo::{Machine, Parts};
use numakit_types::{AddrRange, NodeSet};
use serde::Serialize;

use crate::error::{CliError, CliResult};

/// The parts of the machine that the IOMMU report, vfio bind/unbind and
/// the DMA self-test read: nodes, PCI devices and the IOMMU.
pub const IOMMU_PARTS: Parts = Parts {
    pci: true,
    iommu: true,
    ..Parts::NODES
};

/// Opens the root named by `--root`/`NUMAKIT_ROOT` (the caller has already
/// taken an empty `NUMAKIT_ROOT` as unset), or `/`.
pub fn open_root(root: Option<PathBuf>) -> CliResult<Root> {
    Ok(Root::open_or_live(root.as_deref())?)
}

/// An action that needs the running system. Each says in its own words why
/// a snapshot or a directory will not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveAction {
    /// `numakit pages`.
    CountPages,
    /// `numakit migrate` and `migratepages`.
    MigratePages,
    /// `numakit run`.
    RunCommand,
    /// `numakit show`.
    ShowPolicy,
    /// `numakit bench`.
    Measure,
}

impl LiveAction {
    /// The refusal for a root labelled `label`.
    fn refusal(self, label: &str) -> String {
        match self {
            LiveAction::CountPages => {
                format!("cannot count pages on {label}: it needs the running system")
            }
            LiveAction::MigratePages => {
                format!("cannot migrate pages on {label}: it needs the running system")
            }
            LiveAction::RunCommand => {
                format!("cannot run a command on {label}: placement needs the running system")
            }
            LiveAction::Measure => {
                format!("cannot measure memory on {label}: benchmarks need the running system")
            }
            LiveAction::ShowPolicy => {
                format!("cannot show the policy of {label}: it is a property of a running process")
            }
        }
    }
}

/// Refuses a root that is not the running system for `action`.
pub fn require_live(root: &Root, action: LiveAction) -> CliResult<()> {
    if root.is_live() {
        return Ok(());
    }
    Err(CliError::new(action.refusal(root.label())).hint("drop --root (or NUMAKIT_ROOT)"))
}

/// Parses a node list, or `all` (the allowed memory nodes, else every node).
pub fn parse_nodes(opt: &str, s: &str, m: &Machine) -> CliResult<NodeSet> {
    if s == "all" {
        return Ok(m.allowed.mems.clone().unwrap_or_else(|| m.node_ids()));
    }
    NodeSet::parse_list(s).map_err(|e| {
        CliError::new(format!("{opt} {s:?}: {}", e.reason()))
            .hint("nodes are a list like 0, 0-1 or 0,2-3, or 'all'")
    })
}

/// A placer for querying and moving pages (needs the running system): the
/// nodes and CPUs of the machine, and what the kernel supports.
pub fn live_placer(root: &Root, action: LiveAction) -> CliResult<Placer> {
    require_live(root, action)?;
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

/// What a process is, as its `/proc/PID/stat` says: whether it has user
/// memory to count or move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessKind {
    /// A user process, with memory.
    User,
    /// A kernel thread (`PF_KTHREAD`): no user memory.
    KernelThread,
    /// A zombie: it has exited, its memory is gone, its parent has not
    /// reaped it yet.
    Zombie,
    /// No such process (any more).
    Gone,
}

/// `PF_KTHREAD` in the flags field of `/proc/PID/stat`.
const PF_KTHREAD: u64 = 0x0020_0000;

/// What `pid` is now.
pub fn process_kind(root: &Root, pid: i32) -> ProcessKind {
    let Ok(stat) = root.read_to_string(&format!("/proc/{pid}/stat")) else {
        return ProcessKind::Gone;
    };
    // the command name is in parentheses and may hold anything: the fields
    // after it are state, ppid, pgrp, session, tty, tpgid, flags
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    match (
        fields.first().copied(),
        fields.get(6).and_then(|f| f.parse::<u64>().ok()),
    ) {
        (Some("Z" | "X" | "x"), _) => ProcessKind::Zombie,
        (_, Some(flags)) if flags & PF_KTHREAD != 0 => ProcessKind::KernelThread,
        (None, _) => ProcessKind::Gone,
        _ => ProcessKind::User,
    }
}

/// Why process `pid` has no pages to `what` ("count", "move"), if it is a
/// kernel thread, a zombie or gone; `None` for a user process.
pub fn no_user_memory(root: &Root, pid: i32, what: &str) -> Option<CliError> {
    Some(match process_kind(root, pid) {
        ProcessKind::User => return None,
        ProcessKind::KernelThread => CliError::new(format!(
            "cannot {what} the pages of process {pid}: it is a kernel thread, which has no user memory"
        )),
        ProcessKind::Zombie => CliError::new(format!(
            "cannot {what} the pages of process {pid}: it has exited (a zombie), and its memory is gone"
        ))
        .hint("its parent has not reaped it yet"),
        ProcessKind::Gone => PlacementError::NoSuchProcess { pid }.into(),
    })
}

/// `e`, from counting or moving the pages of `pid`, in the words of what
/// happened to the process where that explains it (it exited, or is a
/// kernel thread), else as it is.
pub fn explain(root: &Root, pid: i32, what: &str, e: CliError) -> CliError {
    no_user_memory(root, pid, what).unwrap_or(e)
}

/// Reads and parses `/proc/PID/maps` of a live process.
pub fn read_maps(root: &Root, pid: i32) -> CliResult<Vec<MapsEntry>> {
    let text = root
        .read_to_string(&format!("/proc/{pid}/maps"))
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => PlacementError::NoSuchProcess { pid }.into(),
            std::io::ErrorKind::PermissionDenied => CliError::new(format!(
                "cannot read the mappings of process {pid}: permission denied"
            ))
            .hint("reading another user's process needs root or CAP_SYS_PTRACE"),
            _ => CliError::new(format!("cannot read /proc/{pid}/maps: {e}")),
        })?;
    Ok(parse_maps(&text)?)
}

/// The resident set of each mapping of `pid` in KiB (`Rss:` of
/// `/proc/PID/smaps`), by start address; empty if it cannot be read. The
/// kernel finds it by walking only the page tables that exist, so a huge
/// untouched mapping costs nothing to ask about.
pub fn resident_kib(root: &Root, pid: i32) -> HashMap<u64, u64> {
    let mut out = HashMap::new();
    let Ok(text) = root.read_to_string(&format!("/proc/{pid}/smaps")) else {
        return out;
    };
    let mut start = None;
    for line in text.lines() {
        if let Some(rss) = line.strip_prefix("Rss:") {
            if let (Some(s), Some(kib)) = (start, rss.trim().strip_suffix("kB"))
                && let Ok(kib) = kib.trim().parse::<u64>()
            {
                out.insert(s, kib);
            }
        } else if let Some((range, _)) = line.split_once(' ')
            && let Some((a, _)) = range.split_once('-')
            && let Ok(a) = u64::from_str_radix(a, 16)
        {
            start = Some(a);
        }
    }
    out
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

/// Counts the pages of every accessible mapping of `pid` within `range`:
/// per mapping, and the sum. Every node of the machine appears in the
/// counts, with 0 when it holds nothing. A mapping with nothing resident
/// (`Rss: 0 kB`) is counted as not present without asking about each page;
/// a long count shows its progress on a terminal.
pub fn count_pages(
    root: &Root,
    placer: &Placer,
    pid: i32,
    maps: &[MapsEntry],
    range: Option<AddrRange>,
) -> CliResult<(Vec<MappingPages>, PageCounts)> {
    let mut out = Vec::new();
    let mut total = PageCounts::default();
    let zero = |c: &mut PageCounts| {
        for n in placer.machine().node_ids().iter_raw() {
            c.by_node.entry(n).or_insert(0);
        }
    };
    zero(&mut total);
    let rss = resident_kib(root, pid);
    let page = numakit_placement::page_size() as u64;
    let mut progress = Progress::new(maps, range);
    for e in maps.iter().filter(|e| e.accessible()) {
        let Some(span) = within(e, range) else {
            continue;
        };
        let (s, t) = (span.start(), span.end());
        let mut c = if rss.get(&e.start) == Some(&0) {
            let pages = t.div_ceil(page) - s / page;
            PageCounts {
                pages,
                not_present: pages,
                ..PageCounts::default()
            }
        } else {
            count_with_progress(placer, pid, span, &mut progress)?
        };
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
    progress.done();
    Ok((out, total))
}

/// The part of mapping `e` inside `range` (all of it without one); `None`
/// when none of it is.
fn within(e: &MapsEntry, range: Option<AddrRange>) -> Option<AddrRange> {
    let (lo, hi) = range.map_or((0, u64::MAX), |r| (r.start(), r.end()));
    AddrRange::new(e.start.max(lo), e.end.min(hi)).ok()
}

/// Counts `span` in slices, so that progress can be shown between them.
fn count_with_progress(
    placer: &Placer,
    pid: i32,
    span: AddrRange,
    progress: &mut Progress,
) -> CliResult<PageCounts> {
    let mut c = PageCounts::default();
    let mut a = span.start();
    while a < span.end() {
        let slice = AddrRange::new(a, span.end().min(a.saturating_add(Progress::SLICE)))
            .map_err(PlacementError::from)?;
        c.add(&placer.area_page_counts(pid, slice)?);
        progress.advance(slice.len());
        a = slice.end();
    }
    Ok(c)
}

/// Progress of a page count on stderr, shown only on a terminal and only
/// once a count has taken more than a second.
pub struct Progress {
    total: u64,
    done: u64,
    started: std::time::Instant,
    shown: bool,
    on_terminal: bool,
}

impl Progress {
    /// Bytes counted between two looks at the clock (16 GiB: about a
    /// second of queries where nothing is resident).
    const SLICE: u64 = 16 << 30;

    fn new(maps: &[MapsEntry], range: Option<AddrRange>) -> Progress {
        use std::io::IsTerminal;
        let total = maps
            .iter()
            .filter_map(|e| within(e, range))
            .map(|r| r.len())
            .sum();
        Progress {
            total,
            done: 0,
            started: std::time::Instant::now(),
            shown: false,
            on_terminal: std::io::stderr().is_terminal(),
        }
    }

    fn advance(&mut self, bytes: u64) {
        self.done += bytes;
        if !self.on_terminal || self.started.elapsed().as_secs() < 1 {
            return;
        }
        self.shown = true;
        crate::output::eprint(&format!(
            "\rnumakit: counting pages: {} of {} ",
            numakit_types::ByteSize(self.done),
            numakit_types::ByteSize(self.total)
        ));
    }

    fn done(&self) {
        if self.shown {
            crate::output::eprint("\r\x1b[K");
        }
    }
}
