//! swiotlb: a pool of low memory, in 2 KiB slots, that bounces DMA for
//! devices that cannot reach a buffer or must not see the rest of its page.

use crate::memory::PAGE_SIZE;

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

pub(crate) struct Swiotlb {
    pub(crate) base: u64,
    slots: Vec<Slot>,
    next: usize,
    pub(crate) used: usize,
}

impl Swiotlb {
    pub(crate) fn new(base: u64, bytes: u64) -> Self {
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
    pub(crate) fn alloc(&mut self, size: u64) -> Option<u64> {
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
                return Some(self.base + i as u64 * IO_TLB_SIZE);
            }
            i = (i + stride) % total;
            i -= i % stride;
        }
        None
    }

    pub(crate) fn free(&mut self, tlb: u64) {
        let i = ((tlb - self.base) / IO_TLB_SIZE) as usize;
        let n = self.slots[i].nslots;
        for s in &mut self.slots[i..i + n] {
            *s = Slot::default();
        }
        self.used -= n;
    }
}
