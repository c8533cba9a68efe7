//! Memory policies compared: a bandwidth-bound kernel (the triad on every
//! CPU of the initiator node) and a latency-bound one (the chase on one of
//! them) on buffers placed by bind-local, bind-remote, interleave,
//! preferred and weighted interleave; a table, and which to use.

use std::collections::BTreeMap;
use std::time::Instant;

use numakit_placement::{Mode, Policy};
use numakit_topo::Machine;
use numakit_types::{ByteSize, CpuId, NodeId, NodeSet};
use serde::Serialize;

use crate::bandwidth::{self, Arrays};
use crate::buffer::{self, Pages, Placement};
use crate::chase;
use crate::kernels::Kernel;
use crate::options::{self, Llc, Options};
use crate::report::{self, Methodology, Report, Session, WarningKind};
use crate::team::Passes;
use crate::{Bench, Error, Result, Stats};

/// Within this share of bind-local, another policy is not worth it.
pub const WORTH_PCT: f64 = 3.0;

/// What `bench policy` takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyOptions {
    /// The common options: the first initiator runs the kernels; the
    /// targets are the nodes the policies use; `size` sizes each array and
    /// the chase buffer.
    pub common: Options,
}

/// One policy to try, and why it might be skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its name (`bind-local`, `bind-remote 1`, ...).
    pub name: String,
    /// The policy.
    pub policy: Policy,
    /// Why it cannot run here, if it cannot.
    pub skip: Option<String>,
}

/// A checked policy request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyPlan {
    /// The initiator.
    pub node: NodeId,
    /// Its CPUs (the triad's threads; the chase runs on the first).
    pub cpus: Vec<CpuId>,
    /// The policies, in order.
    pub candidates: Vec<Candidate>,
    /// Bytes of each array.
    pub array_bytes: u64,
    /// Bytes of the chase buffer.
    pub chase_bytes: u64,
    /// Pages asked for.
    pub pages: Pages,
    /// The threads' last-level caches.
    pub llc: Option<Llc>,
    /// Timed runs.
    pub repeat: u32,
}

fn candidates(machine: &Machine, node: NodeId, targets: &[NodeId]) -> Vec<Candidate> {
    let all: NodeSet = targets.iter().copied().collect();
    let local = targets.contains(&node);
    let mut v = Vec::new();
    let mut push = |name: String, policy: Policy, skip: Option<String>| {
        v.push(Candidate { name, policy, skip })
    };
    let no_mem = || Some(format!("node {node} has no memory to bind to"));
    push(
        "bind-local".into(),
        Policy::on_node(node),
        (!local).then(no_mem).flatten(),
    );
    for t in targets.iter().filter(|t| **t != node) {
        push(format!("bind-remote {t}"), Policy::on_node(*t), None);
    }
    push(
        format!("interleave {all}"),
        Policy::interleave(all.clone()),
        None,
    );
    push(
        "preferred-local".into(),
        Policy::preferred(node),
        (!local).then(no_mem).flatten(),
    );
    let kernel = numakit_placement::KernelSupport::from_machine(machine);
    let skip = if !kernel.weighted_interleave {
        Some(format!(
            "this kernel ({}) has no weighted interleave (needs Linux 6.9)",
            kernel.release
        ))
    } else if machine.knobs.weighted_interleave.is_empty() {
        Some("the kernel shows no weighted-interleave weights (/sys/kernel/mm/mempolicy/weighted_interleave)".into())
    } else {
        None
    };
    push(
        format!("weighted-interleave {all}"),
        Policy::weighted_interleave(all),
        skip,
    );
    v
}

