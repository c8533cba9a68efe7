//! Physical memory, allocated lazily one 4 KiB page at a time: pages never
//! written read as zeros and cost nothing, so a machine of many GiB fits in
//! a test.

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, PhysAddr};
use crate::intmap::IntMap;

/// The machine's RAM, by page frame.
#[derive(Default)]
pub(crate) struct Memory {
    pages: IntMap<u64, Box<[u8; PAGE_SIZE as usize]>>,
}

/// The pieces of `[addr, addr + len)` that lie within one page each:
/// `(page frame, offset in the page, offset in the buffer, length)`.
fn page_pieces(addr: PhysAddr, len: usize) -> impl Iterator<Item = (u64, usize, usize, usize)> {
    let mut done = 0usize;
    std::iter::from_fn(move || {
        if done >= len {
            return None;
        }
        let a = addr.raw() + done as u64;
        let off = (a % PAGE_SIZE) as usize;
        let n = (PAGE_SIZE as usize - off).min(len - done);
        let piece = (a >> PAGE_SHIFT, off, done, n);
        done += n;
        Some(piece)
    })
}

impl Memory {
    /// Reads `out.len()` bytes at `addr`.
    pub(crate) fn read(&self, addr: PhysAddr, out: &mut [u8]) {
        for (pfn, off, at, n) in page_pieces(addr, out.len()) {
            match self.pages.get(&pfn) {
                Some(p) => out[at..at + n].copy_from_slice(&p[off..off + n]),
                None => out[at..at + n].fill(0),
            }
        }
    }

    /// Writes `data` at `addr`, allocating the pages it touches.
    pub(crate) fn write(&mut self, addr: PhysAddr, data: &[u8]) {
        for (pfn, off, at, n) in page_pieces(addr, data.len()) {
            let page = self
                .pages
                .entry(pfn)
                .or_insert_with(|| Box::new([0u8; PAGE_SIZE as usize]));
            page[off..off + n].copy_from_slice(&data[at..at + n]);
        }
    }

    /// Zeroes `[addr, addr + len)`, releasing whole pages.
    pub(crate) fn zero(&mut self, addr: PhysAddr, len: u64) {
        let mut a = addr.raw();
        let end = a + len;
        while a < end {
            let off = a % PAGE_SIZE;
            let n = (PAGE_SIZE - off).min(end - a);
            if off == 0 && n == PAGE_SIZE {
                self.pages.remove(&(a >> PAGE_SHIFT));
            } else if let Some(p) = self.pages.get_mut(&(a >> PAGE_SHIFT)) {
                p[off as usize..(off + n) as usize].fill(0);
            }
            a += n;
        }
    }

    /// Pages holding data.
    pub(crate) fn resident_pages(&self) -> usize {
        self.pages.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwritten_memory_reads_as_zeros_and_costs_nothing() {
        let m = Memory::default();
        let mut b = [1u8; 16];
        m.read(PhysAddr::new(0x10_0000_0000), &mut b);
        assert_eq!(b, [0; 16]);
        assert_eq!(m.resident_pages(), 0);
    }

    #[test]
    fn writes_across_a_page_boundary_round_trip() {
        let mut m = Memory::default();
        let data: Vec<u8> = (0..32).collect();
        m.write(PhysAddr::new(0x1ff0), &data);
        assert_eq!(m.resident_pages(), 2);
        let mut b = [0u8; 32];
        m.read(PhysAddr::new(0x1ff0), &mut b);
        assert_eq!(&b[..], &data[..]);
    }

    #[test]
    fn zero_releases_whole_pages_and_clears_partial_ones() {
        let mut m = Memory::default();
        m.write(PhysAddr::new(0x1000), &[7u8; 0x2000]);
        m.zero(PhysAddr::new(0x1000), 0x1800);
        assert_eq!(m.resident_pages(), 1, "the first page is released");
        let mut b = [9u8; 4];
        m.read(PhysAddr::new(0x27fc), &mut b);
        assert_eq!(b, [0; 4]);
        m.read(PhysAddr::new(0x2800), &mut b);
        assert_eq!(b, [7; 4]);
    }
}
