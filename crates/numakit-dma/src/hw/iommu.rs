//! The IOMMU: one domain per IOMMU group, IOVA-to-physical page tables with
//! read and write permission, an IOTLB, the kernel's IOVA allocator and the
//! flush queue of lazy mode.
//!
//! `Iommu` owns the domains and the kernel's policies around them (where
//! an IOVA range is allocated, strict or lazy invalidation); it knows nothing
//! of mappings, the DMA API or the checker: it answers with what it did, and
//! the model records that.

use std::collections::BTreeMap;

use crate::addr::{DmaMask, Iova, IovaPfn, PAGE_SHIFT, PAGE_SIZE, PhysAddr, PhysPfn, PhysRange};
use crate::config::IommuMode;
use crate::direction::Access;
use crate::intmap::IntMap;

pub use crate::fault::{Fault, FaultReason};

/// Sizes below this many pages are rounded up to a power of two before
/// allocation, as `iommu_dma_alloc_iova` does (`IOVA_RANGE_CACHE_MAX_SIZE`).
pub const IOVA_ROUND_UP_BELOW_PAGES: u64 = 1 << (6 - 1);

/// The top of the IOVA space of a domain (a 48-bit aperture).
pub const APERTURE_END: u64 = (1 << 48) - 1;

/// An IOVA allocator with the kernel's behaviour (`drivers/iommu/iova.c`
/// called from `iommu_dma_alloc_iova`): page granule, small sizes rounded up
/// to a power of two, every range aligned to its size rounded up to a power of
/// two, placed as high as possible below the limit (top-down), never over a
/// reserved range and never at page frame 0.
///
/// # Example
/// ```
/// use numakit_dma::iommu::IovaAllocator;
/// let mut a = IovaAllocator::new();
/// a.reserve(0xfee00, 0xfeeff); // the x86 MSI window
/// let r = a.alloc(3, 0xfffff).unwrap(); // 3 pages become 4, 4-page aligned
/// assert_eq!((r.lo_pfn, r.pages), (0xffffc, 4));
/// assert_eq!(a.free(r.lo_pfn), Some(4));
/// ```
#[derive(Debug, Clone)]
pub struct IovaAllocator {
    start_pfn: u64,
    ranges: BTreeMap<u64, (u64, bool)>,
}

/// A range handed out by [`IovaAllocator::alloc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IovaRange {
    /// The first page frame.
    pub lo_pfn: u64,
    /// The number of pages (after rounding).
    pub pages: u64,
}

impl IovaRange {
    /// The first IOVA.
    pub fn start(self) -> Iova {
        Iova::new(self.lo_pfn << PAGE_SHIFT)
    }
}

/// A range an [`IovaAllocator`] holds: allocated or reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IovaSpan {
    /// The first page frame.
    pub lo_pfn: u64,
    /// The last page frame (inclusive).
    pub hi_pfn: u64,
    /// Reserved (never handed out) rather than allocated.
    pub reserved: bool,
}

impl Default for IovaAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl IovaAllocator {
    /// An empty allocator whose lowest usable page frame is 1.
    pub fn new() -> Self {
        Self {
            start_pfn: 1,
            ranges: BTreeMap::new(),
        }
    }

    /// Reserves page frames `lo..=hi` (an MSI window, a PCI bridge window):
    /// they are never handed out. Fails when the range overlaps a range
    /// already allocated or reserved.
    pub fn reserve(&mut self, lo: u64, hi: u64) -> bool {
        if hi < lo || self.overlaps(lo, hi) {
            return false;
        }
        self.ranges.insert(lo, (hi, true));
        true
    }

    fn overlaps(&self, lo: u64, hi: u64) -> bool {
        self.ranges
            .range(..=hi)
            .next_back()
            .is_some_and(|(_, &(h, _))| h >= lo)
    }

    /// The number of pages actually allocated for a request of `pages`.
    pub fn rounded(pages: u64) -> u64 {
        if pages < IOVA_ROUND_UP_BELOW_PAGES {
            pages.next_power_of_two()
        } else {
            pages
        }
    }

