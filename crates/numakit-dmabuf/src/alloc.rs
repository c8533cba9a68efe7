//! Allocating DMA-BUFs on a chosen node: from a heap (`/dev/dma_heap/*`)
//! under a temporary `MPOL_BIND` thread policy, or from `/dev/udmabuf`
//! over a memfd whose pages are bound, allocated and checked on the node
//! first.

use std::fs::OpenOptions;
use std::os::fd::{AsFd, OwnedFd};

use numakit_placement::{MbindFlags, PageCounts, Placer, Policy, current_policy};
use numakit_root::Root;
use numakit_sys::Errno;
use numakit_sys::dma_heap::{HeapFdFlags, dma_heap_alloc};
use numakit_sys::memfd::{MemfdFlags, SealFlags, add_seals, ftruncate, memfd_create};
use numakit_sys::mm::{Protection, SharedMapping, page_size};
use numakit_sys::udmabuf::{UdmabufFlags, udmabuf_create};
use numakit_types::NodeId;

use crate::buffer::DmaBuf;
use crate::error::{Error, Result};
use crate::support::{Feature, Missing, heap_names};

/// Where a buffer's pages go: `node`, checked and applied by `placer`.
#[derive(Debug, Clone, Copy)]
pub struct OnNode<'a> {
    /// The placer of the running system.
    pub placer: &'a Placer,
    /// The node.
    pub node: NodeId,
}

/// Where a buffer comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A DMA-BUF heap by name (`system`).
    Heap(String),
    /// `/dev/udmabuf` over a memfd.
    Udmabuf,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Heap(h) => write!(f, "heap {h}"),
            Source::Udmabuf => f.write_str("udmabuf"),
        }
    }
}

/// A new buffer, and for udmabuf where its memfd pages were before the
/// buffer was made (a `move_pages` page query).
#[derive(Debug)]
pub struct Allocated {
    /// The buffer.
    pub buf: DmaBuf,
    /// The memfd's pages per node (udmabuf only).
    pub memfd_pages: Option<PageCounts>,
}

/// Allocates `size` bytes (rounded up to pages) from `source`, on a node
/// when `on` says so, and names the buffer.
pub fn allocate(
    root: &Root,
    source: &Source,
    size: u64,
    on: Option<OnNode<'_>>,
    name: Option<&str>,
) -> Result<Allocated> {
    if size == 0 {
        return Err(Error::Invalid("a buffer needs at least one byte".into()));
    }
    if !root.is_live() {
        return Err(Error::Invalid(format!(
            "DMA-BUFs can only be allocated on the running system, not on {}",
            root.label()
        )));
    }
    if let Some(n) = name {
        crate::buffer::check_name(n)?;
    }
    if let Some(o) = on {
        o.placer.check(&Policy::on_node(o.node))?;
    }
    let size = size.div_ceil(page_size() as u64) * page_size() as u64;
    let out = match source {
        Source::Heap(h) => Allocated {
            buf: Heap::open(root, h)?.allocate(size, on)?,
            memfd_pages: None,
        },
        Source::Udmabuf => udmabuf(root, size, on)?,
    };
    if let Some(n) = name {
        out.buf.set_name(n)?;
    }
    Ok(out)
}

/// An open DMA-BUF heap.
#[derive(Debug)]
pub struct Heap {
    name: String,
    fd: OwnedFd,
}

impl Heap {
    /// Opens `/dev/dma_heap/NAME`.
    pub fn open(root: &Root, name: &str) -> Result<Heap> {
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(Error::Invalid(format!("'{name}' is not a heap name")));
        }
        let path = format!("/dev/dma_heap/{name}");
        match OpenOptions::new().read(true).open(&path) {
            Ok(f) => Ok(Heap {
                name: name.to_string(),
                fd: f.into(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let available = heap_names(root);
                if available.is_empty() {
                    Err(Missing::explain(root, Feature::Heaps, "/dev/dma_heap").into())
                } else {
                    Err(Error::UnknownHeap {
                        name: name.into(),
                        available,
                    })
                }
            }
            Err(e) => Err(Error::io(format!("opening {path}"), e)),
        }
    }

    /// The heap's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Allocates `size` bytes; with `on`, under an `MPOL_BIND` policy to the
    /// node for the length of the call (the system heap allocates in the
    /// caller's context), then the thread's own policy again.
    pub fn allocate(&self, size: u64, on: Option<OnNode<'_>>) -> Result<DmaBuf> {
        let _policy = match on {
            Some(o) => Some(ThreadPolicy::bind(o)?),
            None => None,
        };
        let fd = dma_heap_alloc(
            self.fd.as_fd(),
            size,
            HeapFdFlags::RDWR | HeapFdFlags::CLOEXEC,
        )
        .map_err(|e| {
            Error::os(
                format!("allocating {size} bytes from heap {}", self.name),
                e,
            )
        })?;
        DmaBuf::from_fd(fd, &format!("the buffer of heap {}", self.name))
    }
}

/// Runs `f` with the calling thread bound to `on.node` (`MPOL_BIND`), then
/// restores the thread's policy: for kernel allocations made in the
/// caller's context (a camera's buffers at `VIDIOC_REQBUFS`).
pub fn with_policy<T>(on: OnNode<'_>, f: impl FnOnce() -> T) -> Result<T> {
    let _p = ThreadPolicy::bind(on)?;
    Ok(f())
}

/// The calling thread's memory policy set for a while, restored on drop.
struct ThreadPolicy<'a> {
    placer: &'a Placer,
    saved: Policy,
}

