//! The model machine and its kernel-shaped DMA API.
//!
//! [`ModelBackend`] holds memory, the CPU cache, the devices, the IOMMU
//! domains, swiotlb and the checker. Its `dma_*` methods take and return raw
//! addresses exactly as the kernel's functions do, so that every mistake a C
//! driver can make can be made here and reported; the typed
//! [`DmaBackend`](crate::DmaBackend) API is built on them and rules most of
//! those mistakes out at compile time.

use std::collections::BTreeMap;
use std::panic::Location;
use std::sync::Arc;

use crate::cache::{Cache, CacheNote, Maint};
use crate::checker::{Finding, Origin, Rule};
use crate::dmabuf::DmaBufState;
use crate::engine::Engine;
use crate::event::{Event, EventSource};
use crate::hash::IntMap;
use crate::iommu::{APERTURE_END, Domain, Fault, FaultReason, Hit};
use crate::memory::{Memory, PAGE_SHIFT, PAGE_SIZE};
use crate::swiotlb::Swiotlb;
use crate::types::{
    Access, Coherence, DeviceConfig, IommuMode, Maintenance, MemKind, Speculation, Zone,
};
use crate::{DMA_MAPPING_ERROR, DeviceId, DmaDirection, DmaMask, Error, Iova, PhysAddr, Result};

pub(crate) type Site = &'static Location<'static>;

/// Physical memory layout of the model. RAM is `[0, 3.5 GiB)` and
/// `[4 GiB, 68 GiB)`; pages are allocated only when written.
pub mod layout {
    /// swiotlb's pool starts here (64 MiB).
    pub const SWIOTLB_BASE: u64 = 0x0400_0000;
    /// Allocations in the DMA32 zone start here (256 MiB).
    pub const DMA32_START: u64 = 0x1000_0000;
    /// End of low RAM (3.5 GiB); the MMIO hole follows.
    pub const LOW_RAM_END: u64 = 0xe000_0000;
    /// Start of high RAM and of the Normal zone (4 GiB).
    pub const HIGH_RAM_START: u64 = 0x1_0000_0000;
    /// End of high RAM (68 GiB).
    pub const HIGH_RAM_END: u64 = 0x11_0000_0000;
}
use layout::*;

/// The machine the model simulates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineConfig {
    /// Whether devices snoop the CPU caches.
    pub coherence: Coherence,
    /// Cache line size in bytes (64 or 128; any power of two from 16 to 256).
    pub line_size: u32,
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
}

impl Default for MachineConfig {
    fn default() -> Self {
        Self {
            coherence: Coherence::Coherent,
            line_size: 64,
            cache_lines: 32768,
            speculation: Speculation::Always,
            maintenance: Maintenance::Arm64,
            iommu: IommuMode::Off,
            flush_queue: 256,
            swiotlb_bytes: 64 << 20,
            checker: true,
            trace: false,
        }
    }
}

/// Builds a [`ModelBackend`].
///
/// # Example
/// ```
/// use numakit_dma::{Coherence, DeviceConfig, DmaMask, IommuMode, ModelBackend};
/// let model = ModelBackend::builder()
///     .coherence(Coherence::NonCoherent)
///     .iommu(IommuMode::Strict)
///     .device(DeviceConfig::new("nic").mask(DmaMask::bits(32)))
///     .build()
///     .unwrap();
/// assert_eq!(model.device_id("nic").unwrap().index(), 0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ModelBuilder {
    cfg: MachineConfig,
    devices: Vec<DeviceConfig>,
}

impl ModelBuilder {
    /// Sets the whole machine description.
    pub fn config(mut self, cfg: MachineConfig) -> Self {
        self.cfg = cfg;
        self
    }
    /// Coherent or not.
    pub fn coherence(mut self, c: Coherence) -> Self {
        self.cfg.coherence = c;
        self
    }
    /// Cache line size.
    pub fn line_size(mut self, bytes: u32) -> Self {
        self.cfg.line_size = bytes;
        self
    }
    /// Speculative fills.
    pub fn speculation(mut self, s: Speculation) -> Self {
        self.cfg.speculation = s;
        self
    }
    /// Cache maintenance policy.
    pub fn maintenance(mut self, m: Maintenance) -> Self {
        self.cfg.maintenance = m;
        self
    }
    /// IOMMU mode.
    pub fn iommu(mut self, m: IommuMode) -> Self {
        self.cfg.iommu = m;
        self
    }
    /// swiotlb pool size (0: off).
    pub fn swiotlb(mut self, bytes: u64) -> Self {
        self.cfg.swiotlb_bytes = bytes;
        self
    }
    /// Checker on or off.
    pub fn checker(mut self, on: bool) -> Self {
        self.cfg.checker = on;
        self
    }
    /// Timeline recording on or off.
    pub fn trace(mut self, on: bool) -> Self {
        self.cfg.trace = on;
        self
    }
    /// Adds a device.
    pub fn device(mut self, d: DeviceConfig) -> Self {
        self.devices.push(d);
        self
    }
    /// Builds the model.
    pub fn build(self) -> Result<ModelBackend> {
        ModelBackend::new(self.cfg, self.devices)
    }
}

pub(crate) struct Device {
    pub(crate) cfg: DeviceConfig,
    pub(crate) present: bool,
    pub(crate) group: u32,
}

pub(crate) struct Alloc {
    pub(crate) len: u64,
    pub(crate) kind: MemKind,
    pub(crate) label: Arc<str>,
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
}

impl MapFunc {
    /// The kernel function that makes such a mapping.
    pub const fn map_name(self) -> &'static str {
        match self {
            Self::Single => "dma_map_single",
            Self::Page => "dma_map_page",
            Self::Sg => "dma_map_sg",
            Self::Coherent => "dma_alloc_coherent",
        }
    }
    /// The kernel function that undoes it.
    pub const fn unmap_name(self) -> &'static str {
        match self {
            Self::Single => "dma_unmap_single",
            Self::Page => "dma_unmap_page",
            Self::Sg => "dma_unmap_sg",
            Self::Coherent => "dma_free_coherent",
        }
    }
}

/// One mapped piece of CPU memory.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The CPU buffer.
    pub(crate) phys: u64,
    pub(crate) len: u64,
    /// What the device really accesses: the buffer or its bounce buffer.
    pub(crate) bus: u64,
    pub(crate) dma: u64,
    pub(crate) bounced: bool,
    /// Offset of the entry in the mapping's byte coordinates.
    pub(crate) coord: u64,
}

/// A DMA segment: `(dma, len, coordinate)`.
pub(crate) type Seg = (u64, u64, u64);

pub(crate) struct MapRecord {
    pub(crate) id: u64,
    pub(crate) dev: DeviceId,
    pub(crate) func: MapFunc,
    pub(crate) dir: DmaDirection,
    pub(crate) label: Arc<str>,
    pub(crate) dma: u64,
    pub(crate) size: u64,
    pub(crate) nents: usize,
    pub(crate) entries: Vec<Entry>,
    pub(crate) segs: Vec<Seg>,
    /// IOVA ranges to give back: `(group, lo_pfn, mapped pages)`.
    pub(crate) iovas: Vec<(u32, u64, u64)>,
    /// Bytes (mapping coordinates) the CPU owns after a sync for the CPU.
    pub(crate) cpu_window: Option<(u64, u64)>,
    /// Bytes the device wrote since the last sync for the CPU.
    pub(crate) dev_dirty: Option<(u64, u64)>,
    /// The CPU wrote into the mapping while it owned it, and has not synced
    /// it for the device since.
    pub(crate) cpu_wrote: bool,
    pub(crate) error_checked: bool,
    pub(crate) origin: Origin,
    pub(crate) dmabuf: Option<u64>,
}

