//! The system-call floor of numakit: the only crate with `unsafe` code.
//!
//! It owns thin wrappers for the NUMA memory-policy calls
//! ([`mempolicy::set_mempolicy`], [`mempolicy::get_mempolicy`],
//! [`mempolicy::mbind`], [`mempolicy::move_pages`],
//! [`mempolicy::migrate_pages`], [`mempolicy::set_mempolicy_home_node`]),
//! CPU affinity with masks of any size ([`sched::sched_setaffinity`],
//! [`sched::sched_getaffinity`]), anonymous and shared mappings ([`mm`]),
//! read-only file mappings with `mincore` ([`filemap`]), non-temporal
//! stores for bandwidth kernels ([`stream`]), the effective user
//! ([`process::geteuid`]), the CPU and node a thread runs on
//! ([`sched::getcpu`]), faulting pages in without changing them
//! ([`touch`]), a child's resource limits ([`rlimit`]);
//! memory for DMA reached only by volatile copies ([`dmamem`]), VFIO's
//! container, group and device calls ([`vfio`]), eventfds and
//! `/dev/kmsg` ([`event`]);
//! DMA-BUF's kernel interfaces: heap allocation ([`dma_heap`]), memfds and
//! `/dev/udmabuf` ([`memfd`], [`udmabuf`]), sync, names, sync files and the
//! CPU-access guard ([`dmabuf`]), descriptor passing ([`scm`]), V4L2
//! capture ([`v4l2`]), DRM PRIME and vgem fences ([`drm`]), page frames
//! ([`pagemap`]) and descriptor facts ([`fd`]); [`ioctl`] encodes requests;
//! and, with the `cuda` feature, the CUDA driver loaded at run time
//! (`cuda`). Modes are
//! an enum ([`mempolicy::MpolMode`]), flags are bitflags, errors are a bare
//! [`Errno`]: no prose here, callers (`numakit-placement`) add the meaning.
//!
//! Node masks are slices of 64-bit words, least significant first, as
//! `NodeSet::as_words()` gives them. The kernel's `get_nodes()` drops the top
//! bit of `maxnode` (it decrements it before use), so the wrappers pass
//! `bits + 1` for a mask of `bits` bits; callers never compute `maxnode`.
//!
//! Only 64-bit Linux is supported (`unsigned long` is 64 bits).
//!
//! # Example
//! ```
//! use numakit_sys::mempolicy::{get_mempolicy, GetMempolicyFlags};
//! // The nodes this thread may allocate from (Mems_allowed).
//! let (_, mask) = get_mempolicy(None, GetMempolicyFlags::MEMS_ALLOWED).unwrap();
//! assert!(mask.iter().any(|w| *w != 0));
//! ```
#![deny(missing_docs)]

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
compile_error!("numakit-sys supports 64-bit Linux only");

#[cfg(feature = "cuda")]
pub mod cuda;
pub mod dmamem;
mod errno;
pub mod event;
pub mod filemap;
pub mod mempolicy;
pub mod mm;
pub mod nr;
pub mod process;
pub mod rlimit;
pub mod sched;
pub mod stream;
pub mod touch;
pub mod vfio;
// DMA-BUF: heaps, udmabuf, sync, fd passing, V4L2 and DRM import.
pub mod dma_heap;
pub mod dmabuf;
pub mod drm;
pub mod fd;
pub mod ioctl;
pub mod memfd;
pub mod pagemap;
pub mod scm;
pub mod udmabuf;
pub mod v4l2;

pub use errno::Errno;

/// Result of a system call: the value, or the errno it failed with.
pub type Result<T> = std::result::Result<T, Errno>;

/// Turns a raw `syscall()` return into a result, reading `errno` on -1.
fn ret(r: libc::c_long) -> Result<libc::c_long> {
    if r == -1 { Err(Errno::last()) } else { Ok(r) }
}
