//! Physical page frames of this process's memory, from
//! `/proc/self/pagemap`: one 64-bit entry per virtual page.
//!
//! The frame number is only shown to processes with `CAP_SYS_ADMIN`;
//! others read 0 there, which [`PagemapEntry::pfn`] reports as `None`.
//!
//! # References
//! - Documentation/admin-guide/mm/pagemap.rst

use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::Result;
use crate::errno::Errno;

/// One pagemap entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PagemapEntry(pub u64);

impl PagemapEntry {
    /// Bit 63: the page is in memory.
    pub fn present(self) -> bool {
        self.0 >> 63 & 1 == 1
    }
    /// Bit 62: the page is swapped out.
    pub fn swapped(self) -> bool {
        self.0 >> 62 & 1 == 1
    }
    /// Bits 0-54 of a present page: its frame number, when the kernel
    /// shows it (it shows 0 to processes without `CAP_SYS_ADMIN`).
    pub fn pfn(self) -> Option<u64> {
        let pfn = self.0 & ((1 << 55) - 1);
        (self.present() && !self.swapped() && pfn != 0).then_some(pfn)
    }
}

/// The entries of the `pages` pages starting at `addr` (page-aligned) in
/// this process. Pages never touched are not present.
///
/// # Errors
/// `ENOENT`/`EACCES` when `/proc/self/pagemap` cannot be opened (no procfs,
/// or a kernel that hides it), `EINVAL` for an unaligned address.
pub fn pagemap_self(addr: usize, pages: usize) -> Result<Vec<PagemapEntry>> {
    let ps = crate::mm::page_size();
    if !addr.is_multiple_of(ps) {
        return Err(Errno::EINVAL);
    }
    let io = |e: std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    let f = File::open("/proc/self/pagemap").map_err(io)?;
    let mut raw = vec![0u8; pages * 8];
    let off = (addr / ps) as u64 * 8;
    f.read_exact_at(&mut raw, off).map_err(io)?;
    Ok(raw
        .chunks_exact(8)
        .map(|c| PagemapEntry(u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::{AnonMapping, MapFlags, page_size};

    #[test]
    fn entry_bits() {
        let e = PagemapEntry(1 << 63 | 0x1234);
        assert!(e.present());
        assert_eq!(e.pfn(), Some(0x1234));
        assert_eq!(PagemapEntry(1 << 63).pfn(), None, "hidden frame");
        assert_eq!(PagemapEntry(0x1234).pfn(), None, "not present");
        assert!(PagemapEntry(1 << 62).swapped());
    }

    #[test]
    fn touched_pages_are_present() {
        let ps = page_size();
        let mut m = AnonMapping::new(4 * ps, MapFlags::empty()).unwrap();
        m.as_mut_slice()[0] = 1;
        m.as_mut_slice()[2 * ps] = 1;
        let e = pagemap_self(m.addr(), 4).unwrap();
        assert_eq!(
            e.iter().map(|e| e.present()).collect::<Vec<_>>(),
            [true, false, true, false]
        );
        assert_eq!(pagemap_self(m.addr() + 1, 1), Err(Errno::EINVAL));
    }
}
