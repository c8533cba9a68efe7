//! First touch, the pitfall made visible: STREAM's arrays written first by
//! one thread on node A (the "main thread initialises" habit) and then used
//! by worker threads on node B, against the same arrays written by the
//! workers themselves. Neither buffer has a memory policy: where the pages
//! land is decided by who touches them first, as in most programs.

use std::collections::BTreeMap;

use numakit_topo::Machine;
use numakit_types::{ByteSize, CpuId, NodeId};
use serde::Serialize;

use crate::bandwidth::{self, Arrays};
use crate::buffer::{Pages, Placement};
use crate::kernels::Kernel;
use crate::options::{self, Llc, Options};
use crate::report::{self, Methodology, Report, Session};
use crate::team::Passes;
use crate::{Bench, Error, Result, Stats};

/// What `bench first-touch` takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirstTouchOptions {
    /// The common options: `size` is each array, `threads` the workers.
    pub common: Options,
    /// The node whose thread writes the arrays first in the wrong case
    /// (default: the first initiator).
    pub init_node: Option<NodeId>,
    /// The node of the workers (default: the last initiator, another node
    /// when there is one).
    pub work_node: Option<NodeId>,
}

/// A checked first-touch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstTouchPlan {
    /// The initialising node and its CPU.
    pub init: (NodeId, CpuId),
    /// The workers' node and CPUs.
    pub work: (NodeId, Vec<CpuId>),
    /// Bytes per array.
    pub array_bytes: u64,
    /// Pages asked for.
    pub pages: Pages,
    /// The workers' last-level caches.
    pub llc: Option<Llc>,
    /// Timed runs.
    pub repeat: u32,
}

/// Checks a first-touch request; nothing is allocated.
pub fn plan(machine: &Machine, o: &FirstTouchOptions) -> Result<FirstTouchPlan> {
    let c = &o.common;
    options::check_size(c.size)?;
    let mut common = c.clone();
    let named: Vec<NodeId> = o.init_node.iter().chain(&o.work_node).copied().collect();
    if !named.is_empty() && c.initiators.is_none() {
        common.initiators = Some(named.iter().copied().collect());
    }
    let sel = options::select(machine, &common)?;
    let find = |n: NodeId| {
        sel.initiators
            .iter()
            .find(|i| i.node == n)
            .ok_or(Error::NoCpus { node: n })
    };
    let first = &sel.initiators[0];
    let init = match o.init_node {
        Some(n) => find(n)?,
        None => first,
    };
    let work = match o.work_node {
        Some(n) => find(n)?,
        None => sel
            .initiators
            .iter()
            .rev()
            .find(|i| i.node != init.node)
            .unwrap_or(init),
    };
    let threads = match c.threads {
        Some(0) => return Err(Error::Zero { what: "threads" }),
        Some(t) if t > work.cpus.len() => {
            return Err(Error::TooManyThreads {
                node: work.node,
                threads: t,
                cpus: work.cpus.iter().copied().collect(),
            });
        }
        Some(t) => work.cpus[..t].to_vec(),
        None => work.cpus.clone(),
    };
    let llc = options::llc(machine, &threads.iter().copied().collect());
    let want = c.size.unwrap_or_else(|| {
        llc.map_or(bandwidth::DEFAULT_BYTES, |l| {
            l.total_bytes.saturating_mul(bandwidth::LLC_FACTOR)
        })
    });
    let nodes = [init.node, work.node];
    let (pages, array_bytes) = options::triad_arrays(machine, c.huge, &nodes, want)?;
    Ok(FirstTouchPlan {
        init: (init.node, init.cpus[0]),
        work: (work.node, threads),
        array_bytes,
        pages,
        llc,
        repeat: options::repeat_or(c.repeat, bandwidth::DEFAULT_REPEAT)?,
    })
}

/// One case: who wrote the arrays first, the triad bandwidth the workers
/// got, and where the pages were.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    /// The node of the thread(s) that wrote the arrays first.
    pub touched_by: u32,
    /// Threads that wrote them.
    pub touch_threads: usize,
    /// The workers' triad GB/s.
    pub gbps: Stats,
    /// Where the pages were.
    pub placement: Placement,
}

/// The two cases side by side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FirstTouchResult {
    /// The kernel the workers ran.
    pub kernel: Kernel,
    /// The workers' node.
    pub work_node: u32,
    /// Worker threads.
    pub threads: usize,
    /// Written by one thread on the initialising node.
    pub main_thread: Case,
    /// Written by the workers, each its own part.
    pub workers: Case,
    /// Best GB/s of the workers' case over the main thread's.
    pub ratio: f64,
    /// Whether both cases ran on one node (the machine offers no other), so
    /// the pitfall cannot show.
    pub same_node: bool,
}

