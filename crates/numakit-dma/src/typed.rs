//! The driver-facing API: a trait a driver is written against, with typed
//! ownership of every buffer.
//!
//! - [`CpuBuf`] is CPU memory the CPU owns: it can be read and written.
//! - `map_single`/`map_sg` consume it and return a [`StreamingMap<Device>`]
//!   or [`SgMap<Device>`]: the device owns the memory and safe code has no way
//!   to touch it.
//! - `sync_for_cpu` turns a device-owned mapping into a CPU-owned one
//!   ([`StreamingMap<Cpu>`]), which can be read and written; `sync_for_device`
//!   hands it back; `unmap` returns the [`CpuBuf`].
//! - [`CoherentBuf`] is its own type: both sides may access it at any time.
//!
//! Nothing here hands out a `&[u8]` into memory a device may write: data
//! moves by copy-in and copy-out. Handles are not `Clone`; dropping a mapping
//! without unmapping it leaks it, which the checker reports when the device
//! goes away.
//!
//! The trait is implemented by the model ([`ModelBackend`](crate::ModelBackend)),
//! whose buffers are physical memory, and by the VFIO backend
//! ([`VfioBackend`](crate::vfio::VfioBackend)), whose buffers are memory of
//! this process: the CPU side of every handle is the backend's
//! [`DmaBackend::CpuAddr`] ([`PhysAddr`] or [`VirtAddr`]), so a buffer of
//! one backend cannot be handed to the other. A test double or another
//! backend outside this crate implements it too: handles are made only by
//! a backend, through its private
//! [`HandleMaker`](crate::handles::HandleMaker), under the contract written
//! in [`crate::handles`]. Every handle carries the instance of the backend
//! that made it, and a backend refuses a handle of another instance, of
//! the same kind or not.
//!
//! What the types allow, on the model's `edu` device: the CPU reads a
//! buffer the device wrote only after taking it back.
//! ```
//! use numakit_dma::edu::model_backend;
//! use numakit_dma::{DmaBackend, DmaDirection};
//! let (mut m, edu) = model_backend("edu").unwrap();
//! let buf = m.alloc(64).unwrap();
//! let map = m.map_single(edu.device(), buf, DmaDirection::FromDevice).map_err(|e| e.error).unwrap();
//! let map = m.sync_for_cpu(map);
//! let mut out = [0u8; 4];
//! m.read_mapped(&map, 0, &mut out).unwrap();
//! let buf = m.unmap(map);
//! m.free(buf);
//! ```
//! and what they refuse: reading a mapping the device owns,
//! ```compile_fail,E0308
//! # use numakit_dma::edu::model_backend;
//! # use numakit_dma::{DmaBackend, DmaDirection};
//! # let (mut m, edu) = model_backend("edu").unwrap();
//! let buf = m.alloc(64).unwrap();
//! let map = m.map_single(edu.device(), buf, DmaDirection::FromDevice).map_err(|e| e.error).unwrap();
//! let mut out = [0u8; 4];
//! m.read_mapped(&map, 0, &mut out).unwrap(); // a StreamingMap<Device>
//! ```
//! writing a buffer after it was handed to the device,
//! ```compile_fail,E0382
//! # use numakit_dma::edu::model_backend;
//! # use numakit_dma::{DmaBackend, DmaDirection};
//! # let (mut m, edu) = model_backend("edu").unwrap();
//! let mut buf = m.alloc(64).unwrap();
//! let map = m.map_single(edu.device(), buf, DmaDirection::ToDevice);
//! m.write(&mut buf, 0, b"late").unwrap(); // moved into the mapping
//! ```
//! and handing one backend's buffer to the other.
//! ```compile_fail,E0308
//! use numakit_dma::vfio::VfioBackend;
//! use numakit_dma::{DeviceId, DmaBackend, DmaDirection, ModelBackend};
//! fn hand_over(model: &mut ModelBackend, vfio: &mut VfioBackend, dev: DeviceId) {
//!     let buf = model.alloc(64).unwrap(); // a CpuBuf<PhysAddr>
//!     let _ = vfio.map_single(dev, buf, DmaDirection::ToDevice);
//! }
//! ```

use std::fmt;
use std::marker::PhantomData;

