//! What the commands share: opening the root, refusing a root that is not
//! the running system for actions, node lists, the live placer, and a
//! process's mappings with their page counts. Commands import from here and
//! never from each other.

use std::path::PathBuf;

use numakit_placement::maps::{MapsEntry, parse_maps};
use numakit_placement::{Error as PlacementError, KernelSupport, LiveBackend, PageCounts, Placer};
use numakit_root::Root;
use numakit_topo::{Machine, Parts};
use numakit_types::NodeSet;
use serde::Serialize;

use crate::error::{CliError, CliResult};

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
/// counts, with 0 when it holds nothing.
pub fn count_pages(
    placer: &Placer,
    pid: i32,
    maps: &[MapsEntry],
    range: Option<(u64, u64)>,
) -> CliResult<(Vec<MappingPages>, PageCounts)> {
    let mut out = Vec::new();
    let mut total = PageCounts::default();
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
        let mut c = placer.page_counts(pid, s, t)?;
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
