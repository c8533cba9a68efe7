//! Weighted-interleave weights from measured bandwidth: the read bandwidth
//! from one initiator node to each target node, turned into the small
//! integer weights whose ratios match it, and the exact sysfs writes that
//! set them (`numakit_placement::weights`).

use std::collections::BTreeMap;

use numakit_placement::weights::{self as kernel_weights, WeightWrite};
use numakit_placement::{KernelSupport, Policy};
use numakit_topo::Machine;
use numakit_types::{ByteSize, CpuId, NodeId};
use serde::Serialize;

use crate::bandwidth::{self, Arrays};
use crate::buffer::Pages;
use crate::kernels::Kernel;
use crate::options::{self, Llc, Options};
use crate::report::{self, Methodology, Report, Session};
use crate::team::Passes;
use crate::{Bench, Error, Result, Stats};

/// The largest weight [`weights_for`] proposes: small weights interleave
/// in short rounds.
pub const MAX_PROPOSED: u32 = 32;

/// What `bench weights` takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WeightsOptions {
    /// The common options: the first initiator runs the threads (the
    /// weights are system-wide, so they match one initiator's view); the
    /// targets get weights; `size` is each array.
    pub common: Options,
    /// The kernel measured (default: read).
    pub kernel: Option<Kernel>,
}

/// A checked weights request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsPlan {
    /// The initiator.
    pub node: NodeId,
    /// Its threads' CPUs.
    pub cpus: Vec<CpuId>,
    /// The nodes to weigh.
    pub targets: Vec<NodeId>,
    /// Bytes per array.
    pub array_bytes: u64,
    /// Pages asked for.
    pub pages: Pages,
    /// The threads' last-level caches.
    pub llc: Option<Llc>,
    /// The kernel.
    pub kernel: Kernel,
    /// Timed runs.
    pub repeat: u32,
}

/// Checks a weights request; nothing is allocated.
pub fn plan(machine: &Machine, o: &WeightsOptions) -> Result<WeightsPlan> {
    let c = &o.common;
    options::check_size(c.size)?;
    let sel = options::select(machine, c)?;
    let threads = options::threads_for(&sel, c.threads)?;
    let (node, cpus) = (sel.initiators[0].node, threads[0].clone());
    let llc = options::llc(machine, &cpus.iter().copied().collect());
    let want = c.size.unwrap_or_else(|| {
        llc.map_or(bandwidth::DEFAULT_BYTES, |l| {
            l.total_bytes.saturating_mul(bandwidth::LLC_FACTOR)
        })
    });
    let (pages, array_bytes) = options::triad_arrays(machine, c.huge, &sel.targets, want)?;
    let kernel = o.kernel.unwrap_or(Kernel::Read);
    if kernel.non_temporal() && numakit_sys::stream::kind().is_none() {
        return Err(Error::NoStreamingStores {
            kernel: kernel.name(),
        });
    }
    Ok(WeightsPlan {
        node,
        cpus,
        targets: sel.targets,
        array_bytes,
        pages,
        llc,
        kernel,
        repeat: options::repeat_or(c.repeat, bandwidth::DEFAULT_REPEAT)?,
    })
}