use crate::addr::{DmaMask, Iova, PhysAddr, VirtAddr};
use crate::calls::MapFunc;
use crate::direction::DmaDirection;
use crate::error::{Error, Result};
use crate::handles::Instance;
use crate::ids::DeviceId;
use crate::mapping::DmaSegment;

pub(crate) mod sealed {
    pub trait Sealed {}
    /// What a buffer's CPU address can do inside this crate.
    pub trait Addr: Copy {
        /// The address `bytes` further on (inside a buffer a backend placed).
        fn plus(self, bytes: u64) -> Self;
        /// Address 0: where a refused handle points.
        fn zero() -> Self;
    }
}

/// The CPU side of a backend's buffers: [`PhysAddr`] for the model (its
/// memory is physical memory), [`VirtAddr`] for VFIO (memory of this
/// process). A backend outside this crate uses one of these two: no
/// other kind is added.
pub trait CpuAddress: sealed::Sealed + sealed::Addr + Copy + Eq + fmt::Debug {}

impl sealed::Sealed for PhysAddr {}
impl sealed::Addr for PhysAddr {
    fn plus(self, bytes: u64) -> Self {
        self.unchecked_add(bytes)
    }
    fn zero() -> Self {
        PhysAddr::new(0)
    }
}
impl CpuAddress for PhysAddr {}
impl sealed::Sealed for VirtAddr {}
impl sealed::Addr for VirtAddr {
    fn plus(self, bytes: u64) -> Self {
        self.unchecked_add(bytes)
    }
    fn zero() -> Self {
        VirtAddr::new(0)
    }
}
impl CpuAddress for VirtAddr {}

/// Who owns a streaming mapping: [`Cpu`] or [`Device`].
pub trait Owner: sealed::Sealed {}

/// The CPU owns the mapping (after a sync for the CPU).
#[derive(Debug)]
pub enum Cpu {}
/// The device owns the mapping (after map or a sync for the device).
#[derive(Debug)]
pub enum Device {}
impl sealed::Sealed for Cpu {}
impl sealed::Sealed for Device {}
impl Owner for Cpu {}
impl Owner for Device {}

/// CPU memory owned by the CPU (`kmalloc`), at a CPU address of kind `A`,
/// or a piece of it ([`split_at`](Self::split_at)).
#[derive(Debug, PartialEq, Eq)]
pub struct CpuBuf<A: CpuAddress = PhysAddr> {
    pub(crate) instance: Instance,
    /// The first byte of the allocation this piece belongs to.
    pub(crate) alloc: A,
    /// Where the piece starts in the allocation.
    pub(crate) offset: u64,
    pub(crate) len: u64,
}

impl<A: CpuAddress> CpuBuf<A> {
    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }
    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Splits the buffer in two at byte `at` (at most its length), as a
    /// driver does when one allocation holds several fields. Each half is
    /// its own owner: freeing one frees only its bytes, and the allocation
    /// goes back when both are freed. The halves may share a cache line:
    /// mapping one and writing the other is what the `shared-cache-line`
    /// and `cpu-access-device-owned` rules catch.
    pub fn split_at(self, at: usize) -> (CpuBuf<A>, CpuBuf<A>) {
        let at = (at as u64).min(self.len);
        (
            CpuBuf { len: at, ..self },
            CpuBuf {
                offset: self.offset + at,
                len: self.len - at,
                ..self
            },
        )
    }
    /// The CPU address of the first byte.
    pub fn cpu_addr(&self) -> A {
        self.alloc.plus(self.offset)
    }
    /// The backend instance that made it.
    pub fn instance(&self) -> Instance {
        self.instance
    }
}

impl CpuBuf<PhysAddr> {
    /// The CPU physical address (the model's buffers).
    pub fn phys(&self) -> PhysAddr {
        self.cpu_addr()
    }
}

impl CpuBuf<VirtAddr> {
    /// The address in this process (the VFIO backend's buffers).
    pub fn virt(&self) -> VirtAddr {
        self.cpu_addr()
    }
}

/// Coherent DMA memory (`dma_alloc_coherent`): CPU and device may both
/// access it at any time, without syncs.
#[derive(Debug, PartialEq, Eq)]
pub struct CoherentBuf<A: CpuAddress = PhysAddr> {
    pub(crate) instance: Instance,
    pub(crate) dev: DeviceId,
    pub(crate) cpu: A,
    pub(crate) dma: Iova,
    pub(crate) len: u64,
}

