//! Idle latency: one thread pinned to a CPU of the initiator node follows a
//! random cyclic chase through a buffer bound to the target node, far larger
//! than the last-level cache; the figure is nanoseconds per dependent load,
//! the median of repeated runs, with their spread.

use std::collections::BTreeMap;
use std::time::Instant;

use numakit_placement::Policy;
use numakit_topo::Machine;
use numakit_types::{ByteSize, CpuId, NodeId};
use serde::Serialize;

use crate::buffer::{self, Pages, Placement};
use crate::chase::{self, LINE};
use crate::options::{self, Llc, Options, Selection};
use crate::report::{self, Methodology, Report, Session};
use crate::{Bench, Error, Matrix, Result, Stats};

/// The buffer is at least this many times the last-level cache.
pub const LLC_FACTOR: u64 = 8;
/// The buffer when the cache size is unknown.
pub const DEFAULT_BYTES: u64 = 256 << 20;
/// Timed runs per cell by default.
pub const DEFAULT_REPEAT: u32 = 5;

/// What `bench latency` takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencyOptions {
    /// The common options; `size` is the chase buffer per target.
    pub common: Options,
    /// Dependent loads per run (default: one pass over the buffer, at
    /// least 2^20 and at most 2^22 loads).
    pub loads: Option<u64>,
}

/// A checked latency request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyPlan {
    /// Initiators and targets.
    pub selection: Selection,
    /// The CPU each initiator measures from.
    pub cpus: Vec<(NodeId, CpuId)>,
    /// The chase buffer per target, bytes.
    pub bytes: u64,
    /// The pages asked for.
    pub pages: Pages,
    /// The last-level cache of one measuring CPU.
    pub llc: Option<Llc>,
    /// Timed runs per cell.
    pub repeat: u32,
    /// Loads per run.
    pub loads: u64,
}

/// Checks a latency request against the machine; nothing is allocated.
pub fn plan(machine: &Machine, o: &LatencyOptions) -> Result<LatencyPlan> {
    let c = &o.common;
    options::check_size(c.size)?;
    if let Some(t) = c.threads
        && t != 1
    {
        return Err(Error::OneThread {
            what: "idle latency",
        });
    }
    if o.loads == Some(0) {
        return Err(Error::Zero { what: "loads" });
    }
    let selection = options::select(machine, c)?;
    let cpus: Vec<(NodeId, CpuId)> = selection
        .initiators
        .iter()
        .map(|i| (i.node, i.cpus[0]))
        .collect();
    let llc = selection
        .initiators
        .iter()
        .filter_map(|i| options::llc(machine, &std::iter::once(i.cpus[0]).collect()))
        .max_by_key(|l| l.instance_bytes);
    let want = c.size.unwrap_or_else(|| {
        llc.map_or(DEFAULT_BYTES, |l| {
            l.instance_bytes.saturating_mul(LLC_FACTOR)
        })
    });
    let pages = buffer::choose_pages(machine, c.huge, &selection.targets, want)?;
    let unit = options::page_unit(pages);
    let bytes = options::round_up(want.max(LINE as u64), unit);
    options::check_fits(machine, &selection.targets, bytes)?;
    let lines = bytes / LINE as u64;
    Ok(LatencyPlan {
        cpus,
        bytes,
        pages,
        llc,
        repeat: options::repeat_or(c.repeat, DEFAULT_REPEAT)?,
        loads: o.loads.unwrap_or_else(|| lines.clamp(1 << 20, 1 << 22)),
        selection,
    })
}

/// One cell of the latency matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyCell {
    /// Nanoseconds per load.
    pub ns: Stats,
    /// The CPU that ran the chase.
    pub cpu: u32,
    /// Where the buffer's pages were, checked before timing.
    pub placement: Placement,
}

/// The latency matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyResult {
    /// Nanoseconds per dependent load, initiator by target.
    pub matrix: Matrix<LatencyCell>,
    /// Cache lines in the chase.
    pub lines: u64,
    /// Loads per run.
    pub loads_per_run: u64,
}

