//! Owned mappings placed on nodes ([`Mapping`]), and the parts of a
//! first-touch initialisation ([`TouchPart`]).

use numakit_sys::mm::{AnonMapping, MapFlags};
use numakit_types::{AddrRange, CpuSet, NodeId};

use crate::Policy;

/// Huge pages for an allocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HugePages {
    /// Base pages (transparent huge pages as the system default says).
    #[default]
    Default,
    /// Ask for transparent huge pages (`madvise(MADV_HUGEPAGE)`); the
    /// length is rounded to 2 MiB.
    Transparent,
    /// Refuse transparent huge pages (`MADV_NOHUGEPAGE`).
    Never,
    /// 2 MiB pages from the hugetlb pool (`MAP_HUGETLB | MAP_HUGE_2MB`, so
    /// the size does not depend on the default huge page size); fails with
    /// `ENOMEM` when the pool is empty.
    Hugetlb,
}

/// How to allocate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllocOptions {
    /// The policy of the range (`None`: the thread's policy at fault time).
    pub policy: Option<Policy>,
    /// Huge pages.
    pub huge: HugePages,
    /// Touch every page now, so it is placed before the call returns.
    pub populate: bool,
}

/// An owned, page-aligned anonymous mapping with a placement, unmapped on
/// drop (which is libnuma's `numa_free`). Dereference it as bytes with
/// [`as_slice`](Self::as_slice); for typed elements use
/// [`NodeVec`](crate::NodeVec).
#[derive(Debug)]
#[doc(alias = "numa_free")]
pub struct Mapping {
    pub(crate) map: AnonMapping,
    pub(crate) policy: Option<Policy>,
}

impl Mapping {
    /// The start address.
    pub fn addr(&self) -> usize {
        self.map.addr()
    }
    /// The length in bytes (a multiple of the page size).
    pub fn len(&self) -> usize {
        self.map.len()
    }
    /// Always false.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    /// The policy the range was bound with.
    pub fn policy(&self) -> Option<&Policy> {
        self.policy.as_ref()
    }
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.map.as_slice()
    }
    /// The bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        self.map.as_mut_slice()
    }
    /// The addresses it covers, for the calls that take a range.
    pub fn range(&self) -> AddrRange {
        AddrRange::from_len(self.addr() as u64, self.len() as u64)
            .expect("a mapping is never empty and never runs past the address space")
    }
}

pub(crate) const HUGE_2M: usize = 2 << 20;

pub(crate) fn map_flags(huge: HugePages) -> MapFlags {
    match huge {
        // the length is rounded to 2 MiB, so the pages must be 2 MiB too:
        // with a 1 GiB default the kernel would round the mapping up and the
        // unmap of the 2 MiB-rounded length would fail
        HugePages::Hugetlb => MapFlags::HUGETLB | MapFlags::HUGE_2MB,
        _ => MapFlags::empty(),
    }
}

/// One part of a first-touch initialisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TouchPart {
    /// The node this part is for.
    pub node: NodeId,
    /// First element of the part.
    pub start: usize,
    /// Number of elements.
    pub len: usize,
    /// The CPUs its thread was pinned to (`None`: the node has no CPU this
    /// process may use; the thread used a preferred policy instead).
    pub cpus: Option<CpuSet>,
}
