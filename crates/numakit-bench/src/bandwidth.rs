//! Bandwidth: STREAM's three arrays bound to the target node, worked on by
//! threads pinned to the initiator node's CPUs (one per CPU), with read,
//! write, copy and triad kernels and their streaming-store variants; GB/s
//! with GB = 10^9 bytes, bytes counted as STREAM counts them.

use std::collections::BTreeMap;

use numakit_placement::{Mapping, Policy};
use numakit_topo::Machine;
use numakit_types::{ByteSize, CpuId, CpuSet, NodeId};
use serde::Serialize;

use crate::buffer::{self, Pages, Placement};
use crate::kernels::Kernel;
use crate::options::{self, Llc, Options, Selection};
use crate::report::{self, Methodology, Report, Session};
use crate::team::{self, Passes};
use crate::{Bench, Error, Matrix, Result, Stats};

/// Each array is at least this many times the last-level caches of the
/// initiator's CPUs (STREAM's rule).
pub const LLC_FACTOR: u64 = 4;
/// Each array when the cache size is unknown.
pub const DEFAULT_BYTES: u64 = 128 << 20;
/// Timed runs per kernel and cell by default.
pub const DEFAULT_REPEAT: u32 = 5;

/// What `bench bandwidth` takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BandwidthOptions {
    /// The common options; `size` is each of the three arrays.
    pub common: Options,
    /// The kernels (default: all that this CPU can run).
    pub kernels: Option<Vec<Kernel>>,
}

/// A checked bandwidth request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BandwidthPlan {
    /// Initiators and targets.
    pub selection: Selection,
    /// The CPUs of each initiator's threads, in initiator order.
    pub threads: Vec<Vec<CpuId>>,
    /// Bytes of each array.
    pub array_bytes: u64,
    /// The pages asked for.
    pub pages: Pages,
    /// The last-level caches of the busiest initiator's threads.
    pub llc: Option<Llc>,
    /// Timed runs per kernel and cell.
    pub repeat: u32,
    /// The kernels to run.
    pub kernels: Vec<Kernel>,
    /// Kernels asked for (or defaults) this CPU cannot run.
    pub skipped: Vec<Kernel>,
}

/// Array bytes for `threads`' CPUs: `size`, else 4x their last-level
/// caches (STREAM's rule), else 128 MiB.
fn array_bytes(machine: &Machine, threads: &[Vec<CpuId>], size: Option<u64>) -> (u64, Option<Llc>) {
    let llc = threads
        .iter()
        .filter_map(|c| options::llc(machine, &c.iter().copied().collect()))
        .max_by_key(|l| l.total_bytes);
    let want = size
        .unwrap_or_else(|| llc.map_or(DEFAULT_BYTES, |l| l.total_bytes.saturating_mul(LLC_FACTOR)));
    (want, llc)
}

/// Checks a bandwidth request against the machine; nothing is allocated.
pub fn plan(machine: &Machine, o: &BandwidthOptions) -> Result<BandwidthPlan> {
    let c = &o.common;
    options::check_size(c.size)?;
    let selection = options::select(machine, c)?;
    let threads = options::threads_for(&selection, c.threads)?;
    let (want, llc) = array_bytes(machine, &threads, c.size);
    let (pages, array_bytes) = options::triad_arrays(machine, c.huge, &selection.targets, want)?;
    let asked = o.kernels.clone().unwrap_or_else(|| Kernel::ALL.to_vec());
    if asked.is_empty() {
        return Err(Error::Zero {
            what: "the number of kernels",
        });
    }
    let nt = numakit_sys::stream::kind().is_some();
    let (kernels, skipped) = asked.into_iter().partition(|k| nt || !k.non_temporal());
    Ok(BandwidthPlan {
        selection,
        threads,
        array_bytes,
        pages,
        llc,
        repeat: options::repeat_or(c.repeat, DEFAULT_REPEAT)?,
        kernels,
        skipped,
    })
}

/// One cell of a bandwidth matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BandwidthCell {
    /// GB/s (10^9 bytes per second) of each timed run.
    pub gbps: Stats,
    /// Where the three arrays' pages were, checked before timing.
    pub placement: Placement,
}