/// Integer weights (1 to [`MAX_PROPOSED`]) whose ratios match `bandwidth`
/// (GB/s per node): the smallest scale at which every node's share of the
/// weights is within 5% of its share of the bandwidth, else the closest
/// match; then divided by their greatest common divisor.
///
/// ```
/// use numakit_bench::weights::weights_for;
/// use numakit_types::NodeId;
/// let w = weights_for(&[(NodeId(0), 100.0), (NodeId(1), 40.0)]);
/// assert_eq!(w, [(NodeId(0), 5), (NodeId(1), 2)]);
/// ```
pub fn weights_for(bandwidth: &[(NodeId, f64)]) -> Vec<(NodeId, u32)> {
    let valid: Vec<(NodeId, f64)> = bandwidth
        .iter()
        .copied()
        .filter(|(_, b)| b.is_finite() && *b > 0.0)
        .collect();
    let Some(min) = valid.iter().map(|(_, b)| *b).min_by(f64::total_cmp) else {
        return bandwidth.iter().map(|(n, _)| (*n, 1)).collect();
    };
    let total: f64 = valid.iter().map(|(_, b)| b).sum();
    let at = |scale: u32| -> (Vec<u32>, f64) {
        let w: Vec<u32> = valid
            .iter()
            .map(|(_, b)| ((b / min * f64::from(scale)).round() as u32).clamp(1, MAX_PROPOSED))
            .collect();
        let wt: f64 = w.iter().map(|x| f64::from(*x)).sum();
        let err = valid
            .iter()
            .zip(&w)
            .map(|((_, b), x)| ((f64::from(*x) / wt) - b / total).abs() / (b / total))
            .fold(0.0, f64::max);
        (w, err)
    };
    let mut best = at(1);
    for scale in 1..=MAX_PROPOSED {
        let cand = at(scale);
        if cand.1 < best.1 - 1e-12 {
            best = cand;
        }
        if best.1 <= 0.05 {
            break;
        }
    }
    let g = best.0.iter().copied().fold(0, gcd).max(1);
    let by: BTreeMap<NodeId, u32> = valid
        .iter()
        .zip(&best.0)
        .map(|((n, _), w)| (*n, w / g))
        .collect();
    bandwidth
        .iter()
        .map(|(n, _)| (*n, by.get(n).copied().unwrap_or(1)))
        .collect()
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// One node's measured bandwidth and proposed weight.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeWeight {
    /// The node.
    pub node: u32,
    /// GB/s from the initiator (best of the runs is used).
    pub gbps: Stats,
    /// The proposed weight.
    pub weight: u32,
    /// The kernel's weight now, if it shows one.
    pub current: Option<u32>,
}

/// The weights and how to set them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightsResult {
    /// The node whose CPUs measured.
    pub initiator: u32,
    /// The kernel measured.
    pub kernel: Kernel,
    /// Threads.
    pub threads: usize,
    /// Per node.
    pub nodes: Vec<NodeWeight>,
    /// The sysfs writes that set them (empty when this kernel cannot).
    pub writes: Vec<WeightWrite>,
    /// Why the weights cannot be set here, if they cannot.
    pub unsupported: Option<String>,
    /// Whether the kernel now sets the weights itself (`auto`, Linux 6.16);
    /// writing a weight turns that off.
    pub auto: Option<bool>,
}

impl Bench<'_> {
    /// Measures each target's bandwidth and proposes weights.
    pub fn weights(&self, o: &WeightsOptions) -> Result<Report<WeightsResult>> {
        let plan = plan(self.machine(), o)?;
        let cpu_map: BTreeMap<u32, Vec<CpuId>> =
            [(plan.node.get(), plan.cpus.clone())].into_iter().collect();
        let mut s = Session::start(self.root, bandwidth::sets(&cpu_map));
        self.progress.begin(
            plan.targets.len() as u64 * u64::from(plan.repeat),
            "weights",
        );
        let mut measured = Vec::new();
        for t in &plan.targets {
            measured.push((*t, self.weigh(&plan, *t, &mut s)?));
        }
        self.progress.end();
        let best: Vec<(NodeId, f64)> = measured.iter().map(|(n, g)| (*n, g.max)).collect();
        let proposed = weights_for(&best);
        let knobs = &self.machine().knobs;
        let nodes = measured
            .into_iter()
            .zip(&proposed)
            .map(|((n, gbps), (_, w))| NodeWeight {
                node: n.get(),
                gbps,
                weight: *w,
                current: knobs.weighted_interleave.get(&n.get()).copied(),
            })
            .collect();
        let kernel = KernelSupport::from_machine(self.machine());
        let (writes, unsupported) =
            match kernel_weights::plan_weights(self.machine(), &kernel, &proposed) {
                Ok(w) => (w, None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            };
        let m = methodology(&plan, &cpu_map, &s, self.machine());
        let (methodology, warnings) = s.finish(m);
        Ok(Report {
            schema: crate::SCHEMA,
            bench: "weights",
            methodology,
            warnings,
            result: WeightsResult {
                initiator: plan.node.get(),
                kernel: plan.kernel,
                threads: plan.cpus.len(),
                nodes,
                writes,
                unsupported,
                auto: knobs.weighted_interleave_auto,
            },
        })
    }
}