pub(crate) struct Unmapped {
    pub(crate) end: u64,
    pub(crate) label: Arc<str>,
    pub(crate) at: Origin,
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

/// A model machine running the kernel's DMA API, with a checker.
///
/// See the [crate documentation](crate) for the model and an example.
pub struct ModelBackend {
    pub(crate) cfg: MachineConfig,
    pub(crate) mem: Memory,
    pub(crate) cache: Cache,
    pub(crate) devices: Vec<Device>,
    pub(crate) domains: IntMap<u32, Domain>,
    pub(crate) swiotlb: Option<Swiotlb>,
    next_dma32: u64,
    next_normal: u64,
    pub(crate) allocs: BTreeMap<u64, Alloc>,
    pub(crate) uncached: BTreeMap<u64, u64>,
    pub(crate) maps: IntMap<u64, MapRecord>,
    /// DMA segments of live mappings: `(device, start, id) -> (end, index)`.
    pub(crate) segs: BTreeMap<(u32, u64, u64), (u64, usize)>,
    /// Checker: CPU ranges of live streaming mappings: `(start, id, entry) -> end`.
    pub(crate) phys_index: BTreeMap<(u64, u64, u64), u64>,
    pub(crate) phys_max_len: u64,
    /// Checker: recently unmapped DMA ranges: `(device, start)`.
    pub(crate) unmapped: BTreeMap<(u32, u64), Unmapped>,
    next_id: u64,
    pub(crate) findings: Vec<Finding>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) events: Vec<Event>,
    seq: u64,
    pub(crate) line: Option<u32>,
    last_error: Option<Error>,
    pub(crate) engines: IntMap<u32, Engine>,
    pub(crate) dmabuf: DmaBufState,
}

impl std::fmt::Debug for ModelBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelBackend")
            .field("config", &self.cfg)
            .field("devices", &self.devices.len())
            .field("mappings", &self.maps.len())
            .field("findings", &self.findings.len())
            .finish_non_exhaustive()
    }
}

fn hull(a: Option<(u64, u64)>, b: (u64, u64)) -> (u64, u64) {
    match a {
        Some((s, e)) => (s.min(b.0), e.max(b.1)),
        None => b,
    }
}

impl ModelBackend {
    /// A builder with the default machine: coherent, 64-byte lines, no
    /// IOMMU, 64 MiB of swiotlb, checker on, no timeline.
    pub fn builder() -> ModelBuilder {
        ModelBuilder::default()
    }

    /// A model of the machine `cfg` with `devices`.
    pub fn new(cfg: MachineConfig, devices: Vec<DeviceConfig>) -> Result<Self> {
        if !cfg.line_size.is_power_of_two() || !(16..=256).contains(&cfg.line_size) {
            return Err(Error::InvalidConfig(format!(
                "cache line size {} is not a power of two from 16 to 256",
                cfg.line_size
            )));
        }
        if cfg.swiotlb_bytes > DMA32_START - SWIOTLB_BASE {
            return Err(Error::InvalidConfig(format!(
                "swiotlb of {} bytes does not fit below {:#x}",
                cfg.swiotlb_bytes, DMA32_START
            )));
        }
        let mut devs = Vec::new();
        let mut domains = IntMap::default();
        for (i, d) in devices.into_iter().enumerate() {
            if devs.iter().any(|x: &Device| x.cfg.name == d.name) {
                return Err(Error::InvalidConfig(format!(
                    "two devices are named {}",
                    d.name
                )));
            }
            let group = if d.iommu_group == u32::MAX {
                1000 + i as u32
            } else {
                d.iommu_group
            };
            if cfg.iommu != IommuMode::Off {
                domains
                    .entry(group)
                    .or_insert_with(|| Domain::new(cfg.flush_queue));
            }
            devs.push(Device {
                cfg: d,
                present: true,
                group,
            });
        }
        let mut cache = Cache::new(cfg.line_size, cfg.cache_lines, cfg.speculation);
        cache.record = cfg.trace;
        let swiotlb =
            (cfg.swiotlb_bytes > 0).then(|| Swiotlb::new(SWIOTLB_BASE, cfg.swiotlb_bytes));
        Ok(Self {
            cfg,
            mem: Memory::default(),
            cache,
            devices: devs,
            domains,
            swiotlb,
            next_dma32: DMA32_START,
            next_normal: HIGH_RAM_START,
            allocs: BTreeMap::new(),
            uncached: BTreeMap::new(),
            maps: IntMap::default(),
            segs: BTreeMap::new(),
            phys_index: BTreeMap::new(),
            phys_max_len: 0,
            unmapped: BTreeMap::new(),
            next_id: 1,
            findings: Vec::new(),
            faults: Vec::new(),
            events: Vec::new(),
            seq: 0,
            line: None,
            last_error: None,
            engines: IntMap::default(),
            dmabuf: DmaBufState::default(),
        })
    }

    /// The machine description.
    pub fn config(&self) -> &MachineConfig {
        &self.cfg
    }

    /// The device named `name`.
    pub fn device_id(&self, name: &str) -> Option<DeviceId> {
        self.devices
            .iter()
            .position(|d| d.cfg.name == name)
            .map(|i| DeviceId(i as u32))
    }

    /// The device's configuration.
    pub fn device_config(&self, dev: DeviceId) -> Option<&DeviceConfig> {
        self.devices.get(dev.0 as usize).map(|d| &d.cfg)
    }