/// Checks a policy request; nothing is allocated.
pub fn plan(machine: &Machine, o: &PolicyOptions) -> Result<PolicyPlan> {
    let c = &o.common;
    options::check_size(c.size)?;
    let sel = options::select(machine, c)?;
    let threads = options::threads_for(&sel, c.threads)?;
    let (node, cpus) = (sel.initiators[0].node, threads[0].clone());
    let llc = options::llc(machine, &cpus.iter().copied().collect());
    let array_bytes = c.size.unwrap_or_else(|| {
        llc.map_or(bandwidth::DEFAULT_BYTES, |l| {
            l.total_bytes.saturating_mul(bandwidth::LLC_FACTOR)
        })
    });
    let chase_bytes = c.size.unwrap_or_else(|| {
        llc.map_or(crate::latency::DEFAULT_BYTES, |l| {
            l.instance_bytes.saturating_mul(crate::latency::LLC_FACTOR)
        })
    });
    let total = array_bytes.saturating_mul(3).saturating_add(chase_bytes);
    let pages = buffer::choose_pages(machine, c.huge, &sel.targets, total)?;
    let unit = options::page_unit(pages);
    let (array_bytes, chase_bytes) = (
        options::round_up(array_bytes.max(64), unit),
        options::round_up(chase_bytes.max(64), unit),
    );
    // a bind policy puts everything on one node: each must hold it all
    options::check_fits(
        machine,
        &sel.targets,
        array_bytes.saturating_mul(3).saturating_add(chase_bytes),
    )?;
    Ok(PolicyPlan {
        candidates: candidates(machine, node, &sel.targets),
        node,
        cpus,
        array_bytes,
        chase_bytes,
        pages,
        llc,
        repeat: options::repeat_or(c.repeat, bandwidth::DEFAULT_REPEAT)?,
    })
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The policy's name.
    pub name: String,
    /// Its mode.
    pub mode: &'static str,
    /// Its nodes.
    pub nodes: Vec<u32>,
    /// Triad GB/s with every thread (absent when skipped).
    pub triad_gbps: Option<Stats>,
    /// Chase latency, ns per load (absent when skipped).
    pub latency_ns: Option<Stats>,
    /// Where the arrays' pages were.
    pub placement: Option<Placement>,
    /// Why it was skipped.
    pub skipped: Option<String>,
}

/// The table and the advice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyResult {
    /// The node whose CPUs ran the kernels.
    pub initiator: u32,
    /// Triad threads.
    pub threads: usize,
    /// One row per policy.
    pub rows: Vec<Row>,
    /// For bandwidth-bound work: the best policy's name.
    pub best_for_bandwidth: Option<String>,
    /// For latency-bound work.
    pub best_for_latency: Option<String>,
    /// The advice in words.
    pub recommendation: String,
}

