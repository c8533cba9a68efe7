//! What a scenario says, as typed values: the machine, the devices and the
//! driver's steps ([`Op`]), each name with its column so that a run error
//! points at it.

use crate::calls::DmaAttrs;
use crate::calls::MapFunc;
use crate::config::{DeviceConfig, MachineConfig, MemKind, Zone};
use crate::direction::DmaDirection;
use crate::dmabuf::FenceUsage;
use crate::engine::Status;

/// Data given in a scenario: bytes written out (`"text"`, `hex:`), or one
/// byte repeated (`fill:BYTE*COUNT`), which is generated only when a step
/// uses it, so a short file cannot make the parser allocate gigabytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// The bytes themselves.
    Bytes(Vec<u8>),
    /// `len` copies of `byte`.
    Fill {
        /// The byte.
        byte: u8,
        /// How many.
        len: u64,
    },
}

impl Data {
    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Data::Bytes(b) => b.len() as u64,
            Data::Fill { len, .. } => *len,
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, generated now for a fill.
    pub fn bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Data::Bytes(b) => std::borrow::Cow::Borrowed(b),
            Data::Fill { byte, len } => std::borrow::Cow::Owned(vec![*byte; *len as usize]),
        }
    }
}

/// A reference to a named object plus an offset: `NAME`, `NAME+OFF`,
/// `NAME#SEG`, `NAME#SEG+OFF`, or a raw address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    /// The name, or `None` for a raw number.
    pub name: Option<String>,
    /// The DMA segment (`#N`).
    pub seg: Option<usize>,
    /// The offset, or the raw address.
    pub off: u64,
    /// The token's column.
    pub col: u32,
}

/// A named object, and the column its name was written at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// The name.
    pub text: String,
    /// Its column, from 1.
    pub col: u32,
}

/// Who accesses a DMA-BUF in a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// The CPU.
    Cpu,
    /// A device by name.
    Device(Name),
}

/// A scatterlist entry of `map-sg`: a buffer and an offset into it, and a
/// length if not the rest of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SgEntry {
    /// The buffer and the offset.
    pub at: Ref,
    /// The length.
    pub len: Option<u64>,
}

/// How a driver filled the entries of a scatterlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SgSet {
    /// `sg_set_buf`: from a buffer's address (`virt_to_page`), right for
    /// the linear map only.
    Buf,
    /// `sg_set_page`: from each page, found with `vmalloc_to_page` for
    /// vmalloc memory.
    Page,
}

/// A device declared by a `device` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceLine {
    /// How it is set up.
    pub config: DeviceConfig,
    /// The line that declared it.
    pub line: u32,
}

/// Which way a sync step hands a mapping over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncFor {
    /// `sync-for-cpu`, `sync-sg-for-cpu`.
    Cpu,
    /// `sync-for-device`, `sync-sg-for-device`.
    Device,
}

