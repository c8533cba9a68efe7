//! `/dev/udmabuf`: a DMA-BUF made of the pages of a memory file.
//!
//! The kernel wants a shared-memory (memfd) or hugetlbfs file sealed
//! against shrinking (`F_SEAL_SHRINK`) and not sealed against writing
//! (`F_SEAL_WRITE`), a page-aligned offset and size, and a size within
//! the `udmabuf.size_limit_mb` module parameter (64 MiB by default). The
//! buffer pins the file's pages: they are where they were allocated, so
//! placing the memfd's pages places the buffer.
//!
//! # References
//! - `include/uapi/linux/udmabuf.h`, `drivers/dma-buf/udmabuf.c`

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use bitflags::bitflags;

use crate::Result;
use crate::dmabuf::owned;
use crate::ioctl::{ioctl_ptr, iow};

/// `struct udmabuf_create`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct udmabuf_create {
    /// The memfd.
    pub memfd: u32,
    /// `UDMABUF_FLAGS_*`.
    pub flags: u32,
    /// Offset in the memfd (page-aligned).
    pub offset: u64,
    /// Size (page-aligned).
    pub size: u64,
}

/// `UDMABUF_CREATE`.
pub const UDMABUF_CREATE: u32 = iow::<udmabuf_create>(b'u', 0x42);

bitflags! {
    /// `UDMABUF_FLAGS_*`.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct UdmabufFlags: u32 {
        /// `UDMABUF_FLAGS_CLOEXEC`.
        const CLOEXEC = 0x01;
    }
}

/// `ioctl(dev, UDMABUF_CREATE, {memfd, flags, offset, size})`: a DMA-BUF of
/// `[offset, offset + size)` of `memfd`. The returned descriptor is
/// read-write.
///
/// # Errors
/// `EINVAL` for an unaligned range, a range beyond the file, a size over
/// the limit, or a file without `F_SEAL_SHRINK` or with `F_SEAL_WRITE`;
/// `EBADF` when `memfd` is not a memory file.
pub fn udmabuf_create(
    dev: BorrowedFd<'_>,
    memfd: BorrowedFd<'_>,
    offset: u64,
    size: u64,
    flags: UdmabufFlags,
) -> Result<OwnedFd> {
    let mut arg = udmabuf_create {
        memfd: memfd.as_raw_fd() as u32,
        flags: flags.bits(),
        offset,
        size,
    };
    // SAFETY: UDMABUF_CREATE reads one `struct udmabuf_create`; the memfd
    // in it is only looked up. It returns the new descriptor.
    let fd = unsafe { ioctl_ptr(dev, UDMABUF_CREATE, &mut arg) }?;
    owned(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn abi() {
        assert_eq!(UDMABUF_CREATE, linux_raw_sys::ioctl::UDMABUF_CREATE);
        assert_eq!(size_of::<udmabuf_create>(), 24);
        assert_eq!(offset_of!(udmabuf_create, flags), 4);
        assert_eq!(offset_of!(udmabuf_create, offset), 8);
        assert_eq!(offset_of!(udmabuf_create, size), 16);
    }
}
