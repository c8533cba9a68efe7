//! The `ioctl(2)` request encoding (`_IOC`, `_IO`, `_IOR`, `_IOW`, `_IOWR`
//! of `include/uapi/asm-generic/ioctl.h`) and the one raw call every ioctl
//! module of this crate goes through.
//!
//! A request number is `dir << 30 | size << 16 | type << 8 | nr`, where
//! `size` is the size of the argument struct. The helpers take the struct as
//! a type parameter, so a number cannot disagree with the struct passed.
//! Every number used in this crate is also pinned by a test against
//! `linux-raw-sys` or the value the kernel header gives.

use std::ffi::c_int;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::{Errno, Result};

const NRBITS: u32 = 8;
const TYPEBITS: u32 = 8;
const SIZEBITS: u32 = 14;
const NRSHIFT: u32 = 0;
const TYPESHIFT: u32 = NRSHIFT + NRBITS;
const SIZESHIFT: u32 = TYPESHIFT + TYPEBITS;
const DIRSHIFT: u32 = SIZESHIFT + SIZEBITS;

/// `_IOC_NONE`.
pub const NONE: u32 = 0;
/// `_IOC_WRITE`: user space writes the argument, the kernel reads it.
pub const WRITE: u32 = 1;
/// `_IOC_READ`: the kernel writes the argument.
pub const READ: u32 = 2;

/// `_IOC(dir, type, nr, size)`.
pub const fn ioc(dir: u32, ty: u8, nr: u8, size: usize) -> u32 {
    assert!(size < (1 << SIZEBITS), "ioctl argument too large");
    (dir << DIRSHIFT)
        | ((ty as u32) << TYPESHIFT)
        | ((nr as u32) << NRSHIFT)
        | ((size as u32) << SIZESHIFT)
}

/// `_IO(type, nr)`: no argument.
pub const fn io(ty: u8, nr: u8) -> u32 {
    ioc(NONE, ty, nr, 0)
}

/// `_IOR(type, nr, T)`.
pub const fn ior<T>(ty: u8, nr: u8) -> u32 {
    ioc(READ, ty, nr, std::mem::size_of::<T>())
}

/// `_IOW(type, nr, T)`.
pub const fn iow<T>(ty: u8, nr: u8) -> u32 {
    ioc(WRITE, ty, nr, std::mem::size_of::<T>())
}

/// `_IOWR(type, nr, T)`.
pub const fn iowr<T>(ty: u8, nr: u8) -> u32 {
    ioc(READ | WRITE, ty, nr, std::mem::size_of::<T>())
}

/// `ioctl(fd, request, arg)` with a pointer to a `T`, retried on `EINTR`.
///
/// # Safety
/// `request` must be an ioctl whose argument is a `T` (or a prefix of one
/// the kernel reads and writes only within `size_of::<T>()` bytes), and any
/// pointers inside `*arg` must be valid for what that ioctl does with them.
pub(crate) unsafe fn ioctl_ptr<T>(fd: BorrowedFd<'_>, request: u32, arg: *mut T) -> Result<c_int> {
    loop {
        // SAFETY: the caller promises `arg` matches `request`; `fd` is open
        // for the duration of the call (it is borrowed).
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg) };
        if r != -1 {
            return Ok(r);
        }
        let e = Errno::last();
        if e != Errno::EINTR {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_matches_the_kernel_macros() {
        // _IOW('b', 0, struct dma_buf_sync { __u64 flags; })
        assert_eq!(iow::<u64>(b'b', 0), 0x4008_6200);
        // _IOR('V', 0, struct v4l2_capability) = 104 bytes
        assert_eq!(ioc(READ, b'V', 0, 104), 0x8068_5600);
        // _IOWR('H', 0, struct dma_heap_allocation_data) = 24 bytes
        assert_eq!(ioc(READ | WRITE, b'H', 0, 24), 0xc018_4800);
        assert_eq!(io(b'V', 1), 0x5601);
    }
}
