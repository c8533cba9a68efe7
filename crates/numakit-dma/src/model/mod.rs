//! The model machine running the kernel's DMA API.
//!
//! [`ModelBackend`] puts the components together and decides the order of
//! every call: the simulated hardware ([`Hardware`]: memory, cache, CPU
//! memory, devices, IOMMU, swiotlb), the live mappings ([`Mappings`]), the
//! checker (present or not), the timeline ([`Trace`]), the DMA engines and
//! the DMA-BUFs. It owns no other state. Its calls are grouped by family in
//! the child modules: CPU memory ([`cpu`]), mapping ([`map`]), syncs and
//! teardown ([`sync`]), coherent memory ([`coherent`]), device access and
//! removal ([`device`]), the `dma_*` functions shaped like the kernel's
//! ([`kernel_api`]), the DMA engine ([`engine`]), DMA-BUF ([`dmabuf`]) and
//! the typed [`DmaBackend`](crate::DmaBackend) implementation ([`typed`]).

mod budget;
mod coherent;
mod cpu;
mod device;
mod dmabuf;
mod engine;
mod kernel_api;
mod map;
mod noncoherent;
mod pool;
mod resource;
mod sync;
mod typed;
mod unmap;

use crate::check::finding::Finding;
use crate::check::rules::Rule;
use crate::check::{Checker, Ctx};
use crate::config::{DeviceConfig, MachineConfig};
use crate::dmabuf::DmaBufs;
use crate::engine::Engines;
use crate::error::{Error, Result};
use crate::fault::Fault;
use crate::hw::Hardware;
use crate::ids::DeviceId;
use crate::ids::Ids;
use crate::mapping::Mappings;
use crate::pool::Pools;
use crate::trace::{Event, EventSource, Origin, Site, Trace};

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
    pub fn coherence(mut self, c: crate::config::Coherence) -> Self {
        self.cfg.coherence = c;
        self
    }
    /// Cache line size.
    pub fn line_size(mut self, bytes: u32) -> Self {
        self.cfg.line_size = bytes;
        self
    }
    /// The line size of a system cache larger than L1's (0: none).
    pub fn system_line(mut self, bytes: u32) -> Self {
        self.cfg.system_line = bytes;
        self
    }
    /// Speculative fills.
    pub fn speculation(mut self, s: crate::config::Speculation) -> Self {
        self.cfg.speculation = s;
        self
    }
    /// Cache maintenance policy.
    pub fn maintenance(mut self, m: crate::config::Maintenance) -> Self {
        self.cfg.maintenance = m;
        self
    }
    /// IOMMU mode.
    pub fn iommu(mut self, m: crate::config::IommuMode) -> Self {
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
    /// The host memory the model may hold, in bytes (256 MiB by default).
    pub fn model_memory(mut self, bytes: u64) -> Self {
        self.cfg.model_memory = bytes;
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

/// A model machine running the kernel's DMA API, with a checker.
///
/// See the [crate documentation](crate) for the model and an example.
pub struct ModelBackend {
    cfg: MachineConfig,
    hw: Hardware,
    maps: Mappings,
    checker: Option<Checker>,
    trace: Trace,
    engines: Engines,
    dmabufs: DmaBufs,
    pools: Pools,
    ids: Ids,
    findings: Vec<Finding>,
    faults: Vec<Fault>,
    last_error: Option<Error>,
    /// The typed API's handles: made, checked and taken apart here.
    handles: crate::handles::HandleMaker,
    /// Bytes still held by the pieces of each typed allocation, by its
    /// address: it is freed when they reach zero.
    typed_held: std::collections::BTreeMap<u64, u64>,
}

impl std::fmt::Debug for ModelBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelBackend")
            .field("config", &self.cfg)
            .field("devices", &self.hw.devices.iter().count())
            .field("mappings", &self.maps.len())
            .field("findings", &self.findings.len())
            .finish_non_exhaustive()
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
        if let Some(why) = cfg.invalid() {
            return Err(Error::InvalidConfig(why));
        }
        let hw = Hardware::new(&cfg, devices)?;
        Ok(Self {
            checker: cfg.checker.then(Checker::default),
            trace: Trace::new(cfg.trace),
            cfg,
            hw,
            maps: Mappings::default(),
            engines: Engines::default(),
            dmabufs: DmaBufs::default(),
            pools: Pools::default(),
            ids: Ids::default(),
            findings: Vec::new(),
            faults: Vec::new(),
            last_error: None,
            handles: crate::handles::HandleMaker::new(),
            typed_held: Default::default(),
        })
    }

    /// The machine description.
    pub fn config(&self) -> &MachineConfig {
        &self.cfg
    }

    /// The device named `name`.
    pub fn device_id(&self, name: &str) -> Option<DeviceId> {
        self.hw.devices.find(name)
    }

    /// Every device, in the order they were added.
    pub fn devices(&self) -> impl Iterator<Item = DeviceId> + '_ {
        (0..self.hw.devices.iter().count() as u32).map(DeviceId)
    }

    /// The device's configuration.
    pub fn device_config(&self, dev: DeviceId) -> Option<&DeviceConfig> {
        self.hw.devices.get(dev).map(|d| &d.cfg)
    }

    /// The IOMMU group the device is in (its own, numbered 1000 plus its
    /// index, unless configured).
    pub fn iommu_group(&self, dev: DeviceId) -> Option<u32> {
        self.hw.devices.get(dev).map(|d| d.group)
    }

    /// Everything the checker found so far, and failed expectations.
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
        self.trace.events()
    }

    /// Takes the timeline, with what the cache did since the last event.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.flush_cache_notes();
        self.trace.take()
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
        self.hw.mem.resident_pages()
    }

    /// Sets the scenario line that the next events and findings belong to.
    /// While a line is set, findings name it instead of a Rust location.
    pub fn set_scenario_line(&mut self, line: Option<u32>) {
        self.trace.set_line(line);
    }

    /// Adds an event to the timeline on behalf of the driver (a note, a
    /// descriptor it wrote, a value it read). `text` is only called when
    /// the timeline is recorded.
    pub fn note(
        &mut self,
        source: EventSource,
        kind: &'static str,
        device: Option<DeviceId>,
        text: impl FnOnce() -> String,
    ) {
        self.ev(source, kind, device, text);
    }

    /// Reports that an expectation of the driver about the data did not
    /// hold (rule `expect-mismatch`). This is the driver's own check, not
    /// the checker's, so it is reported with the checker on or off.
    #[track_caller]
    pub fn expectation_failed(&mut self, message: impl Into<String>) {
        let at = self.origin(std::panic::Location::caller());
        self.findings
            .push(Finding::new(Rule::ExpectMismatch, at, message.into()));
    }

    /// Where a call from `site` was made.
    fn origin(&self, site: Site) -> Origin {
        self.trace.origin(site)
    }

    fn dev_name(&self, dev: DeviceId) -> String {
        self.hw.devices.name(dev)
    }

    /// Records an event; `text` runs only when the timeline is recorded.
    fn ev(
        &mut self,
        source: EventSource,
        kind: &'static str,
        dev: Option<DeviceId>,
        text: impl FnOnce() -> String,
    ) {
        if !self.trace.enabled() {
            return;
        }
        self.flush_cache_notes();
        let device = dev.map(|d| self.dev_name(d));
        self.trace.push(source, kind, device, text());
    }

    /// Moves what the cache did on its own into the timeline.
    fn flush_cache_notes(&mut self) {
        if self.hw.cache.has_notes() {
            let notes = self.hw.cache.take_notes();
            let line = self.hw.cache.line_size();
            self.trace.cache_notes(notes, line);
        }
    }

    /// Runs a checker hook, if the checker is on, with what it may read.
    fn check<R>(
        &mut self,
        site: Site,
        hook: impl FnOnce(&mut Checker, &mut Ctx<'_>) -> R,
    ) -> Option<R> {
        let checker = self.checker.as_mut()?;
        let mut cx = Ctx {
            maps: &self.maps,
            devices: &self.hw.devices,
            cpu: &self.hw.cpu,
            dmabufs: &self.dmabufs,
            line: self.hw.cache.line_size(),
            scenario_line: self.trace.line(),
            site,
            findings: &mut self.findings,
        };
        Some(hook(checker, &mut cx))
    }
}