    /// Allocates `pages` pages (rounded as [`rounded`](Self::rounded) says),
    /// size-aligned, as high as possible with the last page at or below
    /// `limit_pfn`. `None` when no gap fits.
    pub fn alloc(&mut self, pages: u64, limit_pfn: u64) -> Option<IovaRange> {
        if pages == 0 {
            return None;
        }
        let size = Self::rounded(pages);
        // align_mask <<= fls_long(size - 1)
        let shift = 64 - (size - 1).leading_zeros();
        let align_mask = if shift >= 64 { 0 } else { u64::MAX << shift };
        let mut high = limit_pfn.checked_add(1)?; // exclusive
        let fits = |high: u64, low: u64| -> Option<u64> {
            let cand = high.checked_sub(size)? & align_mask;
            (cand >= low).then_some(cand)
        };
        for (&lo, &(hi, _)) in self.ranges.range(..=limit_pfn).rev() {
            if hi + 1 < high
                && let Some(c) = fits(high, (hi + 1).max(self.start_pfn))
            {
                self.ranges.insert(c, (c + size - 1, false));
                return Some(IovaRange {
                    lo_pfn: c,
                    pages: size,
                });
            }
            high = high.min(lo);
            if high <= self.start_pfn {
                return None;
            }
        }
        let c = fits(high, self.start_pfn)?;
        self.ranges.insert(c, (c + size - 1, false));
        Some(IovaRange {
            lo_pfn: c,
            pages: size,
        })
    }

    /// Frees the range starting at `lo_pfn`; returns its size in pages.
    /// Reserved ranges and unknown frames are left alone (`None`).
    pub fn free(&mut self, lo_pfn: u64) -> Option<u64> {
        match self.ranges.get(&lo_pfn) {
            Some(&(hi, false)) => {
                self.ranges.remove(&lo_pfn);
                Some(hi - lo_pfn + 1)
            }
            _ => None,
        }
    }

    /// Every allocated or reserved range, lowest first.
    pub fn ranges(&self) -> impl Iterator<Item = IovaSpan> + '_ {
        self.ranges.iter().map(|(&lo, &(hi, reserved))| IovaSpan {
            lo_pfn: lo,
            hi_pfn: hi,
            reserved,
        })
    }
}

/// What a device may do through an IOMMU mapping (the kernel's
/// `IOMMU_READ` and `IOMMU_WRITE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Prot {
    /// The device may read.
    pub(crate) read: bool,
    /// The device may write.
    pub(crate) write: bool,
}

/// A page-table (and IOTLB) entry.
#[derive(Debug, Clone, Copy)]
struct Pte {
    frame: PhysPfn,
    prot: Prot,
}

/// How a translation was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hit {
    Walk,
    Iotlb,
    /// An IOTLB entry whose page-table entry is gone (lazy mode, before the
    /// flush).
    StaleIotlb,
}

/// An IOMMU domain: the page tables, IOTLB and IOVA space shared by the
/// devices of one group.
pub(crate) struct Domain {
    alloc: IovaAllocator,
    pt: IntMap<u64, Pte>,
    iotlb: IntMap<u64, Pte>,
    fq: Vec<IovaPfn>,
    fq_size: usize,
}

impl Domain {
    pub(crate) fn new(fq_size: usize) -> Self {
        let mut alloc = IovaAllocator::new();
        // The x86 interrupt (MSI) window is reserved in every DMA domain.
        alloc.reserve(0xfee00, 0xfeeff);
        Self {
            alloc,
            pt: IntMap::default(),
            iotlb: IntMap::default(),
            fq: Vec::new(),
            fq_size: fq_size.max(1),
        }
    }

    /// Maps `pages` pages from `iova` to the pages from `phys`, allowing
    /// the device `prot`.
    fn map(&mut self, iova: IovaPfn, phys: PhysPfn, pages: u64, prot: Prot) {
        for i in 0..pages {
            self.pt.insert(
                iova.0 + i,
                Pte {
                    frame: phys.plus(i),
                    prot,
                },
            );
        }
    }

    fn unmap(&mut self, iova: IovaPfn, pages: u64) {
        for i in 0..pages {
            self.pt.remove(&(iova.0 + i));
        }
    }

    fn invalidate(&mut self, iova: IovaPfn, pages: u64) {
        let range = iova.0..iova.0 + pages;
        if pages as usize > self.iotlb.len() {
            self.iotlb.retain(|k, _| !range.contains(k));
        } else {
            for f in range {
                self.iotlb.remove(&f);
            }
        }
    }