impl<A: CpuAddress> CoherentBuf<A> {
    /// The address the device uses.
    pub fn dma_addr(&self) -> Iova {
        self.dma
    }
    /// The size in bytes (whole pages).
    pub fn len(&self) -> usize {
        self.len as usize
    }
    /// Whether the buffer is empty (never).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The device it was allocated for.
    pub fn device(&self) -> DeviceId {
        self.dev
    }
    /// The CPU address of the first byte.
    pub fn cpu_addr(&self) -> A {
        self.cpu
    }
    /// The backend instance that made it.
    pub fn instance(&self) -> Instance {
        self.instance
    }
}

/// A streaming mapping of one buffer, owned by `O`.
#[derive(Debug)]
#[must_use = "a mapping that is dropped without unmap leaks its IOVA and bounce buffer"]
pub struct StreamingMap<O: Owner, A: CpuAddress = PhysAddr> {
    pub(crate) dev: DeviceId,
    pub(crate) dma: Iova,
    pub(crate) dir: DmaDirection,
    pub(crate) func: MapFunc,
    pub(crate) buf: CpuBuf<A>,
    pub(crate) _owner: PhantomData<O>,
}

impl<O: Owner, A: CpuAddress> StreamingMap<O, A> {
    /// The address the device uses.
    pub fn dma_addr(&self) -> Iova {
        self.dma
    }
    /// The mapped length.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// Whether the mapping is empty (never).
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// The direction.
    pub fn direction(&self) -> DmaDirection {
        self.dir
    }
    /// The device.
    pub fn device(&self) -> DeviceId {
        self.dev
    }
    pub(crate) fn owned<P: Owner>(self) -> StreamingMap<P, A> {
        StreamingMap {
            dev: self.dev,
            dma: self.dma,
            dir: self.dir,
            func: self.func,
            buf: self.buf,
            _owner: PhantomData,
        }
    }
}

/// A list of CPU buffers to map together (`struct sg_table`).
#[derive(Debug, PartialEq, Eq)]
pub struct SgTable<A: CpuAddress = PhysAddr> {
    pub(crate) entries: Vec<CpuBuf<A>>,
}

impl<A: CpuAddress> Default for SgTable<A> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<A: CpuAddress> SgTable<A> {
    /// A table of these buffers.
    pub fn new(entries: Vec<CpuBuf<A>>) -> Self {
        Self { entries }
    }
    /// The number of entries (`orig_nents`).
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// The buffers back.
    pub fn into_entries(self) -> Vec<CpuBuf<A>> {
        self.entries
    }
    /// The buffers, to look at (their bytes are reached only through a
    /// backend).
    pub fn entries(&self) -> &[CpuBuf<A>] {
        &self.entries
    }
}

/// A mapped scatterlist, owned by `O`.
#[derive(Debug)]
#[must_use = "a mapping that is dropped without unmap leaks its IOVA and bounce buffers"]
pub struct SgMap<O: Owner, A: CpuAddress = PhysAddr> {
    pub(crate) dev: DeviceId,
    pub(crate) dir: DmaDirection,
    pub(crate) table: SgTable<A>,
    pub(crate) segs: Vec<DmaSegment>,
    pub(crate) _owner: PhantomData<O>,
}

impl<O: Owner, A: CpuAddress> SgMap<O, A> {
    /// The DMA segments: as many as `dma_map_sg` returned, which may be fewer
    /// than the entries when the IOMMU merged them.
    pub fn segments(&self) -> &[DmaSegment] {
        &self.segs
    }
    /// The number of entries mapped (`orig_nents`).
    pub fn nents(&self) -> usize {
        self.table.len()
    }
    /// The direction.
    pub fn direction(&self) -> DmaDirection {
        self.dir
    }
    /// The device.
    pub fn device(&self) -> DeviceId {
        self.dev
    }
    pub(crate) fn owned<P: Owner>(self) -> SgMap<P, A> {
        SgMap {
            dev: self.dev,
            dir: self.dir,
            table: self.table,
            segs: self.segs,
            _owner: PhantomData,
        }
    }
}

