//! Plain values of the model: devices, directions, machine options.

use std::fmt;
use std::str::FromStr;

/// A device known to a backend, numbered in the order devices were added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct DeviceId(pub(crate) u32);

impl DeviceId {
    /// The device's index in its backend.
    pub const fn index(self) -> u32 {
        self.0
    }
}

/// Which way the data of a mapping flows (`enum dma_data_direction`).
///
/// The direction decides the cache maintenance at map, sync and unmap time, the
/// swiotlb copies and the IOMMU permissions: a device may only read a
/// [`ToDevice`](Self::ToDevice) mapping and only write a
/// [`FromDevice`](Self::FromDevice) one.
#[doc(alias = "dma_data_direction")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DmaDirection {
    /// `DMA_BIDIRECTIONAL`: the device reads and writes.
    #[doc(alias = "DMA_BIDIRECTIONAL")]
    Bidirectional,
    /// `DMA_TO_DEVICE`: the device only reads (transmit).
    #[doc(alias = "DMA_TO_DEVICE")]
    ToDevice,
    /// `DMA_FROM_DEVICE`: the device only writes (receive).
    #[doc(alias = "DMA_FROM_DEVICE")]
    FromDevice,
    /// `DMA_NONE`: not a valid direction for a mapping; the kernel BUGs on it.
    #[doc(alias = "DMA_NONE")]
    None,
}

impl DmaDirection {
    /// Whether a device may read a mapping made with this direction.
    pub const fn device_reads(self) -> bool {
        matches!(self, Self::Bidirectional | Self::ToDevice)
    }
    /// Whether a device may write a mapping made with this direction.
    pub const fn device_writes(self) -> bool {
        matches!(self, Self::Bidirectional | Self::FromDevice)
    }
    /// The kernel's name (`DMA_TO_DEVICE`).
    pub const fn kernel_name(self) -> &'static str {
        match self {
            Self::Bidirectional => "DMA_BIDIRECTIONAL",
            Self::ToDevice => "DMA_TO_DEVICE",
            Self::FromDevice => "DMA_FROM_DEVICE",
            Self::None => "DMA_NONE",
        }
    }
    /// The name used in scenario files and JSON (`to-device`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Bidirectional => "bidirectional",
            Self::ToDevice => "to-device",
            Self::FromDevice => "from-device",
            Self::None => "none",
        }
    }
}

impl fmt::Display for DmaDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`DmaDirection`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown DMA direction '{0}': expected to-device, from-device, bidirectional or none")]
pub struct DirectionParseError(pub String);

impl FromStr for DmaDirection {
    type Err = DirectionParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "to-device" | "DMA_TO_DEVICE" => Self::ToDevice,
            "from-device" | "DMA_FROM_DEVICE" => Self::FromDevice,
            "bidirectional" | "DMA_BIDIRECTIONAL" => Self::Bidirectional,
            "none" | "DMA_NONE" => Self::None,
            _ => return Err(DirectionParseError(s.to_string())),
        })
    }
}

/// Whether devices snoop the CPU caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Coherence {
    /// x86-like: device accesses snoop the caches; the DMA API does no cache
    /// maintenance.
    #[default]
    Coherent,
    /// arm64-like: devices see memory only; the DMA API cleans and
    /// invalidates cache lines around each transfer.
    NonCoherent,
}

/// How the IOMMU translates device addresses, if there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IommuMode {
    /// No IOMMU: DMA addresses are physical addresses (dma-direct).
    #[default]
    Off,
    /// Translation with the IOTLB invalidated at every unmap (`iommu.strict=1`).
    Strict,
    /// Translation with a flush queue: unmapped IOVAs stay in the IOTLB and
    /// are not reused until the queue is flushed (`iommu.strict=0`).
    Lazy,
}

