//! The machine the model simulates: its options, its memory layout and how
//! each device is set up.

use crate::addr::DmaMask;

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
    /// `vmalloc` memory: virtually contiguous in the vmalloc area, made of
    /// scattered pages. Mapped by its address (`dma_map_single`,
    /// `sg_set_buf`) the DMA goes to the wrong memory; map it page by page
    /// (`vmalloc_to_page`).
    Vmalloc,
    /// Kernel text or read-only data (a `static const` buffer): outside the
    /// linear map, must never be mapped for DMA.
    Rodata,
    /// Device memory (a BAR): not RAM; the DMA API maps it with
    /// `dma_map_resource` only.
    Mmio,
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

/// How a device is set up in the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    /// The device's name, used in the timeline and in findings.
    pub name: String,
    /// The streaming DMA mask (`dma_set_mask`).
    pub dma_mask: DmaMask,
    /// The coherent DMA mask (`dma_set_coherent_mask`).
    pub coherent_mask: DmaMask,
    /// The addresses the device's hardware can really drive (its address
    /// lines). A driver may set a wider mask than this by mistake; the
    /// device then drops the high bits of the addresses it is given.
    pub hw_mask: DmaMask,
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
            dma_mask: DmaMask::bits(64),
            coherent_mask: DmaMask::bits(64),
            hw_mask: DmaMask::bits(64),
            untrusted: false,
            iommu_group: u32::MAX,
            max_segment: 65536,
            seg_boundary: 0xffff_ffff,
        }
    }
    /// A device that drives `mask` and whose driver sets both masks to it.
    pub fn mask(mut self, mask: DmaMask) -> Self {
        self.dma_mask = mask;
        self.coherent_mask = mask;
        self.hw_mask = mask;
        self
    }
    /// What the hardware can really drive, if less than the masks say.
    pub fn hw_mask(mut self, mask: DmaMask) -> Self {
        self.hw_mask = mask;
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

/// Physical memory layout of the model. RAM is `[0, 3.5 GiB)` and
/// `[4 GiB, 68 GiB)`; pages are allocated only when written.
pub mod layout {
    use crate::addr::PhysAddr;

    /// swiotlb's pool starts here (64 MiB).
    pub const SWIOTLB_BASE: PhysAddr = PhysAddr::new(0x0400_0000);
    /// Allocations in the DMA32 zone start here (256 MiB).
    pub const DMA32_START: PhysAddr = PhysAddr::new(0x1000_0000);
    /// End of low RAM (3.5 GiB); the MMIO hole follows.
    pub const LOW_RAM_END: PhysAddr = PhysAddr::new(0xe000_0000);
    /// Start of high RAM and of the Normal zone (4 GiB).
    pub const HIGH_RAM_START: PhysAddr = PhysAddr::new(0x1_0000_0000);
    /// End of high RAM (68 GiB).
    pub const HIGH_RAM_END: PhysAddr = PhysAddr::new(0x11_0000_0000);
    /// Start of the vmalloc area (512 GiB): addresses the CPU's page tables
    /// map onto scattered pages of RAM; not RAM themselves.
    pub const VMALLOC_START: PhysAddr = PhysAddr::new(0x80_0000_0000);
    /// Start of the kernel image's text and rodata (1 TiB): not in the
    /// linear map of RAM the DMA API expects.
    pub const KERNEL_IMAGE_START: PhysAddr = PhysAddr::new(0x100_0000_0000);
}

/// The machine the model simulates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineConfig {
    /// Whether devices snoop the CPU caches.
    pub coherence: Coherence,
    /// The L1 cache line size in bytes: 64 or 128.
    pub line_size: u32,
    /// The line size of a larger system cache (an arm64 SLC or L2 with
    /// 128-byte lines behind 64-byte L1 lines), 0 for none. Cache
    /// maintenance, and so DMA safety, works in the larger line; `kmalloc`
    /// aligns to the L1 line only, which is why arm64 raises its DMA
    /// alignment to 128 bytes.
    pub system_line: u32,
    /// Cache capacity in lines.
    pub cache_lines: usize,
    /// Speculative fills.
    pub speculation: Speculation,
    /// Cache maintenance done by the DMA API on a non-coherent machine.
    pub maintenance: Maintenance,
    /// The IOMMU.
    pub iommu: IommuMode,
    /// Entries of the lazy flush queue before a flush (`IOVA_FQ_SIZE`).
    pub flush_queue: usize,
    /// Size of the swiotlb pool in bytes; 0 turns bouncing off.
    pub swiotlb_bytes: u64,
    /// Whether the checker runs.
    pub checker: bool,
    /// Whether the timeline is recorded.
    pub trace: bool,
    /// The host memory the model may hold (its RAM's written pages, the
    /// records of scattered pages, IOMMU page tables, the cache, the
    /// timeline), in bytes: a call that would need more fails with
    /// [`Error::ModelMemory`](crate::Error::ModelMemory) before allocating.
    pub model_memory: u64,
}

impl Default for MachineConfig {
    fn default() -> Self {
        Self {
            coherence: Coherence::Coherent,
            line_size: 64,
            system_line: 0,
            cache_lines: 32768,
            speculation: Speculation::Always,
            maintenance: Maintenance::Arm64,
            iommu: IommuMode::Off,
            flush_queue: 256,
            swiotlb_bytes: 64 << 20,
            checker: true,
            trace: false,
            model_memory: 256 << 20,
        }
    }
}

impl MachineConfig {
    /// The line cache maintenance works in: the largest line of any cache.
    pub fn maintenance_line(&self) -> u32 {
        self.line_size.max(self.system_line)
    }

    /// The host memory a full cache holds: each line's bytes and its entry.
    pub(crate) fn cache_host_bytes(&self) -> u64 {
        (self.cache_lines as u64).saturating_mul(u64::from(self.maintenance_line()) + 64)
    }

    /// Why the model cannot simulate this machine, if it cannot.
    pub(crate) fn invalid(&self) -> Option<String> {
        if !matches!(self.line_size, 64 | 128) {
            return Some(format!(
                "cache line size {} is not 64 or 128",
                self.line_size
            ));
        }
        if self.system_line != 0
            && (!self.system_line.is_power_of_two()
                || self.system_line <= self.line_size
                || self.system_line > 1024)
        {
            return Some(format!(
                "system cache line {} is not a power of two larger than the {}-byte L1 line, up to 1024",
                self.system_line, self.line_size
            ));
        }
        let cache = self.cache_host_bytes();
        if cache > self.model_memory {
            return Some(format!(
                "a cache of {} lines needs {} MiB of host memory, more than the model's {} MiB",
                self.cache_lines,
                cache.div_ceil(1 << 20),
                self.model_memory >> 20
            ));
        }
        let room = layout::DMA32_START.unchecked_offset_from(layout::SWIOTLB_BASE);
        if self.swiotlb_bytes > room {
            return Some(format!(
                "swiotlb of {} bytes does not fit below {:#x}",
                self.swiotlb_bytes,
                layout::DMA32_START
            ));
        }
        None
    }
}