impl Bench<'_> {
    /// The initiator's bandwidth to arrays bound to `t`.
    fn weigh(&self, plan: &WeightsPlan, t: NodeId, s: &mut Session<'_>) -> Result<Stats> {
        self.progress
            .phase(&format!("weights {} -> {t}", plan.node));
        let mut arrays = Arrays::new(
            self,
            plan.array_bytes,
            Some(&Policy::on_node(t)),
            plan.pages,
        )?;
        arrays.run(
            self,
            &plan.cpus,
            &Passes {
                init: true,
                kernels: &[],
                repeat: 0,
            },
        )?;
        let placement = arrays.verify(self, Some(t))?;
        s.placed(&format!("the arrays on node {t}"), Some(t), &placement);
        let kernels = [plan.kernel];
        let runs = arrays.run(
            self,
            &plan.cpus,
            &Passes {
                init: false,
                kernels: &kernels,
                repeat: plan.repeat,
            },
        )?;
        bandwidth::gbps(plan.kernel, arrays.elements(), &runs[0])
            .ok_or(Error::Zero { what: "repeat" })
    }
}

fn methodology(
    plan: &WeightsPlan,
    cpus: &BTreeMap<u32, Vec<CpuId>>,
    s: &Session<'_>,
    machine: &Machine,
) -> Methodology {
    Methodology {
        summary: format!(
            "{} GB/s from node {} ({}) to 3 arrays of {} bound to each target; {}; best of {} runs after 1 warm-up; weights are the smallest integers (at most {MAX_PROPOSED}) whose ratios match within 5%; pages located with move_pages before timing",
            plan.kernel.name(),
            plan.node,
            report::describe_cpus(cpus),
            ByteSize(plan.array_bytes),
            report::describe_pages(plan.pages, s.huge_pct(), false),
            plan.repeat
        ),
        kernel: machine.kernel.release.clone(),
        buffer_bytes: Some(plan.array_bytes),
        buffer: "each of the three arrays on each target".into(),
        llc: plan.llc,
        buffer_to_llc: plan
            .llc
            .map(|l| plan.array_bytes as f64 / l.total_bytes as f64),
        pages: Some(plan.pages),
        threads: plan.cpus.len(),
        repeat: plan.repeat,
        warmup: 1,
        statistic: "best".into(),
        verified: "each target's arrays located with move_pages before timing".into(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(bw: &[f64]) -> Vec<u32> {
        let v: Vec<(NodeId, f64)> = bw
            .iter()
            .enumerate()
            .map(|(i, b)| (NodeId(i as u32), *b))
            .collect();
        weights_for(&v).into_iter().map(|(_, w)| w).collect()
    }

    #[test]
    fn weights_match_bandwidth() {
        assert_eq!(w(&[50.0, 50.0]), [1, 1]);
        assert_eq!(w(&[100.0, 50.0]), [2, 1]);
        assert_eq!(w(&[120.0, 40.0, 40.0]), [3, 1, 1]);
        assert_eq!(w(&[12.1, 3.8]), [3, 1]);
        // 3:1 exactly after the divisor
        assert_eq!(w(&[90.0, 30.0]), [3, 1]);
        // one node
        assert_eq!(w(&[42.0]), [1]);
        // nothing measurable: equal weights
        assert_eq!(w(&[0.0, f64::NAN]), [1, 1]);
        // each share within 5% of the bandwidth's
        for bw in [[100.0, 37.0, 11.0], [80.0, 79.0, 20.0]] {
            let ws = w(&bw);
            let (tw, tb): (f64, f64) = (ws.iter().map(|x| f64::from(*x)).sum(), bw.iter().sum());
            for (x, b) in ws.iter().zip(bw) {
                let err = (f64::from(*x) / tw - b / tb).abs() / (b / tb);
                assert!(err <= 0.05, "{bw:?} -> {ws:?}");
            }
        }
    }
}