impl Bench<'_> {
    /// Compares memory policies.
    pub fn policy(&self, o: &PolicyOptions) -> Result<Report<PolicyResult>> {
        let plan = plan(self.machine(), o)?;
        let cpu_map: BTreeMap<u32, Vec<CpuId>> =
            [(plan.node.get(), plan.cpus.clone())].into_iter().collect();
        let mut s = Session::start(self.root, bandwidth::sets(&cpu_map));
        let live = plan.candidates.iter().filter(|c| c.skip.is_none()).count() as u64;
        self.progress
            .begin(live * 2 * u64::from(plan.repeat), "policy");
        let mut rows = Vec::new();
        for c in &plan.candidates {
            let mut row = Row {
                name: c.name.clone(),
                mode: numakit_placement::mode_name(c.policy.mode),
                nodes: c.policy.nodes.iter_raw().collect(),
                triad_gbps: None,
                latency_ns: None,
                placement: None,
                skipped: c.skip.clone(),
            };
            if c.skip.is_none() {
                self.progress.phase(&format!("policy {}", c.name));
                self.measure_policy(&plan, c, &mut row, &mut s)?;
            }
            rows.push(row);
        }
        self.progress.end();
        report::check_huge(&mut s, plan.pages, true);
        let (bw, lat, recommendation) = recommend(&rows);
        let m = Methodology {
            summary: format!(
                "on node {}: the triad over 3 arrays of {} with {} ({}) and a random chase over {} on CPU {}, each buffer placed by the policy with mbind; {}; best triad and median latency of {} runs after 1 warm-up; pages located with move_pages before timing",
                plan.node,
                ByteSize(plan.array_bytes),
                report::describe_cpus(&cpu_map),
                if plan.cpus.len() == 1 { "one thread" } else { "one thread per CPU" },
                ByteSize(plan.chase_bytes),
                plan.cpus[0],
                report::describe_pages(plan.pages, s.huge_pct(), true),
                plan.repeat
            ),
            kernel: self.machine().kernel.release.clone(),
            buffer_bytes: Some(plan.array_bytes),
            buffer: format!("each of the three arrays (the chase buffer is {})", ByteSize(plan.chase_bytes)),
            llc: plan.llc,
            buffer_to_llc: plan.llc.map(|l| plan.array_bytes as f64 / l.total_bytes as f64),
            pages: Some(plan.pages),
            threads: plan.cpus.len(),
            repeat: plan.repeat,
            warmup: 1,
            statistic: "best triad, median latency".into(),
            verified: "each policy's arrays located with move_pages after they were written and checked against the policy".into(),
            ..Default::default()
        };
        let (methodology, warnings) = s.finish(m);
        Ok(Report {
            schema: crate::SCHEMA,
            bench: "policy",
            methodology,
            warnings,
            result: PolicyResult {
                initiator: plan.node.get(),
                threads: plan.cpus.len(),
                rows,
                best_for_bandwidth: bw,
                best_for_latency: lat,
                recommendation,
            },
        })
    }

    fn measure_policy(
        &self,
        plan: &PolicyPlan,
        c: &Candidate,
        row: &mut Row,
        s: &mut Session<'_>,
    ) -> Result<()> {
        let mut arrays = Arrays::new(self, plan.array_bytes, Some(&c.policy), plan.pages)?;
        arrays.run(
            self,
            &plan.cpus,
            &Passes {
                init: true,
                kernels: &[],
                repeat: 0,
            },
        )?;
        let placement = arrays.verify(self, None)?;
        check_spread(s, c, &placement, arrays.maps.len() as u64, self.machine());
        let kernels = [Kernel::Triad];
        let runs = arrays.run(
            self,
            &plan.cpus,
            &Passes {
                init: false,
                kernels: &kernels,
                repeat: plan.repeat,
            },
        )?;
        row.triad_gbps = bandwidth::gbps(Kernel::Triad, arrays.elements(), &runs[0]);
        row.placement = Some(placement);
        drop(arrays);
        let mut map = buffer::allocate(self.placer, plan.chase_bytes, Some(&c.policy), plan.pages)?;
        chase::write_chase(buffer::as_u64(&mut map), 0x706f_6c69);
        let words = buffer::as_u64(&mut map);
        let (loads, repeat, progress) = (
            (words.len() as u64 / 8).clamp(1 << 18, 1 << 21),
            plan.repeat,
            self.progress,
        );
        let mut ns = crate::team::pinned(self.placer, &plan.cpus[..1], vec![()], |_, (), _| {
            let mut at = chase::chase(words, 0, loads);
            let mut v = Vec::new();
            for _ in 0..repeat {
                let t = Instant::now();
                at = chase::chase(words, at, loads);
                v.push(t.elapsed().as_nanos() as f64 / loads as f64);
                progress.step();
            }
            std::hint::black_box(at);
            v
        })?;
        row.latency_ns = Stats::from_samples(ns.swap_remove(0));
        if row.triad_gbps.is_none() || row.latency_ns.is_none() {
            return Err(Error::Zero { what: "repeat" });
        }
        Ok(())
    }
}

/// Warns when a policy's pages are not where it puts them: bind and
/// preferred all on their node, interleave evenly, weighted interleave by
/// the weights, each node within 10 points of its share, plus what the
/// granularity allows: the kernel interleaves whole pages (2 MiB ones
/// under huge pages) in each of the `maps` mappings, so each mapping can
/// be a page off.
fn check_spread(s: &mut Session<'_>, c: &Candidate, p: &Placement, maps: u64, machine: &Machine) {
    let what = format!("the arrays under {}", c.name);
    match c.policy.mode {
        Mode::Bind | Mode::Preferred => {
            if let Some(n) = c.policy.nodes.first() {
                s.placed(&what, Some(n), p);
            }
        }
        Mode::Interleave | Mode::WeightedInterleave => {
            s.placed(&what, None, p);
            let unit = if p.huge_pct.unwrap_or(0.0) > 0.0 {
                buffer::HUGE
            } else {
                4096
            };
            let bytes = (p.pages * 4096).max(1);
            let slack = 10.0 + (maps * unit) as f64 * 100.0 / bytes as f64;
            let nodes: Vec<NodeId> = c.policy.nodes.iter().collect();
            let weight = |n: NodeId| -> f64 {
                if c.policy.mode == Mode::Interleave {
                    1.0
                } else {
                    f64::from(
                        machine
                            .knobs
                            .weighted_interleave
                            .get(&n.get())
                            .copied()
                            .unwrap_or(1),
                    )
                }
            };
            let total: f64 = nodes.iter().map(|n| weight(*n)).sum();
            for n in &nodes {
                let want = weight(*n) / total * 100.0;
                let got = p.pct_on(*n);
                if (got - want).abs() > slack {
                    s.warn(
                        WarningKind::Misplaced,
                        format!("{what}: node {n} holds {got:.0}% of the pages, the policy asks for {want:.0}% ({})", report::where_pages(p)),
                    );
                }
            }
        }
        _ => {}
    }
}

