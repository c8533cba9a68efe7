//! DRM: the ioctls that import a DMA-BUF into a GPU (PRIME), export it
//! again, close GEM handles, name the driver, and the fences of `vgem`
//! (the kernel's virtual GEM device: `DRM_IOCTL_VGEM_FENCE_ATTACH` and
//! `_SIGNAL` put a fence on a buffer and signal it, like a GPU job).
//!
//! # References
//! - `include/uapi/drm/drm.h`, `include/uapi/drm/vgem_drm.h`
//! - Documentation/gpu/drm-mm.rst ("PRIME Buffer Sharing")

use std::ffi::c_char;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use crate::Result;
use crate::dmabuf::owned;
use crate::ioctl::{ioctl_ptr, iow, iowr};

/// `struct drm_version`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct drm_version {
    /// Major.
    pub version_major: i32,
    /// Minor.
    pub version_minor: i32,
    /// Patch level.
    pub version_patchlevel: i32,
    /// Length of `name`.
    pub name_len: usize,
    /// Driver name buffer.
    pub name: *mut c_char,
    /// Length of `date`.
    pub date_len: usize,
    /// Date buffer.
    pub date: *mut c_char,
    /// Length of `desc`.
    pub desc_len: usize,
    /// Description buffer.
    pub desc: *mut c_char,
}

/// `struct drm_gem_close`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct drm_gem_close {
    /// Handle.
    pub handle: u32,
    /// Padding.
    pub pad: u32,
}

/// `struct drm_prime_handle`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct drm_prime_handle {
    /// GEM handle.
    pub handle: u32,
    /// `DRM_CLOEXEC | DRM_RDWR` for handle-to-fd.
    pub flags: u32,
    /// DMA-BUF descriptor.
    pub fd: i32,
}

/// `struct drm_vgem_fence_attach`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct drm_vgem_fence_attach {
    /// GEM handle.
    pub handle: u32,
    /// `VGEM_FENCE_WRITE` for a writer's fence.
    pub flags: u32,
    /// The returned fence id.
    pub out_fence: u32,
    /// Padding (must be 0).
    pub pad: u32,
}

/// `struct drm_vgem_fence_signal`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct drm_vgem_fence_signal {
    /// Fence id.
    pub fence: u32,
    /// Flags (must be 0).
    pub flags: u32,
}

const D: u8 = b'd';
/// `DRM_COMMAND_BASE`: driver-specific ioctls start here.
const COMMAND_BASE: u8 = 0x40;
/// `DRM_IOCTL_VERSION`.
pub const DRM_IOCTL_VERSION: u32 = iowr::<drm_version>(D, 0x00);
/// `DRM_IOCTL_GEM_CLOSE`.
pub const DRM_IOCTL_GEM_CLOSE: u32 = iow::<drm_gem_close>(D, 0x09);
/// `DRM_IOCTL_PRIME_HANDLE_TO_FD`.
pub const DRM_IOCTL_PRIME_HANDLE_TO_FD: u32 = iowr::<drm_prime_handle>(D, 0x2d);
/// `DRM_IOCTL_PRIME_FD_TO_HANDLE`.
pub const DRM_IOCTL_PRIME_FD_TO_HANDLE: u32 = iowr::<drm_prime_handle>(D, 0x2e);
/// `DRM_IOCTL_VGEM_FENCE_ATTACH`.
pub const DRM_IOCTL_VGEM_FENCE_ATTACH: u32 = iowr::<drm_vgem_fence_attach>(D, COMMAND_BASE + 1);
/// `DRM_IOCTL_VGEM_FENCE_SIGNAL`.
pub const DRM_IOCTL_VGEM_FENCE_SIGNAL: u32 = iow::<drm_vgem_fence_signal>(D, COMMAND_BASE + 2);
/// `VGEM_FENCE_WRITE`.
pub const VGEM_FENCE_WRITE: u32 = 0x1;

/// `DRM_IOCTL_VERSION`: the driver's name (`vgem`, `i915`, ...).
pub fn driver_name(fd: BorrowedFd<'_>) -> Result<String> {
    let mut name = [0u8; 64];
    let mut v = drm_version {
        version_major: 0,
        version_minor: 0,
        version_patchlevel: 0,
        name_len: name.len(),
        name: name.as_mut_ptr().cast(),
        date_len: 0,
        date: std::ptr::null_mut(),
        desc_len: 0,
        desc: std::ptr::null_mut(),
    };
    // SAFETY: DRM_IOCTL_VERSION reads and writes one `struct drm_version`
    // and copies at most `name_len` bytes to `name` (a live 64-byte buffer);
    // the zero-length date and description are not written.
    unsafe { ioctl_ptr(fd, DRM_IOCTL_VERSION, &mut v) }?;
    let n = v.name_len.min(name.len());
    Ok(String::from_utf8_lossy(&name[..n]).into_owned())
}