    /// Queues an IOVA range for freeing after the next flush; flushes when
    /// the queue is full. Returns whether it flushed.
    fn queue_free(&mut self, lo: IovaPfn) -> bool {
        self.fq.push(lo);
        if self.fq.len() >= self.fq_size {
            self.flush();
            true
        } else {
            false
        }
    }

    /// Invalidates the whole IOTLB and frees the queued IOVAs.
    fn flush(&mut self) -> usize {
        self.iotlb.clear();
        let n = self.fq.len();
        for lo in std::mem::take(&mut self.fq) {
            self.alloc.free(lo.0);
        }
        n
    }

    fn pending(&self) -> usize {
        self.fq.len()
    }

    fn translate(&mut self, iova: Iova, access: Access) -> Result<(PhysAddr, Hit), FaultReason> {
        let pfn = iova.frame().0;
        let (pte, hit) = match self.iotlb.get(&pfn) {
            Some(&p) => (
                p,
                if self.pt.contains_key(&pfn) {
                    Hit::Iotlb
                } else {
                    Hit::StaleIotlb
                },
            ),
            None => match self.pt.get(&pfn) {
                Some(&p) => {
                    self.iotlb.insert(pfn, p);
                    (p, Hit::Walk)
                }
                None => return Err(FaultReason::NotMapped),
            },
        };
        match access {
            Access::Read if !pte.prot.read => Err(FaultReason::NoReadPermission),
            Access::Write if !pte.prot.write => Err(FaultReason::NoWritePermission),
            _ => Ok((pte.frame.addr().unchecked_add(iova.page_offset()), hit)),
        }
    }
}

/// The IOVA range an IOMMU mapping holds in its group's domain, given back
/// at unmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IovaLease {
    /// The IOMMU group whose domain holds it.
    pub(crate) group: u32,
    /// The first page frame.
    pub(crate) lo: IovaPfn,
    /// The pages mapped (not the allocator's rounded size).
    pub(crate) pages: u64,
}

impl IovaLease {
    /// The first IOVA.
    pub(crate) fn start(self) -> Iova {
        self.lo.addr()
    }
    /// The first IOVA past the range.
    pub(crate) fn end(self) -> Iova {
        self.lo.plus(self.pages).addr()
    }
}

/// What an unmap did to the IOTLB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    /// Strict mode: the IOTLB was invalidated and the IOVA freed.
    Invalidated,
    /// Lazy mode: the range waits in the flush queue (`pending` ranges
    /// queued); `flushed` when this one filled the queue and flushed it.
    Queued {
        /// Ranges waiting.
        pending: usize,
        /// Whether the queue was flushed.
        flushed: bool,
    },
}

/// A device access the IOMMU translated: the physical pieces, merged where
/// contiguous, and how many pages came from stale IOTLB entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Translation {
    /// Where the access lands, in order.
    pub(crate) pieces: Vec<PhysRange>,
    /// Pages translated by IOTLB entries whose page-table entries are gone.
    pub(crate) stale_pages: u64,
}

/// The IOMMU: one domain per group and the kernel's policies around them.
pub(crate) struct Iommu {
    mode: IommuMode,
    flush_queue: usize,
    domains: IntMap<u32, Domain>,
}

impl Iommu {
    /// An IOMMU in `mode`, with lazy flush queues of `flush_queue` ranges.
    pub(crate) fn new(mode: IommuMode, flush_queue: usize) -> Self {
        Self {
            mode,
            flush_queue,
            domains: IntMap::default(),
        }
    }

    /// Page-table and IOTLB entries held, over every domain.
    pub(crate) fn entries(&self) -> u64 {
        self.domains
            .values()
            .map(|d| (d.pt.len() + d.iotlb.len()) as u64)
            .sum()
    }

    /// Whether DMA is translated at all.
    pub(crate) fn enabled(&self) -> bool {
        self.mode != IommuMode::Off
    }

    /// Gives `group` a DMA domain, if it has none yet and the IOMMU is on.
    pub(crate) fn add_group(&mut self, group: u32) {
        if self.enabled() {
            let fq = self.flush_queue;
            self.domains.entry(group).or_insert_with(|| Domain::new(fq));
        }
    }

    fn domain(&mut self, group: u32) -> &mut Domain {
        self.domains
            .get_mut(&group)
            .expect("every group of a device has a domain while the IOMMU is on")
    }

