//! GPU copy bandwidth by NUMA node: for every GPU, host-to-device and
//! device-to-host copies from pinned (page-locked, not write-combined) and
//! pageable host buffers bound to each target node, with the copying
//! thread pinned to each initiator node; a matrix per GPU, direction and
//! kind of host memory, which shows what the wrong socket costs.
//!
//! The driver is a trait ([`GpuDriver`]): [`system_driver`] is the CUDA
//! driver loaded at run time in a build with the `cuda` feature, and a
//! driver that only says why nothing can be measured otherwise; tests use
//! a fake. Without a GPU or a driver the report says so and measures
//! nothing: no figure is ever made up.

#[cfg(feature = "cuda")]
mod cuda;

use std::collections::BTreeMap;
use std::time::Duration;

use numakit_placement::Policy;
use numakit_topo::Machine;
use numakit_topo::pci::{DeviceKind, VENDOR_NVIDIA};
use numakit_types::{ByteSize, CpuId, NodeId, PciAddress};
use serde::Serialize;

use crate::buffer::{self, Pages, Placement};
use crate::options::{self, Options, Selection};
use crate::report::{self, Methodology, Report, Session};
use crate::{Bench, Error, Matrix, Result, Stats};

/// The host buffer by default.
pub const DEFAULT_BYTES: u64 = 256 << 20;
/// Timed copies per cell by default.
pub const DEFAULT_REPEAT: u32 = 5;

/// Which way a copy goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Host to device.
    HostToDevice,
    /// Device to host.
    DeviceToHost,
}

/// The kind of host memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostMemory {
    /// Page-locked with `cuMemHostRegister` (cacheable, not write-combined).
    Pinned,
    /// Ordinary memory; the driver copies it through its own staging buffers.
    Pageable,
}

/// What the driver can do here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverStatus {
    /// The driver works and sees this many devices.
    Ready(usize),
    /// No driver library.
    NoDriver(String),
    /// A driver, but no device.
    NoGpu(String),
    /// GPU support was not built in.
    NotBuilt,
}

/// A GPU driver.
pub trait GpuDriver {
    /// Loads and initialises the driver, and says what it sees.
    fn status(&self) -> DriverStatus;
    /// Opens device `ordinal`.
    fn device(&self, ordinal: usize) -> Result<Box<dyn GpuDevice>>;
}

/// One GPU.
pub trait GpuDevice: Sync {
    /// Its name.
    fn name(&self) -> String;
    /// Its PCI address.
    fn pci(&self) -> Option<PciAddress>;
    /// On the calling thread: one untimed copy of all of `host` in `dir`,
    /// then `repeat` timed ones; `pinned` registers `host` first.
    fn copies(
        &self,
        host: &mut [u8],
        dir: Direction,
        pinned: bool,
        repeat: u32,
    ) -> Result<Vec<Duration>>;
}

/// The driver of this build: CUDA with the `cuda` feature, else one that
/// says GPU support was not built in.
pub fn system_driver() -> Box<dyn GpuDriver> {
    #[cfg(feature = "cuda")]
    {
        Box::new(cuda::CudaDriver::default())
    }
    #[cfg(not(feature = "cuda"))]
    {
        Box::new(NotBuilt)
    }
}

/// The driver of a build without GPU support.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotBuilt;

impl GpuDriver for NotBuilt {
    fn status(&self) -> DriverStatus {
        DriverStatus::NotBuilt
    }
    fn device(&self, _: usize) -> Result<Box<dyn GpuDevice>> {
        Err(Error::Gpu("GPU support was not built in".into()))
    }
}

/// What `bench gpu` takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GpuOptions {
    /// The common options: `size` is the host buffer.
    pub common: Options,
    /// The GPUs by driver ordinal (default: all).
    pub gpus: Option<Vec<usize>>,
}

/// A checked GPU request (before the driver is asked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuPlan {
    /// Initiators (copying thread nodes) and targets (host memory nodes).
    pub selection: Selection,
    /// Host buffer bytes.
    pub bytes: u64,
    /// Pages asked for.
    pub pages: Pages,
    /// Timed copies per cell.
    pub repeat: u32,
}

/// Checks a GPU request against the machine; nothing is allocated.
pub fn plan(machine: &Machine, o: &GpuOptions) -> Result<GpuPlan> {
    let c = &o.common;
    options::check_size(c.size)?;
    if let Some(t) = c.threads
        && t != 1
    {
        return Err(Error::OneThread { what: "a GPU copy" });
    }
    let selection = options::select(machine, c)?;
    let want = c.size.unwrap_or(DEFAULT_BYTES);
    let pages = buffer::choose_pages(machine, c.huge, &selection.targets, want)?;
    let unit = options::page_unit(pages);
    let bytes = options::round_up(want, unit);
    options::check_fits(machine, &selection.targets, bytes)?;
    Ok(GpuPlan {
        selection,
        bytes,
        pages,
        repeat: options::repeat_or(c.repeat, DEFAULT_REPEAT)?,
    })
}

