//! Mappings: anonymous ones (`mmap`, `munmap`, `madvise`) and shared
//! mappings of a file descriptor ([`SharedMapping`]).
//!
//! # References
//! - [`mmap(2)`](https://man7.org/linux/man-pages/man2/mmap.2.html)
//! - [`madvise(2)`](https://man7.org/linux/man-pages/man2/madvise.2.html)

use std::ffi::c_void;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

use bitflags::bitflags;

use crate::{Errno, Result};

bitflags! {
    /// Extra `MAP_*` flags for [`mmap_anonymous`].
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct MapFlags: i32 {
        /// `MAP_HUGETLB`: back the mapping with pages from the default
        /// hugetlb pool (the length must be a multiple of the huge page size).
        const HUGETLB = libc::MAP_HUGETLB;
        /// `MAP_HUGE_2MB`: with `HUGETLB`, take 2 MiB pages whatever the
        /// default huge page size is (log2 of the size in bits 26-31).
        const HUGE_2MB = libc::MAP_HUGE_2MB;
        /// `MAP_POPULATE`: fault every page in now (under the policy in force).
        const POPULATE = libc::MAP_POPULATE;
        /// `MAP_NORESERVE`: do not reserve swap.
        const NORESERVE = libc::MAP_NORESERVE;
    }
}

/// A `madvise` advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Advice {
    /// `MADV_NORMAL`.
    Normal = libc::MADV_NORMAL,
    /// `MADV_HUGEPAGE`: use transparent huge pages here.
    HugePage = libc::MADV_HUGEPAGE,
    /// `MADV_NOHUGEPAGE`.
    NoHugePage = libc::MADV_NOHUGEPAGE,
    /// `MADV_DONTNEED`: drop the pages; the next access reads zeros.
    DontNeed = libc::MADV_DONTNEED,
}

/// The base page size.
#[doc(alias = "numa_pagesize")]
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let r = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if r > 0 { r as usize } else { 4096 }
}

/// `mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
/// flags, -1, 0)`: a new private zero-filled mapping at an address the
/// kernel picks. The caller owns it and must [`munmap`] it.
///
/// # Errors
/// `EINVAL` for a zero length (or a hugetlb length that is not a multiple of
/// the huge page size), `ENOMEM` when out of address space or hugetlb pages.
pub fn mmap_anonymous(len: usize, flags: MapFlags) -> Result<NonNull<u8>> {
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    // Only the named flags: `from_bits_retain` could smuggle in MAP_FIXED
    // (or MAP_SHARED and the like), which the SAFETY argument excludes.
    let extra = flags.bits() & MapFlags::all().bits();
    // SAFETY: a null hint without MAP_FIXED (masked out above) makes the
    // kernel choose an unused range, so no existing memory is replaced.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(Errno::last());
    }
    NonNull::new(p.cast()).ok_or(Errno::EINVAL)
}

/// `munmap(addr, len)`.
///
/// # Safety
/// `[addr, addr + len)` must be a mapping (or part of one) that nothing else
/// uses any more: no reference or pointer into it may be used afterwards.
pub unsafe fn munmap(addr: NonNull<u8>, len: usize) -> Result<()> {
    // SAFETY: the caller promises the range is no longer used.
    let r = unsafe { libc::munmap(addr.as_ptr().cast::<c_void>(), len) };
    if r == 0 { Ok(()) } else { Err(Errno::last()) }
}

/// `madvise(addr, len, advice)`.
///
/// # Safety
/// The range must lie in a mapping the caller owns. With
/// [`Advice::DontNeed`] the contents are discarded: no reference into the
/// range may be alive.
pub unsafe fn madvise(addr: NonNull<u8>, len: usize, advice: Advice) -> Result<()> {
    // SAFETY: the caller owns the range and, for DontNeed, holds no
    // reference into it.
    let r = unsafe { libc::madvise(addr.as_ptr().cast::<c_void>(), len, advice as i32) };
    if r == 0 { Ok(()) } else { Err(Errno::last()) }
}

/// An owned anonymous private mapping, unmapped on drop: plain CPU memory,
/// page-aligned, zero-filled, readable and writable as bytes.
///
/// # Example
/// ```
/// use numakit_sys::mm::{AnonMapping, MapFlags, page_size};
/// let mut m = AnonMapping::new(2 * page_size(), MapFlags::empty()).unwrap();
/// m.as_mut_slice()[0] = 7;
/// assert_eq!(m.as_slice()[0], 7);
/// assert_eq!(m.addr() % page_size(), 0);
/// ```
pub struct AnonMapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value alone, like a
// `Vec<u8>`; access goes through `&self`/`&mut self`.
unsafe impl Send for AnonMapping {}
// SAFETY: shared access only hands out `&[u8]`.
unsafe impl Sync for AnonMapping {}

impl AnonMapping {
    /// Maps `len` bytes (see [`mmap_anonymous`]). `len` is used as given:
    /// round it to the page size (or huge page size with `HUGETLB`) first.
    pub fn new(len: usize, flags: MapFlags) -> Result<AnonMapping> {
        let ptr = mmap_anonymous(len, flags)?;
        Ok(AnonMapping { ptr, len })
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

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points at `len` readable bytes mapped for the life
        // of `self`; anonymous memory is always initialised (zero-filled).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes this the only
        // reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// `madvise` over the whole mapping. Taking `&mut self` guarantees no
    /// reference into the mapping is alive, so even [`Advice::DontNeed`]
    /// (the contents become zeros) is sound.
    pub fn advise(&mut self, advice: Advice) -> Result<()> {
        // SAFETY: the mapping is ours and `&mut self` excludes live references.
        unsafe { madvise(self.ptr, self.len, advice) }
    }
}

impl Drop for AnonMapping {
    fn drop(&mut self) {
        // SAFETY: the mapping is owned by `self`, which is going away; no
        // reference into it can outlive `self`.
        let _ = unsafe { munmap(self.ptr, self.len) };
    }
}

impl std::fmt::Debug for AnonMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AnonMapping({:#x}+{:#x})", self.addr(), self.len)
    }
}

/// How a [`SharedMapping`] may be accessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// `PROT_READ`.
    Read,
    /// `PROT_READ | PROT_WRITE`.
    ReadWrite,
}