impl Bench<'_> {
    /// Measures the idle latency matrix.
    pub fn latency(&self, o: &LatencyOptions) -> Result<Report<LatencyResult>> {
        let plan = plan(self.machine(), o)?;
        let inits: Vec<NodeId> = plan.cpus.iter().map(|(n, _)| *n).collect();
        let targets = &plan.selection.targets;
        let cpu_map: BTreeMap<u32, Vec<CpuId>> =
            plan.cpus.iter().map(|(n, c)| (n.get(), vec![*c])).collect();
        let mut s = Session::start(
            self.root,
            cpu_map
                .iter()
                .map(|(n, c)| (*n, c.iter().copied().collect()))
                .collect(),
        );
        self.progress.begin(
            (inits.len() * targets.len()) as u64 * u64::from(plan.repeat),
            "latency",
        );
        let mut matrix = Matrix::new(&inits, targets);
        let mut lines = 0;
        for t in targets {
            let mut map = buffer::allocate(
                self.placer,
                plan.bytes,
                Some(&Policy::on_node(*t)),
                plan.pages,
            )?;
            lines = chase::write_chase(buffer::as_u64(&mut map), 0x6e75_6d61 ^ u64::from(t.get()));
            let placement = buffer::verify(self.placer, self.root, &[&map], Some(*t))?;
            s.placed(&format!("the buffer on node {t}"), Some(*t), &placement);
            let words = buffer::as_u64(&mut map);
            for (node, cpu) in &plan.cpus {
                self.progress.phase(&format!("latency {node} -> {t}"));
                let ns = self.chase_on(*cpu, words, plan.loads, plan.repeat)?;
                let cell = LatencyCell {
                    ns,
                    cpu: cpu.get(),
                    placement: placement.clone(),
                };
                matrix.insert(*node, *t, cell);
            }
        }
        self.progress.end();
        report::check_huge(&mut s, plan.pages, true);
        if let Some(l) = plan.llc {
            report::check_size(&mut s, plan.bytes, Some(l), l.instance_bytes, LLC_FACTOR);
        }
        let m = Methodology {
            summary: summary(&plan, &cpu_map, s.huge_pct(), lines),
            kernel: self.machine().kernel.release.clone(),
            buffer_bytes: Some(plan.bytes),
            buffer: "the chase buffer on each target".into(),
            llc: plan.llc,
            buffer_to_llc: plan
                .llc
                .map(|l| plan.bytes as f64 / l.instance_bytes as f64),
            pages: Some(plan.pages),
            threads: 1,
            repeat: plan.repeat,
            warmup: 1,
            statistic: "median".into(),
            verified: format!(
                "each buffer's pages located with move_pages before timing ({} buffers)",
                s.checked()
            ),
            ..Default::default()
        };
        let (methodology, warnings) = s.finish(m);
        Ok(Report {
            schema: crate::SCHEMA,
            bench: "latency",
            methodology,
            warnings,
            result: LatencyResult {
                matrix,
                lines: lines as u64,
                loads_per_run: plan.loads,
            },
        })
    }

    /// Runs the chase on `cpu`: one warm-up run, then `repeat` timed runs.
    fn chase_on(&self, cpu: CpuId, words: &[u64], loads: u64, repeat: u32) -> Result<Stats> {
        let progress = self.progress;
        let mut out = crate::team::pinned(self.placer, &[cpu], vec![()], |_, (), _| {
            let mut at = chase::chase(words, 0, loads);
            let mut ns = Vec::with_capacity(repeat as usize);
            for _ in 0..repeat {
                let start = Instant::now();
                at = chase::chase(words, at, loads);
                ns.push(start.elapsed().as_nanos() as f64 / loads as f64);
                progress.step();
            }
            std::hint::black_box(at);
            ns
        })?;
        Stats::from_samples(out.swap_remove(0)).ok_or(Error::Zero { what: "repeat" })
    }
}

fn summary(
    plan: &LatencyPlan,
    cpus: &BTreeMap<u32, Vec<CpuId>>,
    huge: Option<f64>,
    lines: usize,
) -> String {
    let size = match plan.llc {
        Some(l) => format!(
            "{} per target ({:.1}x the {} L{} of one CPU)",
            ByteSize(plan.bytes),
            plan.bytes as f64 / l.instance_bytes as f64,
            ByteSize(l.instance_bytes),
            l.level
        ),
        None => format!("{} per target (cache size unknown)", ByteSize(plan.bytes)),
    };
    format!(
        "{size}, {}; one thread pinned to {}; random cyclic chase over {lines} cache lines, {} dependent loads per run; median of {} runs after 1 warm-up; pages located with move_pages before timing",
        report::describe_pages(plan.pages, huge, true),
        report::describe_cpus(cpus),
        plan.loads,
        plan.repeat,
    )
}
