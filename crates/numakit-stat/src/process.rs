//! The process view: memory per node split by kind (hugetlb by page size,
//! heap, stack, private anonymous, file, shared), each mapping with its
//! policy, the threads and the CPU each last ran on; and finding processes
//! by number or by a pattern as numastat does.

use std::collections::BTreeMap;

use numakit_root::Root;
use numakit_types::{CpuSet, NodeSet};
use serde::Serialize;

use crate::numa_maps::{self, Entry};
use crate::{Error, Result};

/// What a mapping holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// hugetlb pages (`huge`), of any size.
    Huge,
    /// The `[heap]`.
    Heap,
    /// A stack.
    Stack,
    /// Anonymous memory of this process alone.
    PrivateAnon,
    /// A mapped file (libraries, model weights read with mmap).
    File,
    /// Shared memory: tmpfs under `/dev/shm`, memfd, SysV segments, shared
    /// anonymous mappings.
    Shared,
}

impl Category {
    /// Every category, in display order.
    pub const ALL: [Category; 6] = [
        Category::Huge,
        Category::Heap,
        Category::Stack,
        Category::PrivateAnon,
        Category::File,
        Category::Shared,
    ];

    /// The category of a `numa_maps` line.
    pub fn of(e: &Entry) -> Category {
        if e.huge {
            Category::Huge
        } else if e.heap {
            Category::Heap
        } else if e.stack {
            Category::Stack
        } else {
            match e.file.as_deref() {
                None => Category::PrivateAnon,
                Some(f) if is_shared_memory(f) => Category::Shared,
                Some(_) => Category::File,
            }
        }
    }

    /// The name used in text and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Category::Huge => "huge",
            Category::Heap => "heap",
            Category::Stack => "stack",
            Category::PrivateAnon => "private_anon",
            Category::File => "file",
            Category::Shared => "shared",
        }
    }
}

/// Whether a `file=` of numa_maps is shared memory rather than a file.
fn is_shared_memory(f: &str) -> bool {
    [
        "/dev/shm/",
        "/memfd:",
        "/SYSV",
        "/dev/zero",
        "/i915",
        "/drm mm object",
    ]
    .iter()
    .any(|p| f.starts_with(p))
}

/// Bytes per node.
pub type ByNode = BTreeMap<u32, u64>;

/// One mapping.
#[derive(Debug, Clone, Serialize)]
pub struct MappingStat {
    /// Start address, hex.
    pub address: String,
    /// The policy as the kernel writes it.
    pub policy: String,
    /// What it holds.
    pub category: Category,
    /// The size of its pages in bytes.
    pub page_size: u64,
    /// The backing file, if any.
    pub file: Option<String>,
    /// Bytes present per node.
    pub bytes: ByNode,
}

/// One thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadStat {
    /// Thread id.
    pub tid: i32,
    /// The CPU it last ran on.
    pub cpu: Option<u32>,
    /// That CPU's node.
    pub node: Option<u32>,
}

/// hugetlb memory of one page size.
#[derive(Debug, Clone, Serialize)]
pub struct HugeUsage {
    /// Page size in bytes.
    pub page_size: u64,
    /// Bytes per node.
    pub bytes: ByNode,
}

/// Where one process's memory is.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessStat {
    /// The process.
    pub pid: i32,
    /// `Name:` of its status.
    pub name: Option<String>,
    /// Bytes per category per node.
    pub categories: BTreeMap<Category, ByNode>,
    /// hugetlb bytes per page size.
    pub huge_pages: Vec<HugeUsage>,
    /// Every mapping (only when asked for).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mappings: Vec<MappingStat>,
    /// Threads (only when asked for).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub threads: Vec<ThreadStat>,
    /// `Cpus_allowed_list`.
    pub cpus_allowed: Option<CpuSet>,
    /// `Mems_allowed_list`.
    pub mems_allowed: Option<NodeSet>,
    /// numa_maps lines that could not be read (the process changed its
    /// mappings while the kernel wrote them).
    pub malformed_lines: usize,
}

impl ProcessStat {
    /// Bytes per node over every category.
    pub fn total(&self) -> ByNode {
        let mut t = ByNode::new();
        for by in self.categories.values() {
            for (n, b) in by {
                *t.entry(*n).or_default() += b;
            }
        }
        t
    }
}