/// A `MAP_SHARED` mapping of a file descriptor (a DMA-BUF, a memfd),
/// unmapped on drop. Other processes and devices may change its bytes at
/// any time, so it hands out no slices: DMA-BUF access goes through
/// [`crate::dmabuf::CpuAccess`], other uses through the raw pointer.
pub struct SharedMapping {
    ptr: NonNull<u8>,
    len: usize,
    prot: Protection,
}

// SAFETY: the mapping is owned by this value; it is only reached through
// raw pointers by code that documents its own synchronisation.
unsafe impl Send for SharedMapping {}
// SAFETY: as above; `&SharedMapping` gives no references into the memory.
unsafe impl Sync for SharedMapping {}

impl SharedMapping {
    /// `mmap(NULL, len, prot, MAP_SHARED, fd, offset)`.
    ///
    /// # Errors
    /// `EINVAL` for a zero length or an offset the file refuses (a DMA-BUF
    /// refuses a range beyond its size), `EACCES` when `fd` was not opened
    /// for the protection asked, `ENODEV` when the file cannot be mapped.
    pub fn map(fd: BorrowedFd<'_>, len: usize, offset: u64, prot: Protection) -> Result<Self> {
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let p = match prot {
            Protection::Read => libc::PROT_READ,
            Protection::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
        };
        // SAFETY: a null hint without MAP_FIXED lets the kernel choose an
        // unused range, so no existing memory is replaced; `fd` is open.
        let r = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                p,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if r == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        let ptr = NonNull::new(r.cast()).ok_or(Errno::EINVAL)?;
        Ok(SharedMapping { ptr, len, prot })
    }

    /// The start address.
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

    /// Whether it was mapped writable.
    pub fn writable(&self) -> bool {
        self.prot == Protection::ReadWrite
    }

    /// The start, for code in this crate that documents its access.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Sets the memory policy of the whole mapping (see
    /// [`crate::mempolicy::mbind`]); for a shared memory file the policy is
    /// the file's, and pages allocated later through any mapping follow it.
    pub fn mbind(
        &self,
        mode: crate::mempolicy::MpolMode,
        nodes: &[u64],
        flags: crate::mempolicy::MbindFlags,
    ) -> Result<()> {
        crate::mempolicy::mbind(
            self.addr(),
            self.len,
            mode,
            crate::mempolicy::MpolFlags::empty(),
            nodes,
            flags,
        )
    }

    /// Rewrites the first byte of every page of a writable mapping with its
    /// own value, in order, so that each page is allocated now (under the
    /// mapping's policy). Meant for memory nobody else writes yet (a fresh
    /// memfd): a concurrent writer of those bytes could be overwritten.
    ///
    /// # Errors
    /// `EACCES` for a read-only mapping.
    pub fn touch_pages(&self) -> Result<()> {
        if !self.writable() {
            return Err(Errno::EACCES);
        }
        let ps = page_size();
        for off in (0..self.len).step_by(ps) {
            // SAFETY: inside the live, writable mapping; the byte read is
            // stored back unchanged (see the doc for concurrent writers).
            unsafe {
                let p = self.ptr.as_ptr().add(off);
                std::ptr::write_volatile(p, std::ptr::read_volatile(p));
            }
        }
        Ok(())
    }
}

impl Drop for SharedMapping {
    fn drop(&mut self) {
        // SAFETY: the mapping belongs to `self`, which is going away; no
        // reference into it exists (none is ever handed out).
        let _ = unsafe { munmap(self.ptr, self.len) };
    }
}

impl std::fmt::Debug for SharedMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedMapping({:#x}+{:#x})", self.addr(), self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(MapFlags::HUGETLB.bits(), 0x40000);
        assert_eq!(MapFlags::HUGE_2MB.bits(), 21 << 26);
        assert_eq!(MapFlags::POPULATE.bits(), 0x8000);
        assert_eq!(MapFlags::NORESERVE.bits(), 0x4000);
        assert_eq!(Advice::HugePage as i32, 14);
        assert_eq!(Advice::NoHugePage as i32, 15);
        assert_eq!(Advice::DontNeed as i32, 4);
    }

    #[test]
    fn map_and_unmap() {
        let ps = page_size();
        let p = mmap_anonymous(4 * ps, MapFlags::empty()).unwrap();
        assert_eq!(p.as_ptr() as usize % ps, 0);
        // SAFETY: freshly mapped, unused.
        unsafe { munmap(p, 4 * ps) }.unwrap();
        assert_eq!(mmap_anonymous(0, MapFlags::empty()), Err(Errno::EINVAL));
    }

    /// Bits outside the named flags never reach `mmap`: MAP_FIXED with the
    /// null hint would map over address 0 and replace whatever is there.
    #[test]
    fn unknown_map_flags_are_not_passed_to_mmap() {
        let ps = page_size();
        let fixed = MapFlags::from_bits_retain(libc::MAP_FIXED);
        let p = mmap_anonymous(ps, fixed).unwrap();
        assert_ne!(p.as_ptr() as usize, 0);
        // SAFETY: freshly mapped, unused.
        unsafe { munmap(p, ps) }.unwrap();
        let m = AnonMapping::new(ps, fixed).unwrap();
        assert_ne!(m.addr(), 0);
    }
}