/// What kind of kernel memory an allocation stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemKind {
    /// `kmalloc` or page allocator memory: in the linear map, DMA-able.
    #[default]
    Kmalloc,
    /// A variable on a kernel stack: must never be mapped for DMA.
    Stack,
    /// `vmalloc` memory: not physically contiguous, must not be mapped with
    /// `dma_map_single`.
    Vmalloc,
}

/// Where in physical memory an allocation is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Zone {
    /// Below 4 GiB (`GFP_DMA32`).
    Dma32,
    /// Anywhere; the model places these above 4 GiB.
    #[default]
    Normal,
}

/// When the CPU fills cache lines on its own (prefetch, speculation) while a
/// device owns them. On a non-coherent machine such a fill between the
/// invalidation at map time and the device's write makes the CPU read stale
/// data unless the buffer is invalidated again when it comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Speculation {
    /// The CPU never fills a line it was not asked for.
    Off,
    /// Every line a device writes was speculatively filled before the write
    /// (the worst case, and the default: bugs show every time).
    #[default]
    Always,
    /// A line is filled before a device write with probability
    /// `percent`/100, drawn from a generator seeded with `seed`.
    Seeded {
        /// The generator's seed.
        seed: u64,
        /// The probability in percent.
        percent: u8,
    },
}

/// Which cache maintenance the DMA API does on a non-coherent machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Maintenance {
    /// What arm64 does (`arch/arm64/mm/dma-mapping.c`): clean at map and
    /// sync-for-device in every direction, invalidate at sync-for-CPU and
    /// unmap unless the direction is to-device; partial lines at the edges are
    /// cleaned and invalidated.
    #[default]
    Arm64,
    /// The historical mistake: invalidate for from-device at map time only,
    /// nothing at sync-for-CPU or unmap. Speculative fills then leave stale
    /// lines in the cache.
    InvalidateAtMapOnly,
}

/// A device access: read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// The device reads memory.
    Read,
    /// The device writes memory.
    Write,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Read => "read",
            Self::Write => "write",
        })
    }
}

/// How a device is set up in the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    /// The device's name, used in the timeline and in findings.
    pub name: String,
    /// The streaming DMA mask (`dma_set_mask`).
    pub dma_mask: crate::DmaMask,
    /// The coherent DMA mask (`dma_set_coherent_mask`).
    pub coherent_mask: crate::DmaMask,
    /// An untrusted device (external port, Thunderbolt): its sub-page
    /// streaming mappings are bounced through swiotlb so that it cannot see
    /// the rest of the page, and without an IOMMU all its DMA is bounced.
    pub untrusted: bool,
    /// The IOMMU group; devices of a group share one IOMMU domain.
    /// `u32::MAX` (the default) gives the device a group of its own,
    /// numbered 1000 plus its index.
    pub iommu_group: u32,
    /// The longest DMA segment the device accepts (`dma_set_max_seg_size`).
    pub max_segment: u64,
    /// DMA segments may not cross a multiple of this plus one
    /// (`dma_set_seg_boundary`).
    pub seg_boundary: u64,
}

impl DeviceConfig {
    /// A trusted device with a 64-bit mask, its own IOMMU group and the
    /// kernel's default 64 KiB maximum segment size.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            dma_mask: crate::DmaMask::bits(64),
            coherent_mask: crate::DmaMask::bits(64),
            untrusted: false,
            iommu_group: u32::MAX,
            max_segment: 65536,
            seg_boundary: 0xffff_ffff,
        }
    }
    /// Sets both masks.
    pub fn mask(mut self, mask: crate::DmaMask) -> Self {
        self.dma_mask = mask;
        self.coherent_mask = mask;
        self
    }
    /// Marks the device untrusted.
    pub fn untrusted(mut self, yes: bool) -> Self {
        self.untrusted = yes;
        self
    }
    /// Puts the device in IOMMU group `group`.
    pub fn group(mut self, group: u32) -> Self {
        self.iommu_group = group;
        self
    }
    /// Sets the maximum segment size.
    pub fn max_segment(mut self, bytes: u64) -> Self {
        self.max_segment = bytes;
        self
    }
}
