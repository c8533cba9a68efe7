//! swiotlb: a pool of low memory, in 2 KiB slots, that bounces DMA for
//! devices that cannot reach a buffer or must not see the rest of its page.

use crate::addr::{PAGE_SIZE, PhysAddr};

/// The slot size (`IO_TLB_SIZE`).
pub const IO_TLB_SIZE: u64 = 1 << 11;
/// Slots per segment: no bounce buffer crosses a segment (`IO_TLB_SEGSIZE`).
pub const IO_TLB_SEGSIZE: usize = 128;

#[derive(Clone, Copy, Default)]
struct Slot {
    used: bool,
    /// For the first slot of an allocation: the number of slots.
    nslots: usize,
}

/// The bounce pool: slots of [`IO_TLB_SIZE`] bytes from `base`.
pub(crate) struct Swiotlb {
    base: PhysAddr,
    slots: Vec<Slot>,
    next: usize,
    used: usize,
}

impl Swiotlb {
    pub(crate) fn new(base: PhysAddr, bytes: u64) -> Self {
        let n = (bytes / IO_TLB_SIZE) as usize;
        Self {
            base,
            slots: vec![Slot::default(); n],
            next: 0,
            used: 0,
        }
    }

    /// Allocates slots for `size` bytes; page-aligned when
    /// `size` is at least a page. Returns the bounce buffer's address.
    pub(crate) fn alloc(&mut self, size: u64) -> Option<PhysAddr> {
        let n = size.div_ceil(IO_TLB_SIZE).max(1) as usize;
        if n > IO_TLB_SEGSIZE || n > self.slots.len() {
            return None;
        }
        let stride = if size >= PAGE_SIZE {
            (PAGE_SIZE / IO_TLB_SIZE) as usize
        } else {
            1
        };
        let total = self.slots.len();
        let mut i = self.next.next_multiple_of(stride) % total;
        for _ in 0..total.div_ceil(stride) {
            if i + n <= total
                && i / IO_TLB_SEGSIZE == (i + n - 1) / IO_TLB_SEGSIZE
                && self.slots[i..i + n].iter().all(|s| !s.used)
            {
                for s in &mut self.slots[i..i + n] {
                    s.used = true;
                }
                self.slots[i].nslots = n;
                self.next = (i + n) % total;
                self.used += n;
                return Some(self.base.unchecked_add(i as u64 * IO_TLB_SIZE));
            }
            i = (i + stride) % total;
            i -= i % stride;
        }
        None
    }

    /// Frees the slots of the bounce buffer at `tlb`.
    pub(crate) fn free(&mut self, tlb: PhysAddr) {
        let i = (tlb.unchecked_offset_from(self.base) / IO_TLB_SIZE) as usize;
        let n = self.slots[i].nslots;
        for s in &mut self.slots[i..i + n] {
            *s = Slot::default();
        }
        self.used -= n;
    }

    /// Slots in use.
    #[cfg(test)]
    pub(crate) fn used_slots(&self) -> usize {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: PhysAddr = PhysAddr::new(0x0400_0000);

    #[test]
    fn page_sized_buffers_are_page_aligned() {
        let mut t = Swiotlb::new(BASE, 1 << 20);
        let small = t.alloc(100).unwrap();
        assert_eq!(small, BASE);
        let page = t.alloc(4096).unwrap();
        assert!(page.is_aligned(PAGE_SIZE), "{page}");
        assert_eq!(t.used_slots(), 1 + 2);
        t.free(small);
        t.free(page);
        assert_eq!(t.used_slots(), 0);
    }

    #[test]
    fn no_buffer_crosses_a_segment_or_exceeds_one() {
        let mut t = Swiotlb::new(BASE, 1 << 20);
        assert!(t.alloc(IO_TLB_SIZE * IO_TLB_SEGSIZE as u64 + 1).is_none());
        t.alloc(IO_TLB_SIZE * 100).unwrap();
        let b = t.alloc(IO_TLB_SIZE * 100).unwrap();
        let first = b.unchecked_offset_from(BASE) / IO_TLB_SIZE;
        assert_eq!(first as usize % IO_TLB_SEGSIZE, 0, "starts a new segment");
    }

    #[test]
    fn a_full_pool_says_so() {
        let mut t = Swiotlb::new(BASE, 4 * IO_TLB_SIZE);
        assert!(t.alloc(4 * IO_TLB_SIZE).is_some());
        assert!(t.alloc(1).is_none());
    }
}
