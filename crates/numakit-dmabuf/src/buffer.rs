//! A DMA-BUF descriptor ([`DmaBuf`]), its CPU mapping ([`MappedDmaBuf`])
//! with the access guards, and sync files ([`SyncFile`]).

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use numakit_sys::Errno;
use numakit_sys::dmabuf::{
    self, AccessMode, CpuAccess, DMA_BUF_MAGIC, DMA_BUF_NAME_LEN, Read, ReadWrite, SyncFlags, Write,
};
use numakit_sys::fd::{PollFlags, file_id, poll_one, size_by_seek};
use numakit_sys::mm::{Protection, SharedMapping};

use crate::error::{Error, Result};

/// A DMA-BUF: an owned descriptor, its size and its inode number (unique on
/// the system: `dmabuf list` and the kernel's `bufinfo` name buffers by it).
#[derive(Debug)]
pub struct DmaBuf {
    fd: OwnedFd,
    size: u64,
    inode: u64,
}

/// Which accesses a sync file or an imported fence stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceAccess {
    /// Readers (`DMA_BUF_SYNC_READ`): exporting waits for the writers only.
    Read,
    /// Writers (`DMA_BUF_SYNC_WRITE`): exporting waits for every fence.
    Write,
}

impl FenceAccess {
    fn flags(self) -> SyncFlags {
        match self {
            FenceAccess::Read => SyncFlags::READ,
            FenceAccess::Write => SyncFlags::WRITE,
        }
    }
}

impl DmaBuf {
    /// Takes ownership of a descriptor after checking that it is a DMA-BUF
    /// (`fstatfs` says `DMA_BUF_MAGIC`). `what` names it in errors. A
    /// descriptor that is not one is closed.
    pub fn from_fd(fd: OwnedFd, what: &str) -> Result<DmaBuf> {
        let id = file_id(fd.as_fd()).map_err(|e| Error::os(format!("inspecting {what}"), e))?;
        if id.fs_type != DMA_BUF_MAGIC {
            return Err(Error::NotDmaBuf { what: what.into() });
        }
        let size = size_by_seek(fd.as_fd())
            .map_err(|e| Error::os(format!("reading the size of {what}"), e))?;
        Ok(DmaBuf {
            fd,
            size,
            inode: id.ino,
        })
    }

    /// The size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The inode number.
    pub fn inode(&self) -> u64 {
        self.inode
    }

    /// Names the buffer (`DMA_BUF_SET_NAME`): up to 31 bytes, no NUL.
    pub fn set_name(&self, name: &str) -> Result<()> {
        let c = check_name(name)?;
        dmabuf::dma_buf_set_name(self.fd.as_fd(), &c)
            .map_err(|e| Error::os(format!("naming DMA-BUF {} '{name}'", self.inode), e))
    }

    /// Another descriptor of the same buffer (`dup`).
    pub fn try_clone(&self) -> Result<DmaBuf> {
        let fd = self
            .fd
            .try_clone()
            .map_err(|e| Error::io("duplicating a DMA-BUF descriptor", e))?;
        Ok(DmaBuf {
            fd,
            size: self.size,
            inode: self.inode,
        })
    }

    /// Maps the whole buffer for the CPU (read-write when `writable`).
    pub fn map(self, prot: Protection) -> Result<MappedDmaBuf> {
        let len =
            usize::try_from(self.size).map_err(|_| Error::Invalid("buffer too large".into()))?;
        let map = SharedMapping::map(self.fd.as_fd(), len, 0, prot)
            .map_err(|e| Error::os(format!("mapping DMA-BUF {}", self.inode), e))?;
        Ok(MappedDmaBuf { buf: self, map })
    }

    /// A sync file of the buffer's current fences
    /// (`DMA_BUF_IOCTL_EXPORT_SYNC_FILE`): for `Read`, the writers'; for
    /// `Write`, all of them. Signalled at once when there are none.
    pub fn export_sync_file(&self, access: FenceAccess) -> Result<SyncFile> {
        dmabuf::dma_buf_export_sync_file(self.fd.as_fd(), access.flags())
            .map(|fd| SyncFile { fd })
            .map_err(|e| sync_file_error("exporting a sync file", e))
    }

    /// Adds the fence of `file` to the buffer as a reader's or a writer's
    /// (`DMA_BUF_IOCTL_IMPORT_SYNC_FILE`).
    pub fn import_sync_file(&self, file: &SyncFile, access: FenceAccess) -> Result<()> {
        dmabuf::dma_buf_import_sync_file(self.fd.as_fd(), access.flags(), file.fd.as_fd())
            .map_err(|e| sync_file_error("importing a sync file", e))
    }
}

