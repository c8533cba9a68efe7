//! CPU memory: where allocations are placed (the DMA32 and Normal zones,
//! the vmalloc area, the kernel image), what each allocation is (its size,
//! kind and label), which ranges the CPU maps uncached, and how the CPU's
//! page tables map a vmalloc address onto its scattered pages.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::addr::PAGE_SIZE;
use crate::addr::{PhysAddr, PhysRange};
use crate::config::layout::{
    DMA32_START, HIGH_RAM_END, HIGH_RAM_START, KERNEL_IMAGE_START, LOW_RAM_END, VMALLOC_START,
};
use crate::config::{MemKind, Zone};
use crate::error::{Error, Result};

/// One allocation.
pub(crate) struct Alloc {
    /// Its size in bytes.
    pub(crate) len: u64,
    /// What kind of kernel memory it stands for.
    pub(crate) kind: MemKind,
    /// Its name in the timeline and in findings.
    pub(crate) label: Arc<str>,
}

/// The allocator and the allocation table.
pub(crate) struct CpuMemory {
    next_dma32: PhysAddr,
    next_normal: PhysAddr,
    next_vmalloc: PhysAddr,
    next_image: PhysAddr,
    next_mmio: PhysAddr,
    allocs: BTreeMap<PhysAddr, Alloc>,
    /// The pages behind each vmalloc allocation, by its start.
    vmalloc: BTreeMap<PhysAddr, Vec<PhysAddr>>,
    /// Uncached ranges: start to end.
    uncached: BTreeMap<PhysAddr, PhysAddr>,
}

impl Default for CpuMemory {
    fn default() -> Self {
        Self {
            next_dma32: DMA32_START,
            next_normal: HIGH_RAM_START,
            next_vmalloc: VMALLOC_START,
            next_image: KERNEL_IMAGE_START,
            next_mmio: LOW_RAM_END,
            allocs: BTreeMap::new(),
            vmalloc: BTreeMap::new(),
            uncached: BTreeMap::new(),
        }
    }
}

/// One page of a vmalloc allocation, for the caller to name and record.
pub(crate) struct VmallocPage {
    /// Where the page lies in RAM.
    pub(crate) phys: PhysAddr,
    /// Its index in the allocation.
    pub(crate) index: u64,
}

impl CpuMemory {
    /// Places `size` bytes aligned to `align` in `zone` (a bump allocator:
    /// freed memory is not reused, so a use after free never finds another
    /// buffer's data).
    pub(crate) fn place(&mut self, size: u64, align: u64, zone: Zone) -> Result<PhysAddr> {
        let (next, end, name) = match zone {
            Zone::Dma32 => (&mut self.next_dma32, LOW_RAM_END, "DMA32"),
            Zone::Normal => (&mut self.next_normal, HIGH_RAM_END, "Normal"),
        };
        let start = next.raw().next_multiple_of(align);
        match start.checked_add(size) {
            Some(e) if e <= end.raw() => {
                *next = PhysAddr::new(e);
                Ok(PhysAddr::new(start))
            }
            _ => Err(Error::OutOfMemory { size, zone: name }),
        }
    }

    /// Places `n` scattered pages of the Normal zone, with a page-sized hole
    /// after each, as the page allocator hands out pages to vmalloc and to
    /// the system heap. All or nothing.
    pub(crate) fn place_scattered(&mut self, n: u64) -> Result<Vec<PhysAddr>> {
        let span = n.checked_mul(2 * PAGE_SIZE).ok_or(Error::OutOfMemory {
            size: n.saturating_mul(PAGE_SIZE),
            zone: "Normal",
        })?;
        let first = self.place(span, PAGE_SIZE, Zone::Normal)?;
        Ok((0..n)
            .map(|i| first.unchecked_add(i * 2 * PAGE_SIZE))
            .collect())
    }

    /// Places a vmalloc allocation of `size` bytes: scattered pages
    /// ([`place_scattered`](Self::place_scattered)) and a range of the
    /// vmalloc area that maps onto them. Returns the vmalloc address and
    /// the pages, which the caller records.
    pub(crate) fn place_vmalloc(&mut self, size: u64) -> Result<(PhysAddr, Vec<VmallocPage>)> {
        let n = size.div_ceil(PAGE_SIZE);
        let pages: Vec<VmallocPage> = self
            .place_scattered(n)?
            .into_iter()
            .zip(0..)
            .map(|(phys, index)| VmallocPage { phys, index })
            .collect();
        let start = self.next_vmalloc;
        // a guard page after each area, as vmalloc leaves
        self.next_vmalloc = start.unchecked_add((n + 1) * PAGE_SIZE);
        self.vmalloc
            .insert(start, pages.iter().map(|p| p.phys).collect());
        Ok((start, pages))
    }