/// A failed mapping: the error, and the buffer back.
///
/// It prints as `DMA mapping failed: ` and the error's own message; its
/// [`source`](std::error::Error::source) is the error's source, so a chain
/// printer says each cause once.
#[derive(Debug)]
pub struct MapError<T> {
    /// Why.
    pub error: Error,
    /// What was to be mapped, still owned by the CPU.
    pub buf: T,
}

impl<T> std::fmt::Display for MapError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DMA mapping failed: {}", self.error)
    }
}

impl<T: std::fmt::Debug> std::error::Error for MapError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

/// What [`DmaBackend::map_single`] and [`DmaBackend::map_page`] return on
/// backend `B`: the device-owned mapping, or the error and the buffer back.
pub type MapResult<B> = Result<
    StreamingMap<Device, <B as DmaBackend>::CpuAddr>,
    MapError<CpuBuf<<B as DmaBackend>::CpuAddr>>,
>;

/// What [`DmaBackend::map_sg`] returns on backend `B`.
pub type SgMapResult<B> = Result<
    SgMap<Device, <B as DmaBackend>::CpuAddr>,
    MapError<SgTable<<B as DmaBackend>::CpuAddr>>,
>;

/// What a backend says about a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Its name.
    pub name: String,
    /// Streaming DMA mask.
    pub dma_mask: DmaMask,
    /// Coherent DMA mask.
    pub coherent_mask: DmaMask,
}

/// The DMA API a driver is written against: devices, DMA memory, mappings,
/// syncs and DMA addresses.
///
/// # Example
/// ```
/// use numakit_dma::{DeviceConfig, DmaBackend, DmaDirection, ModelBackend};
/// fn send<B: DmaBackend>(dma: &mut B, dev: numakit_dma::DeviceId, payload: &[u8]) -> numakit_dma::Result<()> {
///     let mut buf = dma.alloc(payload.len())?;
///     dma.write(&mut buf, 0, payload)?;
///     let map = dma.map_single(dev, buf, DmaDirection::ToDevice).map_err(|e| e.error)?;
///     // ... give map.dma_addr() to the device, wait for it ...
///     let buf = dma.unmap(map);
///     dma.free(buf);
///     Ok(())
/// }
/// let mut model = ModelBackend::builder().device(DeviceConfig::new("nic")).build().unwrap();
/// let nic = model.device_id("nic").unwrap();
/// send(&mut model, nic, b"hello").unwrap();
/// assert!(model.findings().is_empty());
/// ```
pub trait DmaBackend {
    /// The CPU side of this backend's buffers: [`PhysAddr`] (the model) or
    /// [`VirtAddr`] (VFIO).
    type CpuAddr: CpuAddress;

    /// What the backend knows about `dev`.
    fn device_info(&self, dev: DeviceId) -> Result<DeviceInfo>;

    /// Sets the streaming and coherent masks.
    #[doc(alias = "dma_set_mask_and_coherent")]
    fn set_mask(&mut self, dev: DeviceId, mask: DmaMask) -> Result<()>;

    /// Allocates CPU memory suitable for streaming DMA (cache-line aligned).
    #[doc(alias = "kmalloc")]
    #[track_caller]
    fn alloc(&mut self, size: usize) -> Result<CpuBuf<Self::CpuAddr>>;

    /// Frees CPU memory.
    #[doc(alias = "kfree")]
    #[track_caller]
    fn free(&mut self, buf: CpuBuf<Self::CpuAddr>);

    /// Copies out of a CPU-owned buffer.
    #[track_caller]
    fn read(&mut self, buf: &CpuBuf<Self::CpuAddr>, offset: usize, out: &mut [u8]) -> Result<()>;

    /// Copies into a CPU-owned buffer.
    #[track_caller]
    fn write(&mut self, buf: &mut CpuBuf<Self::CpuAddr>, offset: usize, data: &[u8]) -> Result<()>;

    /// Allocates coherent memory for `dev`.
    #[doc(alias = "dma_alloc_coherent")]
    #[track_caller]
    fn alloc_coherent(&mut self, dev: DeviceId, size: usize) -> Result<CoherentBuf<Self::CpuAddr>>;

    /// Frees coherent memory.
    #[doc(alias = "dma_free_coherent")]
    #[track_caller]
    fn free_coherent(&mut self, buf: CoherentBuf<Self::CpuAddr>);