/// What to read of a process, and the page sizes to count with when the
/// kernel does not write them.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// Keep every mapping.
    pub mappings: bool,
    /// Read the threads.
    pub threads: bool,
    /// The base page size.
    pub base_page_size: u64,
    /// The default huge page size.
    pub huge_page_size: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            mappings: false,
            threads: true,
            base_page_size: 4096,
            huge_page_size: 2 << 20,
        }
    }
}

/// The `Name:` of `/proc/PID/status` (as numastat reads it).
pub fn name(root: &Root, pid: i32) -> Option<String> {
    status_field(
        &root.read_to_string(&format!("/proc/{pid}/status")).ok()?,
        "Name",
    )
}

fn status_field(status: &str, key: &str) -> Option<String> {
    status.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix(':')?;
        Some(v.trim_start().to_string())
    })
}

/// What the lines of one `numa_maps` add up to.
#[derive(Debug, Default)]
struct Tally {
    categories: BTreeMap<Category, ByNode>,
    huge_pages: Vec<HugeUsage>,
    mappings: Vec<MappingStat>,
    malformed: usize,
}

impl Tally {
    fn line(&mut self, line: &str, opts: &ReadOptions) {
        match numa_maps::parse_line(line) {
            Ok(Some(e)) => account(self, &e, opts),
            Ok(None) => {}
            Err(_) => self.malformed += 1,
        }
    }
}

/// Adds a numa_maps line to per-category, per-size sums.
fn account(stat: &mut Tally, e: &Entry, opts: &ReadOptions) {
    if e.nodes.is_empty() && !opts.mappings {
        return;
    }
    let cat = Category::of(e);
    let ps = e.page_size(opts.base_page_size, opts.huge_page_size);
    let by = stat.categories.entry(cat).or_default();
    for &(n, p) in &e.nodes {
        *by.entry(n).or_default() += p.saturating_mul(ps);
    }
    if cat == Category::Huge {
        let i = match stat.huge_pages.iter().position(|h| h.page_size == ps) {
            Some(i) => i,
            None => {
                stat.huge_pages.push(HugeUsage {
                    page_size: ps,
                    bytes: ByNode::new(),
                });
                stat.huge_pages.len() - 1
            }
        };
        for &(n, p) in &e.nodes {
            *stat.huge_pages[i].bytes.entry(n).or_default() += p.saturating_mul(ps);
        }
    }
    if opts.mappings {
        let mut bytes = ByNode::new();
        for &(n, p) in &e.nodes {
            *bytes.entry(n).or_default() += p.saturating_mul(ps);
        }
        stat.mappings.push(MappingStat {
            address: format!("{:x}", e.address),
            policy: e.policy.clone(),
            category: cat,
            page_size: ps,
            file: e.file.clone(),
            bytes,
        });
    }
}

/// Reads and adds up `path` here, a piece at a time.
fn tally_here(root: &Root, path: &str, opts: &ReadOptions) -> std::io::Result<Tally> {
    let mut t = Tally::default();
    let mut cut = numa_maps::LineCutter::default();
    root.read_pieces(path, &mut |p| cut.feed(p, &mut |l| t.line(l, opts)))?;
    cut.finish(&mut |l| t.line(l, opts));
    Ok(t)
}

/// Reads `path` here and adds it up on a second thread: the kernel writes
/// `numa_maps` a page per read, most of the time it takes, so parsing one
/// page while the next is written hides the parsing.
fn tally_pipelined(root: &Root, path: &str, opts: &ReadOptions) -> std::io::Result<Tally> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
    std::thread::scope(|s| {
        let parser = std::thread::Builder::new()
            .name("numakit-parse".into())
            .spawn_scoped(s, move || {
                let mut t = Tally::default();
                let mut cut = numa_maps::LineCutter::default();
                for piece in rx {
                    cut.feed(&piece, &mut |l| t.line(l, opts));
                }
                cut.finish(&mut |l| t.line(l, opts));
                t
            });
        // no thread to be had: read and add up here
        let Ok(parser) = parser else {
            return tally_here(root, path, opts);
        };
        let read = root.read_pieces(path, &mut |p| {
            let _ = tx.send(p.to_vec());
        });
        drop(tx);
        let t = parser
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        read.map(|()| t)
    })
}

/// How a process's `numa_maps` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Added up on a second thread while the kernel writes the next page.
    Pipelined,
    /// Read and added up on this thread (when [`read_all`]'s workers
    /// already keep the CPUs busy, or there is one CPU).
    Here,
}

