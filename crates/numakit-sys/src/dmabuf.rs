//! DMA-BUF file descriptors: `DMA_BUF_IOCTL_SYNC`, `DMA_BUF_SET_NAME`,
//! `DMA_BUF_IOCTL_EXPORT_SYNC_FILE` / `IMPORT_SYNC_FILE`, and CPU access to a
//! mapped buffer bracketed by a guard ([`CpuAccess`]) so that the start and
//! the end of an access cannot be mismatched.
//!
//! A DMA-BUF's memory may be written by a device or another process, so it
//! is never handed out as `&[u8]`: a [`CpuAccess`] copies bytes in and out,
//! folds 64-bit words with volatile loads, stores words with volatile stores,
//! or lets the kernel copy the bytes into another file (`write(2)`). Which
//! of those exist depends on the access it was begun for: a read access has
//! no store methods.
//!
//! # References
//! - `include/uapi/linux/dma-buf.h`
//! - Documentation/driver-api/dma-buf.rst ("CPU access to DMA buffer objects")

use std::ffi::{CStr, c_void};
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use bitflags::bitflags;

use crate::ioctl::{ioctl_ptr, iow, iowr};
use crate::mm::SharedMapping;
use crate::{Errno, Result};

/// `DMA_BUF_BASE`, the ioctl type of DMA-BUF files.
const BASE: u8 = b'b';

/// `struct dma_buf_sync`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct dma_buf_sync {
    /// `DMA_BUF_SYNC_*` flags.
    pub flags: u64,
}

/// `struct dma_buf_export_sync_file`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct dma_buf_export_sync_file {
    /// `DMA_BUF_SYNC_READ` and/or `DMA_BUF_SYNC_WRITE`.
    pub flags: u32,
    /// The returned sync file.
    pub fd: i32,
}

/// `struct dma_buf_import_sync_file`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct dma_buf_import_sync_file {
    /// `DMA_BUF_SYNC_READ` and/or `DMA_BUF_SYNC_WRITE`.
    pub flags: u32,
    /// The sync file to add.
    pub fd: i32,
}

/// `DMA_BUF_IOCTL_SYNC`.
pub const DMA_BUF_IOCTL_SYNC: u32 = iow::<dma_buf_sync>(BASE, 0);
/// `DMA_BUF_SET_NAME_B` (`_IOW('b', 1, __u64)`): the kernel takes the name
/// pointer as the argument; on 64-bit this equals `DMA_BUF_SET_NAME`.
pub const DMA_BUF_SET_NAME_B: u32 = iow::<u64>(BASE, 1);
/// `DMA_BUF_IOCTL_EXPORT_SYNC_FILE` (Linux 6.0).
pub const DMA_BUF_IOCTL_EXPORT_SYNC_FILE: u32 = iowr::<dma_buf_export_sync_file>(BASE, 2);
/// `DMA_BUF_IOCTL_IMPORT_SYNC_FILE` (Linux 6.0).
pub const DMA_BUF_IOCTL_IMPORT_SYNC_FILE: u32 = iow::<dma_buf_import_sync_file>(BASE, 3);
/// `DMA_BUF_NAME_LEN`: names are cut to 31 bytes and a NUL.
pub const DMA_BUF_NAME_LEN: usize = 32;
/// `DMA_BUF_MAGIC`: `f_type` of the DMA-BUF pseudo file system (`statfs`).
pub const DMA_BUF_MAGIC: i64 = 0x444d_4142;

bitflags! {
    /// `DMA_BUF_SYNC_*` (`DMA_BUF_SYNC_START` is the absence of `END`).
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct SyncFlags: u64 {
        /// `DMA_BUF_SYNC_READ`: the CPU reads.
        const READ = 1;
        /// `DMA_BUF_SYNC_WRITE`: the CPU writes.
        const WRITE = 2;
        /// `DMA_BUF_SYNC_END`: the access ends.
        const END = 4;
    }
}

/// `ioctl(fd, DMA_BUF_IOCTL_SYNC, {flags})`: begins (without `END`) or ends
/// a CPU access. A begin waits for the fences that guard the access (the
/// writers' for a read, every fence for a write) and makes the CPU's view
/// coherent; an end hands the buffer back to the devices.
///
/// # Errors
/// `EINVAL` for flags without `READ` or `WRITE`, `ENOTTY` when `fd` is not
/// a DMA-BUF, what the exporter's `begin/end_cpu_access` returns.
pub fn dma_buf_sync(fd: BorrowedFd<'_>, flags: SyncFlags) -> Result<()> {
    let mut arg = dma_buf_sync {
        flags: flags.bits(),
    };
    // SAFETY: DMA_BUF_IOCTL_SYNC reads one `struct dma_buf_sync`.
    unsafe { ioctl_ptr(fd, DMA_BUF_IOCTL_SYNC, &mut arg) }.map(drop)
}