    /// Allocates `pages` pages of IOVA space below `mask` as
    /// `iommu_dma_alloc_iova` does: below 4 GiB first when the mask allows
    /// more, then anywhere below the mask, then once more after flushing the
    /// lazy queue. Returns the first page frame.
    pub(crate) fn alloc(&mut self, group: u32, mask: DmaMask, pages: u64) -> Option<IovaPfn> {
        let limit = mask.limit_pfn(APERTURE_END);
        let dom = self.domain(group);
        let mut r = None;
        if limit > 0xffff_ffff >> PAGE_SHIFT {
            r = dom.alloc.alloc(pages, 0xffff_ffff >> PAGE_SHIFT);
        }
        if r.is_none() {
            r = dom.alloc.alloc(pages, limit);
        }
        if r.is_none() && dom.pending() > 0 {
            dom.flush();
            r = dom.alloc.alloc(pages, limit);
        }
        r.map(|r| IovaPfn(r.lo_pfn))
    }

    /// Maps the pages from `phys` at the IOVA range `lease`, allowing
    /// the device `prot`.
    pub(crate) fn map(&mut self, lease: IovaLease, phys: PhysPfn, prot: Prot) {
        self.domain(lease.group)
            .map(lease.lo, phys, lease.pages, prot);
    }

    /// Allocates and maps IOVA space for `r`: returns the DMA address of its
    /// first byte and the lease, or `None` when the space below `mask` is full.
    pub(crate) fn map_range(
        &mut self,
        group: u32,
        mask: DmaMask,
        r: PhysRange,
        prot: Prot,
    ) -> Option<(Iova, IovaLease)> {
        let pages = r.pages();
        let lo = self.alloc(group, mask, pages)?;
        let lease = IovaLease { group, lo, pages };
        self.map(lease, r.addr.frame(), prot);
        Some((lease.start().unchecked_add(r.addr.page_offset()), lease))
    }

    /// Unmaps a lease as `iommu_dma_unmap` does: strict mode invalidates the
    /// IOTLB and frees the IOVA now; lazy mode queues it.
    pub(crate) fn release(&mut self, lease: IovaLease) -> Release {
        let lazy = self.mode == IommuMode::Lazy;
        let dom = self.domain(lease.group);
        dom.unmap(lease.lo, lease.pages);
        if lazy {
            let flushed = dom.queue_free(lease.lo);
            Release::Queued {
                pending: dom.pending(),
                flushed,
            }
        } else {
            dom.invalidate(lease.lo, lease.pages);
            dom.alloc.free(lease.lo.0);
            Release::Invalidated
        }
    }

    /// Takes back a lease of a mapping that failed half-way: nothing used it,
    /// so the IOVA is freed at once in any mode.
    pub(crate) fn undo(&mut self, lease: IovaLease) {
        let dom = self.domain(lease.group);
        dom.unmap(lease.lo, lease.pages);
        dom.alloc.free(lease.lo.0);
    }

    /// Flushes every domain's queue, in group order; returns the ranges freed.
    pub(crate) fn flush_all(&mut self) -> usize {
        let mut groups: Vec<u32> = self.domains.keys().copied().collect();
        groups.sort_unstable();
        groups.into_iter().map(|g| self.domain(g).flush()).sum()
    }

