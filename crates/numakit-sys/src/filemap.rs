//! Read-only shared mappings of a file, and `mincore`: which of their
//! pages the page cache holds, without faulting any in.
//!
//! # References
//! - [`mmap(2)`](https://man7.org/linux/man-pages/man2/mmap.2.html)
//! - [`mincore(2)`](https://man7.org/linux/man-pages/man2/mincore.2.html)

use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

use crate::mm::{munmap, page_size};
use crate::{Errno, Result};

/// `mmap(NULL, len, PROT_READ, MAP_SHARED, fd, offset)`, unmapped on drop.
/// Nothing is read until a page is touched.
pub struct FileMapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone and only read.
unsafe impl Send for FileMapping {}

impl FileMapping {
    /// Maps `len` bytes of the file from `offset` (a multiple of the page
    /// size).
    ///
    /// # Errors
    /// `EINVAL` for a zero length or an unaligned offset; `EACCES` when the
    /// file is not open for reading; `ENODEV` for a file that cannot be
    /// mapped.
    pub fn new(fd: BorrowedFd<'_>, offset: u64, len: usize) -> Result<FileMapping> {
        if len == 0 || !offset.is_multiple_of(page_size() as u64) {
            return Err(Errno::EINVAL);
        }
        let off = libc::off_t::try_from(offset).map_err(|_| Errno::EINVAL)?;
        // SAFETY: a null hint without MAP_FIXED lets the kernel pick an
        // unused range, so no existing memory is replaced; the mapping is
        // read-only.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                off,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        Ok(FileMapping {
            ptr: NonNull::new(p.cast()).ok_or(Errno::EINVAL)?,
            len,
        })
    }

    /// The start address.
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a mapping has at least one byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `mincore`: for each page, whether the page cache holds it. No page
    /// is read or faulted in.
    pub fn resident(&self) -> Result<Vec<bool>> {
        let ps = page_size();
        let mut vec = vec![0u8; self.len.div_ceil(ps)];
        // SAFETY: the range is our mapping and `vec` has one byte per page
        // of it, as mincore writes.
        let r = unsafe { libc::mincore(self.ptr.as_ptr().cast(), self.len, vec.as_mut_ptr()) };
        if r != 0 {
            return Err(Errno::last());
        }
        Ok(vec.into_iter().map(|b| b & 1 == 1).collect())
    }

    /// Reads the first byte of page `i`: maps that page into this process
    /// (a minor fault when the page cache holds it, a read from the file
    /// otherwise). `None` past the end of the mapping.
    ///
    /// A page past the end of the file (the file shrank after it was
    /// mapped) raises `SIGBUS`: map only what the file holds.
    pub fn touch(&self, i: usize) -> Option<u8> {
        let off = i.checked_mul(page_size()).filter(|o| *o < self.len)?;
        // SAFETY: `off` is inside our readable mapping.
        Some(unsafe { std::ptr::read_volatile(self.ptr.as_ptr().add(off)) })
    }
}

impl Drop for FileMapping {
    fn drop(&mut self) {
        // SAFETY: the mapping is owned by `self`, which is going away; no
        // reference into it was ever handed out.
        let _ = unsafe { munmap(self.ptr, self.len) };
    }
}

impl std::fmt::Debug for FileMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileMapping({:#x}+{:#x})", self.addr(), self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn map_a_file_and_ask_what_is_cached() {
        let ps = page_size();
        let path = std::env::temp_dir().join(format!("numakit-sys-filemap-{}", std::process::id()));
        std::fs::write(&path, vec![7u8; 3 * ps]).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        let m = FileMapping::new(f.as_fd(), 0, 3 * ps).unwrap();
        // just written: the page cache holds it
        assert_eq!(m.resident().unwrap(), vec![true; 3]);
        assert_eq!(m.touch(2), Some(7));
        assert_eq!(m.touch(3), None);
        assert_eq!(
            FileMapping::new(f.as_fd(), 1, ps).unwrap_err(),
            Errno::EINVAL
        );
        assert_eq!(
            FileMapping::new(f.as_fd(), 0, 0).unwrap_err(),
            Errno::EINVAL
        );
        std::fs::remove_file(&path).unwrap();
    }

    /// mincore's vector has one byte per page; bit 0 is "resident".
    #[test]
    fn abi() {
        assert_eq!(libc::PROT_READ, 1);
        assert_eq!(libc::MAP_SHARED, 1);
        assert_eq!(libc::SYS_mincore, 27);
    }
}
