//! Loaded latency: the chase of [`crate::latency`] on one CPU of the
//! initiator while the node's other CPUs read an array on the same target
//! as fast as a delay lets them; from no load to no delay, each point is
//! the injected bandwidth and the latency under it (the view of Intel
//! MLC's loaded-latency mode).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use numakit_placement::Policy;
use numakit_topo::Machine;
use numakit_types::{ByteSize, CpuId, NodeId};
use serde::Serialize;

use crate::buffer::{self, Pages, Placement};
use crate::chase;
use crate::options::{self, Llc, Options, Selection};
use crate::report::{self, Methodology, Report, Session};
use crate::{Bench, Error, Result, Stats};

/// The injectors' delays by default, in spin-loop iterations after each
/// 4 KiB they read: from light to none.
pub const DEFAULT_DELAYS: [u64; 7] = [1024, 256, 64, 32, 16, 8, 0];
/// Timed chase runs per point by default.
pub const DEFAULT_REPEAT: u32 = 3;
/// Elements an injector reads between delays (4 KiB).
const BLOCK: usize = 512;

/// What `bench loaded-latency` takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadedOptions {
    /// The common options: `size` is the chase buffer and the injectors'
    /// array; `threads` counts the chase thread and the injectors.
    pub common: Options,
    /// The injectors' delays (default [`DEFAULT_DELAYS`]); an unloaded
    /// point always comes first.
    pub delays: Option<Vec<u64>>,
    /// Dependent loads per chase run (default 2^19).
    pub loads: Option<u64>,
}

/// A checked loaded-latency request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedPlan {
    /// Initiators and targets.
    pub selection: Selection,
    /// Per initiator: the chase CPU first, then the injectors' CPUs.
    pub threads: Vec<Vec<CpuId>>,
    /// The chase buffer, bytes.
    pub chase_bytes: u64,
    /// The injectors' array, bytes.
    pub inject_bytes: u64,
    /// Pages asked for.
    pub pages: Pages,
    /// The last-level cache of one CPU.
    pub llc: Option<Llc>,
    /// Delays, unloaded (`None`) first.
    pub delays: Vec<Option<u64>>,
    /// Timed runs per point.
    pub repeat: u32,
    /// Loads per run.
    pub loads: u64,
}

/// Checks a loaded-latency request; nothing is allocated.
pub fn plan(machine: &Machine, o: &LoadedOptions) -> Result<LoadedPlan> {
    let c = &o.common;
    options::check_size(c.size)?;
    if o.loads == Some(0) {
        return Err(Error::Zero { what: "loads" });
    }
    let selection = options::select(machine, c)?;
    let threads = options::threads_for(&selection, c.threads)?;
    for (i, t) in selection.initiators.iter().zip(&threads) {
        if t.len() < 2 {
            return Err(Error::TooFewCpus {
                what: "loaded latency (one chase thread and at least one injector)",
                node: i.node,
                need: 2,
                have: t.len(),
            });
        }
    }
    let llc = threads
        .iter()
        .filter_map(|t| options::llc(machine, &t.iter().copied().collect()))
        .max_by_key(|l| l.total_bytes);
    let chase_want = c.size.unwrap_or_else(|| {
        llc.map_or(crate::latency::DEFAULT_BYTES, |l| {
            l.instance_bytes.saturating_mul(8)
        })
    });
    let inject_want = c.size.unwrap_or_else(|| {
        llc.map_or(crate::bandwidth::DEFAULT_BYTES, |l| {
            l.total_bytes.saturating_mul(4)
        })
    });
    let both = chase_want.saturating_add(inject_want);
    let pages = buffer::choose_pages(machine, c.huge, &selection.targets, both)?;
    let unit = options::page_unit(pages);
    let (chase_bytes, inject_bytes) = (
        options::round_up(chase_want.max(64), unit),
        options::round_up(inject_want.max(64), unit),
    );
    options::check_fits(
        machine,
        &selection.targets,
        chase_bytes.saturating_add(inject_bytes),
    )?;
    let mut delays = vec![None];
    delays.extend(
        o.delays
            .clone()
            .unwrap_or_else(|| DEFAULT_DELAYS.to_vec())
            .into_iter()
            .map(Some),
    );
    Ok(LoadedPlan {
        selection,
        threads,
        chase_bytes,
        inject_bytes,
        pages,
        llc,
        delays,
        repeat: options::repeat_or(c.repeat, DEFAULT_REPEAT)?,
        loads: o.loads.unwrap_or(1 << 19),
    })
}

