//! Memory a device reads and writes by DMA: an anonymous mapping that never
//! hands out a Rust reference into its bytes, placed on a NUMA node.
//!
//! A device may write these bytes at any moment while they are mapped for
//! DMA, so a `&[u8]` into them would be unsound: every access is a volatile
//! copy in or out, and the type is `Send` but not `Sync`, so two threads
//! never copy at once.

use std::ptr::NonNull;

use crate::mempolicy::{MbindFlags, MovePagesFlags, MpolFlags, MpolMode, mbind, move_pages};
use crate::mm::{Advice, MapFlags, madvise, mmap_anonymous, munmap};
use crate::{Errno, Result};

/// An owned anonymous private mapping for DMA, unmapped on drop. Its bytes
/// are reached only through [`read`](Self::read) and [`write`](Self::write).
///
/// # Example
/// ```
/// use numakit_sys::dmamem::DmaMemory;
/// use numakit_sys::mm::{MapFlags, page_size};
/// let m = DmaMemory::new(page_size(), MapFlags::empty()).unwrap();
/// m.write(10, b"abc").unwrap();
/// let mut out = [0u8; 3];
/// m.read(10, &mut out).unwrap();
/// assert_eq!(&out, b"abc");
/// assert!(m.read(page_size() - 1, &mut out).is_err());
/// ```
pub struct DmaMemory {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone; moving it to another
// thread moves that ownership. It is not `Sync`: copies through `&self`
// never happen on two threads at once.
unsafe impl Send for DmaMemory {}

impl DmaMemory {
    /// Maps `len` bytes (a multiple of the page size, or of the huge page
    /// size with [`MapFlags::HUGETLB`]).
    pub fn new(len: usize, flags: MapFlags) -> Result<DmaMemory> {
        let ptr = mmap_anonymous(len, flags)?;
        Ok(DmaMemory { ptr, len })
    }

    /// The start address in this process.
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn check(&self, offset: usize, n: usize) -> Result<()> {
        match offset.checked_add(n) {
            Some(e) if e <= self.len => Ok(()),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Copies `out.len()` bytes from `offset` into `out`. `EINVAL` when the
    /// range does not fit.
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Result<()> {
        self.check(offset, out.len())?;
        for (i, b) in out.iter_mut().enumerate() {
            // SAFETY: `offset + i < len` (checked), so the byte is inside the
            // live mapping; volatile because a device may write it.
            *b = unsafe { self.ptr.as_ptr().add(offset + i).read_volatile() };
        }
        Ok(())
    }

    /// Copies `data` to `offset`. `EINVAL` when the range does not fit.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<()> {
        self.check(offset, data.len())?;
        for (i, b) in data.iter().enumerate() {
            // SAFETY: `offset + i < len` (checked); no reference into the
            // mapping exists, and the type is not `Sync`.
            unsafe { self.ptr.as_ptr().add(offset + i).write_volatile(*b) };
        }
        Ok(())
    }

    /// Fills `[offset, offset + n)` with `byte`.
    pub fn fill(&self, offset: usize, n: usize, byte: u8) -> Result<()> {
        self.check(offset, n)?;
        for i in 0..n {
            // SAFETY: as in `write`.
            unsafe { self.ptr.as_ptr().add(offset + i).write_volatile(byte) };
        }
        Ok(())
    }

    /// Binds the mapping to node `node` (`mbind(MPOL_BIND, MPOL_MF_STRICT |
    /// MPOL_MF_MOVE)`): pages already present move there, later ones are
    /// allocated there or not at all.
    pub fn bind_to_node(&self, node: u32) -> Result<()> {
        let mut words = vec![0u64; node as usize / 64 + 1];
        words[node as usize / 64] |= 1 << (node % 64);
        mbind(
            self.addr(),
            self.len,
            MpolMode::Bind,
            MpolFlags::empty(),
            &words,
            MbindFlags::STRICT | MbindFlags::MOVE,
        )
    }

    /// Asks for transparent huge pages (`MADV_HUGEPAGE`).
    pub fn advise_huge(&self) -> Result<()> {
        // SAFETY: the range is this mapping; MADV_HUGEPAGE keeps contents.
        unsafe { madvise(self.ptr, self.len, Advice::HugePage) }
    }

    /// Writes a zero to every `page`-byte page so that each is allocated
    /// now, under the policy in force.
    pub fn populate(&self, page: usize) -> Result<()> {
        if page == 0 {
            return Err(Errno::EINVAL);
        }
        for off in (0..self.len).step_by(page) {
            // SAFETY: `off < len`; see `write`.
            unsafe { self.ptr.as_ptr().add(off).write_volatile(0) };
        }
        Ok(())
    }

    /// The node of each `page`-byte page (`move_pages` query): a node
    /// number, or a negative errno (`-ENOENT`: not allocated).
    pub fn page_nodes(&self, page: usize) -> Result<Vec<i32>> {
        if page == 0 {
            return Err(Errno::EINVAL);
        }
        let pages: Vec<usize> = (0..self.len)
            .step_by(page)
            .map(|o| self.addr() + o)
            .collect();
        let mut status = vec![0i32; pages.len()];
        move_pages(0, &pages, None, &mut status, MovePagesFlags::empty())?;
        Ok(status)
    }
}

impl Drop for DmaMemory {
    fn drop(&mut self) {
        // SAFETY: the mapping is owned by `self`, which is going away; no
        // reference into it was ever handed out.
        let _ = unsafe { munmap(self.ptr, self.len) };
    }
}

impl std::fmt::Debug for DmaMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DmaMemory({:#x}+{:#x})", self.addr(), self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::page_size;

    #[test]
    fn copies_and_bounds() {
        let ps = page_size();
        let m = DmaMemory::new(2 * ps, MapFlags::empty()).unwrap();
        m.fill(0, 2 * ps, 0xa5).unwrap();
        m.write(ps - 2, &[1, 2, 3, 4]).unwrap();
        let mut o = [0u8; 6];
        m.read(ps - 3, &mut o).unwrap();
        assert_eq!(o, [0xa5, 1, 2, 3, 4, 0xa5]);
        assert_eq!(m.read(2 * ps, &mut [0u8; 1]), Err(Errno::EINVAL));
        assert_eq!(m.write(usize::MAX, &[1]), Err(Errno::EINVAL));
        assert_eq!(m.fill(ps, ps + 1, 0), Err(Errno::EINVAL));
        m.read(2 * ps, &mut []).unwrap();
    }

    #[test]
    fn node0_binding_and_page_query() {
        let ps = page_size();
        let m = DmaMemory::new(4 * ps, MapFlags::empty()).unwrap();
        m.bind_to_node(0).unwrap();
        m.populate(ps).unwrap();
        assert_eq!(m.page_nodes(ps).unwrap(), vec![0; 4]);
        assert_eq!(m.populate(0), Err(Errno::EINVAL));
    }
}
