//! CPU memory: where allocations are placed (the DMA32 and Normal zones),
//! what each allocation is (its size, kind and label), and which ranges the
//! CPU maps uncached.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::addr::{PhysAddr, PhysRange};
use crate::config::layout::{DMA32_START, HIGH_RAM_END, HIGH_RAM_START, LOW_RAM_END};
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
    allocs: BTreeMap<PhysAddr, Alloc>,
    /// Uncached ranges: start to end.
    uncached: BTreeMap<PhysAddr, PhysAddr>,
}

impl Default for CpuMemory {
    fn default() -> Self {
        Self {
            next_dma32: DMA32_START,
            next_normal: HIGH_RAM_START,
            allocs: BTreeMap::new(),
            uncached: BTreeMap::new(),
        }
    }
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
    fn uncached_ranges() {
        let mut c = CpuMemory::default();
        c.set_uncached(PhysRange::new(PhysAddr::new(0x2000), 0x1000));
        assert!(c.is_uncached(PhysAddr::new(0x2fff)));
        assert!(!c.is_uncached(PhysAddr::new(0x3000)));
        c.clear_uncached(PhysAddr::new(0x2000));
        assert!(!c.is_uncached(PhysAddr::new(0x2000)));
    }
}