impl Bench<'_> {
    /// Measures the first-touch cases.
    pub fn first_touch(&self, o: &FirstTouchOptions) -> Result<Report<FirstTouchResult>> {
        let plan = plan(self.machine(), o)?;
        let (a, (b, workers)) = (plan.init, plan.work.clone());
        let mut cpu_map: BTreeMap<u32, Vec<CpuId>> = BTreeMap::new();
        cpu_map.insert(b.get(), workers.clone());
        cpu_map.entry(a.0.get()).or_default().push(a.1);
        let mut s = Session::start(self.root, bandwidth::sets(&cpu_map));
        self.progress
            .begin(2 * u64::from(plan.repeat), "first touch");
        let main_thread = self.touch_case(&plan, &[a.1], a.0, &mut s)?;
        let by_workers = self.touch_case(&plan, &workers, b, &mut s)?;
        self.progress.end();
        report::check_huge(&mut s, plan.pages, false);
        let m = methodology(&plan, &s, self.machine());
        let (methodology, warnings) = s.finish(m);
        let ratio = by_workers.gbps.max / main_thread.gbps.max.max(1e-12);
        Ok(Report {
            schema: crate::SCHEMA,
            bench: "first-touch",
            methodology,
            warnings,
            result: FirstTouchResult {
                kernel: Kernel::Triad,
                work_node: b.get(),
                threads: workers.len(),
                main_thread,
                workers: by_workers,
                ratio,
                same_node: a.0 == b,
            },
        })
    }
}

impl Bench<'_> {
    /// One case: fresh arrays without a policy, first written by `touch`'s
    /// threads (so placed on `node`), located, then the workers' triad.
    fn touch_case(
        &self,
        plan: &FirstTouchPlan,
        touch: &[CpuId],
        node: NodeId,
        s: &mut Session<'_>,
    ) -> Result<Case> {
        self.progress.phase(&format!(
            "first touch by {} thread(s) on node {node}",
            touch.len()
        ));
        let mut arrays = Arrays::new(self, plan.array_bytes, None, plan.pages)?;
        arrays.run(
            self,
            touch,
            &Passes {
                init: true,
                kernels: &[],
                repeat: 0,
            },
        )?;
        let placement = arrays.verify(self, Some(node))?;
        s.placed(
            &format!("the arrays first written on node {node}"),
            Some(node),
            &placement,
        );
        let kernels = [Kernel::Triad];
        let timed = Passes {
            init: false,
            kernels: &kernels,
            repeat: plan.repeat,
        };
        let runs = arrays.run(self, &plan.work.1, &timed)?;
        let gbps = bandwidth::gbps(Kernel::Triad, arrays.elements(), &runs[0])
            .ok_or(Error::Zero { what: "repeat" })?;
        Ok(Case {
            touched_by: node.get(),
            touch_threads: touch.len(),
            gbps,
            placement,
        })
    }
}

fn methodology(plan: &FirstTouchPlan, s: &Session<'_>, machine: &Machine) -> Methodology {
    let ((a, cpu), (b, workers)) = (plan.init, &plan.work);
    Methodology {
        summary: format!(
            "3 arrays of {} with no memory policy, written first either by one thread on CPU {cpu} (node {a}) or by the {} workers on node {b}, each its own part; then the workers run the triad ({}); {}; best of {} runs after 1 warm-up; pages located with move_pages before timing",
            ByteSize(plan.array_bytes),
            workers.len(),
            report::describe_cpus(&[(b.get(), workers.clone())].into_iter().collect()),
            report::describe_pages(plan.pages, s.huge_pct(), false),
            plan.repeat,
        ),
        kernel: machine.kernel.release.clone(),
        buffer_bytes: Some(plan.array_bytes),
        buffer: "each of the three arrays".into(),
        llc: plan.llc,
        buffer_to_llc: plan
            .llc
            .map(|l| plan.array_bytes as f64 / l.total_bytes as f64),
        pages: Some(plan.pages),
        threads: workers.len(),
        repeat: plan.repeat,
        warmup: 1,
        statistic: "best, with median and spread".into(),
        verified: "each case's arrays located with move_pages after the first writes".into(),
        ..Default::default()
    }
}