/// `ioctl(fd, DMA_BUF_SET_NAME, name)`: names the buffer (shown in
/// `/proc/PID/fdinfo`, `/proc/PID/maps` and the debugfs `bufinfo`). The
/// kernel keeps at most [`DMA_BUF_NAME_LEN`]` - 1` bytes.
///
/// # Errors
/// `EBUSY` on kernels before 6.8 when a device is attached, `ENOTTY` when
/// `fd` is not a DMA-BUF.
pub fn dma_buf_set_name(fd: BorrowedFd<'_>, name: &CStr) -> Result<()> {
    // SAFETY: the kernel reads a NUL-terminated string of at most
    // DMA_BUF_NAME_LEN bytes at the pointer (`strndup_user`); `name` is one.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), DMA_BUF_SET_NAME_B as _, name.as_ptr()) };
    if r == -1 { Err(Errno::last()) } else { Ok(()) }
}

/// `DMA_BUF_IOCTL_EXPORT_SYNC_FILE`: a sync file that signals when the
/// buffer's current fences have: with `WRITE`, every fence (what a writer
/// waits for); with `READ` only, the writers' (what a reader waits for).
///
/// # Errors
/// `ENOTTY` on kernels before 6.0 or without `CONFIG_SYNC_FILE`, `EINVAL`
/// for flags other than `READ`/`WRITE`.
pub fn dma_buf_export_sync_file(fd: BorrowedFd<'_>, flags: SyncFlags) -> Result<OwnedFd> {
    let mut arg = dma_buf_export_sync_file {
        flags: flags.bits() as u32,
        fd: -1,
    };
    // SAFETY: the ioctl reads and writes one `struct dma_buf_export_sync_file`.
    unsafe { ioctl_ptr(fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &mut arg) }?;
    owned(arg.fd)
}

/// `DMA_BUF_IOCTL_IMPORT_SYNC_FILE`: adds the fence of `sync_file` to the
/// buffer, as a writer's (`WRITE`) or a reader's (`READ` only) fence, so that
/// implicitly synchronised users wait for it.
///
/// # Errors
/// `ENOTTY` on kernels before 6.0, `EINVAL` when `sync_file` is not a sync
/// file or for bad flags.
pub fn dma_buf_import_sync_file(
    fd: BorrowedFd<'_>,
    flags: SyncFlags,
    sync_file: BorrowedFd<'_>,
) -> Result<()> {
    let mut arg = dma_buf_import_sync_file {
        flags: flags.bits() as u32,
        fd: sync_file.as_raw_fd(),
    };
    // SAFETY: the ioctl reads one `struct dma_buf_import_sync_file`; the fd
    // in it is only looked up.
    unsafe { ioctl_ptr(fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &mut arg) }.map(drop)
}

/// A descriptor the kernel just installed for us.
pub(crate) fn owned(fd: i32) -> Result<OwnedFd> {
    if fd < 0 {
        return Err(Errno::EBADF);
    }
    // SAFETY: the kernel returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// What a CPU access does, as a type: [`Read`], [`Write`], [`ReadWrite`].
pub trait AccessMode: sealed::Sealed {
    /// The `DMA_BUF_SYNC_*` direction.
    const FLAGS: SyncFlags;
}
/// Access modes whose guards may store into the buffer.
pub trait Writable: AccessMode {}

/// The CPU reads (`DMA_BUF_SYNC_READ`).
#[derive(Debug)]
pub enum Read {}
/// The CPU writes (`DMA_BUF_SYNC_WRITE`).
#[derive(Debug)]
pub enum Write {}
/// The CPU reads and writes (`DMA_BUF_SYNC_RW`).
#[derive(Debug)]
pub enum ReadWrite {}

impl AccessMode for Read {
    const FLAGS: SyncFlags = SyncFlags::READ;
}
impl AccessMode for Write {
    const FLAGS: SyncFlags = SyncFlags::WRITE;
}
impl AccessMode for ReadWrite {
    const FLAGS: SyncFlags = SyncFlags::READ.union(SyncFlags::WRITE);
}
impl Writable for Write {}
impl Writable for ReadWrite {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Read {}
    impl Sealed for super::Write {}
    impl Sealed for super::ReadWrite {}
}

/// An open CPU access to a mapped DMA-BUF: `DMA_BUF_IOCTL_SYNC` with
/// `START | A::FLAGS` when it is made, `END | A::FLAGS` when it is dropped
/// (or [`end`](Self::end)ed), so the two always pair up with one direction.
/// The CPU touches the buffer only through it.
#[derive(Debug)]
pub struct CpuAccess<'a, A: AccessMode> {
    fd: BorrowedFd<'a>,
    map: &'a SharedMapping,
    ended: bool,
    _mode: PhantomData<A>,
}