fn sync_file_error(what: &str, e: Errno) -> Error {
    match e {
        Errno::ENOTTY => Error::Invalid(format!(
            "{what}: this kernel has no DMA-BUF sync file ioctls (Linux 6.0 and CONFIG_SYNC_FILE)"
        )),
        e => Error::os(what, e),
    }
}

/// Checks a buffer name: at most 31 bytes, no NUL.
pub fn check_name(name: &str) -> Result<CString> {
    if name.len() >= DMA_BUF_NAME_LEN {
        return Err(Error::Invalid(format!(
            "buffer name '{name}' is {} bytes; the kernel keeps at most {}",
            name.len(),
            DMA_BUF_NAME_LEN - 1
        )));
    }
    CString::new(name).map_err(|_| Error::Invalid("a buffer name cannot contain a NUL byte".into()))
}

impl AsFd for DmaBuf {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A DMA-BUF mapped for the CPU. The CPU reads or writes it only inside a
/// [`CpuAccess`] guard from [`read`](Self::read), [`write`](Self::write) or
/// [`read_write`](Self::read_write), which begins the access with
/// `DMA_BUF_IOCTL_SYNC` and ends it, with the same direction, when dropped.
#[derive(Debug)]
pub struct MappedDmaBuf {
    buf: DmaBuf,
    map: SharedMapping,
}

impl MappedDmaBuf {
    /// The buffer.
    pub fn buffer(&self) -> &DmaBuf {
        &self.buf
    }

    /// Unmaps it and gives the buffer back.
    pub fn into_buffer(self) -> DmaBuf {
        self.buf
    }

    /// The mapping's start address in this process.
    pub fn addr(&self) -> usize {
        self.map.addr()
    }

    /// The mapping's length.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Always false.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn begin<A: AccessMode>(&self, what: &str) -> Result<CpuAccess<'_, A>> {
        CpuAccess::begin(self.buf.fd.as_fd(), &self.map).map_err(|e| {
            Error::os(
                format!("beginning CPU {what} of DMA-BUF {}", self.buf.inode),
                e,
            )
        })
    }

    /// Begins a CPU read (waits for the writers' fences).
    pub fn read(&self) -> Result<CpuAccess<'_, Read>> {
        self.begin("read")
    }

    /// Begins a CPU write (waits for every fence).
    pub fn write(&self) -> Result<CpuAccess<'_, Write>> {
        self.begin("write")
    }

    /// Begins a CPU read and write.
    pub fn read_write(&self) -> Result<CpuAccess<'_, ReadWrite>> {
        self.begin("read-write")
    }

    /// The mapping, for page-frame queries.
    pub fn mapping(&self) -> &SharedMapping {
        &self.map
    }
}

/// A sync file: a descriptor that becomes readable when its fence signals.
#[derive(Debug)]
pub struct SyncFile {
    fd: OwnedFd,
}

impl SyncFile {
    /// Whether the fence has signalled (without waiting).
    pub fn is_signalled(&self) -> Result<bool> {
        self.wait(Duration::ZERO)
    }

    /// Waits up to `timeout` for the fence; true when it signalled.
    pub fn wait(&self, timeout: Duration) -> Result<bool> {
        let got = poll_one(self.fd.as_fd(), PollFlags::IN, Some(timeout))
            .map_err(|e| Error::os("waiting for a sync file", e))?;
        if got.contains(PollFlags::ERR) {
            return Err(Error::os("waiting for a sync file", Errno::EIO));
        }
        Ok(got.contains(PollFlags::IN))
    }
}

impl AsFd for SyncFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("frame-0").is_ok());
        assert!(check_name(&"x".repeat(31)).is_ok());
        let e = check_name(&"x".repeat(32)).unwrap_err().to_string();
        assert!(e.contains("at most 31"), "{e}");
        assert!(check_name("a\0b").is_err());
    }

    #[test]
    fn a_memfd_is_not_a_dmabuf() {
        let fd = numakit_sys::memfd::memfd_create(c"x", numakit_sys::memfd::MemfdFlags::CLOEXEC)
            .unwrap();
        let e = DmaBuf::from_fd(fd, "the test descriptor").unwrap_err();
        assert_eq!(e.to_string(), "the test descriptor is not a DMA-BUF");
    }
}
