//! Physical memory, allocated lazily one 4 KiB page at a time: pages never
//! written read as zeros and cost nothing, so a machine of many GiB fits in
//! a test.

use crate::hash::IntMap;

/// The page size of the model (the kernel's `PAGE_SIZE` on x86 and most arm64).
pub const PAGE_SIZE: u64 = 4096;
pub(crate) const PAGE_SHIFT: u32 = 12;

#[derive(Default)]
pub(crate) struct Memory {
    pages: IntMap<u64, Box<[u8; PAGE_SIZE as usize]>>,
}

impl Memory {
    pub(crate) fn read(&self, addr: u64, out: &mut [u8]) {
        let mut done = 0usize;
        while done < out.len() {
            let a = addr + done as u64;
            let off = (a % PAGE_SIZE) as usize;
            let n = (PAGE_SIZE as usize - off).min(out.len() - done);
            match self.pages.get(&(a >> PAGE_SHIFT)) {
                Some(p) => out[done..done + n].copy_from_slice(&p[off..off + n]),
                None => out[done..done + n].fill(0),
            }
            done += n;
        }
    }

    pub(crate) fn write(&mut self, addr: u64, data: &[u8]) {
        let mut done = 0usize;
        while done < data.len() {
            let a = addr + done as u64;
            let off = (a % PAGE_SIZE) as usize;
            let n = (PAGE_SIZE as usize - off).min(data.len() - done);
            let page = self
                .pages
                .entry(a >> PAGE_SHIFT)
                .or_insert_with(|| Box::new([0u8; PAGE_SIZE as usize]));
            page[off..off + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
    }

    /// Zeroes `[addr, addr + len)`, releasing whole pages.
    pub(crate) fn zero(&mut self, addr: u64, len: u64) {
        let mut a = addr;
        let end = addr + len;
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
