//! Page location (batched `move_pages` queries) and migration results.

use std::collections::BTreeMap;

use numakit_sys::Errno;
use numakit_sys::mempolicy::MovePagesFlags;
use numakit_types::NodeId;

use crate::backend::Backend;
use crate::{Error, Result};

/// Pages per `move_pages` call: one call per chunk, never one per page.
pub const QUERY_CHUNK: usize = 16 * 1024;

/// Where one page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageLocation {
    /// On this node.
    Node(NodeId),
    /// Not in memory (never touched, or swapped out).
    NotPresent,
    /// The kernel could not tell (`-EFAULT`: not mapped, and so on).
    Unavailable(Errno),
}

impl PageLocation {
    pub(crate) fn from_status(s: i32) -> PageLocation {
        if s >= 0 {
            PageLocation::Node(NodeId(s as u32))
        } else if s == -Errno::ENOENT.raw() {
            PageLocation::NotPresent
        } else {
            PageLocation::Unavailable(Errno::from_raw(-s))
        }
    }
}

/// Page counts of a range, per node.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PageCounts {
    /// Pages asked about.
    pub pages: u64,
    /// Present pages per node.
    pub by_node: BTreeMap<u32, u64>,
    /// Pages not in memory.
    pub not_present: u64,
    /// Pages the kernel could not tell about.
    pub unavailable: u64,
}

impl PageCounts {
    /// Present pages on `node`.
    pub fn on_node(&self, node: NodeId) -> u64 {
        self.by_node.get(&node.get()).copied().unwrap_or(0)
    }
    /// Present pages on any node.
    pub fn present(&self) -> u64 {
        self.by_node.values().sum()
    }
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &PageCounts) {
        self.pages += other.pages;
        self.not_present += other.not_present;
        self.unavailable += other.unavailable;
        for (n, c) in &other.by_node {
            *self.by_node.entry(*n).or_default() += c;
        }
    }
    fn count(&mut self, loc: PageLocation) {
        self.pages += 1;
        match loc {
            PageLocation::Node(n) => *self.by_node.entry(n.get()).or_default() += 1,
            PageLocation::NotPresent => self.not_present += 1,
            PageLocation::Unavailable(_) => self.unavailable += 1,
        }
    }
}

/// What a migration did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MigrateOutcome {
    /// Pages the kernel could not move (its positive return value).
    pub not_moved: u64,
}

pub(crate) fn map_errno(what: String, pid: i32, e: Errno) -> Error {
    Error::from_errno(what, e, Some(pid))
}

/// Calls `f` with each chunk of page addresses of `[start, end)` and the
/// statuses of a query of it.
pub(crate) fn query_range(
    backend: &dyn Backend,
    pid: i32,
    start: u64,
    end: u64,
    page: u64,
    mut f: impl FnMut(&[usize], &[i32]),
) -> Result<()> {
    let mut addrs = Vec::with_capacity(QUERY_CHUNK);
    let mut status = vec![0i32; QUERY_CHUNK];
    let mut a = start - start % page;
    while a < end {
        addrs.clear();
        while a < end && addrs.len() < QUERY_CHUNK {
            addrs.push(a as usize);
            // the last page of the address space: stop instead of wrapping
            a = a.saturating_add(page);
        }
        let st = &mut status[..addrs.len()];
        backend
            .move_pages(pid, &addrs, None, st, MovePagesFlags::empty())
            .map_err(|e| {
                map_errno(
                    format!("asking where the pages of process {pid} are"),
                    pid,
                    e,
                )
            })?;
        f(&addrs, st);
    }
    Ok(())
}

pub(crate) fn count_range(
    backend: &dyn Backend,
    pid: i32,
    start: u64,
    end: u64,
    page: u64,
) -> Result<PageCounts> {
    let mut c = PageCounts::default();
    query_range(backend, pid, start, end, page, |_, st| {
        for s in st {
            c.count(PageLocation::from_status(*s));
        }
    })?;
    Ok(c)
}

/// Moves `pages` of process `pid` to `nodes` (one target per page) with
/// `move_pages`, and leaves in `status` where each page is afterwards.
///
/// What the kernel answers to a move is not where the pages end up: after
/// a batch that did not fully migrate it returns a positive count and
/// leaves the statuses from there on unwritten; it counts a huge page it
/// had to split as not moved even when every piece moved (Linux 6.x); and
/// a page of a huge page already queued by another of its pages reads
/// `-EBUSY` although it moves with it. So whenever a page does not read as
/// moved, the pages are asked for again.
pub(crate) fn move_and_locate(
    backend: &dyn Backend,
    pid: i32,
    pages: &[usize],
    nodes: &[i32],
    status: &mut [i32],
    what: impl Fn() -> String,
) -> Result<()> {
    let left = backend
        .move_pages(pid, pages, Some(nodes), status, MovePagesFlags::MOVE)
        .map_err(|e| map_errno(what(), pid, e))?;
    if left > 0 || status.iter().zip(nodes).any(|(s, n)| s != n) {
        backend
            .move_pages(pid, pages, None, status, MovePagesFlags::empty())
            .map_err(|e| map_errno(what(), pid, e))?;
    }
    Ok(())
}

pub(crate) fn locate(
    backend: &dyn Backend,
    pid: i32,
    pages: &[usize],
) -> Result<Vec<PageLocation>> {
    let mut out = Vec::with_capacity(pages.len());
    let mut status = vec![0i32; QUERY_CHUNK.min(pages.len())];
    for chunk in pages.chunks(QUERY_CHUNK) {
        let st = &mut status[..chunk.len()];
        backend
            .move_pages(pid, chunk, None, st, MovePagesFlags::empty())
            .map_err(|e| {
                map_errno(
                    format!("asking where the pages of process {pid} are"),
                    pid,
                    e,
                )
            })?;
        out.extend(st.iter().map(|s| PageLocation::from_status(*s)));
    }
    Ok(out)
}
