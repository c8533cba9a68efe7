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
        assert_eq!(UnmapArgs::Size(64).size(), Some(64));
    }
}