/// `DRM_IOCTL_PRIME_FD_TO_HANDLE`: imports a DMA-BUF into the device
/// (the driver attaches and maps it) and returns its GEM handle. Importing
/// the same buffer again returns the same handle.
///
/// # Errors
/// `EBADF` for a descriptor that is not a DMA-BUF, `EOPNOTSUPP` for a
/// driver without PRIME import, `ENOMEM`.
pub fn prime_fd_to_handle(drm: BorrowedFd<'_>, dmabuf: BorrowedFd<'_>) -> Result<u32> {
    let mut p = drm_prime_handle {
        fd: dmabuf.as_raw_fd(),
        ..Default::default()
    };
    // SAFETY: the ioctl reads and writes one `struct drm_prime_handle`; the
    // descriptor in it is only looked up.
    unsafe { ioctl_ptr(drm, DRM_IOCTL_PRIME_FD_TO_HANDLE, &mut p) }?;
    Ok(p.handle)
}

/// `DRM_IOCTL_PRIME_HANDLE_TO_FD` (read-write, close-on-exec): a GEM
/// object as a DMA-BUF; for an imported object, the buffer it came from.
pub fn prime_handle_to_fd(drm: BorrowedFd<'_>, handle: u32) -> Result<OwnedFd> {
    let mut p = drm_prime_handle {
        handle,
        flags: (libc::O_CLOEXEC | libc::O_RDWR) as u32,
        fd: -1,
    };
    // SAFETY: the ioctl reads and writes one `struct drm_prime_handle`.
    unsafe { ioctl_ptr(drm, DRM_IOCTL_PRIME_HANDLE_TO_FD, &mut p) }?;
    owned(p.fd)
}

/// `DRM_IOCTL_GEM_CLOSE`: drops the handle (and, for an import, the
/// device's attachment once no handle is left).
pub fn gem_close(drm: BorrowedFd<'_>, handle: u32) -> Result<()> {
    let mut c = drm_gem_close { handle, pad: 0 };
    // SAFETY: the ioctl reads one `struct drm_gem_close`.
    unsafe { ioctl_ptr(drm, DRM_IOCTL_GEM_CLOSE, &mut c) }.map(drop)
}

/// `DRM_IOCTL_VGEM_FENCE_ATTACH`: adds a new unsignalled fence to the
/// object's reservation (for an import, the DMA-BUF's), as a writer's
/// fence with `write`, else a reader's. vgem signals it itself after 10 s.
///
/// # Errors
/// `EBUSY` when a fence that conflicts is still pending, `ENOENT` for an
/// unknown handle, `ENOTTY` when the device is not vgem.
pub fn vgem_fence_attach(drm: BorrowedFd<'_>, handle: u32, write: bool) -> Result<u32> {
    let mut a = drm_vgem_fence_attach {
        handle,
        flags: if write { VGEM_FENCE_WRITE } else { 0 },
        ..Default::default()
    };
    // SAFETY: the ioctl reads and writes one `struct drm_vgem_fence_attach`.
    unsafe { ioctl_ptr(drm, DRM_IOCTL_VGEM_FENCE_ATTACH, &mut a) }?;
    Ok(a.out_fence)
}

/// `DRM_IOCTL_VGEM_FENCE_SIGNAL`.
///
/// # Errors
/// `ENOENT` for an unknown fence, `ETIMEDOUT` when vgem had already
/// signalled it on its own timeout.
pub fn vgem_fence_signal(drm: BorrowedFd<'_>, fence: u32) -> Result<()> {
    let mut s = drm_vgem_fence_signal { fence, flags: 0 };
    // SAFETY: the ioctl reads one `struct drm_vgem_fence_signal`.
    unsafe { ioctl_ptr(drm, DRM_IOCTL_VGEM_FENCE_SIGNAL, &mut s) }.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// Values of `include/uapi/drm/drm.h` and `vgem_drm.h` (DRM ioctls are
    /// not in linux-raw-sys 0.12).
    #[test]
    fn numbers_match_the_headers() {
        assert_eq!(DRM_IOCTL_VERSION, 0xc040_6400);
        assert_eq!(DRM_IOCTL_GEM_CLOSE, 0x4008_6409);
        assert_eq!(DRM_IOCTL_PRIME_HANDLE_TO_FD, 0xc00c_642d);
        assert_eq!(DRM_IOCTL_PRIME_FD_TO_HANDLE, 0xc00c_642e);
        assert_eq!(DRM_IOCTL_VGEM_FENCE_ATTACH, 0xc010_6441);
        assert_eq!(DRM_IOCTL_VGEM_FENCE_SIGNAL, 0x4008_6442);
    }

    #[test]
    fn struct_layouts() {
        assert_eq!(size_of::<drm_version>(), 64);
        assert_eq!(offset_of!(drm_version, name_len), 16);
        assert_eq!(offset_of!(drm_version, desc), 56);
        assert_eq!(size_of::<drm_prime_handle>(), 12);
        assert_eq!(offset_of!(drm_prime_handle, fd), 8);
        assert_eq!(size_of::<drm_gem_close>(), 8);
        assert_eq!(size_of::<drm_vgem_fence_attach>(), 16);
        assert_eq!(size_of::<drm_vgem_fence_signal>(), 8);
    }
}