/// The best policy for each kind of work, and the advice: a policy that
/// beats bind-local by less than [`WORTH_PCT`] is not worth it.
pub fn recommend(rows: &[Row]) -> (Option<String>, Option<String>, String) {
    let bw = |r: &Row| r.triad_gbps.as_ref().map(|s| s.max);
    let lat = |r: &Row| r.latency_ns.as_ref().map(|s| s.median);
    let best_bw = rows.iter().filter(|r| bw(r).is_some()).max_by(|a, b| {
        bw(a)
            .partial_cmp(&bw(b))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let best_lat = rows.iter().filter(|r| lat(r).is_some()).min_by(|a, b| {
        lat(a)
            .partial_cmp(&lat(b))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let local = rows.iter().find(|r| r.name == "bind-local");
    let advice = |best: Option<&Row>,
                  f: &dyn Fn(&Row) -> Option<f64>,
                  higher: bool,
                  unit: &str,
                  work: &str|
     -> String {
        let Some(b) = best else {
            return format!("{work}: nothing measured");
        };
        let v = f(b).unwrap_or(0.0);
        match local.and_then(f) {
            Some(l) if b.name != "bind-local" => {
                let gain = if higher {
                    (v - l) / l * 100.0
                } else {
                    (l - v) / l * 100.0
                };
                if gain < WORTH_PCT {
                    format!(
                        "{work}: bind-local ({l:.1} {unit}); {} is within {WORTH_PCT:.0}%",
                        b.name
                    )
                } else {
                    format!(
                        "{work}: {} ({v:.1} {unit}, {gain:.0}% better than bind-local)",
                        b.name
                    )
                }
            }
            _ => format!("{work}: {} ({v:.1} {unit})", b.name),
        }
    };
    let text = format!(
        "{}; {}",
        advice(best_bw, &bw, true, "GB/s", "bandwidth-bound work"),
        advice(best_lat, &lat, false, "ns", "latency-bound work")
    );
    (
        best_bw.map(|r| r.name.clone()),
        best_lat.map(|r| r.name.clone()),
        text,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, gbps: f64, ns: f64) -> Row {
        Row {
            name: name.into(),
            mode: "bind",
            nodes: vec![0],
            triad_gbps: Stats::from_samples(vec![gbps]),
            latency_ns: Stats::from_samples(vec![ns]),
            placement: None,
            skipped: None,
        }
    }

    #[test]
    fn advice() {
        let rows = [
            row("bind-local", 100.0, 90.0),
            row("bind-remote 1", 40.0, 140.0),
            row("interleave 0-1", 130.0, 115.0),
        ];
        let (bw, lat, text) = recommend(&rows);
        assert_eq!(bw.as_deref(), Some("interleave 0-1"));
        assert_eq!(lat.as_deref(), Some("bind-local"));
        assert_eq!(
            text,
            "bandwidth-bound work: interleave 0-1 (130.0 GB/s, 30% better than bind-local); latency-bound work: bind-local (90.0 ns)"
        );
        let rows = [
            row("bind-local", 100.0, 90.0),
            row("interleave 0-1", 101.0, 115.0),
        ];
        let (_, _, text) = recommend(&rows);
        assert!(
            text.starts_with(
                "bandwidth-bound work: bind-local (100.0 GB/s); interleave 0-1 is within 3%"
            ),
            "{text}"
        );
    }
}