/// One step of the driver: a command of the scenario language, with its
/// arguments read and typed. The command each variant comes from is named
/// in its documentation; `docs/dma-model.md` describes them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `alloc`: `kmalloc` of `size` bytes.
    Alloc {
        /// The buffer's name.
        name: Name,
        /// Its size.
        size: u64,
        /// Its alignment (0: the default).
        align: u64,
        /// Where it is placed.
        zone: Zone,
        /// What kind of memory it stands for.
        kind: MemKind,
    },
    /// `free`: `kfree`.
    Free {
        /// The buffer.
        name: Name,
    },
    /// `write`: a CPU store.
    Write {
        /// Where.
        at: Ref,
        /// What.
        data: Data,
    },
    /// `read`: a CPU load.
    Read {
        /// Where.
        at: Ref,
        /// How many bytes.
        len: u64,
    },
    /// `expect`: a CPU load compared with what the driver expects.
    Expect {
        /// Where.
        at: Ref,
        /// The bytes expected.
        data: Data,
    },
    /// `alloc-coherent`: `dma_alloc_coherent`.
    AllocCoherent {
        /// The buffer's name.
        name: Name,
        /// The device.
        dev: Name,
        /// Its size.
        size: u64,
    },
    /// `free-coherent`: `dma_free_coherent`.
    FreeCoherent {
        /// The buffer (or, wrongly, a streaming mapping).
        name: Name,
        /// The size passed, if not the buffer's.
        size: Option<u64>,
        /// Added to the CPU address passed.
        cpu_offset: u64,
    },
    /// `alloc-noncoherent`: `dma_alloc_noncoherent` or `dma_alloc_pages`.
    AllocNoncoherent {
        /// The buffer's name.
        name: Name,
        /// The device.
        dev: Name,
        /// Its size.
        size: u64,
        /// The direction.
        dir: DmaDirection,
        /// [`MapFunc::Noncoherent`] or [`MapFunc::Pages`].
        func: MapFunc,
    },
    /// `free-noncoherent`: `dma_free_noncoherent` or `dma_free_pages`.
    FreeNoncoherent {
        /// The buffer.
        name: Name,
        /// The size passed, if not the buffer's.
        size: Option<u64>,
        /// Added to the CPU address passed.
        cpu_offset: u64,
    },
    /// `dma-pool`: `dma_pool_create`.
    DmaPool {
        /// The pool's name.
        pool: Name,
        /// The device.
        dev: Name,
        /// The block size.
        size: u64,
        /// The block alignment (0: the cache line).
        align: u64,
    },
    /// `pool-alloc`: `dma_pool_alloc`.
    PoolAlloc {
        /// The block's name.
        name: Name,
        /// The pool.
        pool: Name,
    },
    /// `pool-free`: `dma_pool_free`.
    PoolFree {
        /// The block.
        name: Name,
        /// The pool freed to, if not the block's own.
        pool: Option<Name>,
    },
    /// `pool-destroy`: `dma_pool_destroy`.
    PoolDestroy {
        /// The pool.
        pool: Name,
    },
    /// `map-resource`: `dma_map_resource`.
    MapResource {
        /// The mapping's name.
        map: Name,
        /// The device.
        dev: Name,
        /// The device memory and the offset into it.
        buf: Ref,
        /// The direction.
        dir: DmaDirection,
        /// The size, if not the rest.
        size: Option<u64>,
    },
    /// `set-mask`: `dma_set_mask_and_coherent`.
    SetMask {
        /// The device.
        dev: Name,
        /// The mask width.
        bits: u32,
    },
    /// `map`: `dma_map_single`, or `dma_map_page` with the `page` flag.
    Map {
        /// The mapping's name.
        map: Name,
        /// The device.
        dev: Name,
        /// The buffer and the offset into it.
        buf: Ref,
        /// The direction.
        dir: DmaDirection,
        /// The size, if not the rest of the buffer.
        size: Option<u64>,
        /// [`MapFunc::Single`] or [`MapFunc::Page`].
        func: MapFunc,
        /// `DMA_ATTR_*`.
        attrs: DmaAttrs,
    },
    /// `mapping-error`: `dma_mapping_error`.
    MappingError {
        /// The mapping.
        map: Name,
    },
    /// `unmap`: `dma_unmap_single` or the function named with `as=`.
    Unmap {
        /// The mapping.
        map: Name,
        /// The size passed, if not the mapping's.
        size: Option<u64>,
        /// The direction passed, if not the mapping's.
        dir: Option<DmaDirection>,
        /// The function, if not the one that matches the mapping.
        func: Option<MapFunc>,
        /// `DMA_ATTR_*`.
        attrs: DmaAttrs,
    },
    /// `map-sg`: `dma_map_sg`.
    MapSg {
        /// The mapping's name.
        map: Name,
        /// The device.
        dev: Name,
        /// The direction.
        dir: DmaDirection,
        /// The entries, in order.
        entries: Vec<SgEntry>,
        /// How the entries were set.
        set: SgSet,
        /// `DMA_ATTR_*`.
        attrs: DmaAttrs,
    },
    /// `unmap-sg`: `dma_unmap_sg`.
    UnmapSg {
        /// The mapping.
        map: Name,
        /// The entry count passed, if not the one mapped.
        nents: Option<usize>,
        /// The direction passed, if not the mapping's.
        dir: Option<DmaDirection>,
        /// `DMA_ATTR_*`.
        attrs: DmaAttrs,
    },
    /// `unmap-addr`: `dma_unmap_single` of any address.
    UnmapAddr {
        /// The device.
        dev: Name,
        /// The address.
        at: Ref,
        /// The size passed.
        size: u64,
        /// The direction passed.
        dir: DmaDirection,
    },
    /// `sync-for-cpu`, `sync-for-device`: `dma_sync_single_*`.
    Sync {
        /// The mapping and the offset into it.
        at: Ref,
        /// The size, if not the rest of the mapping.
        size: Option<u64>,
        /// The direction passed, if not the mapping's.
        dir: Option<DmaDirection>,
        /// Which way.
        to: SyncFor,
    },
    /// `sync-sg-for-cpu`, `sync-sg-for-device`: `dma_sync_sg_*`.
    SyncSg {
        /// The mapping.
        map: Name,
        /// The entry count passed, if not the one mapped.
        nents: Option<usize>,
        /// The direction passed, if not the mapping's.
        dir: Option<DmaDirection>,
        /// Which way.
        to: SyncFor,
    },
    /// `device-read`: the device reads by DMA.
    DeviceRead {
        /// The device.
        dev: Name,
        /// Where.
        at: Ref,
        /// How many bytes.
        len: u64,
    },
    /// `device-write`: the device writes by DMA.
    DeviceWrite {
        /// The device.
        dev: Name,
        /// Where.
        at: Ref,
        /// What.
        data: Data,
    },
    /// `device-expect`: the device reads and the bytes are compared.
    DeviceExpect {
        /// The device.
        dev: Name,
        /// Where.
        at: Ref,
        /// The bytes expected.
        data: Data,
    },
    /// `engine`: points a device's DMA engine at a ring.
    Engine {
        /// The device.
        dev: Name,
        /// The coherent buffer holding the ring.
        ring: Name,
        /// Descriptors in the ring.
        entries: u32,
    },
    /// `desc`: the CPU writes a descriptor into a ring.
    Desc {
        /// The ring.
        ring: Name,
        /// The descriptor's index.
        index: u32,
        /// Where the engine reads.
        src: Ref,
        /// Where it writes.
        dst: Ref,
        /// How many bytes.
        len: u32,
        /// Whether it interrupts on completion.
        irq: bool,
    },
    /// `doorbell`: the CPU writes the tail register.
    Doorbell {
        /// The device.
        dev: Name,
        /// The new tail.
        tail: u32,
    },
    /// `expect-status`: the CPU polls a descriptor's status.
    ExpectStatus {
        /// The ring.
        ring: Name,
        /// The descriptor's index.
        index: u32,
        /// The status expected.
        status: Status,
    },
    /// `expect-irqs`: the interrupts raised so far are counted.
    ExpectIrqs {
        /// The device.
        dev: Name,
        /// How many expected.
        count: u64,
    },
    /// `iommu-flush`: the lazy flush queues are flushed.
    IommuFlush,
    /// `remove-device`: the device goes away.
    RemoveDevice {
        /// The device.
        dev: Name,
    },
    /// `dmabuf`: `dma_buf_export`.
    DmaBuf {
        /// The buffer's name.
        name: Name,
        /// The exporting device.
        exporter: Name,
        /// Its size.
        size: u64,
    },
    /// `attach`: `dma_buf_attach`.
    Attach {
        /// The attachment's name.
        att: Name,
        /// The DMA-BUF.
        buf: Name,
        /// The importing device.
        dev: Name,
    },
    /// `map-attachment`: `dma_buf_map_attachment`.
    MapAttachment {
        /// The mapping's name.
        map: Name,
        /// The attachment.
        att: Name,
        /// The direction.
        dir: DmaDirection,
    },
    /// `unmap-attachment`: `dma_buf_unmap_attachment`.
    UnmapAttachment {
        /// The mapped attachment.
        map: Name,
    },
    /// `detach`: `dma_buf_detach`.
    Detach {
        /// The attachment.
        att: Name,
    },
    /// `fence`: a writer adds a write fence, or a reader a read fence.
    Fence {
        /// The fence's name.
        fence: Name,
        /// The DMA-BUF.
        buf: Name,
        /// The writer or reader.
        who: Who,
        /// Write or read.
        usage: FenceUsage,
    },
    /// `signal`: `dma_fence_signal`.
    Signal {
        /// The fence.
        fence: Name,
    },
    /// `wait`: `dma_fence_wait`.
    Wait {
        /// Who waits.
        who: Who,
        /// The fence.
        fence: Name,
    },
    /// `begin-cpu-access`: `dma_buf_begin_cpu_access`.
    BeginCpuAccess {
        /// The DMA-BUF.
        buf: Name,
        /// The direction.
        dir: DmaDirection,
    },
    /// `end-cpu-access`: `dma_buf_end_cpu_access`.
    EndCpuAccess {
        /// The DMA-BUF.
        buf: Name,
        /// The direction.
        dir: DmaDirection,
    },
    /// `note`: a line in the timeline.
    Note {
        /// The text.
        text: String,
    },
}

impl Op {
    /// The bytes this step writes, reads or compares (a DMA engine
    /// descriptor's length counts for the copy it asks for).
    pub fn data_len(&self) -> u64 {
        match self {
            Op::Write { data, .. }
            | Op::Expect { data, .. }
            | Op::DeviceWrite { data, .. }
            | Op::DeviceExpect { data, .. } => data.len(),
            Op::Read { len, .. } | Op::DeviceRead { len, .. } => *len,
            Op::Desc { len, .. } => u64::from(*len),
            _ => 0,
        }
    }
}

/// A step and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Its line.
    pub line: u32,
    /// What it does.
    pub op: Op,
}

/// A parsed scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// The machine.
    pub machine: MachineConfig,
    /// The devices, in the order declared.
    pub devices: Vec<DeviceLine>,
    /// The driver's steps.
    pub steps: Vec<Step>,
}