    /// Everything the checker found so far.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Takes the findings, leaving none.
    pub fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }

    /// Every DMA fault so far (recorded with the checker on or off).
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// The timeline (empty unless built with `trace(true)`).
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Takes the timeline.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Why the last mapping that returned `DMA_MAPPING_ERROR` failed.
    pub fn last_error(&self) -> Option<&Error> {
        self.last_error.as_ref()
    }

    /// The number of live mappings and coherent buffers.
    pub fn live_mappings(&self) -> usize {
        self.maps.len()
    }

    /// Pages of model memory that hold data (the rest read as zeros).
    pub fn resident_pages(&self) -> usize {
        self.mem.resident_pages()
    }

    /// Sets the scenario line that the next events and findings belong to.
    /// While a line is set, findings name it instead of a Rust location.
    pub fn set_scenario_line(&mut self, line: Option<u32>) {
        self.line = line;
    }

    pub(crate) fn origin(&self, site: Site) -> Origin {
        match self.line {
            Some(l) => Origin::Scenario { scenario_line: l },
            None => Origin::rust(site),
        }
    }

    pub(crate) fn dev_name(&self, dev: DeviceId) -> String {
        self.devices
            .get(dev.0 as usize)
            .map_or_else(|| format!("dev{}", dev.0), |d| d.cfg.name.clone())
    }

    pub(crate) fn ev(
        &mut self,
        source: EventSource,
        kind: &'static str,
        dev: Option<DeviceId>,
        text: impl FnOnce() -> String,
    ) {
        if !self.cfg.trace {
            return;
        }
        self.flush_cache_notes();
        self.seq += 1;
        let device = dev.map(|d| self.dev_name(d));
        self.events.push(Event {
            seq: self.seq,
            line: self.line,
            source,
            kind,
            device,
            text: text(),
        });
    }

    pub(crate) fn flush_cache_notes(&mut self) {
        if self.cache.notes.is_empty() {
            return;
        }
        let notes = std::mem::take(&mut self.cache.notes);
        let line = self.line_size();
        let mut fills: Vec<u64> = Vec::new();
        for n in notes {
            match n {
                CacheNote::EvictDirty(a) => {
                    self.seq += 1;
                    self.events.push(Event {
                        seq: self.seq,
                        line: self.line,
                        source: EventSource::Cache,
                        kind: "evict",
                        device: None,
                        text: format!("dirty line {a:#x} evicted and written back to memory"),
                    });
                }
                CacheNote::SpecFill(a) => fills.push(a),
            }
        }
        if !fills.is_empty() {
            self.seq += 1;
            let text = if fills.len() == 1 {
                format!(
                    "line {:#x} filled speculatively (memory contents before the device's write)",
                    fills[0]
                )
            } else {
                format!(
                    "{} lines {:#x}..{:#x} filled speculatively (memory contents before the device's write)",
                    fills.len(),
                    fills[0],
                    fills[fills.len() - 1] + line
                )
            };
            self.events.push(Event {
                seq: self.seq,
                line: self.line,
                source: EventSource::Cache,
                kind: "speculative-fill",
                device: None,
                text,
            });
        }
    }

    pub(crate) fn report(&mut self, f: Finding) {
        self.findings.push(f);
    }

    pub(crate) fn line_size(&self) -> u64 {
        u64::from(self.cfg.line_size)
    }

    fn device(&self, dev: DeviceId) -> Result<&Device> {
        let d = self
            .devices
            .get(dev.0 as usize)
            .ok_or(Error::NoDevice(dev.0))?;
        if !d.present {
            return Err(Error::DeviceGone(d.cfg.name.clone()));
        }
        Ok(d)
    }

    pub(crate) fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    // ----------------------------------------------------------------- memory

    /// Allocates CPU memory (`kmalloc`): `align` bytes aligned (0: the cache
    /// line size, or a page for a page or more, which is what a DMA-safe
    /// allocation gets), in `zone`, standing for memory of `kind`, named
    /// `label` in findings.
    pub fn kmalloc(
        &mut self,
        size: u64,
        align: u64,
        zone: Zone,
        kind: MemKind,
        label: &str,
    ) -> Result<PhysAddr> {
        if size == 0 {
            return Err(Error::ZeroLength);
        }
        let align = match align {
            0 if size >= PAGE_SIZE => PAGE_SIZE,
            0 => self.line_size(),
            a => a.next_power_of_two(),
        };
        let addr = self.alloc_phys(size, align, zone)?;
        self.allocs.insert(
            addr,
            Alloc {
                len: size,
                kind,
                label: Arc::from(label),
            },
        );
        let kind_s = match kind {
            MemKind::Kmalloc => "",
            MemKind::Stack => " (stack)",
            MemKind::Vmalloc => " (vmalloc)",
        };
        self.ev(EventSource::Cpu, "alloc", None, || {
            format!("alloc {label}: {size} bytes at {addr:#x}{kind_s}")
        });
        Ok(PhysAddr::new(addr))
    }

    fn alloc_phys(&mut self, size: u64, align: u64, zone: Zone) -> Result<u64> {
        let (next, end, name) = match zone {
            Zone::Dma32 => (&mut self.next_dma32, LOW_RAM_END, "DMA32"),
            Zone::Normal => (&mut self.next_normal, HIGH_RAM_END, "Normal"),
        };
        let start = next.next_multiple_of(align);
        match start.checked_add(size) {
            Some(e) if e <= end => {
                *next = e;
                Ok(start)
            }
            _ => Err(Error::OutOfMemory { size, zone: name }),
        }
    }

    /// Frees CPU memory allocated with [`kmalloc`](Self::kmalloc).
    #[track_caller]
    pub fn kfree(&mut self, addr: PhysAddr) {
        let site = Location::caller();
        let Some(a) = self.allocs.remove(&addr.raw()) else {
            return;
        };
        if self.cfg.checker {
            let hits = self.phys_hits(addr.raw(), addr.raw() + a.len);
            for id in hits {
                let r = &self.maps[&id];
                let mut f = Finding::new(
                    Rule::FreeWhileMapped,
                    self.origin(site),
                    format!(
                        "{} freed while {} still maps it for {}",
                        a.label,
                        r.func.map_name(),
                        self.dev_name(r.dev)
                    ),
                );
                f.device = Some(self.dev_name(r.dev));
                f.buffer = Some(a.label.to_string());
                f.phys_addr = Some(addr);
                f.dma_addr = Some(Iova::new(r.dma));
                f.mapped_at = Some(r.origin.clone());
                self.report(f);
            }
        }
        let label = a.label.clone();
        self.ev(EventSource::Cpu, "free", None, || {
            format!("free {label} at {addr}")
        });
    }

    pub(crate) fn alloc_containing(&self, phys: u64) -> Option<(u64, &Alloc)> {
        self.allocs
            .range(..=phys)
            .next_back()
            .filter(|(s, a)| phys < *s + a.len)
            .map(|(s, a)| (*s, a))
    }

    pub(crate) fn label_of(&self, phys: u64) -> Arc<str> {
        match self.alloc_containing(phys) {
            Some((s, a)) if s == phys => a.label.clone(),
            Some((s, a)) => Arc::from(format!("{}+{}", a.label, phys - s)),
            None => Arc::from(format!("memory at {phys:#x}")),
        }
    }

    fn is_uncached(&self, phys: u64) -> bool {
        self.cfg.coherence == Coherence::NonCoherent
            && self
                .uncached
                .range(..=phys)
                .next_back()
                .is_some_and(|(_, &e)| phys < e)
    }

    /// CPU load without checks.
    pub(crate) fn cpu_phys_read(&mut self, phys: u64, out: &mut [u8]) {
        if self.is_uncached(phys) {
            self.mem.read(phys, out);
        } else {
            self.cache.cpu_read(&mut self.mem, phys, out);
        }
    }

    /// CPU store without checks.
    pub(crate) fn cpu_phys_write(&mut self, phys: u64, data: &[u8]) {
        if self.is_uncached(phys) {
            self.mem.write(phys, data);
        } else {
            self.cache.cpu_write(&mut self.mem, phys, data);
        }
    }

    fn cpu_copy(&mut self, src: u64, dst: u64, len: u64) {
        let mut buf = vec![0u8; len.min(1 << 16) as usize];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(buf.len() as u64) as usize;
            self.cpu_phys_read(src + done, &mut buf[..n]);
            self.cpu_phys_write(dst + done, &buf[..n]);
            done += n as u64;
        }
    }

    /// A CPU load of `out.len()` bytes at `addr`, through the cache. The
    /// checker looks at every cache line the load touches.
    #[track_caller]
    pub fn cpu_read(&mut self, addr: PhysAddr, out: &mut [u8]) {
        let site = Location::caller();
        if self.cfg.checker {
            self.chk_cpu_access(addr.raw(), out.len() as u64, Access::Read, site);
        }
        self.cpu_phys_read(addr.raw(), out);
    }

    /// A CPU store of `data` at `addr`, through the cache. The checker looks
    /// at every cache line the store touches.
    #[track_caller]
    pub fn cpu_write(&mut self, addr: PhysAddr, data: &[u8]) {
        let site = Location::caller();
        if self.cfg.checker {
            self.chk_cpu_access(addr.raw(), data.len() as u64, Access::Write, site);
        }
        self.cpu_phys_write(addr.raw(), data);
    }

    // -------------------------------------------------------- cache upkeep

    fn coherent_dev(&self) -> bool {
        self.cfg.coherence == Coherence::Coherent
    }

    /// `arch_sync_dma_for_device`.
    fn arch_for_device(&mut self, bus: u64, len: u64, dir: DmaDirection, dev: DeviceId) {
        if self.coherent_dev() {
            return;
        }
        let (m, what): (Maint, &str) = match (self.cfg.maintenance, dir) {
            (Maintenance::InvalidateAtMapOnly, DmaDirection::FromDevice) => (
                self.cache.invalidate(&mut self.mem, bus, bus + len),
                "invalidate",
            ),
            _ => (self.cache.clean(&mut self.mem, bus, bus + len), "clean"),
        };
        self.ev(
            EventSource::Cache,
            if what == "clean" {
                "clean"
            } else {
                "invalidate"
            },
            Some(dev),
            || {
                format!(
                    "{what} {:#x}..{:#x} for the device: {} dirty line(s) written back, {} dropped",
                    bus,
                    bus + len,
                    m.written_back,
                    m.dropped
                )
            },
        );
    }

    /// `arch_sync_dma_for_cpu`.
    fn arch_for_cpu(&mut self, bus: u64, len: u64, dir: DmaDirection, dev: DeviceId) {
        if self.coherent_dev()
            || dir == DmaDirection::ToDevice
            || self.cfg.maintenance != Maintenance::Arm64
        {
            return;
        }
        let m = self.cache.invalidate(&mut self.mem, bus, bus + len);
        self.ev(EventSource::Cache, "invalidate", Some(dev), || {
            format!(
                "invalidate {:#x}..{:#x} for the CPU: {} line(s) dropped, {} partial edge line(s) cleaned first",
                bus,
                bus + len,
                m.dropped,
                m.written_back
            )
        });
    }

    // ------------------------------------------------------------- masks

    /// `dma_set_mask`: the streaming mask.
    pub fn dma_set_mask(&mut self, dev: DeviceId, mask: DmaMask) -> Result<()> {
        self.check_mask(dev, mask)?;
        self.devices[dev.0 as usize].cfg.dma_mask = mask;
        self.ev(EventSource::Dma, "set-mask", Some(dev), || {
            format!("DMA mask {mask}")
        });
        Ok(())
    }

    /// `dma_set_coherent_mask`.
    pub fn dma_set_coherent_mask(&mut self, dev: DeviceId, mask: DmaMask) -> Result<()> {
        self.check_mask(dev, mask)?;
        self.devices[dev.0 as usize].cfg.coherent_mask = mask;
        self.ev(EventSource::Dma, "set-mask", Some(dev), || {
            format!("coherent DMA mask {mask}")
        });
        Ok(())
    }

    /// `dma_set_mask_and_coherent`.
    pub fn dma_set_mask_and_coherent(&mut self, dev: DeviceId, mask: DmaMask) -> Result<()> {
        self.dma_set_mask(dev, mask)?;
        self.dma_set_coherent_mask(dev, mask)
    }

    fn check_mask(&self, dev: DeviceId, mask: DmaMask) -> Result<()> {
        let d = self.device(dev)?;
        if mask.raw() < (1 << 24) - 1 {
            return Err(Error::MaskTooSmall {
                device: d.cfg.name.clone(),
                mask,
            });
        }
        Ok(())
    }

    // ------------------------------------------------------------- IOMMU

    fn alloc_iova(&mut self, dev: DeviceId, group: u32, mask: DmaMask, pages: u64) -> Result<u64> {
        let limit = mask.raw().min(APERTURE_END);
        let dom = self
            .domains
            .get_mut(&group)
            .expect("domain of an IOMMU group");
        let mut r = None;
        if limit > 0xffff_ffff {
            r = dom.alloc.alloc(pages, 0xffff_ffff >> PAGE_SHIFT);
        }
        if r.is_none() {
            r = dom.alloc.alloc(pages, limit >> PAGE_SHIFT);
        }
        if r.is_none() && dom.pending() > 0 {
            dom.flush();
            r = dom.alloc.alloc(pages, limit >> PAGE_SHIFT);
        }
        r.map(|r| r.lo_pfn).ok_or_else(|| Error::IovaExhausted {
            device: self.dev_name(dev),
            pages,
            mask,
        })
    }

    /// Maps `[bus, bus + len)` through the IOMMU; returns the DMA address and
    /// the IOVA range.
    fn iommu_map_one(
        &mut self,
        dev: DeviceId,
        group: u32,
        mask: DmaMask,
        bus: u64,
        len: u64,
        dir: DmaDirection,
    ) -> Result<(u64, (u32, u64, u64))> {
        let off = bus & (PAGE_SIZE - 1);
        let pages = (off + len).div_ceil(PAGE_SIZE);
        let lo = self.alloc_iova(dev, group, mask, pages)?;
        self.domains.get_mut(&group).expect("domain").map(
            lo,
            bus >> PAGE_SHIFT,
            pages,
            dir.device_reads(),
            dir.device_writes(),
        );
        let dma = (lo << PAGE_SHIFT) + off;
        self.ev(EventSource::Iommu, "map", Some(dev), || {
            format!(
                "IOVA {:#x}..{:#x} -> phys {:#x} ({} page(s), {})",
                lo << PAGE_SHIFT,
                (lo + pages) << PAGE_SHIFT,
                bus & !(PAGE_SIZE - 1),
                pages,
                perm(dir)
            )
        });
        Ok((dma, (group, lo, pages)))
    }

    fn iommu_release(&mut self, dev: DeviceId, iovas: &[(u32, u64, u64)]) {
        let lazy = self.cfg.iommu == IommuMode::Lazy;
        for &(group, lo, pages) in iovas {
            let dom = self.domains.get_mut(&group).expect("domain");
            dom.unmap(lo, pages);
            if lazy {
                let flushed = dom.queue_free(lo);
                let pending = dom.pending();
                self.ev(EventSource::Iommu, "unmap", Some(dev), || {
                    format!(
                        "IOVA {:#x}..{:#x} unmapped; IOTLB not invalidated, range queued for the lazy flush ({} queued)",
                        lo << PAGE_SHIFT,
                        (lo + pages) << PAGE_SHIFT,
                        pending
                    )
                });
                if flushed {
                    self.ev(EventSource::Iommu, "flush", None, || {
                        "flush queue full: IOTLB invalidated, queued IOVAs freed".into()
                    });
                }
            } else {
                dom.invalidate(lo, pages);
                dom.alloc.free(lo);
                self.ev(EventSource::Iommu, "unmap", Some(dev), || {
                    format!(
                        "IOVA {:#x}..{:#x} unmapped, IOTLB invalidated",
                        lo << PAGE_SHIFT,
                        (lo + pages) << PAGE_SHIFT
                    )
                });
            }
        }
    }

    /// Flushes every lazy flush queue: the IOTLB forgets unmapped IOVAs and
    /// they become free for reuse (what the flush-queue timer does).
    pub fn iommu_flush(&mut self) {
        let mut n = 0;
        let mut groups: Vec<u32> = self.domains.keys().copied().collect();
        groups.sort_unstable();
        for g in groups {
            n += self.domains.get_mut(&g).expect("domain").flush();
        }
        self.ev(EventSource::Iommu, "flush", None, || {
            format!("IOTLB flushed, {n} queued IOVA range(s) freed")
        });
    }

    // ------------------------------------------------------------- mapping

    fn bounce(
        &mut self,
        dev: DeviceId,
        orig: u64,
        len: u64,
        alloc_len: u64,
        mask: DmaMask,
        why: &str,
    ) -> Result<u64> {
        let name = self.dev_name(dev);
        let Some(tlb) = self.swiotlb.as_mut() else {
            return Err(Error::Unreachable {
                device: name,
                addr: PhysAddr::new(orig),
                mask,
                why: " and swiotlb is off",
            });
        };
        let t = tlb
            .alloc(alloc_len)
            .ok_or(Error::SwiotlbFull { size: alloc_len })?;
        if !mask.covers(t, alloc_len) {
            tlb.free(t);
            return Err(Error::Unreachable {
                device: name,
                addr: PhysAddr::new(orig),
                mask,
                why: " nor the swiotlb pool",
            });
        }
        // swiotlb_tbl_map_single copies in every direction, so that a device
        // that writes less than the whole buffer leaks nothing.
        self.cpu_copy(orig, t, len);
        if alloc_len > len {
            let zeros = vec![0u8; (alloc_len - len) as usize];
            self.cpu_phys_write(t + len, &zeros);
        }
        self.ev(EventSource::Swiotlb, "bounce-map", Some(dev), || {
            format!("{why}: bounce buffer {t:#x} for {orig:#x}, {len} bytes copied to it")
        });
        Ok(t)
    }

    fn bounce_release(&mut self, tlb: u64) {
        if let Some(s) = self.swiotlb.as_mut() {
            s.free(tlb);
        }
    }

    /// Maps `ents` (`(phys, len)`) for `dev`. Returns the record id.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn map_impl(
        &mut self,
        dev: DeviceId,
        func: MapFunc,
        ents: &[(u64, u64)],
        dir: DmaDirection,
        label: Option<Arc<str>>,
        checked: bool,
        dmabuf: Option<u64>,
        site: Site,
    ) -> Result<u64> {
        let d = self.device(dev)?;
        let (mask, untrusted, group, max_seg, boundary) = (
            d.cfg.dma_mask,
            d.cfg.untrusted,
            d.group,
            d.cfg.max_segment,
            d.cfg.seg_boundary,
        );
        if dir == DmaDirection::None {
            if self.cfg.checker {
                let mut f = Finding::new(
                    Rule::InvalidDirection,
                    self.origin(site),
                    format!("{} with DMA_NONE", func.map_name()),
                );
                f.device = Some(self.dev_name(dev));
                self.report(f);
            }
            return Err(Error::InvalidDirection);
        }
        if ents.is_empty() || ents.iter().any(|e| e.1 == 0) {
            return Err(Error::ZeroLength);
        }
        let label = label.unwrap_or_else(|| self.label_of(ents[0].0));
        if self.cfg.checker {
            self.chk_map_memory(dev, func, ents, &label, site);
        }
        let iommu = self.cfg.iommu != IommuMode::Off;
        let unaligned = |p: u64, l: u64| (p | l) & (PAGE_SIZE - 1) != 0;
        let mut entries: Vec<Entry> = Vec::with_capacity(ents.len());
        let mut iovas = Vec::new();
        let mut coord = 0;
        let result: Result<()> = (|| {
            if iommu
                && func == MapFunc::Sg
                && !(untrusted && ents.iter().any(|&(p, l)| unaligned(p, l)))
            {
                // One IOVA range for the whole list, entries padded to pages.
                let total: u64 = ents
                    .iter()
                    .map(|&(p, l)| ((p & (PAGE_SIZE - 1)) + l).div_ceil(PAGE_SIZE))
                    .sum();
                let lo = self.alloc_iova(dev, group, mask, total)?;
                let dom = self.domains.get_mut(&group).expect("domain");
                let mut cur = lo;
                for &(p, l) in ents {
                    let off = p & (PAGE_SIZE - 1);
                    let pages = (off + l).div_ceil(PAGE_SIZE);
                    dom.map(
                        cur,
                        p >> PAGE_SHIFT,
                        pages,
                        dir.device_reads(),
                        dir.device_writes(),
                    );
                    entries.push(Entry {
                        phys: p,
                        len: l,
                        bus: p,
                        dma: (cur << PAGE_SHIFT) + off,
                        bounced: false,
                        coord,
                    });
                    coord += l;
                    cur += pages;
                }
                iovas.push((group, lo, total));
                self.ev(EventSource::Iommu, "map", Some(dev), || {
                    format!(
                        "IOVA {:#x}..{:#x} -> {} scatterlist entries ({} page(s), {})",
                        lo << PAGE_SHIFT,
                        (lo + total) << PAGE_SHIFT,
                        ents.len(),
                        total,
                        perm(dir)
                    )
                });
            } else {
                for &(p, l) in ents {
                    let (bus, bounced) = if iommu && untrusted && unaligned(p, l) {
                        let alloc = ((p & (PAGE_SIZE - 1)) + l).div_ceil(PAGE_SIZE) * PAGE_SIZE;
                        let t = self.bounce(
                            dev,
                            p,
                            l,
                            alloc.max(PAGE_SIZE),
                            DmaMask::bits(64),
                            "untrusted device, sub-page buffer",
                        )?;
                        (t, true)
                    } else if !iommu && (untrusted || !mask.covers(p, l)) {
                        let why = if untrusted {
                            "untrusted device"
                        } else {
                            "buffer beyond the device's DMA mask"
                        };
                        (self.bounce(dev, p, l, l, mask, why)?, true)
                    } else {
                        (p, false)
                    };
                    let push_bounce_undo = bounced;
                    let dma = if iommu {
                        match self.iommu_map_one(dev, group, mask, bus, l, dir) {
                            Ok((dma, r)) => {
                                iovas.push(r);
                                dma
                            }
                            Err(e) => {
                                if push_bounce_undo {
                                    self.bounce_release(bus);
                                }
                                return Err(e);
                            }
                        }
                    } else {
                        bus
                    };
                    entries.push(Entry {
                        phys: p,
                        len: l,
                        bus,
                        dma,
                        bounced,
                        coord,
                    });
                    coord += l;
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            for e in &entries {
                if e.bounced {
                    self.bounce_release(e.bus);
                }
            }
            for &(g, lo, pages) in &iovas {
                let dom = self.domains.get_mut(&g).expect("domain");
                dom.unmap(lo, pages);
                dom.alloc.free(lo);
            }
            self.ev(EventSource::Dma, "map-error", Some(dev), || {
                format!("{} of {label} failed: {e}", func.map_name())
            });
            return Err(e);
        }
        let ranges: Vec<(u64, u64)> = entries.iter().map(|e| (e.bus, e.len)).collect();
        for (bus, len) in ranges {
            self.arch_for_device(bus, len, dir, dev);
        }
        let segs = if iommu && func == MapFunc::Sg && !entries.iter().any(|e| e.bounced) {
            finalise_sg(&entries, max_seg, boundary)
        } else {
            entries.iter().map(|e| (e.dma, e.len, e.coord)).collect()
        };
        let id = self.new_id();
        let rec = MapRecord {
            id,
            dev,
            func,
            dir,
            label: label.clone(),
            dma: segs[0].0,
            size: coord,
            nents: ents.len(),
            entries,
            segs,
            iovas,
            cpu_window: None,
            dev_dirty: None,
            cpu_wrote: false,
            error_checked: checked,
            origin: self.origin(site),
            dmabuf,
        };
        for (i, &(s, l, _)) in rec.segs.iter().enumerate() {
            self.segs.insert((dev.0, s, id), (s + l, i));
        }
        let (nsegs, first) = (rec.segs.len(), rec.dma);
        let size = rec.size;
        self.maps.insert(id, rec);
        if self.cfg.checker {
            self.chk_after_map(id, site);
        }
        self.ev(EventSource::Dma, "map", Some(dev), || {
            if func == MapFunc::Sg {
                format!("{} {label}: {} entries, {size} bytes, {dir} -> {nsegs} DMA segment(s) from {first:#x}", func.map_name(), ents.len())
            } else {
                format!("{} {label}: {size} bytes, {dir} -> dma {first:#x}", func.map_name())
            }
        });
        Ok(id)
    }

    /// Finds the record of an unmap/free call: exact DMA address, same device.
    fn find_exact(&self, dev: DeviceId, dma: u64, func: MapFunc) -> Option<u64> {
        let mut best = None;
        for (&(_, _, id), _) in self.segs.range((dev.0, dma, 0)..=(dev.0, dma, u64::MAX)) {
            let r = &self.maps[&id];
            if r.dma == dma {
                if r.func == func {
                    return Some(id);
                }
                best = best.or(Some(id));
            }
        }
        best
    }

    /// Finds the live mapping and segment holding `dma`: `(id, seg index)`.
    pub(crate) fn find_containing(&self, dev: DeviceId, dma: u64) -> Option<(u64, usize)> {
        for (&(_, _, id), &(e, i)) in self
            .segs
            .range((dev.0, 0, 0)..=(dev.0, dma, u64::MAX))
            .rev()
            .take(32)
        {
            if dma < e {
                return Some((id, i));
            }
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn unmap_impl(
        &mut self,
        dev: DeviceId,
        dma: u64,
        size: Option<u64>,
        nents: Option<usize>,
        dir: DmaDirection,
        func: MapFunc,
        site: Site,
    ) -> Option<u64> {
        let Some(id) = self.find_exact(dev, dma, func) else {
            if self.cfg.checker {
                self.chk_unmap_unknown(dev, dma, size, func, site);
            }
            self.ev(EventSource::Dma, "unmap", Some(dev), || {
                format!(
                    "{} of {dma:#x}: no such mapping, nothing done",
                    func.unmap_name()
                )
            });
            return None;
        };
        if self.cfg.checker && !self.chk_unmap(id, size, nents, dir, func, site) {
            return None;
        }
        let rec = self.maps.remove(&id).expect("record");
        for &(s, _, _) in &rec.segs {
            self.segs.remove(&(dev.0, s, id));
        }
        if self.cfg.checker {
            self.chk_forget(&rec, site);
        }
        self.teardown(&rec, dir, site);
        Some(id)
    }

    fn teardown(&mut self, rec: &MapRecord, dir: DmaDirection, _site: Site) {
        let dev = rec.dev;
        if rec.func == MapFunc::Coherent {
            let cpu = rec.entries[0].phys;
            self.uncached.remove(&cpu);
            self.allocs.remove(&cpu);
        } else {
            for e in &rec.entries {
                self.arch_for_cpu(e.bus, e.len, dir, dev);
                if e.bounced {
                    if dir.device_writes() {
                        self.cpu_copy(e.bus, e.phys, e.len);
                    }
                    self.bounce_release(e.bus);
                    let (bus, phys, len) = (e.bus, e.phys, e.len);
                    self.ev(EventSource::Swiotlb, "bounce-unmap", Some(dev), || {
                        if dir.device_writes() {
                            format!("bounce buffer {bus:#x}: {len} bytes copied back to {phys:#x}, released")
                        } else {
                            format!("bounce buffer {bus:#x} released (no copy back for {dir})")
                        }
                    });
                }
            }
        }
        self.iommu_release(dev, &rec.iovas);
        let (label, func, dma) = (rec.label.clone(), rec.func, rec.dma);
        self.ev(EventSource::Dma, "unmap", Some(dev), || {
            format!("{} {label} (dma {dma:#x})", func.unmap_name())
        });
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn sync_impl(
        &mut self,
        dev: DeviceId,
        dma: u64,
        size: u64,
        dir: DmaDirection,
        for_cpu: bool,
        sg_nents: Option<usize>,
        site: Site,
    ) {
        let name = match (sg_nents.is_some(), for_cpu) {
            (false, true) => "dma_sync_single_for_cpu",
            (false, false) => "dma_sync_single_for_device",
            (true, true) => "dma_sync_sg_for_cpu",
            (true, false) => "dma_sync_sg_for_device",
        };
        let found = if sg_nents.is_some() {
            self.find_exact(dev, dma, MapFunc::Sg).map(|id| (id, 0))
        } else {
            self.find_containing(dev, dma)
        };
        let Some((id, si)) = found else {
            if self.cfg.checker {
                self.chk_sync_unknown(dev, dma, size, name, site);
            }
            return;
        };
        let (lo, hi) = {
            let r = &self.maps[&id];
            if sg_nents.is_some() {
                (0, r.size)
            } else {
                let (s, l, c) = r.segs[si];
                let lo = c + (dma - s);
                (lo, (lo + size).min(c + l))
            }
        };
        if self.cfg.checker && !self.chk_sync(id, si, dma, size, dir, sg_nents, name, site) {
            return;
        }
        if self.cfg.checker && for_cpu && dir != DmaDirection::ToDevice && self.maps[&id].cpu_wrote
        {
            self.chk_discarded(id, name, site);
        }
        if dir == DmaDirection::None {
            return;
        }
        let pieces: Vec<(u64, u64, u64, bool)> = self.maps[&id]
            .entries
            .iter()
            .filter_map(|e| {
                let s = lo.max(e.coord);
                let t = hi.min(e.coord + e.len);
                (s < t).then(|| {
                    (
                        e.phys + (s - e.coord),
                        e.bus + (s - e.coord),
                        t - s,
                        e.bounced,
                    )
                })
            })
            .collect();
        for (phys, bus, len, bounced) in pieces {
            if for_cpu {
                self.arch_for_cpu(bus, len, dir, dev);
                if bounced && dir.device_writes() {
                    self.cpu_copy(bus, phys, len);
                    self.ev(EventSource::Swiotlb, "bounce-sync", Some(dev), || {
                        format!("{len} bytes copied from bounce buffer {bus:#x} to {phys:#x}")
                    });
                }
            } else {
                if bounced && dir.device_reads() {
                    self.cpu_copy(phys, bus, len);
                    self.ev(EventSource::Swiotlb, "bounce-sync", Some(dev), || {
                        format!("{len} bytes copied from {phys:#x} to bounce buffer {bus:#x}")
                    });
                }
                self.arch_for_device(bus, len, dir, dev);
            }
        }
        let r = self.maps.get_mut(&id).expect("record");
        if for_cpu {
            r.cpu_window = Some(hull(r.cpu_window, (lo, hi)));
            if let Some((a, b)) = r.dev_dirty
                && lo <= a
                && hi >= b
            {
                r.dev_dirty = None;
            }
        } else {
            r.cpu_window = None;
            r.cpu_wrote = false;
        }
        let label = r.label.clone();
        self.ev(
            EventSource::Dma,
            if for_cpu {
                "sync-for-cpu"
            } else {
                "sync-for-device"
            },
            Some(dev),
            || format!("{name} {label} bytes {lo}..{hi}, {dir}"),
        );
    }

    // ------------------------------------------------ the kernel-shaped API

    /// `dma_map_single`: maps `size` bytes of CPU memory at `addr`. Returns
    /// [`DMA_MAPPING_ERROR`] on failure (see [`last_error`](Self::last_error));
    /// test the result with [`dma_mapping_error`](Self::dma_mapping_error).
    #[track_caller]
    pub fn dma_map_single(
        &mut self,
        dev: DeviceId,
        addr: PhysAddr,
        size: u64,
        dir: DmaDirection,
    ) -> Iova {
        let site = Location::caller();
        self.map_raw(dev, MapFunc::Single, addr.raw(), size, dir, site)
    }

    /// `dma_map_page`: maps `size` bytes at `offset` into the page at `page`.
    #[track_caller]
    pub fn dma_map_page(
        &mut self,
        dev: DeviceId,
        page: PhysAddr,
        offset: u64,
        size: u64,
        dir: DmaDirection,
    ) -> Iova {
        let site = Location::caller();
        self.map_raw(dev, MapFunc::Page, page.raw() + offset, size, dir, site)
    }

    fn map_raw(
        &mut self,
        dev: DeviceId,
        func: MapFunc,
        phys: u64,
        size: u64,
        dir: DmaDirection,
        site: Site,
    ) -> Iova {
        match self.map_impl(dev, func, &[(phys, size)], dir, None, false, None, site) {
            Ok(id) => {
                self.last_error = None;
                Iova::new(self.maps[&id].dma)
            }
            Err(e) => {
                self.last_error = Some(e);
                DMA_MAPPING_ERROR
            }
        }
    }

    /// `dma_mapping_error`: whether `dma` is the error value. Marks the
    /// mapping as checked.
    pub fn dma_mapping_error(&mut self, dev: DeviceId, dma: Iova) -> bool {
        let ids: Vec<u64> = self
            .segs
            .range((dev.0, dma.raw(), 0)..=(dev.0, dma.raw(), u64::MAX))
            .map(|(&(_, _, id), _)| id)
            .collect();
        for id in ids {
            if let Some(r) = self.maps.get_mut(&id)
                && r.dma == dma.raw()
            {
                r.error_checked = true;
            }
        }
        dma == DMA_MAPPING_ERROR
    }

    /// `dma_unmap_single`.
    #[track_caller]
    pub fn dma_unmap_single(&mut self, dev: DeviceId, dma: Iova, size: u64, dir: DmaDirection) {
        let site = Location::caller();
        self.unmap_impl(dev, dma.raw(), Some(size), None, dir, MapFunc::Single, site);
    }

    /// `dma_unmap_page`.
    #[track_caller]
    pub fn dma_unmap_page(&mut self, dev: DeviceId, dma: Iova, size: u64, dir: DmaDirection) {
        let site = Location::caller();
        self.unmap_impl(dev, dma.raw(), Some(size), None, dir, MapFunc::Page, site);
    }

    /// `dma_map_sg`: maps the entries, fills `dma_address`/`dma_length` of the
    /// first *count* entries and returns *count*: fewer than the entries when
    /// the IOMMU merged them, 0 on failure.
    #[track_caller]
    pub fn dma_map_sg(
        &mut self,
        dev: DeviceId,
        sg: &mut [ScatterEntry],
        dir: DmaDirection,
    ) -> usize {
        let site = Location::caller();
        let ents: Vec<(u64, u64)> = sg.iter().map(|e| (e.phys.raw(), e.length)).collect();
        match self.map_impl(dev, MapFunc::Sg, &ents, dir, None, true, None, site) {
            Ok(id) => {
                self.last_error = None;
                let segs = &self.maps[&id].segs;
                for (i, e) in sg.iter_mut().enumerate() {
                    match segs.get(i) {
                        Some(&(s, l, _)) => {
                            e.dma_address = Iova::new(s);
                            e.dma_length = l;
                        }
                        None => {
                            e.dma_address = DMA_MAPPING_ERROR;
                            e.dma_length = 0;
                        }
                    }
                }
                segs.len()
            }
            Err(e) => {
                self.last_error = Some(e);
                0
            }
        }
    }

    /// `dma_unmap_sg`: `nents` must be the count passed to `dma_map_sg`, not
    /// the count it returned.
    #[track_caller]
    pub fn dma_unmap_sg(
        &mut self,
        dev: DeviceId,
        sg: &[ScatterEntry],
        nents: usize,
        dir: DmaDirection,
    ) {
        let site = Location::caller();
        let dma = sg.first().map_or(DMA_MAPPING_ERROR, |e| e.dma_address);
        self.unmap_impl(dev, dma.raw(), None, Some(nents), dir, MapFunc::Sg, site);
    }

    /// `dma_sync_single_for_cpu`: gives `size` bytes from `dma` back to the
    /// CPU.
    #[track_caller]
    pub fn dma_sync_single_for_cpu(
        &mut self,
        dev: DeviceId,
        dma: Iova,
        size: u64,
        dir: DmaDirection,
    ) {
        let site = Location::caller();
        self.sync_impl(dev, dma.raw(), size, dir, true, None, site);
    }

    /// `dma_sync_single_for_device`: hands `size` bytes from `dma` back to the
    /// device.
    #[track_caller]
    pub fn dma_sync_single_for_device(
        &mut self,
        dev: DeviceId,
        dma: Iova,
        size: u64,
        dir: DmaDirection,
    ) {
        let site = Location::caller();
        self.sync_impl(dev, dma.raw(), size, dir, false, None, site);
    }

    /// `dma_sync_single_range_for_cpu`.
    #[track_caller]
    pub fn dma_sync_single_range_for_cpu(
        &mut self,
        dev: DeviceId,
        dma: Iova,
        offset: u64,
        size: u64,
        dir: DmaDirection,
    ) {
        let site = Location::caller();
        self.sync_impl(dev, dma.raw() + offset, size, dir, true, None, site);
    }

    /// `dma_sync_single_range_for_device`.
    #[track_caller]
    pub fn dma_sync_single_range_for_device(
        &mut self,
        dev: DeviceId,
        dma: Iova,
        offset: u64,
        size: u64,
        dir: DmaDirection,
    ) {
        let site = Location::caller();
        self.sync_impl(dev, dma.raw() + offset, size, dir, false, None, site);
    }

    /// `dma_sync_sg_for_cpu`: `nents` as passed to `dma_map_sg`.
    #[track_caller]
    pub fn dma_sync_sg_for_cpu(
        &mut self,
        dev: DeviceId,
        sg: &[ScatterEntry],
        nents: usize,
        dir: DmaDirection,
    ) {
        let site = Location::caller();
        let dma = sg.first().map_or(DMA_MAPPING_ERROR, |e| e.dma_address);
        self.sync_impl(dev, dma.raw(), 0, dir, true, Some(nents), site);
    }

    /// `dma_sync_sg_for_device`: `nents` as passed to `dma_map_sg`.
    #[track_caller]
    pub fn dma_sync_sg_for_device(
        &mut self,
        dev: DeviceId,
        sg: &[ScatterEntry],
        nents: usize,
        dir: DmaDirection,
    ) {
        let site = Location::caller();
        let dma = sg.first().map_or(DMA_MAPPING_ERROR, |e| e.dma_address);
        self.sync_impl(dev, dma.raw(), 0, dir, false, Some(nents), site);
    }

    /// `dma_alloc_coherent`: `size` bytes (rounded up to pages) that CPU and
    /// device see alike without any sync. Returns the CPU address and the DMA
    /// address. On a non-coherent machine the CPU maps it uncached.
    #[track_caller]
    pub fn dma_alloc_coherent(
        &mut self,
        dev: DeviceId,
        size: u64,
        label: &str,
    ) -> Result<(PhysAddr, Iova)> {
        let site = Location::caller();
        self.alloc_coherent_impl(dev, size, label, site).map(|id| {
            let r = &self.maps[&id];
            (PhysAddr::new(r.entries[0].phys), Iova::new(r.dma))
        })
    }

    pub(crate) fn alloc_coherent_impl(
        &mut self,
        dev: DeviceId,
        size: u64,
        label: &str,
        site: Site,
    ) -> Result<u64> {
        let d = self.device(dev)?;
        let (mask, group) = (d.cfg.coherent_mask, d.group);
        if size == 0 {
            return Err(Error::ZeroLength);
        }
        let len = size.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let iommu = self.cfg.iommu != IommuMode::Off;
        let zone = if iommu || mask.covers(HIGH_RAM_END - 1, 1) {
            Zone::Normal
        } else {
            Zone::Dma32
        };
        let phys = self.alloc_phys(len, PAGE_SIZE, zone)?;
        if !iommu && !mask.covers(phys, len) {
            return Err(Error::Unreachable {
                device: self.dev_name(dev),
                addr: PhysAddr::new(phys),
                mask,
                why: " (coherent memory is never bounced)",
            });
        }
        let label: Arc<str> = Arc::from(label);
        self.allocs.insert(
            phys,
            Alloc {
                len,
                kind: MemKind::Kmalloc,
                label: label.clone(),
            },
        );
        // arch_dma_prep_coherent: no stale line may shadow the memory.
        self.cache.clean_invalidate(&mut self.mem, phys, phys + len);
        self.mem.zero(phys, len);
        if self.cfg.coherence == Coherence::NonCoherent {
            self.uncached.insert(phys, phys + len);
        }
        let (dma, iovas) = if iommu {
            let (dma, r) =
                self.iommu_map_one(dev, group, mask, phys, len, DmaDirection::Bidirectional)?;
            (dma, vec![r])
        } else {
            (phys, Vec::new())
        };
        let id = self.new_id();
        let rec = MapRecord {
            id,
            dev,
            func: MapFunc::Coherent,
            dir: DmaDirection::Bidirectional,
            label: label.clone(),
            dma,
            size: len,
            nents: 1,
            entries: vec![Entry {
                phys,
                len,
                bus: phys,
                dma,
                bounced: false,
                coord: 0,
            }],
            segs: vec![(dma, len, 0)],
            iovas,
            cpu_window: None,
            dev_dirty: None,
            cpu_wrote: false,
            error_checked: true,
            origin: self.origin(site),
            dmabuf: None,
        };
        self.segs.insert((dev.0, dma, id), (dma + len, 0));
        self.maps.insert(id, rec);
        if self.cfg.checker {
            self.chk_clear_unmapped(dev, dma, dma + len);
        }
        let uncached = if self.cfg.coherence == Coherence::NonCoherent {
            ", mapped uncached for the CPU"
        } else {
            ""
        };
        self.ev(EventSource::Dma, "alloc-coherent", Some(dev), || {
            format!(
                "dma_alloc_coherent {label}: {len} bytes, cpu {phys:#x}, dma {dma:#x}{uncached}"
            )
        });
        Ok(id)
    }

    /// `dma_free_coherent`.
    #[track_caller]
    pub fn dma_free_coherent(&mut self, dev: DeviceId, size: u64, cpu: PhysAddr, dma: Iova) {
        let site = Location::caller();
        self.free_coherent_impl(dev, size, cpu.raw(), dma.raw(), site);
    }

    pub(crate) fn free_coherent_impl(
        &mut self,
        dev: DeviceId,
        size: u64,
        cpu: u64,
        dma: u64,
        site: Site,
    ) {
        let Some(id) = self.find_exact(dev, dma, MapFunc::Coherent) else {
            if self.cfg.checker {
                self.chk_unmap_unknown(dev, dma, Some(size), MapFunc::Coherent, site);
            }
            return;
        };
        if self.cfg.checker && !self.chk_free_coherent(id, size, cpu, site) {
            return;
        }
        let rec = self.maps.remove(&id).expect("record");
        self.segs.remove(&(dev.0, rec.dma, id));
        if self.cfg.checker {
            self.chk_forget(&rec, site);
        }
        self.teardown(&rec, DmaDirection::Bidirectional, site);
    }

    /// The device goes away (driver unbind, hot unplug). The checker reports
    /// every mapping and coherent buffer the driver still holds; the model
    /// then tears them down.
    #[track_caller]
    pub fn remove_device(&mut self, dev: DeviceId) {
        let site = Location::caller();
        let mut ids: Vec<u64> = self
            .maps
            .values()
            .filter(|r| r.dev == dev)
            .map(|r| r.id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            let rec = self.maps.remove(&id).expect("record");
            for &(s, _, _) in &rec.segs {
                self.segs.remove(&(dev.0, s, id));
            }
            if self.cfg.checker {
                let mut f = Finding::new(
                    Rule::LeakOnDeviceRemoval,
                    self.origin(site),
                    format!(
                        "{} is removed while {} {} is still alive (never {})",
                        self.dev_name(dev),
                        rec.func.map_name(),
                        rec.label,
                        rec.func.unmap_name()
                    ),
                );
                f.device = Some(self.dev_name(dev));
                f.buffer = Some(rec.label.to_string());
                f.dma_addr = Some(Iova::new(rec.dma));
                f.size = Some(rec.size);
                f.mapped_at = Some(rec.origin.clone());
                self.report(f);
                self.chk_forget(&rec, site);
            }
            let dir = rec.dir;
            self.teardown(&rec, dir, site);
        }
        if let Some(d) = self.devices.get_mut(dev.0 as usize) {
            d.present = false;
        }
        self.engines.remove(&dev.0);
        self.ev(EventSource::Device, "remove", Some(dev), || {
            "device removed".into()
        });
    }

    // ------------------------------------------------------------- devices

    fn translate(
        &mut self,
        dev: DeviceId,
        dma: u64,
        len: u64,
        access: Access,
    ) -> std::result::Result<Vec<(u64, u64)>, (u64, FaultReason)> {
        let d = &self.devices[dev.0 as usize];
        let (mask, group) = (d.cfg.dma_mask, d.group);
        let mut out: Vec<(u64, u64)> = Vec::new();
        if self.cfg.iommu == IommuMode::Off {
            let a = dma & mask.raw();
            let e = a.checked_add(len).ok_or((dma, FaultReason::NoMemory))?;
            let in_low = e <= LOW_RAM_END;
            let in_high = a >= HIGH_RAM_START && e <= HIGH_RAM_END;
            if !(in_low || in_high) {
                return Err((dma, FaultReason::NoMemory));
            }
            if a != dma {
                self.ev(EventSource::Device, "truncate", Some(dev), || {
                    format!("address {dma:#x} does not fit the {mask} mask: the bus sees {a:#x}")
                });
            }
            out.push((a, len));
            return Ok(out);
        }
        let dom = self.domains.get_mut(&group).expect("domain");
        let mut stale = 0;
        let mut a = dma;
        let end = dma.checked_add(len).ok_or((dma, FaultReason::NotMapped))?;
        while a < end {
            let n = (PAGE_SIZE - (a & (PAGE_SIZE - 1))).min(end - a);
            let (p, hit) = dom.translate(a, access).map_err(|r| (a, r))?;
            if hit == Hit::StaleIotlb {
                stale += 1;
            }
            match out.last_mut() {
                Some((s, l)) if *s + *l == p => *l += n,
                _ => out.push((p, n)),
            }
            a += n;
        }
        if stale > 0 {
            self.ev(EventSource::Iommu, "stale-iotlb", Some(dev), || {
                format!("{stale} page(s) translated by stale IOTLB entries: unmapped, not yet flushed (lazy mode)")
            });
        }
        Ok(out)
    }

    fn fault(&mut self, dev: DeviceId, at: u64, access: Access, reason: FaultReason) -> Fault {
        let f = Fault {
            device: self.dev_name(dev),
            device_id: dev,
            iova: Iova::new(at),
            access,
            reason,
        };
        self.faults.push(f.clone());
        let src = if self.cfg.iommu == IommuMode::Off {
            EventSource::Device
        } else {
            EventSource::Iommu
        };
        let text = f.to_string();
        self.ev(src, "fault", Some(dev), || text);
        f
    }

    pub(crate) fn dev_phys_read(&mut self, phys: u64, out: &mut [u8]) {
        if self.coherent_dev() {
            self.cache.snoop_read(&self.mem, phys, out);
        } else {
            self.mem.read(phys, out);
        }
    }

    pub(crate) fn dev_phys_write(&mut self, phys: u64, data: &[u8]) {
        if self.coherent_dev() {
            self.cache.snoop_write(&mut self.mem, phys, data);
        } else {
            let cacheable = !self.is_uncached(phys);
            self.cache
                .device_write_noncoherent(&mut self.mem, phys, data, cacheable);
        }
    }

    fn dev_access(
        &mut self,
        dev: DeviceId,
        dma: Iova,
        len: u64,
        access: Access,
        site: Site,
    ) -> Result<Vec<(u64, u64)>> {
        self.device(dev)?;
        let first = self.findings.len();
        if self.cfg.checker {
            self.chk_device_access(dev, dma.raw(), len, access, site);
        }
        match self.translate(dev, dma.raw(), len, access) {
            Ok(v) => Ok(v),
            Err((at, reason)) => {
                let f = self.fault(dev, at, access, reason);
                if self.cfg.checker {
                    if self.findings.len() == first {
                        let mut x = Finding::new(
                            Rule::DeviceAccessUnmapped,
                            self.origin(site),
                            format!("device {access} at {dma} faulted"),
                        );
                        x.device = Some(self.dev_name(dev));
                        x.dma_addr = Some(dma);
                        x.size = Some(len);
                        self.report(x);
                    }
                    self.findings[first].fault = Some(f.clone());
                }
                Err(Error::Fault(f))
            }
        }
    }

    /// The device reads `out.len()` bytes at DMA address `dma`, through the
    /// IOMMU if there is one. A refused access returns [`Error::Fault`] and
    /// leaves `out` alone.
    #[track_caller]
    pub fn device_read(&mut self, dev: DeviceId, dma: Iova, out: &mut [u8]) -> Result<()> {
        self.device_read_at(dev, dma, out, Location::caller())
    }

    pub(crate) fn device_read_at(
        &mut self,
        dev: DeviceId,
        dma: Iova,
        out: &mut [u8],
        site: Site,
    ) -> Result<()> {
        let pieces = self.dev_access(dev, dma, out.len() as u64, Access::Read, site)?;
        let mut off = 0usize;
        for (p, l) in pieces {
            self.dev_phys_read(p, &mut out[off..off + l as usize]);
            off += l as usize;
        }
        let n = out.len();
        let preview = hex_preview(out);
        self.ev(EventSource::Device, "read", Some(dev), || {
            format!("DMA read {n} bytes at {dma}: {preview}")
        });
        Ok(())
    }

    /// The device writes `data` at DMA address `dma`, through the IOMMU if
    /// there is one. A refused access returns [`Error::Fault`] and writes
    /// nothing.
    #[track_caller]
    pub fn device_write(&mut self, dev: DeviceId, dma: Iova, data: &[u8]) -> Result<()> {
        self.device_write_at(dev, dma, data, Location::caller())
    }

    pub(crate) fn device_write_at(
        &mut self,
        dev: DeviceId,
        dma: Iova,
        data: &[u8],
        site: Site,
    ) -> Result<()> {
        let pieces = self.dev_access(dev, dma, data.len() as u64, Access::Write, site)?;
        let mut off = 0usize;
        for (p, l) in pieces {
            self.dev_phys_write(p, &data[off..off + l as usize]);
            off += l as usize;
        }
        let n = data.len();
        let preview = hex_preview(data);
        self.ev(EventSource::Device, "write", Some(dev), || {
            format!("DMA write {n} bytes at {dma}: {preview}")
        });
        Ok(())
    }
}

fn perm(dir: DmaDirection) -> &'static str {
    match (dir.device_reads(), dir.device_writes()) {
        (true, true) => "read/write",
        (true, false) => "read-only",
        (false, true) => "write-only",
        (false, false) => "no access",
    }
}

/// The first bytes of a buffer in hex, for the timeline.
pub(crate) fn hex_preview(b: &[u8]) -> String {
    let mut s: String = b
        .iter()
        .take(16)
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ");
    if b.len() > 16 {
        s.push_str(" ...");
    }
    s
}

/// `__finalise_sg` of `drivers/iommu/dma-iommu.c`: concatenates entries
/// into DMA segments where the IOVA layout allows it.
fn finalise_sg(entries: &[Entry], max_len: u64, seg_mask: u64) -> Vec<Seg> {
    let mut segs: Vec<Seg> = Vec::new();
    let mut cur_len = 0u64;
    for e in entries {
        let s_iova_off = e.dma & (PAGE_SIZE - 1);
        let s_length = e.len;
        let s_iova_len = (s_iova_off + s_length).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let dma_addr = e.dma - s_iova_off;
        if cur_len != 0
            && s_iova_off == 0
            && (dma_addr & seg_mask) != 0
            && max_len.saturating_sub(cur_len) >= s_length
        {
            cur_len += s_length;
            segs.last_mut().expect("open segment").1 = cur_len;
        } else {
            cur_len = s_length;
            segs.push((e.dma, s_length, e.coord));
        }
        if s_length + s_iova_off < s_iova_len {
            cur_len = 0;
        }
    }
    segs
}
