//! A DRM device that imports DMA-BUFs (PRIME) and, for `vgem`, puts
//! fences on them: the "GPU" stage of the pipeline.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::os::fd::{AsFd, OwnedFd};

use numakit_root::Root;
use numakit_sys::Errno;
use numakit_sys::drm;

use crate::buffer::{DmaBuf, FenceAccess};
use crate::error::{Error, Result};
use crate::support::{Feature, Missing};

/// An open DRM device. GEM handles it still holds are closed on drop.
#[derive(Debug)]
pub struct Gpu {
    path: String,
    fd: OwnedFd,
    driver: String,
    handles: BTreeSet<u32>,
}

/// A buffer imported into the device: its GEM handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Import(pub u32);

/// A fence the device put on a buffer (vgem: signalled by
/// [`Gpu::signal`], or by vgem itself after 10 s).
#[derive(Debug, PartialEq, Eq)]
pub struct GpuFence(u32);

impl Gpu {
    /// Opens `path` (`/dev/dri/card0`, `/dev/dri/renderD128`).
    pub fn open(root: &Root, path: &str) -> Result<Gpu> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Missing::explain(root, Feature::Gpu, path).into(),
                _ => Error::io(format!("opening {path}"), e),
            })?;
        let fd = OwnedFd::from(f);
        let driver = drm::driver_name(fd.as_fd()).map_err(|e| match e {
            Errno::ENOTTY | Errno::EINVAL => Error::Invalid(format!("{path} is not a DRM device")),
            e => Error::os(format!("asking {path} for its driver"), e),
        })?;
        Ok(Gpu {
            path: path.into(),
            fd,
            driver,
            handles: BTreeSet::new(),
        })
    }

    /// The driver (`vgem`).
    pub fn driver(&self) -> &str {
        &self.driver
    }

    /// Imports `buf` (`DRM_IOCTL_PRIME_FD_TO_HANDLE`): the device attaches
    /// to the buffer and maps it for its DMA; no byte is copied.
    pub fn import(&mut self, buf: &DmaBuf) -> Result<Import> {
        let h = drm::prime_fd_to_handle(self.fd.as_fd(), buf.as_fd()).map_err(|e| {
            Error::os(
                format!("importing DMA-BUF {} into {}", buf.inode(), self.path),
                e,
            )
        })?;
        self.handles.insert(h);
        Ok(Import(h))
    }

    /// The imported buffer as a DMA-BUF again
    /// (`DRM_IOCTL_PRIME_HANDLE_TO_FD`): for an import, the very buffer
    /// it came from (same inode).
    pub fn export(&self, import: Import) -> Result<DmaBuf> {
        let fd = drm::prime_handle_to_fd(self.fd.as_fd(), import.0)
            .map_err(|e| Error::os(format!("exporting handle {} of {}", import.0, self.path), e))?;
        DmaBuf::from_fd(fd, &format!("the buffer exported by {}", self.path))
    }

    /// Drops an import (`DRM_IOCTL_GEM_CLOSE`).
    pub fn close(&mut self, import: Import) -> Result<()> {
        self.handles.remove(&import.0);
        drm::gem_close(self.fd.as_fd(), import.0)
            .map_err(|e| Error::os(format!("closing handle {} of {}", import.0, self.path), e))
    }

    /// Puts a new fence on the imported buffer's reservation, as a job of
    /// this device that reads (or writes) it (vgem only).
    pub fn fence(&self, import: Import, access: FenceAccess) -> Result<GpuFence> {
        drm::vgem_fence_attach(self.fd.as_fd(), import.0, access == FenceAccess::Write)
            .map(GpuFence)
            .map_err(|e| match e {
                Errno::ENOTTY | Errno::EINVAL if self.driver != "vgem" => Error::Invalid(format!(
                    "{} ({}) cannot put fences on buffers; only vgem can",
                    self.path, self.driver
                )),
                e => Error::os(
                    format!("putting a fence on handle {} of {}", import.0, self.path),
                    e,
                ),
            })
    }

    /// Signals a fence: the device's job is done.
    pub fn signal(&self, fence: GpuFence) -> Result<()> {
        drm::vgem_fence_signal(self.fd.as_fd(), fence.0)
            .map_err(|e| Error::os(format!("signalling fence {} of {}", fence.0, self.path), e))
    }
}

impl Drop for Gpu {
    fn drop(&mut self) {
        for h in std::mem::take(&mut self.handles) {
            let _ = drm::gem_close(self.fd.as_fd(), h);
        }
    }
}