/// One point of a curve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// The injectors' delay (spin iterations per 4 KiB); absent for the
    /// unloaded point.
    pub delay: Option<u64>,
    /// GB/s the injectors read while the chase ran.
    pub injected_gbps: f64,
    /// Nanoseconds per dependent load under that load.
    pub ns: Stats,
}

/// One curve: an initiator, a target, and its points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Curve {
    /// The node whose CPUs ran the chase and the injectors.
    pub initiator: u32,
    /// The node the chase buffer and the injectors' array were on.
    pub target: u32,
    /// The chase CPU.
    pub chase_cpu: u32,
    /// Injector threads.
    pub injectors: usize,
    /// Points from no load to the most load.
    pub points: Vec<Point>,
    /// Where the chase buffer and the array were, checked before timing.
    pub placement: Placement,
}

/// The loaded-latency curves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadedResult {
    /// One curve per initiator and target.
    pub curves: Vec<Curve>,
    /// Loads per chase run.
    pub loads_per_run: u64,
}

/// What one thread of the team does.
enum Role<'a> {
    Chase(&'a [u64]),
    Inject(&'a [f64]),
}

impl Bench<'_> {
    /// Measures the loaded-latency curves.
    pub fn loaded_latency(&self, o: &LoadedOptions) -> Result<Report<LoadedResult>> {
        let plan = plan(self.machine(), o)?;
        let targets = &plan.selection.targets;
        let cpu_map: BTreeMap<u32, Vec<CpuId>> = plan
            .selection
            .initiators
            .iter()
            .zip(&plan.threads)
            .map(|(i, c)| (i.node.get(), c.clone()))
            .collect();
        let mut s = Session::start(self.root, crate::bandwidth::sets(&cpu_map));
        let steps = cpu_map.len() * targets.len() * plan.delays.len();
        self.progress
            .begin(steps as u64 * u64::from(plan.repeat), "loaded latency");
        let mut curves = Vec::new();
        for t in targets {
            let policy = Policy::on_node(*t);
            let mut ch =
                buffer::allocate(self.placer, plan.chase_bytes, Some(&policy), plan.pages)?;
            let mut inj =
                buffer::allocate(self.placer, plan.inject_bytes, Some(&policy), plan.pages)?;
            chase::write_chase(buffer::as_u64(&mut ch), 0x6c6f_6164 ^ u64::from(t.get()));
            buffer::as_f64(&mut inj).fill(1.0);
            let placement = buffer::verify(self.placer, self.root, &[&ch, &inj], Some(*t))?;
            s.placed(&format!("the buffers on node {t}"), Some(*t), &placement);
            let (words, array) = (buffer::as_u64(&mut ch), buffer::as_f64(&mut inj));
            for (node, cpus) in &cpu_map {
                self.progress
                    .phase(&format!("loaded latency {node} -> {t}"));
                let points = self.curve(&plan, cpus, words, array)?;
                curves.push(Curve {
                    initiator: *node,
                    target: t.get(),
                    chase_cpu: cpus[0].get(),
                    injectors: cpus.len() - 1,
                    points,
                    placement: placement.clone(),
                });
            }
        }
        self.progress.end();
        report::check_huge(&mut s, plan.pages, true);
        let m = Methodology {
            summary: summary(&plan, &cpu_map, s.huge_pct()),
            kernel: self.machine().kernel.release.clone(),
            buffer_bytes: Some(plan.chase_bytes),
            buffer: format!(
                "the chase buffer on each target (the injectors read another {})",
                ByteSize(plan.inject_bytes)
            ),
            llc: plan.llc,
            buffer_to_llc: plan
                .llc
                .map(|l| plan.chase_bytes as f64 / l.instance_bytes as f64),
            pages: Some(plan.pages),
            threads: plan.threads.iter().map(Vec::len).max().unwrap_or(0),
            repeat: plan.repeat,
            warmup: 1,
            statistic: "median".into(),
            verified: "each target's buffers located with move_pages before timing".into(),
            ..Default::default()
        };
        let (methodology, warnings) = s.finish(m);
        Ok(Report {
            schema: crate::SCHEMA,
            bench: "loaded-latency",
            methodology,
            warnings,
            result: LoadedResult {
                curves,
                loads_per_run: plan.loads,
            },
        })
    }

    /// One curve: for each delay, the injectors read while the chase runs.
    fn curve(
        &self,
        plan: &LoadedPlan,
        cpus: &[CpuId],
        words: &[u64],
        array: &[f64],
    ) -> Result<Vec<Point>> {
        let injectors = cpus.len() - 1;
        let parts = crate::team::split_parts(array.len(), injectors);
        let mut work = vec![Role::Chase(words)];
        work.extend(parts.into_iter().map(|r| Role::Inject(&array[r])));
        let stop = AtomicBool::new(false);
        let bytes = AtomicU64::new(0);
        let progress = self.progress;
        let mut out = crate::team::pinned(self.placer, cpus, work, |_, role, barrier| {
            let mut points = Vec::new();
            for delay in &plan.delays {
                barrier.wait();
                match role {
                    Role::Chase(w) => {
                        let start = Instant::now();
                        let (ns, at) = chase_runs(w, plan.loads, plan.repeat, progress);
                        stop.store(true, Ordering::SeqCst);
                        let secs = start.elapsed().as_secs_f64();
                        barrier.wait();
                        let moved = bytes.swap(0, Ordering::SeqCst);
                        stop.store(false, Ordering::SeqCst);
                        std::hint::black_box(at);
                        points.push(Point {
                            delay: *delay,
                            injected_gbps: moved as f64 / secs.max(1e-9) / 1e9,
                            ns: Stats::from_samples(ns).unwrap_or_else(empty),
                        });
                    }
                    Role::Inject(a) => {
                        if let Some(d) = delay {
                            bytes.fetch_add(inject(a, *d, &stop), Ordering::SeqCst);
                        }
                        barrier.wait();
                    }
                }
            }
            points
        })?;
        Ok(out.swap_remove(0))
    }
}

