//! The IOMMU: one domain per IOMMU group, IOVA-to-physical page tables with
//! read and write permission, an IOTLB, the kernel's IOVA allocator and the
//! flush queue of lazy mode.

use std::collections::BTreeMap;

use crate::hash::IntMap;
use crate::memory::{PAGE_SHIFT, PAGE_SIZE};
use crate::types::Access;
use crate::{DeviceId, Iova};

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

    /// Every allocated or reserved range: `(lo_pfn, hi_pfn, reserved)`.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64, bool)> + '_ {
        self.ranges.iter().map(|(&lo, &(hi, r))| (lo, hi, r))
    }
}

/// Why an IOMMU refused a device access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultReason {
    /// No translation for the IOVA.
    NotMapped,
    /// A read of a page mapped write-only (from-device).
    NoReadPermission,
    /// A write to a page mapped read-only (to-device).
    NoWritePermission,
    /// Without an IOMMU: the bus address hits no memory.
    NoMemory,
}

impl std::fmt::Display for FaultReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NotMapped => "no translation (PTE not present)",
            Self::NoReadPermission => "read of a write-only page",
            Self::NoWritePermission => "write to a read-only page",
            Self::NoMemory => "no memory at this bus address",
        })
    }
}

/// A DMA fault, as the IOMMU (or the bus) reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fault {
    /// The device's name.
    pub device: String,
    /// The device.
    pub device_id: DeviceId,
    /// The first faulting address.
    pub iova: Iova,
    /// Read or write.
    pub access: Access,
    /// Why.
    pub reason: FaultReason,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DMA {} fault: device {} at {}: {}",
            self.access, self.device, self.iova, self.reason
        )
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Pte {
    pfn: u64,
    read: bool,
    write: bool,
}

/// How a translation was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hit {
    Walk,
    Iotlb,
    /// An IOTLB entry whose page-table entry is gone (lazy mode, before the
    /// flush).
    StaleIotlb,
}

pub(crate) struct Domain {
    pub(crate) alloc: IovaAllocator,
    pt: IntMap<u64, Pte>,
    iotlb: IntMap<u64, Pte>,
    fq: Vec<u64>,
    fq_size: usize,
    pub(crate) flushes: u64,
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
            flushes: 0,
        }
    }

    pub(crate) fn map(
        &mut self,
        iova_pfn: u64,
        phys_pfn: u64,
        pages: u64,
        read: bool,
        write: bool,
    ) {
        for i in 0..pages {
            self.pt.insert(
                iova_pfn + i,
                Pte {
                    pfn: phys_pfn + i,
                    read,
                    write,
                },
            );
        }
    }

    pub(crate) fn unmap(&mut self, iova_pfn: u64, pages: u64) {
        for i in 0..pages {
            self.pt.remove(&(iova_pfn + i));
        }
    }

    pub(crate) fn invalidate(&mut self, iova_pfn: u64, pages: u64) {
        if pages as usize > self.iotlb.len() {
            self.iotlb
                .retain(|k, _| !(iova_pfn..iova_pfn + pages).contains(k));
        } else {
            for i in 0..pages {
                self.iotlb.remove(&(iova_pfn + i));
            }
        }
    }

    /// Queues an IOVA range for freeing after the next flush; flushes when
    /// the queue is full. Returns whether it flushed.
    pub(crate) fn queue_free(&mut self, lo_pfn: u64) -> bool {
        self.fq.push(lo_pfn);
        if self.fq.len() >= self.fq_size {
            self.flush();
            true
        } else {
            false
        }
    }

    /// Invalidates the whole IOTLB and frees the queued IOVAs.
    pub(crate) fn flush(&mut self) -> usize {
        self.iotlb.clear();
        self.flushes += 1;
        let n = self.fq.len();
        for lo in std::mem::take(&mut self.fq) {
            self.alloc.free(lo);
        }
        n
    }

    pub(crate) fn pending(&self) -> usize {
        self.fq.len()
    }

    pub(crate) fn translate(
        &mut self,
        iova: u64,
        access: Access,
    ) -> Result<(u64, Hit), FaultReason> {
        let pfn = iova >> PAGE_SHIFT;
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
            Access::Read if !pte.read => Err(FaultReason::NoReadPermission),
            Access::Write if !pte.write => Err(FaultReason::NoWritePermission),
            _ => Ok(((pte.pfn << PAGE_SHIFT) | (iova & (PAGE_SIZE - 1)), hit)),
        }
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
}