/// Whether anything was measured, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GpuStatus {
    /// Figures follow.
    Measured,
    /// No GPU: nothing measured.
    NoGpu,
    /// No driver: nothing measured.
    NoDriver,
}

/// One cell: GB/s of the copies and where the host buffer was.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuCell {
    /// GB/s (10^9 bytes per second) of each timed copy.
    pub gbps: Stats,
    /// Where the host buffer's pages were, checked before timing.
    pub placement: Placement,
}

/// One matrix: a direction and a kind of host memory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CopyMatrix {
    /// Which way.
    pub direction: Direction,
    /// Which host memory.
    pub host: HostMemory,
    /// Rows: the copying thread's node; columns: the host buffer's node.
    pub matrix: Matrix<GpuCell>,
}

/// One GPU's matrices.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuReport {
    /// The driver's ordinal.
    pub ordinal: usize,
    /// The device's name.
    pub name: String,
    /// Its PCI address.
    pub pci: Option<String>,
    /// The NUMA node its PCI function is on, from the machine model.
    pub node: Option<u32>,
    /// Four matrices.
    pub matrices: Vec<CopyMatrix>,
}

/// The GPU report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuResult {
    /// Whether anything was measured.
    pub status: GpuStatus,
    /// Why nothing was measured, in words.
    pub message: Option<String>,
    /// Per GPU.
    pub gpus: Vec<GpuReport>,
}

/// The NVIDIA GPUs of the machine model, for messages.
fn nvidia_gpus(machine: &Machine) -> Vec<PciAddress> {
    machine
        .pci_devices
        .iter()
        .filter(|d| d.kind == DeviceKind::Gpu && d.vendor_id == Some(VENDOR_NVIDIA))
        .map(|d| d.address)
        .collect()
}

fn list(a: &[PciAddress]) -> String {
    a.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Bench<'_> {
    /// Measures GPU copies with `driver` (see [`system_driver`]).
    pub fn gpu(&self, o: &GpuOptions, driver: &dyn GpuDriver) -> Result<Report<GpuResult>> {
        let plan = plan(self.machine(), o)?;
        let pci = nvidia_gpus(self.machine());
        let seen = if pci.is_empty() {
            "the machine shows no NVIDIA GPU".to_string()
        } else {
            format!("the machine shows NVIDIA GPUs at {}", list(&pci))
        };
        let (count, nothing) = match driver.status() {
            DriverStatus::Ready(0) => (
                0,
                Some((
                    GpuStatus::NoGpu,
                    format!("no GPU: the driver sees no device ({seen})"),
                )),
            ),
            DriverStatus::Ready(n) => (n, None),
            DriverStatus::NoGpu(why) => (
                0,
                Some((GpuStatus::NoGpu, format!("no GPU: {why} ({seen})"))),
            ),
            DriverStatus::NoDriver(why) => (
                0,
                Some((
                    GpuStatus::NoDriver,
                    format!("no GPU driver: {why} ({seen})"),
                )),
            ),
            DriverStatus::NotBuilt if pci.is_empty() => (
                0,
                Some((
                    GpuStatus::NoGpu,
                    format!("no GPU: {seen}, and this numakit was built without GPU support"),
                )),
            ),
            DriverStatus::NotBuilt => return Err(Error::GpuNotBuilt { gpus: list(&pci) }),
        };
        if let Some((status, message)) = nothing {
            let m = Methodology {
                summary: "nothing measured".into(),
                ..Default::default()
            };
            return Ok(Report {
                schema: crate::SCHEMA,
                bench: "gpu",
                methodology: m,
                warnings: Vec::new(),
                result: GpuResult {
                    status,
                    message: Some(message),
                    gpus: Vec::new(),
                },
            });
        }
        let ordinals = o.gpus.clone().unwrap_or_else(|| (0..count).collect());
        if let Some(g) = ordinals.iter().find(|g| **g >= count) {
            return Err(Error::UnknownGpu { gpu: *g, count });
        }
        self.gpu_measure(&plan, driver, &ordinals)
    }

    fn gpu_measure(
        &self,
        plan: &GpuPlan,
        driver: &dyn GpuDriver,
        ordinals: &[usize],
    ) -> Result<Report<GpuResult>> {
        let inits: Vec<NodeId> = plan.selection.initiators.iter().map(|i| i.node).collect();
        let targets = &plan.selection.targets;
        let cpu_map: BTreeMap<u32, Vec<CpuId>> = plan
            .selection
            .initiators
            .iter()
            .map(|i| (i.node.get(), vec![i.cpus[0]]))
            .collect();
        let mut s = Session::start(self.root, crate::bandwidth::sets(&cpu_map));
        let cells = ordinals.len() * inits.len() * targets.len() * 4;
        self.progress.begin(cells as u64, "gpu");
        let mut gpus = Vec::new();
        for &ordinal in ordinals {
            gpus.push(self.gpu_one(plan, driver, ordinal, &cpu_map, &mut s)?);
        }
        self.progress.end();
        let m = methodology(plan, &cpu_map, &s, self.machine());
        let (methodology, warnings) = s.finish(m);
        Ok(Report {
            schema: crate::SCHEMA,
            bench: "gpu",
            methodology,
            warnings,
            result: GpuResult {
                status: GpuStatus::Measured,
                message: None,
                gpus,
            },
        })
    }
}

