//! The arguments of DMA API calls as typed values, shared by the model that
//! runs a call and the checker that checks it: no call passes a bare flag or
//! an `Option` to say which variant of a call it is.

use crate::addr::{DMA_MAPPING_ERROR, Iova, PhysAddr};
use crate::direction::DmaDirection;
use crate::ids::DeviceId;

/// Which way a sync hands a mapping over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Toward {
    /// `dma_sync_*_for_cpu`: the CPU owns the bytes after it.
    Cpu,
    /// `dma_sync_*_for_device`: the device owns them.
    Device,
}

/// What a sync call names: one range of a single mapping, or a whole
/// scatterlist with the entry count passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyncTarget {
    /// `dma_sync_single_*`: `size` bytes from `dma`.
    Single {
        /// The first DMA address.
        dma: Iova,
        /// The bytes.
        size: u64,
    },
    /// `dma_sync_sg_*`: the list mapped at `dma`, with `nents` entries.
    Sg {
        /// The scatterlist's first DMA address.
        dma: Iova,
        /// The entry count the driver passed.
        nents: usize,
    },
}

/// A sync call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyncCall {
    pub(crate) dev: DeviceId,
    pub(crate) target: SyncTarget,
    pub(crate) dir: DmaDirection,
    pub(crate) toward: Toward,
}

impl SyncCall {
    /// The DMA address named.
    pub(crate) fn dma(&self) -> Iova {
        match self.target {
            SyncTarget::Single { dma, .. } | SyncTarget::Sg { dma, .. } => dma,
        }
    }
    /// The size named (0 for a scatterlist).
    pub(crate) fn size(&self) -> u64 {
        match self.target {
            SyncTarget::Single { size, .. } => size,
            SyncTarget::Sg { .. } => 0,
        }
    }
    /// The kernel function called.
    pub(crate) fn name(&self) -> &'static str {
        match (self.target, self.toward) {
            (SyncTarget::Single { .. }, Toward::Cpu) => "dma_sync_single_for_cpu",
            (SyncTarget::Single { .. }, Toward::Device) => "dma_sync_single_for_device",
            (SyncTarget::Sg { .. }, Toward::Cpu) => "dma_sync_sg_for_cpu",
            (SyncTarget::Sg { .. }, Toward::Device) => "dma_sync_sg_for_device",
        }
    }
}

/// An unmap call: `dma_unmap_single`, `_page` or `_sg`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnmapCall {
    pub(crate) dev: DeviceId,
    pub(crate) dma: Iova,
    pub(crate) args: UnmapArgs,
    pub(crate) dir: DmaDirection,
    pub(crate) func: MapFunc,
    pub(crate) attrs: DmaAttrs,
}

/// The function a mapping was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MapFunc {
    /// `dma_map_single`.
    Single,
    /// `dma_map_page`.
    Page,
    /// `dma_map_sg`.
    Sg,
    /// `dma_alloc_coherent`.
    Coherent,
    /// `dma_alloc_noncoherent`: cacheable pages, owned by the CPU until
    /// `dma_sync_single_for_device`.
    Noncoherent,
    /// `dma_alloc_pages`: the same, returning the pages.
    Pages,
    /// `dma_map_resource`: device memory (MMIO, another device's BAR).
    Resource,
}

impl MapFunc {
    /// The kernel function that makes such a mapping.
    pub const fn map_name(self) -> &'static str {
        match self {
            Self::Single => "dma_map_single",
            Self::Page => "dma_map_page",
            Self::Sg => "dma_map_sg",
            Self::Coherent => "dma_alloc_coherent",
            Self::Noncoherent => "dma_alloc_noncoherent",
            Self::Pages => "dma_alloc_pages",
            Self::Resource => "dma_map_resource",
        }
    }
    /// The kernel function that undoes it.
    pub const fn unmap_name(self) -> &'static str {
        match self {
            Self::Single => "dma_unmap_single",
            Self::Page => "dma_unmap_page",
            Self::Sg => "dma_unmap_sg",
            Self::Coherent => "dma_free_coherent",
            Self::Noncoherent => "dma_free_noncoherent",
            Self::Pages => "dma_free_pages",
            Self::Resource => "dma_unmap_resource",
        }
    }
    /// Whether a mapping made with `self` may be undone with `other`'s
    /// unmap without tearing down the wrong kind of object: every mapping
    /// of one range (single, page, resource, non-coherent memory) is
    /// undone the same way; a scatterlist or a coherent buffer is another
    /// kind.
    pub(crate) fn same_kind(self, other: MapFunc) -> bool {
        (self == MapFunc::Coherent) == (other == MapFunc::Coherent)
            && (self == MapFunc::Sg) == (other == MapFunc::Sg)
    }
    /// Whether the CPU caches stand between the CPU and the memory mapped
    /// (not for coherent memory, nor for device memory).
    pub(crate) fn cached(self) -> bool {
        !matches!(self, MapFunc::Coherent | MapFunc::Resource)
    }
}

