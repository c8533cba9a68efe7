//! DMA memory on a device's node: chunks of [`DmaMemory`] bound to the node
//! before their pages exist, filled, checked with a page query, and handed
//! out as runs of whole pages.

use std::collections::BTreeMap;

use numakit_sys::dmamem::DmaMemory;
use numakit_sys::mm::MapFlags;
use serde::Serialize;

use crate::addr::VirtAddr;
use crate::error::{Error, Result};

/// The page size of the backend's mappings.
pub(crate) const PAGE: usize = 4096;
/// Chunks are whole 2 MiB huge pages.
const CHUNK: usize = 2 << 20;

/// What backs a chunk of DMA memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemoryKind {
    /// 2 MiB pages from the node's hugetlb pool.
    Hugetlb2m,
    /// Base pages with transparent huge pages asked for (`MADV_HUGEPAGE`):
    /// the kernel decides.
    ThpAdvised,
    /// Base pages.
    BasePages,
}

impl std::fmt::Display for MemoryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MemoryKind::Hugetlb2m => "2 MiB hugetlb pages",
            MemoryKind::ThpAdvised => "base pages, transparent huge pages advised",
            MemoryKind::BasePages => "base pages",
        })
    }
}

/// Where one chunk of DMA memory is, as the page query found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placement {
    /// The node it was bound to (`None`: the device has no node).
    pub node: Option<u32>,
    /// Its first address in this process.
    pub addr: VirtAddr,
    /// Its size in bytes.
    pub bytes: u64,
    /// What backs it.
    pub kind: MemoryKind,
    /// 4 KiB pages per node, from `move_pages` (a negative key is an errno:
    /// the page is not present).
    pub pages_by_node: BTreeMap<i32, u64>,
}

impl Placement {
    /// The number of 4 KiB pages.
    pub fn pages(&self) -> u64 {
        self.pages_by_node.values().sum()
    }
    /// How many pages are on the node asked for (all of them without one).
    pub fn pages_on_node(&self) -> u64 {
        match self.node {
            Some(n) => self.pages_by_node.get(&(n as i32)).copied().unwrap_or(0),
            None => self.pages(),
        }
    }
}

/// One mapping of DMA memory and its free page runs (offset → length).
#[derive(Debug)]
pub(crate) struct Chunk {
    pub(crate) mem: DmaMemory,
    free: BTreeMap<usize, usize>,
    pub(crate) placement: Placement,
}

/// Every chunk, and what the caller said about the hugetlb pools.
#[derive(Debug, Default)]
pub(crate) struct Arena {
    chunks: Vec<Chunk>,
    /// Free 2 MiB hugetlb pages per node, as read from the machine: a chunk
    /// is taken from the pool only while the node has a page to give
    /// (faulting a hugetlb page on a node without one kills the process).
    pub(crate) hugetlb_free: BTreeMap<u32, u64>,
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

impl Arena {
    /// `size` bytes (whole pages) on `node`, zero-filled.
    pub(crate) fn alloc(&mut self, node: Option<u32>, size: usize) -> Result<VirtAddr> {
        let len = round_up(size.max(1), PAGE);
        for c in self.chunks.iter_mut().filter(|c| c.placement.node == node) {
            if let Some(off) = take_run(&mut c.free, len) {
                c.mem.fill(off, len, 0).map_err(|e| Error::Placement {
                    node: node.unwrap_or(0),
                    what: format!("cannot clear memory: {e}"),
                })?;
                return Ok(VirtAddr::new((c.mem.addr() + off) as u64));
            }
        }
        let mut c = self.new_chunk(node, round_up(len, CHUNK))?;
        let off = take_run(&mut c.free, len).ok_or(Error::OutOfMemory {
            size: len as u64,
            zone: "DMA arena",
        })?;
        let va = VirtAddr::new((c.mem.addr() + off) as u64);
        self.chunks.push(c);
        Ok(va)
    }

    fn new_chunk(&mut self, node: Option<u32>, len: usize) -> Result<Chunk> {
        let err = |what: String| Error::Placement {
            node: node.unwrap_or(0),
            what,
        };
        let huge_pages = (len / CHUNK) as u64;
        let pool = node.and_then(|n| self.hugetlb_free.get_mut(&n));
        let (mem, kind) = match pool {
            Some(free) if *free >= huge_pages => {
                match DmaMemory::new(len, MapFlags::HUGETLB | MapFlags::HUGE_2MB) {
                    Ok(m) => {
                        *free -= huge_pages;
                        (m, MemoryKind::Hugetlb2m)
                    }
                    Err(_) => base_memory(len).map_err(&err)?,
                }
            }
            _ => base_memory(len).map_err(&err)?,
        };
        if let Some(n) = node {
            mem.bind_to_node(n)
                .map_err(|e| err(format!("mbind to node {n} failed: {e}")))?;
        }
        mem.populate(PAGE)
            .map_err(|e| err(format!("cannot fault the pages in: {e}")))?;
        let mut pages_by_node = BTreeMap::new();
        for s in mem
            .page_nodes(PAGE)
            .map_err(|e| err(format!("page query failed: {e}")))?
        {
            *pages_by_node.entry(s).or_insert(0) += 1;
        }
        let placement = Placement {
            node,
            addr: VirtAddr::new(mem.addr() as u64),
            bytes: len as u64,
            kind,
            pages_by_node,
        };
        if placement.pages_on_node() != placement.pages() {
            return Err(err(format!(
                "only {} of {} pages are on the node (pages per node: {:?})",
                placement.pages_on_node(),
                placement.pages(),
                placement.pages_by_node
            )));
        }
        Ok(Chunk {
            free: BTreeMap::from([(0, len)]),
            mem,
            placement,
        })
    }