impl Bench<'_> {
    /// One GPU: a host buffer on each target, copies from a thread on each
    /// initiator, four matrices.
    fn gpu_one(
        &self,
        plan: &GpuPlan,
        driver: &dyn GpuDriver,
        ordinal: usize,
        cpu_map: &BTreeMap<u32, Vec<CpuId>>,
        s: &mut Session<'_>,
    ) -> Result<GpuReport> {
        let dev = driver.device(ordinal)?;
        let addr = dev.pci();
        let node = addr
            .and_then(|a| self.machine().pci_device(a))
            .and_then(|d| d.numa_node);
        let inits: Vec<NodeId> = cpu_map.keys().map(|n| NodeId(*n)).collect();
        let kinds = [
            (Direction::HostToDevice, HostMemory::Pinned),
            (Direction::HostToDevice, HostMemory::Pageable),
            (Direction::DeviceToHost, HostMemory::Pinned),
            (Direction::DeviceToHost, HostMemory::Pageable),
        ];
        let mut matrices: Vec<CopyMatrix> = kinds
            .iter()
            .map(|(d, h)| CopyMatrix {
                direction: *d,
                host: *h,
                matrix: Matrix::new(&inits, &plan.selection.targets),
            })
            .collect();
        for t in &plan.selection.targets {
            let mut host = buffer::allocate(
                self.placer,
                plan.bytes,
                Some(&Policy::on_node(*t)),
                plan.pages,
            )?;
            host.as_mut_slice().fill(1);
            let placement = buffer::verify(self.placer, self.root, &[&host], Some(*t))?;
            s.placed(
                &format!("the host buffer on node {t}"),
                Some(*t),
                &placement,
            );
            for (init, cpus) in cpu_map {
                self.progress.phase(&format!(
                    "gpu {ordinal}: thread on node {init}, memory on node {t}"
                ));
                for m in matrices.iter_mut() {
                    let (dir, pinned, repeat, d) = (
                        m.direction,
                        m.host == HostMemory::Pinned,
                        plan.repeat,
                        &*dev,
                    );
                    let mut runs = crate::team::pinned(
                        self.placer,
                        cpus,
                        vec![host.as_mut_slice()],
                        |_, b, _| d.copies(b, dir, pinned, repeat),
                    )?;
                    let gbps = Stats::from_samples(
                        runs.swap_remove(0)?
                            .iter()
                            .map(|d| plan.bytes as f64 / d.as_secs_f64().max(1e-9) / 1e9)
                            .collect(),
                    )
                    .ok_or(Error::Zero { what: "repeat" })?;
                    m.matrix.insert(
                        NodeId(*init),
                        *t,
                        GpuCell {
                            gbps,
                            placement: placement.clone(),
                        },
                    );
                    self.progress.step();
                }
            }
        }
        Ok(GpuReport {
            ordinal,
            name: dev.name(),
            pci: addr.map(|a| a.to_string()),
            node: node.map(|n| n.get()),
            matrices,
        })
    }
}

fn methodology(
    plan: &GpuPlan,
    cpus: &BTreeMap<u32, Vec<CpuId>>,
    s: &Session<'_>,
    machine: &Machine,
) -> Methodology {
    Methodology {
        summary: format!(
            "{} host buffer bound to each target node, {}; the copying thread pinned to {}; pinned = cuMemHostRegister (cacheable, not write-combined), pageable = plain memory; median of {} copies after 1 warm-up; pages located with move_pages before timing",
            ByteSize(plan.bytes),
            report::describe_pages(plan.pages, s.huge_pct(), false),
            report::describe_cpus(cpus),
            plan.repeat
        ),
        kernel: machine.kernel.release.clone(),
        buffer_bytes: Some(plan.bytes),
        buffer: "the host buffer on each target".into(),
        pages: Some(plan.pages),
        threads: 1,
        repeat: plan.repeat,
        warmup: 1,
        statistic: "median".into(),
        verified: "each host buffer located with move_pages before timing".into(),
        ..Default::default()
    }
}
