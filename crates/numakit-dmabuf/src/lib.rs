//! Real DMA-BUFs, placed on a NUMA node, shared between processes and
//! devices without a copy.
//!
//! DMA-BUF is how Linux shares one buffer between a camera, a GPU, a
//! display and several processes: an exporter allocates it and hands out a
//! file descriptor, the descriptor travels over a Unix socket, importers
//! attach it to their device, and fences or explicit sync calls order the
//! accesses. This crate does each step on the running kernel, safely:
//!
//! - **Allocation on a node** ([`alloc`]): from a heap (`/dev/dma_heap/*`,
//!   under a temporary bind policy for the allocating thread) or from
//!   `/dev/udmabuf` over a memfd whose pages are bound, allocated and
//!   checked on the node first; [`pages::frames`] shows where a mapped
//!   buffer's physical pages are.
//! - **CPU access** ([`buffer`]): [`MappedDmaBuf`] hands out guards that
//!   begin an access with `DMA_BUF_IOCTL_SYNC` and end it with the same
//!   direction when dropped; sync files make fences visible.
//! - **Passing buffers** ([`pass`]): a [`pass::Channel`] sends a
//!   descriptor with its name, size and frame format, and checks what it
//!   receives.
//! - **Devices**: a V4L2 camera exporting its buffers ([`camera`]) and a
//!   DRM device importing them and fencing them ([`gpu`]).
//! - **The system-wide listing** ([`list`]).
//! - **The pipeline** ([`pipeline`]): camera → GPU → display in three
//!   processes with no copy, the same with copies through sockets for
//!   comparison, and the same steps run on the DMA model with its checker.
//!
//! What the kernel lacks is said with the options it needs
//! ([`support`]). Every file is read through a [`numakit_root::Root`]; the
//! `unsafe` code is in `numakit-sys`.
//!
//! # Example
//! ```no_run
//! use numakit_dmabuf::alloc::{allocate, OnNode, Source};
//! use numakit_placement::Placer;
//! use numakit_root::Root;
//! use numakit_dmabuf::Protection;
//!
//! let root = Root::live();
//! let placer = Placer::from_root(&root)?;
//! let on = OnNode { placer: &placer, node: 1.into() };
//! let new = allocate(&root, &Source::Heap("system".into()), 1 << 20, Some(on), Some("frame"))?;
//! let map = new.buf.map(Protection::ReadWrite)?;
//! {
//!     let w = map.write()?; // DMA_BUF_SYNC_START | WRITE
//!     w.fill_words(0, map.len() / 8, |i| i as u64).unwrap();
//! } // DMA_BUF_SYNC_END | WRITE
//! # Ok::<(), numakit_dmabuf::Error>(())
//! ```
#![deny(missing_docs)]

pub mod alloc;
pub mod buffer;
pub mod camera;
pub mod checksum;
mod error;
pub mod gpu;
pub mod list;
pub mod pages;
pub mod pass;
pub mod pipeline;
pub mod support;

pub use buffer::{DmaBuf, FenceAccess, MappedDmaBuf, SyncFile};
pub use error::{Error, Result, errno_text};
/// How a buffer is mapped (read-only or read-write).
pub use numakit_sys::mm::Protection;