    /// Gives back the pages of a buffer of `size` bytes at `va`.
    pub(crate) fn free(&mut self, va: VirtAddr, size: usize) {
        let len = round_up(size.max(1), PAGE);
        if let Some((i, off)) = self.locate(va, len as u64) {
            give_run(&mut self.chunks[i].free, off, len);
        }
    }

    /// The chunk holding `[va, va + len)` and the offset of `va` in it.
    pub(crate) fn locate(&self, va: VirtAddr, len: u64) -> Option<(usize, usize)> {
        let end = va.raw().checked_add(len)?;
        let i = self.chunks.iter().position(|c| {
            let base = c.mem.addr() as u64;
            va.raw() >= base && end <= base + c.mem.len() as u64
        })?;
        let base = VirtAddr::new(self.chunks[i].mem.addr() as u64);
        Some((i, va.unchecked_offset_from(base) as usize))
    }

    /// The chunk at `i`.
    pub(crate) fn chunk(&self, i: usize) -> &Chunk {
        &self.chunks[i]
    }

    /// Where every chunk is.
    pub(crate) fn placements(&self) -> Vec<Placement> {
        self.chunks.iter().map(|c| c.placement.clone()).collect()
    }
}

fn base_memory(len: usize) -> std::result::Result<(DmaMemory, MemoryKind), String> {
    let m = DmaMemory::new(len, MapFlags::empty()).map_err(|e| format!("mmap failed: {e}"))?;
    let kind = if m.advise_huge().is_ok() {
        MemoryKind::ThpAdvised
    } else {
        MemoryKind::BasePages
    };
    Ok((m, kind))
}

/// Takes the first free run of at least `len` bytes; returns its offset.
fn take_run(free: &mut BTreeMap<usize, usize>, len: usize) -> Option<usize> {
    let (&off, &have) = free.iter().find(|(_, l)| **l >= len)?;
    free.remove(&off);
    if have > len {
        free.insert(off + len, have - len);
    }
    Some(off)
}

/// Returns a run, merging it with free neighbours.
fn give_run(free: &mut BTreeMap<usize, usize>, off: usize, len: usize) {
    let (mut off, mut len) = (off, len);
    if let Some((&p, &pl)) = free.range(..off).next_back()
        && p + pl == off
    {
        free.remove(&p);
        off = p;
        len += pl;
    }
    if let Some(&nl) = free.get(&(off + len)) {
        free.remove(&(off + len));
        len += nl;
    }
    free.insert(off, len);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_split_and_merge() {
        let mut f = BTreeMap::from([(0, 5 * PAGE)]);
        let a = take_run(&mut f, PAGE).unwrap();
        let b = take_run(&mut f, 2 * PAGE).unwrap();
        let c = take_run(&mut f, 2 * PAGE).unwrap();
        assert_eq!((a, b, c), (0, PAGE, 3 * PAGE));
        assert_eq!(take_run(&mut f, PAGE), None);
        give_run(&mut f, b, 2 * PAGE);
        give_run(&mut f, a, PAGE);
        give_run(&mut f, c, 2 * PAGE);
        assert_eq!(f, BTreeMap::from([(0, 5 * PAGE)]));
    }

    #[test]
    fn node0_memory_is_on_node0() {
        let mut a = Arena::default();
        let x = a.alloc(Some(0), 100).unwrap();
        let y = a.alloc(Some(0), 3 * PAGE).unwrap();
        assert_eq!(y.raw() - x.raw(), PAGE as u64);
        let p = &a.placements()[0];
        assert_eq!(p.pages(), (CHUNK / PAGE) as u64);
        assert_eq!(p.pages_on_node(), p.pages());
        assert_eq!(a.locate(y, 3 * PAGE as u64), Some((0, PAGE)));
        assert_eq!(a.locate(VirtAddr::new(8), 1), None);
        a.free(x, 100);
        assert_eq!(a.alloc(Some(0), PAGE).unwrap(), x);
        // a node without memory (or that does not exist) is refused, not guessed
        assert!(matches!(
            a.alloc(Some(63), PAGE),
            Err(Error::Placement { node: 63, .. })
        ));
    }
}