    /// Translates a device access of `len` bytes at `dma` in `group`'s
    /// domain, page by page; the first page that faults stops it.
    pub(crate) fn translate(
        &mut self,
        group: u32,
        dma: Iova,
        len: u64,
        access: Access,
    ) -> Result<Translation, (Iova, FaultReason)> {
        let dom = self.domain(group);
        let mut out = Translation {
            pieces: Vec::new(),
            stale_pages: 0,
        };
        let end = dma.checked_add(len).ok_or((dma, FaultReason::NotMapped))?;
        let mut a = dma;
        while a < end {
            let n = (PAGE_SIZE - a.page_offset()).min(end.raw() - a.raw());
            let (p, hit) = dom.translate(a, access).map_err(|r| (a, r))?;
            if hit == Hit::StaleIotlb {
                out.stale_pages += 1;
            }
            match out.pieces.last_mut() {
                Some(last) if last.end() == p => last.len += n,
                _ => out.pieces.push(PhysRange::new(p, n)),
            }
            a = a.unchecked_add(n);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_down_size_aligned() {
        let mut a = IovaAllocator::new();
        let r1 = a.alloc(1, 0xfffff).unwrap();
        assert_eq!(r1.lo_pfn, 0xfffff);
        let r2 = a.alloc(2, 0xfffff).unwrap();
        assert_eq!(r2.lo_pfn, 0xffffc);
        let r3 = a.alloc(1, 0xfffff).unwrap();
        assert_eq!(r3.lo_pfn, 0xffffe);
        let big = a.alloc(40, 0xfffff).unwrap();
        assert_eq!(big.pages, 40);
        assert_eq!(big.lo_pfn % 64, 0);
    }

    #[test]
    fn skips_reserved() {
        let mut a = IovaAllocator::new();
        assert!(a.reserve(0xfee00, 0xfeeff));
        let r = a.alloc(0x100, 0xfeeff).unwrap();
        assert!(r.lo_pfn + r.pages <= 0xfee00);
        assert!(!a.reserve(r.lo_pfn, r.lo_pfn));
        assert_eq!(a.free(0xfee00), None);
    }

    #[test]
    fn exhaustion() {
        let mut a = IovaAllocator::new();
        assert!(a.alloc(2, 1).is_none());
        assert_eq!(a.alloc(1, 1).unwrap().lo_pfn, 1);
        assert!(a.alloc(1, 1).is_none());
    }

    const RO: Prot = Prot {
        read: true,
        write: false,
    };
    const WO: Prot = Prot {
        read: false,
        write: true,
    };

    fn phys(a: u64) -> PhysRange {
        PhysRange::new(PhysAddr::new(a), 0x1000)
    }

    #[test]
    fn prefers_iova_below_4g_then_the_mask() {
        let mut m = Iommu::new(IommuMode::Strict, 8);
        m.add_group(7);
        let (dma, lease) = m
            .map_range(7, DmaMask::bits(64), phys(0x5_0000_0000), RO)
            .unwrap();
        assert_eq!(dma, Iova::new(0xffff_f000));
        assert_eq!(lease.pages, 1);
        let t = m.translate(7, dma, 16, Access::Read).unwrap();
        assert_eq!(
            t.pieces,
            vec![PhysRange::new(PhysAddr::new(0x5_0000_0000), 16)]
        );
        assert_eq!(
            m.translate(7, dma, 16, Access::Write),
            Err((dma, FaultReason::NoWritePermission))
        );
    }

    #[test]
    fn strict_unmap_faults_at_once() {
        let mut m = Iommu::new(IommuMode::Strict, 8);
        m.add_group(1);
        let (dma, lease) = m
            .map_range(1, DmaMask::bits(32), phys(0x1000_0000), WO)
            .unwrap();
        m.translate(1, dma, 8, Access::Write).unwrap();
        assert_eq!(m.release(lease), Release::Invalidated);
        assert_eq!(
            m.translate(1, dma, 8, Access::Write),
            Err((dma, FaultReason::NotMapped))
        );
    }

    #[test]
    fn lazy_unmap_leaves_a_stale_iotlb_entry_until_the_flush() {
        let mut m = Iommu::new(IommuMode::Lazy, 2);
        m.add_group(1);
        let (dma, lease) = m
            .map_range(1, DmaMask::bits(32), phys(0x1000_0000), WO)
            .unwrap();
        m.translate(1, dma, 8, Access::Write).unwrap();
        assert_eq!(
            m.release(lease),
            Release::Queued {
                pending: 1,
                flushed: false
            }
        );
        let t = m.translate(1, dma, 8, Access::Write).unwrap();
        assert_eq!(t.stale_pages, 1, "the IOTLB still translates it");
        assert_eq!(m.flush_all(), 1);
        assert!(m.translate(1, dma, 8, Access::Write).is_err());
    }

    #[test]
    fn exhaustion_flushes_the_queue_once_before_failing() {
        let mut m = Iommu::new(IommuMode::Lazy, 64);
        m.add_group(1);
        // a 24-bit mask leaves page frames 1 to 4095; 2000 pages are
        // 2048-aligned, so only one such range fits
        let mask = DmaMask::bits(24);
        let big = m.alloc(1, mask, 2000).unwrap();
        assert_eq!(big, IovaPfn(2048));
        m.release(IovaLease {
            group: 1,
            lo: big,
            pages: 2000,
        });
        assert_eq!(
            m.alloc(1, mask, 2000),
            Some(IovaPfn(2048)),
            "found after the flush"
        );
        assert!(m.alloc(1, mask, 2000).is_none());
    }
}