    /// Copies out of coherent memory.
    fn coherent_read(
        &mut self,
        buf: &CoherentBuf<Self::CpuAddr>,
        offset: usize,
        out: &mut [u8],
    ) -> Result<()>;

    /// Copies into coherent memory.
    fn coherent_write(
        &mut self,
        buf: &CoherentBuf<Self::CpuAddr>,
        offset: usize,
        data: &[u8],
    ) -> Result<()>;

    /// Maps a buffer for `dev`; the device owns it until it comes back.
    #[doc(alias = "dma_map_single")]
    #[track_caller]
    fn map_single(
        &mut self,
        dev: DeviceId,
        buf: CpuBuf<Self::CpuAddr>,
        dir: DmaDirection,
    ) -> MapResult<Self>;

    /// Maps a buffer as a page and offset (`dma_map_page`); unmapping uses
    /// `dma_unmap_page`.
    #[doc(alias = "dma_map_page")]
    #[track_caller]
    fn map_page(
        &mut self,
        dev: DeviceId,
        buf: CpuBuf<Self::CpuAddr>,
        dir: DmaDirection,
    ) -> MapResult<Self>;

    /// Unmaps, returning the buffer to the CPU.
    #[doc(alias = "dma_unmap_single")]
    #[doc(alias = "dma_unmap_page")]
    #[track_caller]
    fn unmap<O: Owner>(&mut self, map: StreamingMap<O, Self::CpuAddr>) -> CpuBuf<Self::CpuAddr>;

    /// Hands the mapping to the CPU.
    #[doc(alias = "dma_sync_single_for_cpu")]
    #[track_caller]
    fn sync_for_cpu(
        &mut self,
        map: StreamingMap<Device, Self::CpuAddr>,
    ) -> StreamingMap<Cpu, Self::CpuAddr>;

    /// Hands the mapping back to the device.
    #[doc(alias = "dma_sync_single_for_device")]
    #[track_caller]
    fn sync_for_device(
        &mut self,
        map: StreamingMap<Cpu, Self::CpuAddr>,
    ) -> StreamingMap<Device, Self::CpuAddr>;

    /// Copies out of a mapping the CPU owns.
    #[track_caller]
    fn read_mapped(
        &mut self,
        map: &StreamingMap<Cpu, Self::CpuAddr>,
        offset: usize,
        out: &mut [u8],
    ) -> Result<()>;

    /// Copies into a mapping the CPU owns.
    #[track_caller]
    fn write_mapped(
        &mut self,
        map: &mut StreamingMap<Cpu, Self::CpuAddr>,
        offset: usize,
        data: &[u8],
    ) -> Result<()>;

    /// Maps a scatterlist for `dev`.
    #[doc(alias = "dma_map_sg")]
    #[doc(alias = "dma_map_sgtable")]
    #[track_caller]
    fn map_sg(
        &mut self,
        dev: DeviceId,
        table: SgTable<Self::CpuAddr>,
        dir: DmaDirection,
    ) -> SgMapResult<Self>;

    /// Unmaps a scatterlist (with the original entry count, always).
    #[doc(alias = "dma_unmap_sg")]
    #[track_caller]
    fn unmap_sg<O: Owner>(&mut self, map: SgMap<O, Self::CpuAddr>) -> SgTable<Self::CpuAddr>;

    /// Hands a scatterlist mapping to the CPU.
    #[doc(alias = "dma_sync_sg_for_cpu")]
    #[track_caller]
    fn sync_sg_for_cpu(&mut self, map: SgMap<Device, Self::CpuAddr>) -> SgMap<Cpu, Self::CpuAddr>;

    /// Hands a scatterlist mapping back to the device.
    #[doc(alias = "dma_sync_sg_for_device")]
    #[track_caller]
    fn sync_sg_for_device(
        &mut self,
        map: SgMap<Cpu, Self::CpuAddr>,
    ) -> SgMap<Device, Self::CpuAddr>;

    /// Copies out of entry `index` of a scatterlist mapping the CPU owns.
    #[track_caller]
    fn read_sg(
        &mut self,
        map: &SgMap<Cpu, Self::CpuAddr>,
        index: usize,
        offset: usize,
        out: &mut [u8],
    ) -> Result<()>;
}