impl<'a> ThreadPolicy<'a> {
    fn bind(on: OnNode<'a>) -> Result<ThreadPolicy<'a>> {
        let saved = current_policy()?.policy;
        on.placer.set_thread_policy(&Policy::on_node(on.node))?;
        Ok(ThreadPolicy {
            placer: on.placer,
            saved,
        })
    }
}

impl Drop for ThreadPolicy<'_> {
    fn drop(&mut self) {
        let _ = self.placer.set_thread_policy(&self.saved);
    }
}

/// A udmabuf of `size` (page-aligned) bytes: a sealed memfd, its pages
/// bound to the node, allocated and checked there, then the buffer.
fn udmabuf(root: &Root, size: u64, on: Option<OnNode<'_>>) -> Result<Allocated> {
    let dev = match OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/udmabuf")
    {
        Ok(f) => OwnedFd::from(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Missing::explain(root, Feature::Udmabuf, "/dev/udmabuf").into());
        }
        Err(e) => return Err(Error::io("opening /dev/udmabuf", e)),
    };
    fn os(what: &'static str) -> impl Fn(Errno) -> Error {
        move |e| Error::os(what, e)
    }
    let memfd = memfd_create(
        c"numakit-udmabuf",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )
    .map_err(os("creating a memfd"))?;
    ftruncate(memfd.as_fd(), size).map_err(os("sizing the memfd"))?;
    add_seals(memfd.as_fd(), SealFlags::SHRINK).map_err(os("sealing the memfd"))?;
    let len = usize::try_from(size).map_err(|_| Error::Invalid("buffer too large".into()))?;
    let map = SharedMapping::map(memfd.as_fd(), len, 0, Protection::ReadWrite)
        .map_err(os("mapping the memfd"))?;
    let pages = match on {
        Some(o) => Some(place_memfd(&map, o)?),
        None => {
            map.touch_pages()
                .map_err(os("allocating the memfd's pages"))?;
            None
        }
    };
    let fd = udmabuf_create(dev.as_fd(), memfd.as_fd(), 0, size, UdmabufFlags::CLOEXEC)
        .map_err(|e| udmabuf_error(size, e))?;
    Ok(Allocated {
        buf: DmaBuf::from_fd(fd, "the udmabuf")?,
        memfd_pages: pages,
    })
}

fn udmabuf_error(size: u64, e: Errno) -> Error {
    match e {
        Errno::EINVAL => Error::Invalid(format!(
            "/dev/udmabuf refused {size} bytes: more than its size limit (udmabuf.size_limit_mb, 64 MiB by default)?"
        )),
        e => Error::os(format!("creating a udmabuf of {size} bytes"), e),
    }
}

/// Binds the memfd's pages to the node (the file's shared policy), faults
/// each one in, and checks with a page query that all are there.
fn place_memfd(map: &SharedMapping, on: OnNode<'_>) -> Result<PageCounts> {
    let policy = Policy::on_node(on.node);
    on.placer
        .bind_range(map.addr(), map.len(), &policy, MbindFlags::empty())?;
    map.touch_pages()
        .map_err(|e| Error::os("allocating the memfd's pages", e))?;
    let start = map.addr() as u64;
    let counts = on.placer.page_counts(0, start, start + map.len() as u64)?;
    let misplaced = counts.pages - counts.on_node(on.node);
    if misplaced > 0 {
        return Err(Error::Misplaced {
            what: "the udmabuf's memfd".into(),
            node: on.node,
            pages: counts.pages,
            misplaced,
            detail: crate::pages::describe_counts(&counts.by_node, counts.not_present),
        });
    }
    Ok(counts)
}