fn empty() -> Stats {
    Stats {
        median: 0.0,
        min: 0.0,
        max: 0.0,
        spread_pct: 0.0,
        samples: Vec::new(),
    }
}

/// One warm-up and `repeat` timed runs of the chase; ns per load each.
fn chase_runs(
    words: &[u64],
    loads: u64,
    repeat: u32,
    progress: &dyn crate::Progress,
) -> (Vec<f64>, usize) {
    let mut at = chase::chase(words, 0, loads);
    let mut ns = Vec::with_capacity(repeat as usize);
    for _ in 0..repeat {
        let start = Instant::now();
        at = chase::chase(words, at, loads);
        ns.push(start.elapsed().as_nanos() as f64 / loads as f64);
        progress.step();
    }
    (ns, at)
}

/// Reads `a` block by block, spinning `delay` times after each block,
/// until `stop`; returns the bytes read.
fn inject(a: &[f64], delay: u64, stop: &AtomicBool) -> u64 {
    let mut read = 0u64;
    let mut sum = 0u64;
    'outer: loop {
        for block in a.chunks(BLOCK) {
            if stop.load(Ordering::Relaxed) {
                break 'outer;
            }
            sum = block.iter().fold(sum, |s, x| s.wrapping_add(x.to_bits()));
            read += (block.len() * 8) as u64;
            for _ in 0..delay {
                std::hint::spin_loop();
            }
        }
        if a.is_empty() {
            break;
        }
    }
    std::hint::black_box(sum);
    read
}

fn summary(plan: &LoadedPlan, cpus: &BTreeMap<u32, Vec<CpuId>>, huge: Option<f64>) -> String {
    let chase_cpus: BTreeMap<u32, Vec<CpuId>> =
        cpus.iter().map(|(n, c)| (*n, vec![c[0]])).collect();
    format!(
        "chase over {} per target{}, {}; chase thread pinned to {}, one injector per other CPU of its node reading {} on the same target, {} delays per 4 KiB from none to {}; median of {} runs of {} loads after 1 warm-up per point; pages located with move_pages before timing",
        ByteSize(plan.chase_bytes),
        plan.llc
            .map(|l| format!(
                " ({:.1}x the {} L{} of one CPU)",
                plan.chase_bytes as f64 / l.instance_bytes as f64,
                ByteSize(l.instance_bytes),
                l.level
            ))
            .unwrap_or_default(),
        report::describe_pages(plan.pages, huge, true),
        report::describe_cpus(&chase_cpus),
        ByteSize(plan.inject_bytes),
        plan.delays.len() - 1,
        plan.delays.iter().flatten().max().copied().unwrap_or(0),
        plan.repeat,
        plan.loads,
    )
}

/// The nodes of a curve, for callers that draw it.
pub fn label(c: &Curve) -> String {
    format!("{} -> {}", NodeId(c.initiator), NodeId(c.target))
}