    /// Places `size` bytes of device memory in the MMIO hole below 4 GiB.
    pub(crate) fn place_mmio(&mut self, size: u64, align: u64) -> Result<PhysAddr> {
        let start = self.next_mmio.raw().next_multiple_of(align.max(PAGE_SIZE));
        match start.checked_add(size) {
            Some(e) if e <= HIGH_RAM_START.raw() => {
                self.next_mmio = PhysAddr::new(e);
                Ok(PhysAddr::new(start))
            }
            _ => Err(Error::OutOfMemory { size, zone: "MMIO" }),
        }
    }

    /// Whether `phys` is device memory (the MMIO hole below 4 GiB).
    pub(crate) fn is_mmio(&self, phys: PhysAddr) -> bool {
        LOW_RAM_END <= phys && phys < HIGH_RAM_START
    }

    /// Places `size` bytes in the kernel image (text or rodata).
    pub(crate) fn place_image(&mut self, size: u64, align: u64) -> PhysAddr {
        let start = PhysAddr::new(self.next_image.raw().next_multiple_of(align));
        self.next_image = start.unchecked_add(size);
        start
    }

    /// Whether `addr` lies in the vmalloc area.
    pub(crate) fn in_vmalloc(&self, addr: PhysAddr) -> bool {
        VMALLOC_START <= addr && addr < KERNEL_IMAGE_START
    }

    /// The vmalloc area holding `addr`: its start and pages.
    fn vmalloc_area(&self, addr: PhysAddr) -> Option<(PhysAddr, &[PhysAddr])> {
        if !self.in_vmalloc(addr) {
            return None;
        }
        let (start, pages) = self.vmalloc.range(..=addr).next_back()?;
        let off = addr.unchecked_offset_from(*start);
        (off < pages.len() as u64 * PAGE_SIZE).then_some((*start, pages.as_slice()))
    }

    /// `vmalloc_to_page`: the page of RAM behind vmalloc address `addr`,
    /// plus the offset into it; `None` for an address outside any vmalloc
    /// allocation.
    pub(crate) fn vmalloc_to_phys(&self, addr: PhysAddr) -> Option<PhysAddr> {
        let (start, pages) = self.vmalloc_area(addr)?;
        let off = addr.unchecked_offset_from(start);
        Some(pages[(off / PAGE_SIZE) as usize].unchecked_add(off % PAGE_SIZE))
    }

    /// `virt_to_phys` as the DMA API applies it to an address: the identity
    /// for the linear map; for a vmalloc address, as if the allocation were
    /// contiguous from its first page, which is the mistake that sends a
    /// device into the memory after that page.
    pub(crate) fn virt_to_phys(&self, addr: PhysAddr) -> PhysAddr {
        match self.vmalloc_area(addr) {
            Some((start, pages)) => pages[0].unchecked_add(addr.unchecked_offset_from(start)),
            None => addr,
        }
    }

    /// What the CPU reaches at `[addr, addr + len)`: the same range for the
    /// linear map, the pieces of the pages behind a vmalloc range.
    pub(crate) fn resolve(&self, addr: PhysAddr, len: u64) -> Vec<PhysRange> {
        if !self.in_vmalloc(addr) {
            return vec![PhysRange::new(addr, len)];
        }
        let mut out = Vec::new();
        let mut done = 0;
        while done < len {
            let a = addr.unchecked_add(done);
            let n = (PAGE_SIZE - a.page_offset()).min(len - done);
            // bytes past the allocation stay where they are: not mapped
            out.push(PhysRange::new(self.vmalloc_to_phys(a).unwrap_or(a), n));
            done += n;
        }
        out
    }

    /// Forgets the vmalloc allocation at `addr`; returns its pages.
    pub(crate) fn remove_vmalloc(&mut self, addr: PhysAddr) -> Option<Vec<PhysAddr>> {
        self.vmalloc.remove(&addr)
    }

    /// Records the allocation at `addr`.
    pub(crate) fn insert(&mut self, addr: PhysAddr, a: Alloc) {
        self.allocs.insert(addr, a);
    }

    /// Forgets the allocation starting at `addr`.
    pub(crate) fn remove(&mut self, addr: PhysAddr) -> Option<Alloc> {
        self.allocs.remove(&addr)
    }

    /// How many allocations are alive.
    pub(crate) fn count(&self) -> usize {
        self.allocs.len()
    }