/// Reads where the memory of `pid` is. `cpu_nodes` maps CPUs to nodes for
/// the threads (see [`cpu_nodes`]). On the running system with more than
/// one CPU, the kernel's writing of `numa_maps` and numakit's reading of it
/// overlap.
pub fn read(
    root: &Root,
    pid: i32,
    opts: &ReadOptions,
    cpu_nodes: &BTreeMap<u32, u32>,
) -> Result<ProcessStat> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let reading = if root.is_live() && cpus > 1 {
        Reading::Pipelined
    } else {
        Reading::Here
    };
    read_as(root, pid, opts, cpu_nodes, reading)
}

fn read_as(
    root: &Root,
    pid: i32,
    opts: &ReadOptions,
    cpu_nodes: &BTreeMap<u32, u32>,
    reading: Reading,
) -> Result<ProcessStat> {
    let path = format!("/proc/{pid}/numa_maps");
    let tally = match reading {
        Reading::Pipelined => tally_pipelined(root, &path, opts),
        Reading::Here => tally_here(root, &path, opts),
    }
    .map_err(|e| Error::process_file(pid, "numa_maps", e))?;
    let status = root
        .read_to_string(&format!("/proc/{pid}/status"))
        .unwrap_or_default();
    let mut stat = ProcessStat {
        pid,
        name: status_field(&status, "Name"),
        categories: tally.categories,
        huge_pages: tally.huge_pages,
        mappings: tally.mappings,
        threads: Vec::new(),
        cpus_allowed: status_field(&status, "Cpus_allowed_list")
            .and_then(|s| CpuSet::parse_list(&s).ok()),
        mems_allowed: status_field(&status, "Mems_allowed_list")
            .and_then(|s| NodeSet::parse_list(&s).ok()),
        malformed_lines: tally.malformed,
    };
    stat.huge_pages.sort_by_key(|h| h.page_size);
    if opts.threads {
        stat.threads = threads(root, pid, cpu_nodes);
    }
    Ok(stat)
}

/// The threads of `pid` and the CPU each last ran on (field 39 of
/// `/proc/PID/task/TID/stat`).
pub fn threads(root: &Root, pid: i32, cpu_nodes: &BTreeMap<u32, u32>) -> Vec<ThreadStat> {
    let mut tids: Vec<i32> = root
        .read_dir(&format!("/proc/{pid}/task"))
        .unwrap_or_default()
        .iter()
        .filter_map(|t| t.parse().ok())
        .collect();
    tids.sort_unstable();
    tids.into_iter()
        .filter_map(|tid| {
            let s = root
                .read_to_string(&format!("/proc/{pid}/task/{tid}/stat"))
                .ok()?;
            let cpu = last_cpu(&s);
            Some(ThreadStat {
                tid,
                cpu,
                node: cpu.and_then(|c| cpu_nodes.get(&c).copied()),
            })
        })
        .collect()
}

/// Field 39 (`processor`) of a `stat` line; the command name in
/// parentheses may hold spaces and parentheses, so fields count from the
/// last `)`.
pub fn last_cpu(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // after ")" come fields 3.. ; processor is field 39
    rest.split_whitespace().nth(39 - 3)?.parse().ok()
}

/// CPU → node, from each node's `cpulist`.
pub fn cpu_nodes(root: &Root) -> BTreeMap<u32, u32> {
    let mut m = BTreeMap::new();
    for n in crate::system::node_ids(root).unwrap_or_default() {
        let Some(list) = root.read_trim(&format!("{}/node{n}/cpulist", crate::system::NODE_DIR))
        else {
            continue;
        };
        if let Ok(cpus) = CpuSet::parse_list(&list) {
            for c in cpus.iter_raw() {
                m.insert(c, n);
            }
        }
    }
    m
}

/// A process as named on a command line: a number, or a pattern matched
/// against the name and command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcSpec {
    /// A process number.
    Pid(i32),
    /// A substring of `Name` followed by the command line.
    Pattern(String),
}

impl ProcSpec {
    /// Digits are a PID (as numastat decides), anything else a pattern.
    pub fn parse(s: &str) -> ProcSpec {
        match s.parse::<i32>() {
            Ok(p) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => ProcSpec::Pid(p),
            _ => ProcSpec::Pattern(s.to_string()),
        }
    }
}