/// What an unmap call passed besides the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnmapArgs {
    /// `dma_unmap_single`/`_page`: the size.
    Size(u64),
    /// `dma_unmap_sg`: the entry count.
    Nents(usize),
}

impl UnmapArgs {
    /// The size, if the call passed one.
    pub(crate) fn size(self) -> Option<u64> {
        match self {
            Self::Size(s) => Some(s),
            Self::Nents(_) => None,
        }
    }
}

/// DMA attributes (`DMA_ATTR_*`), a set.
#[doc(alias = "DMA_ATTR_SKIP_CPU_SYNC")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DmaAttrs(u32);

impl DmaAttrs {
    /// No attribute.
    pub const NONE: Self = Self(0);
    /// `DMA_ATTR_SKIP_CPU_SYNC`: no cache maintenance (and no swiotlb copy
    /// back) at map and unmap time; the driver syncs explicitly, as
    /// page_pool does.
    pub const SKIP_CPU_SYNC: Self = Self(1 << 5);
    /// `DMA_ATTR_WEAK_ORDERING`: the device may reorder its accesses to the
    /// mapping. The model runs accesses in order, so it has no effect here
    /// beyond the timeline.
    pub const WEAK_ORDERING: Self = Self(1 << 1);

    /// Whether every attribute of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
    /// The attributes of both.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
    /// Whether no attribute is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The kernel's names, joined by `|`.
    pub fn names(self) -> String {
        let mut v = Vec::new();
        if self.contains(Self::WEAK_ORDERING) {
            v.push("DMA_ATTR_WEAK_ORDERING");
        }
        if self.contains(Self::SKIP_CPU_SYNC) {
            v.push("DMA_ATTR_SKIP_CPU_SYNC");
        }
        v.join("|")
    }
}

impl std::ops::BitOr for DmaAttrs {
    type Output = Self;
    fn bitor(self, o: Self) -> Self {
        self.union(o)
    }
}

/// Whether `dma_mapping_error` still has to be called on a new mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCheck {
    /// The kernel-shaped API: the driver must call `dma_mapping_error`.
    Pending,
    /// The call reported failure itself (`dma_map_sg`'s count, a typed
    /// `Result`): nothing more to check.
    Done,
}

/// A scatterlist entry (`struct scatterlist`): the CPU side (`phys`,
/// `length`) filled by the driver, the DMA side (`dma_address`,
/// `dma_length`) by `dma_map_sg` for the first *count* entries.
#[doc(alias = "scatterlist")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScatterEntry {
    /// The CPU buffer (`sg_phys`).
    pub phys: PhysAddr,
    /// Its length.
    pub length: u64,
    /// `sg_dma_address`.
    pub dma_address: Iova,
    /// `sg_dma_len`.
    pub dma_length: u64,
}

impl ScatterEntry {
    /// An entry for `length` bytes at `phys` (`sg_set_buf`).
    pub fn new(phys: PhysAddr, length: u64) -> Self {
        Self {
            phys,
            length,
            dma_address: DMA_MAPPING_ERROR,
            dma_length: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_calls_are_named_as_the_kernel_names_them() {
        let c = SyncCall {
            dev: DeviceId(0),
            target: SyncTarget::Sg {
                dma: Iova::new(0x1000),
                nents: 3,
            },
            dir: DmaDirection::FromDevice,
            toward: Toward::Cpu,
        };
        assert_eq!(c.name(), "dma_sync_sg_for_cpu");
        assert_eq!((c.dma(), c.size()), (Iova::new(0x1000), 0));
        assert_eq!(UnmapArgs::Nents(2).size(), None);
        let a = DmaAttrs::SKIP_CPU_SYNC | DmaAttrs::WEAK_ORDERING;
        assert!(a.contains(DmaAttrs::SKIP_CPU_SYNC) && !DmaAttrs::NONE.contains(a));
        assert_eq!(a.names(), "DMA_ATTR_WEAK_ORDERING|DMA_ATTR_SKIP_CPU_SYNC");
        assert_eq!(UnmapArgs::Size(64).size(), Some(64));
    }
}