/// The matrix of one kernel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelMatrix {
    /// The kernel.
    pub kernel: Kernel,
    /// Bytes one run moves, as STREAM counts them.
    pub bytes_per_run: u64,
    /// GB/s, initiator by target.
    pub matrix: Matrix<BandwidthCell>,
}

/// The bandwidth matrices.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BandwidthResult {
    /// One matrix per kernel, in the order run.
    pub kernels: Vec<KernelMatrix>,
    /// Elements (doubles) per array.
    pub elements: u64,
    /// Threads per initiator, by node.
    pub threads: BTreeMap<u32, usize>,
    /// The streaming stores used (`avx`, `sse2`), or none.
    pub streaming_stores: Option<&'static str>,
    /// Kernels not run because this CPU cannot (streaming stores).
    pub skipped: Vec<Kernel>,
}

/// STREAM's arrays on one target.
pub(crate) struct Arrays {
    pub maps: [Mapping; 3],
}

impl Arrays {
    /// Allocates three arrays of `bytes` with `policy` (`None`: as the
    /// threads that touch them first say).
    pub fn new(b: &Bench<'_>, bytes: u64, policy: Option<&Policy>, pages: Pages) -> Result<Arrays> {
        let one = || buffer::allocate(b.placer, bytes, policy, pages);
        Ok(Arrays {
            maps: [one()?, one()?, one()?],
        })
    }

    /// Runs `passes` with one thread on each of `cpus`.
    pub fn run(
        &mut self,
        b: &Bench<'_>,
        cpus: &[CpuId],
        passes: &Passes<'_>,
    ) -> Result<Vec<Vec<std::time::Duration>>> {
        let [ma, mb, mc] = &mut self.maps;
        let parts = team::parts(
            buffer::as_f64(ma),
            buffer::as_f64(mb),
            buffer::as_f64(mc),
            cpus.len(),
        );
        team::run_passes(b.placer, cpus, parts, passes, b.progress)
    }

    /// Where their pages are.
    pub fn verify(&self, b: &Bench<'_>, target: Option<NodeId>) -> Result<Placement> {
        let maps: Vec<&Mapping> = self.maps.iter().collect();
        buffer::verify(b.placer, b.root, &maps, target)
    }

    /// Elements per array.
    pub fn elements(&self) -> u64 {
        (self.maps[0].len() / 8) as u64
    }
}

/// GB/s of each run of `kernel` over arrays of `elements`.
pub fn gbps(kernel: Kernel, elements: u64, runs: &[std::time::Duration]) -> Option<Stats> {
    let bytes = kernel.bytes(elements) as f64;
    Stats::from_samples(
        runs.iter()
            .map(|d| bytes / d.as_secs_f64().max(1e-9) / 1e9)
            .collect(),
    )
}

impl Bench<'_> {
    /// Measures the bandwidth matrices.
    pub fn bandwidth(&self, o: &BandwidthOptions) -> Result<Report<BandwidthResult>> {
        let plan = plan(self.machine(), o)?;
        let inits: Vec<NodeId> = plan.selection.initiators.iter().map(|i| i.node).collect();
        let targets = &plan.selection.targets;
        let cpu_map: BTreeMap<u32, Vec<CpuId>> = inits
            .iter()
            .zip(&plan.threads)
            .map(|(n, c)| (n.get(), c.clone()))
            .collect();
        let mut s = Session::start(self.root, sets(&cpu_map));
        let cells = (inits.len() * targets.len() * plan.kernels.len()) as u64;
        self.progress
            .begin(cells * u64::from(plan.repeat), "bandwidth");
        let mut out: Vec<KernelMatrix> = plan
            .kernels
            .iter()
            .map(|k| KernelMatrix {
                kernel: *k,
                bytes_per_run: k.bytes(plan.array_bytes / 8),
                matrix: Matrix::new(&inits, targets),
            })
            .collect();
        for t in targets {
            self.bandwidth_target(&plan, *t, &mut out, &mut s)?;
        }
        self.progress.end();
        report::check_huge(&mut s, plan.pages, false);
        if let Some(l) = plan.llc {
            report::check_size(&mut s, plan.array_bytes, Some(l), l.total_bytes, LLC_FACTOR);
        }
        let m = methodology(&plan, &cpu_map, &s, self.machine());
        let (methodology, warnings) = s.finish(m);
        Ok(Report {
            schema: crate::SCHEMA,
            bench: "bandwidth",
            methodology,
            warnings,
            result: BandwidthResult {
                kernels: out,
                elements: plan.array_bytes / 8,
                threads: cpu_map.iter().map(|(n, c)| (*n, c.len())).collect(),
                streaming_stores: numakit_sys::stream::kind(),
                skipped: plan.skipped,
            },
        })
    }
}