/// The text numastat matches a pattern against: `Name`, a space, then the
/// command line with NULs turned into spaces (only the name when the
/// command line cannot be read).
pub fn match_text(root: &Root, pid: &str) -> String {
    let mut s = root
        .read_to_string(&format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| status_field(&t, "Name"))
        .unwrap_or_default();
    if let Ok(cmd) = root.read(&format!("/proc/{pid}/cmdline")) {
        s.push(' ');
        s.push_str(&String::from_utf8_lossy(&cmd).replace('\0', " "));
    }
    s
}

/// The processes whose [`match_text`] contains `pattern`, in the order of
/// the `/proc` listing, without `exclude` (the caller itself).
pub fn find(root: &Root, pattern: &str, exclude: Option<i32>) -> Vec<i32> {
    let mut pids: Vec<i32> = root
        .read_dir("/proc")
        .unwrap_or_default()
        .iter()
        .filter(|n| n.bytes().next().is_some_and(|b| b.is_ascii_digit()))
        .filter_map(|n| n.parse().ok())
        .collect();
    pids.sort_unstable();
    pids.retain(|p| Some(*p) != exclude && match_text(root, &p.to_string()).contains(pattern));
    pids
}

/// Reads several processes, spread over the CPUs this process may use
/// (the kernel writes each `numa_maps` on the reading thread, so reading
/// them side by side divides the wait). Results come in the order of
/// `pids`.
pub fn read_all(
    root: &Root,
    pids: &[i32],
    opts: &ReadOptions,
    cpu_nodes: &BTreeMap<u32, u32>,
) -> Vec<Result<ProcessStat>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(pids.len())
        .max(1);
    if workers == 1 {
        return pids
            .iter()
            .map(|p| read(root, *p, opts, cpu_nodes))
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<Option<Result<ProcessStat>>> = (0..pids.len()).map(|_| None).collect();
    let slots = std::sync::Mutex::new(&mut out);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(pid) = pids.get(i) else { break };
                    let r = read_as(root, *pid, opts, cpu_nodes, Reading::Here);
                    if let Ok(mut v) = slots.lock() {
                        v[i] = Some(r);
                    }
                }
            });
        }
    });
    out.into_iter()
        .zip(pids)
        .map(|(r, p)| r.unwrap_or(Err(Error::NoSuchProcess { pid: *p })))
        .collect()
}

/// Pages NUMA balancing migrated for `pid` (`numa_pages_migrated` of
/// `/proc/PID/sched`, which kernels built with scheduler debugging write).
pub fn sched_numa_migrated(root: &Root, pid: i32) -> Option<u64> {
    let t = root.read_to_string(&format!("/proc/{pid}/sched")).ok()?;
    t.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == "numa_pages_migrated")
            .then(|| v.trim().parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_processor_field() {
        let line = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 99 1000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0";
        assert_eq!(last_cpu(line), Some(3));
        assert_eq!(last_cpu("garbage"), None);
        assert_eq!(last_cpu("1 (x) S 1"), None);
    }

    #[test]
    fn categories() {
        let e = |s: &str| numa_maps::parse_line(s).unwrap().unwrap();
        assert_eq!(Category::of(&e("1 default huge N0=1")), Category::Huge);
        assert_eq!(Category::of(&e("1 default heap N0=1")), Category::Heap);
        assert_eq!(Category::of(&e("1 default stack N0=1")), Category::Stack);
        assert_eq!(
            Category::of(&e("1 default anon=1 N0=1")),
            Category::PrivateAnon
        );
        assert_eq!(
            Category::of(&e("1 default file=/lib/x.so N0=1")),
            Category::File
        );
        assert_eq!(
            Category::of(&e("1 default file=/dev/shm/w N0=1")),
            Category::Shared
        );
        assert_eq!(
            Category::of(&e("1 default file=/memfd:x\\040(deleted) N0=1")),
            Category::Shared
        );
    }

    #[test]
    fn specs() {
        assert_eq!(ProcSpec::parse("123"), ProcSpec::Pid(123));
        assert_eq!(ProcSpec::parse("+1"), ProcSpec::Pattern("+1".into()));
        assert_eq!(ProcSpec::parse("java"), ProcSpec::Pattern("java".into()));
        assert_eq!(
            ProcSpec::parse("99999999999"),
            ProcSpec::Pattern("99999999999".into())
        );
    }
}
