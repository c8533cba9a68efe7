//! Memory files: `memfd_create`, `ftruncate`, and file seals
//! (`fcntl(F_ADD_SEALS)`, `fcntl(F_GET_SEALS)`).
//!
//! # References
//! - [`memfd_create(2)`](https://man7.org/linux/man-pages/man2/memfd_create.2.html)
//! - [`fcntl(2)`](https://man7.org/linux/man-pages/man2/fcntl.2.html) ("File Sealing")

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use bitflags::bitflags;

use crate::dmabuf::owned;
use crate::{Errno, Result};

bitflags! {
    /// `MFD_*` flags of [`memfd_create`].
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct MemfdFlags: u32 {
        /// `MFD_CLOEXEC`.
        const CLOEXEC = libc::MFD_CLOEXEC;
        /// `MFD_ALLOW_SEALING`: seals may be added (udmabuf needs one).
        const ALLOW_SEALING = libc::MFD_ALLOW_SEALING;
    }
}

bitflags! {
    /// `F_SEAL_*` file seals.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct SealFlags: u32 {
        /// `F_SEAL_SEAL`: no more seals.
        const SEAL = libc::F_SEAL_SEAL as u32;
        /// `F_SEAL_SHRINK`: the file cannot shrink.
        const SHRINK = libc::F_SEAL_SHRINK as u32;
        /// `F_SEAL_GROW`: the file cannot grow.
        const GROW = libc::F_SEAL_GROW as u32;
        /// `F_SEAL_WRITE`: the contents cannot change.
        const WRITE = libc::F_SEAL_WRITE as u32;
        /// `F_SEAL_FUTURE_WRITE`: no new writable mappings or writes.
        const FUTURE_WRITE = libc::F_SEAL_FUTURE_WRITE as u32;
    }
}

/// `memfd_create(name, flags)`: an anonymous shared-memory file.
///
/// # Errors
/// `EINVAL` for a name longer than 249 bytes, `EMFILE`/`ENFILE` out of
/// descriptors.
pub fn memfd_create(name: &CStr, flags: MemfdFlags) -> Result<OwnedFd> {
    // SAFETY: `name` is a NUL-terminated string the kernel only reads.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), flags.bits()) };
    if fd < 0 {
        Err(Errno::last())
    } else {
        owned(fd)
    }
}

/// `ftruncate(fd, len)`.
pub fn ftruncate(fd: BorrowedFd<'_>, len: u64) -> Result<()> {
    let len = libc::off_t::try_from(len).map_err(|_| Errno::EINVAL)?;
    // SAFETY: plain system call on an open descriptor.
    let r = unsafe { libc::ftruncate(fd.as_raw_fd(), len) };
    if r == 0 { Ok(()) } else { Err(Errno::last()) }
}

/// `fcntl(fd, F_ADD_SEALS, seals)`.
///
/// # Errors
/// `EPERM` when `F_SEAL_SEAL` is set or the file was made without
/// `MFD_ALLOW_SEALING`, `EBUSY` for `WRITE` while writable mappings exist.
pub fn add_seals(fd: BorrowedFd<'_>, seals: SealFlags) -> Result<()> {
    // SAFETY: plain system call on an open descriptor.
    let r = unsafe {
        libc::fcntl(
            fd.as_raw_fd(),
            libc::F_ADD_SEALS,
            seals.bits() as libc::c_int,
        )
    };
    if r == 0 { Ok(()) } else { Err(Errno::last()) }
}

/// `fcntl(fd, F_GET_SEALS)`.
pub fn get_seals(fd: BorrowedFd<'_>) -> Result<SealFlags> {
    // SAFETY: plain system call on an open descriptor.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(SealFlags::from_bits_retain(r as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linux_raw_sys::general as g;
    use std::os::fd::AsFd;

    #[test]
    fn values() {
        assert_eq!(MemfdFlags::CLOEXEC.bits(), g::MFD_CLOEXEC);
        assert_eq!(MemfdFlags::ALLOW_SEALING.bits(), g::MFD_ALLOW_SEALING);
        assert_eq!(SealFlags::SEAL.bits(), g::F_SEAL_SEAL);
        assert_eq!(SealFlags::SHRINK.bits(), g::F_SEAL_SHRINK);
        assert_eq!(SealFlags::GROW.bits(), g::F_SEAL_GROW);
        assert_eq!(SealFlags::WRITE.bits(), g::F_SEAL_WRITE);
        assert_eq!(SealFlags::FUTURE_WRITE.bits(), g::F_SEAL_FUTURE_WRITE);
        assert_eq!(libc::F_ADD_SEALS as u32, g::F_ADD_SEALS);
        assert_eq!(libc::F_GET_SEALS as u32, g::F_GET_SEALS);
    }

    #[test]
    fn seal_a_memfd() {
        let fd = memfd_create(
            c"numakit-test",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )
        .unwrap();
        ftruncate(fd.as_fd(), 8192).unwrap();
        add_seals(fd.as_fd(), SealFlags::SHRINK).unwrap();
        assert_eq!(get_seals(fd.as_fd()).unwrap(), SealFlags::SHRINK);
        assert_eq!(ftruncate(fd.as_fd(), 4096), Err(Errno::EPERM));
        let plain = memfd_create(c"numakit-test", MemfdFlags::CLOEXEC).unwrap();
        // without MFD_ALLOW_SEALING the file starts sealed with F_SEAL_SEAL
        assert_eq!(
            add_seals(plain.as_fd(), SealFlags::SHRINK),
            Err(Errno::EPERM)
        );
    }
}