impl Bench<'_> {
    /// One target: its arrays placed, written and located, then every
    /// initiator's threads run every kernel on them.
    fn bandwidth_target(
        &self,
        plan: &BandwidthPlan,
        t: NodeId,
        out: &mut [KernelMatrix],
        s: &mut Session<'_>,
    ) -> Result<()> {
        let mut arrays = Arrays::new(
            self,
            plan.array_bytes,
            Some(&Policy::on_node(t)),
            plan.pages,
        )?;
        let init = Passes {
            init: true,
            kernels: &[],
            repeat: 0,
        };
        arrays.run(self, &plan.threads[0], &init)?;
        let placement = arrays.verify(self, Some(t))?;
        s.placed(&format!("the arrays on node {t}"), Some(t), &placement);
        for (i, cpus) in plan.selection.initiators.iter().zip(&plan.threads) {
            self.progress.phase(&format!("bandwidth {} -> {t}", i.node));
            let passes = Passes {
                init: false,
                kernels: &plan.kernels,
                repeat: plan.repeat,
            };
            let runs = arrays.run(self, cpus, &passes)?;
            for (km, r) in out.iter_mut().zip(&runs) {
                let gbps =
                    gbps(km.kernel, arrays.elements(), r).ok_or(Error::Zero { what: "repeat" })?;
                let placement = placement.clone();
                km.matrix
                    .insert(i.node, t, BandwidthCell { gbps, placement });
            }
        }
        Ok(())
    }
}

fn methodology(
    plan: &BandwidthPlan,
    cpus: &BTreeMap<u32, Vec<CpuId>>,
    s: &Session<'_>,
    machine: &Machine,
) -> Methodology {
    Methodology {
        summary: summary(plan, cpus, s.huge_pct()),
        kernel: machine.kernel.release.clone(),
        buffer_bytes: Some(plan.array_bytes),
        buffer: "each of the three arrays on each target".into(),
        llc: plan.llc,
        buffer_to_llc: plan
            .llc
            .map(|l| plan.array_bytes as f64 / l.total_bytes as f64),
        pages: Some(plan.pages),
        threads: plan.threads.iter().map(Vec::len).max().unwrap_or(0),
        repeat: plan.repeat,
        warmup: 1,
        statistic: "best (as STREAM reports), with median and spread".into(),
        verified: format!(
            "each target's arrays located with move_pages after the threads wrote them and before timing ({} sets)",
            s.checked()
        ),
        ..Default::default()
    }
}

/// CPU lists to sets, by node.
pub(crate) fn sets(m: &BTreeMap<u32, Vec<CpuId>>) -> BTreeMap<u32, CpuSet> {
    m.iter()
        .map(|(n, c)| (*n, c.iter().copied().collect()))
        .collect()
}

fn summary(plan: &BandwidthPlan, cpus: &BTreeMap<u32, Vec<CpuId>>, huge: Option<f64>) -> String {
    let size = match plan.llc {
        Some(l) => format!(
            "3 arrays of {} per target (each {:.1}x the {} of L{} the threads share)",
            ByteSize(plan.array_bytes),
            plan.array_bytes as f64 / l.total_bytes as f64,
            ByteSize(l.total_bytes),
            l.level
        ),
        None => format!(
            "3 arrays of {} per target (cache size unknown)",
            ByteSize(plan.array_bytes)
        ),
    };
    let nt = match numakit_sys::stream::kind() {
        Some(k) => format!("streaming stores: {k}"),
        None => "no streaming stores on this CPU".into(),
    };
    format!(
        "{size}, {}; one thread per CPU, pinned: {}; GB = 10^9 bytes, counted as STREAM does (no write-allocate reads); best of {} runs after 1 warm-up; {nt}; pages located with move_pages before timing",
        report::describe_pages(plan.pages, huge, false),
        report::describe_cpus(cpus),
        plan.repeat,
    )
}