/// Reading or writing outside the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfBounds {
    /// First byte asked for.
    pub offset: usize,
    /// Bytes asked for.
    pub len: usize,
    /// Bytes mapped.
    pub mapped: usize,
}

impl<'a, A: AccessMode> CpuAccess<'a, A> {
    /// Begins a CPU access to `map`, a mapping of the DMA-BUF `fd`
    /// (`DMA_BUF_SYNC_START`). Blocks until the fences that guard this
    /// access have signalled.
    ///
    /// # Errors
    /// What [`dma_buf_sync`](dma_buf_sync()) returns; `EACCES` when the mapping lacks the
    /// protection the mode needs (a write access to a read-only mapping).
    pub fn begin(fd: BorrowedFd<'a>, map: &'a SharedMapping) -> Result<Self> {
        if A::FLAGS.contains(SyncFlags::WRITE) && !map.writable() {
            return Err(Errno::EACCES);
        }
        dma_buf_sync(fd, A::FLAGS)?;
        Ok(CpuAccess {
            fd,
            map,
            ended: false,
            _mode: PhantomData,
        })
    }

    /// Ends the access now (`DMA_BUF_SYNC_END`), reporting its error.
    pub fn end(mut self) -> Result<()> {
        self.ended = true;
        dma_buf_sync(self.fd, A::FLAGS | SyncFlags::END)
    }

    /// The mapped length.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Always false: a mapping has at least one page.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    fn check(&self, offset: usize, len: usize) -> std::result::Result<(), OutOfBounds> {
        match offset.checked_add(len) {
            Some(end) if end <= self.map.len() => Ok(()),
            _ => Err(OutOfBounds {
                offset,
                len,
                mapped: self.map.len(),
            }),
        }
    }

    /// Copies `out.len()` bytes at `offset` out of the buffer.
    pub fn read(&self, offset: usize, out: &mut [u8]) -> std::result::Result<(), OutOfBounds> {
        self.check(offset, out.len())?;
        // SAFETY: the source range lies inside the live mapping (checked
        // above, and `map` is borrowed for 'a); `out` is a distinct,
        // writable Rust buffer. Bytes another party changes meanwhile are
        // read as whatever they are: no Rust reference to the mapping exists.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.map.as_ptr().add(offset),
                out.as_mut_ptr(),
                out.len(),
            );
        }
        Ok(())
    }

    /// Folds the little-endian 64-bit words of `[offset, offset + 8 * words)`
    /// with volatile loads (each word is read exactly once, in order).
    pub fn fold_words<T>(
        &self,
        offset: usize,
        words: usize,
        init: T,
        mut f: impl FnMut(T, u64) -> T,
    ) -> std::result::Result<T, OutOfBounds> {
        let len = words.checked_mul(8).ok_or(OutOfBounds {
            offset,
            len: usize::MAX,
            mapped: self.map.len(),
        })?;
        self.check(offset, len)?;
        let base = self.map.as_ptr();
        let mut acc = init;
        for i in 0..words {
            // SAFETY: `offset + 8 * i + 8 <= len` of the live mapping
            // (checked above); an unaligned volatile load of plain bytes.
            let w = unsafe { std::ptr::read_volatile(base.add(offset + 8 * i).cast::<[u8; 8]>()) };
            acc = f(acc, u64::from_le_bytes(w));
        }
        Ok(acc)
    }

    /// Has the kernel copy `[offset, offset + len)` into `dst` with
    /// `write(2)` (a socket, pipe or file), looping over short writes.
    ///
    /// # Errors
    /// The errno of `write` (`EPIPE` when the reader went away; no
    /// `SIGPIPE` is raised for sockets), or `EINVAL` outside the mapping.
    pub fn write_to(&self, dst: BorrowedFd<'_>, offset: usize, len: usize) -> Result<()> {
        self.check(offset, len).map_err(|_| Errno::EINVAL)?;
        let mut done = 0usize;
        let mut socket = true;
        while done < len {
            let n = len - done;
            // SAFETY: the kernel reads `n` bytes from inside the live mapping
            // (checked above) and writes nothing there.
            let r = unsafe {
                let p = self.map.as_ptr().add(offset + done).cast::<c_void>();
                if socket {
                    libc::send(dst.as_raw_fd(), p, n, libc::MSG_NOSIGNAL)
                } else {
                    libc::write(dst.as_raw_fd(), p, n)
                }
            };
            if r >= 0 {
                done += r as usize;
                continue;
            }
            match Errno::last() {
                Errno::EINTR => {}
                // a pipe or a file: plain write(2) from now on
                Errno::ENOTSOCK if socket => socket = false,
                e => return Err(e),
            }
        }
        Ok(())
    }
}