    /// The allocation holding `phys`, with its start.
    pub(crate) fn containing(&self, phys: PhysAddr) -> Option<(PhysAddr, &Alloc)> {
        self.allocs
            .range(..=phys)
            .next_back()
            .filter(|(s, a)| phys < s.unchecked_add(a.len))
            .map(|(s, a)| (*s, a))
    }

    /// A name for `phys`: its allocation's label, with the offset when it
    /// lies inside one.
    pub(crate) fn label_of(&self, phys: PhysAddr) -> Arc<str> {
        match self.containing(phys) {
            Some((s, a)) if s == phys => a.label.clone(),
            Some((s, a)) => Arc::from(format!("{}+{}", a.label, phys.unchecked_offset_from(s))),
            None => Arc::from(format!("memory at {phys}")),
        }
    }

    /// The CPU maps `r` uncached (coherent memory on a non-coherent machine).
    pub(crate) fn set_uncached(&mut self, r: PhysRange) {
        self.uncached.insert(r.addr, r.end());
    }

    /// The uncached range starting at `addr` is gone.
    pub(crate) fn clear_uncached(&mut self, addr: PhysAddr) {
        self.uncached.remove(&addr);
    }

    /// Whether the CPU maps `phys` uncached.
    pub(crate) fn is_uncached(&self, phys: PhysAddr) -> bool {
        !self.uncached.is_empty()
            && self
                .uncached
                .range(..=phys)
                .next_back()
                .is_some_and(|(_, &e)| phys < e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(label: &str, len: u64) -> Alloc {
        Alloc {
            len,
            kind: MemKind::Kmalloc,
            label: Arc::from(label),
        }
    }

    #[test]
    fn zones_place_and_run_out() {
        let mut c = CpuMemory::default();
        let a = c.place(100, 64, Zone::Dma32).unwrap();
        assert_eq!(a, DMA32_START);
        let b = c.place(10, 4096, Zone::Dma32).unwrap();
        assert_eq!(b, DMA32_START.unchecked_add(4096));
        let n = c.place(1, 64, Zone::Normal).unwrap();
        assert_eq!(n, HIGH_RAM_START);
        assert!(matches!(
            c.place(LOW_RAM_END.raw(), 64, Zone::Dma32),
            Err(Error::OutOfMemory { zone: "DMA32", .. })
        ));
    }

    #[test]
    fn labels_name_the_allocation_and_the_offset() {
        let mut c = CpuMemory::default();
        let a = PhysAddr::new(0x1000);
        c.insert(a, alloc("rx", 64));
        assert_eq!(&*c.label_of(a), "rx");
        assert_eq!(&*c.label_of(PhysAddr::new(0x1010)), "rx+16");
        assert_eq!(&*c.label_of(PhysAddr::new(0x1040)), "memory at 0x1040");
        assert!(c.remove(a).is_some());
        assert_eq!(c.count(), 0);
    }

    #[test]
    fn vmalloc_pages_are_scattered_and_mapped_in_order() {
        let mut c = CpuMemory::default();
        let (v, pages) = c.place_vmalloc(3 * PAGE_SIZE).unwrap();
        assert_eq!(v, VMALLOC_START);
        assert_eq!(pages.len(), 3);
        assert_eq!(
            pages[1].phys.unchecked_offset_from(pages[0].phys),
            2 * PAGE_SIZE,
            "a hole after each page"
        );
        let at = v.unchecked_add(PAGE_SIZE + 16);
        assert_eq!(c.vmalloc_to_phys(at), Some(pages[1].phys.unchecked_add(16)));
        assert_eq!(
            c.virt_to_phys(at),
            pages[0].phys.unchecked_add(PAGE_SIZE + 16),
            "as if contiguous: the hole"
        );
        let r = c.resolve(v.unchecked_add(PAGE_SIZE - 8), 16);
        assert_eq!(
            r,
            vec![
                PhysRange::new(pages[0].phys.unchecked_add(PAGE_SIZE - 8), 8),
                PhysRange::new(pages[1].phys, 8)
            ]
        );
        assert_eq!(
            c.resolve(pages[0].phys, 4),
            vec![PhysRange::new(pages[0].phys, 4)]
        );
        assert!(c.vmalloc_to_phys(v.unchecked_add(3 * PAGE_SIZE)).is_none());
    }

    #[test]
    fn uncached_ranges() {
        let mut c = CpuMemory::default();
        c.set_uncached(PhysRange::new(PhysAddr::new(0x2000), 0x1000));
        assert!(c.is_uncached(PhysAddr::new(0x2fff)));
        assert!(!c.is_uncached(PhysAddr::new(0x3000)));
        c.clear_uncached(PhysAddr::new(0x2000));
        assert!(!c.is_uncached(PhysAddr::new(0x2000)));
    }
}
