//! DMA-BUF heaps: `DMA_HEAP_IOCTL_ALLOC` on `/dev/dma_heap/NAME`.
//!
//! A heap allocates a buffer and hands it out as a DMA-BUF file
//! descriptor. The `system` heap takes its pages from the page allocator in
//! the context of the calling thread, so the thread's memory policy decides
//! their node.
//!
//! # References
//! - `include/uapi/linux/dma-heap.h`
//! - Documentation/userspace-api/dma-buf-heaps.rst

use std::os::fd::{BorrowedFd, OwnedFd};

use bitflags::bitflags;

use crate::Result;
use crate::dmabuf::owned;
use crate::ioctl::{ioctl_ptr, iowr};

/// `struct dma_heap_allocation_data`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct dma_heap_allocation_data {
    /// Size in bytes.
    pub len: u64,
    /// The returned DMA-BUF.
    pub fd: u32,
    /// `O_RDWR`/`O_CLOEXEC` for the new descriptor.
    pub fd_flags: u32,
    /// Heap flags (none are defined; must be 0).
    pub heap_flags: u64,
}

/// `DMA_HEAP_IOCTL_ALLOC`.
pub const DMA_HEAP_IOCTL_ALLOC: u32 = iowr::<dma_heap_allocation_data>(b'H', 0);

bitflags! {
    /// Flags of the new DMA-BUF descriptor (`DMA_HEAP_VALID_FD_FLAGS`).
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct HeapFdFlags: u32 {
        /// `O_RDWR`: mappable for writing (the default is read-only).
        const RDWR = libc::O_RDWR as u32;
        /// `O_CLOEXEC`.
        const CLOEXEC = libc::O_CLOEXEC as u32;
    }
}

/// `ioctl(heap, DMA_HEAP_IOCTL_ALLOC, {len, fd_flags})`: allocates `len`
/// bytes (rounded up to pages by the heap) and returns the DMA-BUF.
///
/// # Errors
/// `EINVAL` for a zero length or bad flags, `ENOMEM` when the heap (or the
/// calling thread's policy's nodes) has no room, `ENOTTY` when `heap` is
/// not a heap device.
pub fn dma_heap_alloc(heap: BorrowedFd<'_>, len: u64, flags: HeapFdFlags) -> Result<OwnedFd> {
    let mut arg = dma_heap_allocation_data {
        len,
        fd: 0,
        fd_flags: flags.bits(),
        heap_flags: 0,
    };
    // SAFETY: DMA_HEAP_IOCTL_ALLOC reads and writes one
    // `struct dma_heap_allocation_data`.
    unsafe { ioctl_ptr(heap, DMA_HEAP_IOCTL_ALLOC, &mut arg) }?;
    owned(arg.fd as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn abi() {
        assert_eq!(
            DMA_HEAP_IOCTL_ALLOC,
            linux_raw_sys::ioctl::DMA_HEAP_IOCTL_ALLOC
        );
        assert_eq!(size_of::<dma_heap_allocation_data>(), 24);
        assert_eq!(offset_of!(dma_heap_allocation_data, fd), 8);
        assert_eq!(offset_of!(dma_heap_allocation_data, fd_flags), 12);
        assert_eq!(offset_of!(dma_heap_allocation_data, heap_flags), 16);
        assert_eq!(HeapFdFlags::RDWR.bits(), 2);
        assert_eq!(HeapFdFlags::CLOEXEC.bits(), 0o2000000);
    }
}