impl<A: Writable> CpuAccess<'_, A> {
    /// Copies `data` into the buffer at `offset`.
    pub fn write(&self, offset: usize, data: &[u8]) -> std::result::Result<(), OutOfBounds> {
        self.check(offset, data.len())?;
        // SAFETY: the destination lies inside the live, writable mapping
        // (checked above and in `begin`); `data` is a distinct Rust buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.map.as_ptr().add(offset), data.len());
        }
        Ok(())
    }

    /// Stores `f(i)` as little-endian word `i` of `[offset, offset + 8 *
    /// words)` with volatile stores.
    pub fn fill_words(
        &self,
        offset: usize,
        words: usize,
        mut f: impl FnMut(usize) -> u64,
    ) -> std::result::Result<(), OutOfBounds> {
        let len = words.checked_mul(8).ok_or(OutOfBounds {
            offset,
            len: usize::MAX,
            mapped: self.map.len(),
        })?;
        self.check(offset, len)?;
        let base = self.map.as_ptr();
        for i in 0..words {
            // SAFETY: inside the live, writable mapping (checked above and in
            // `begin`); an unaligned volatile store of plain bytes.
            unsafe {
                std::ptr::write_volatile(
                    base.add(offset + 8 * i).cast::<[u8; 8]>(),
                    f(i).to_le_bytes(),
                );
            }
        }
        Ok(())
    }
}

impl<A: AccessMode> Drop for CpuAccess<'_, A> {
    fn drop(&mut self) {
        if !self.ended {
            let _ = dma_buf_sync(self.fd, A::FLAGS | SyncFlags::END);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linux_raw_sys::ioctl as k;

    #[test]
    fn numbers_match_linux_raw_sys() {
        assert_eq!(DMA_BUF_IOCTL_SYNC, k::DMA_BUF_IOCTL_SYNC);
        assert_eq!(DMA_BUF_SET_NAME_B, k::DMA_BUF_SET_NAME_B);
        assert_eq!(DMA_BUF_SET_NAME_B, k::DMA_BUF_SET_NAME);
        assert_eq!(DMA_BUF_MAGIC, linux_raw_sys::general::DMA_BUF_MAGIC as i64);
    }

    /// `include/uapi/linux/dma-buf.h`: `_IOWR('b', 2, 8 bytes)`, `_IOW('b', 3,
    /// 8 bytes)` (not in linux-raw-sys 0.12).
    #[test]
    fn sync_file_numbers_match_the_header() {
        assert_eq!(DMA_BUF_IOCTL_EXPORT_SYNC_FILE, 0xc008_6202);
        assert_eq!(DMA_BUF_IOCTL_IMPORT_SYNC_FILE, 0x4008_6203);
        assert_eq!(std::mem::size_of::<dma_buf_sync>(), 8);
        assert_eq!(std::mem::size_of::<dma_buf_export_sync_file>(), 8);
        assert_eq!(std::mem::offset_of!(dma_buf_export_sync_file, fd), 4);
        assert_eq!(std::mem::size_of::<dma_buf_import_sync_file>(), 8);
    }

    #[test]
    fn flag_values() {
        assert_eq!(SyncFlags::READ.bits(), 1);
        assert_eq!(SyncFlags::WRITE.bits(), 2);
        assert_eq!(SyncFlags::END.bits(), 4);
        assert_eq!(ReadWrite::FLAGS.bits(), 3);
    }
}
