//! What every benchmark returns ([`Report`]): its result, how it was
//! measured ([`Methodology`]) and why a figure might not be trusted
//! ([`Warning`]); and the [`Session`] that gathers those while a benchmark
//! runs. The JSON form is the documented `numakit.bench/1` schema
//! (`docs/bench-json.md`).

use std::collections::BTreeMap;
use std::time::Instant;

use numakit_root::Root;
use numakit_types::{ByteSize, CpuId, CpuSet, NodeId};
use serde::Serialize;

use crate::buffer::{PLACED_PCT, Pages, Placement};
use crate::options::Llc;
use crate::probe::{self, Clocks, Load, TimeSample};

/// The schema name and version of every report's JSON form.
pub const SCHEMA: &str = "numakit.bench/1";

/// Share of the measuring CPUs other work may take before the figures are
/// flagged, in percent.
pub const BUSY_PCT: f64 = 5.0;

/// A benchmark's report.
#[derive(Debug, Clone, Serialize)]
pub struct Report<T> {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// Which benchmark (`latency`, `bandwidth`, ...).
    pub bench: &'static str,
    /// How it was measured.
    pub methodology: Methodology,
    /// Why figures might not be trusted; empty when nothing was noticed.
    pub warnings: Vec<Warning>,
    /// The figures.
    pub result: T,
}

impl<T> Report<T> {
    /// Whether a buffer was found off the node it was meant for: the
    /// figures are not what they claim to be.
    pub fn misplaced(&self) -> bool {
        self.warnings
            .iter()
            .any(|w| w.kind == WarningKind::Misplaced)
    }
}

/// How a benchmark measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Methodology {
    /// All of it in one line, as printed at the top of the text output.
    pub summary: String,
    /// The kernel release.
    pub kernel: Option<String>,
    /// The buffer size per target, in bytes (see `buffer`).
    pub buffer_bytes: Option<u64>,
    /// What `buffer_bytes` sizes (`the chase buffer`, `each of the three arrays`).
    pub buffer: String,
    /// The last-level cache of the measuring CPUs.
    pub llc: Option<Llc>,
    /// The buffer size over the cache it is compared with.
    pub buffer_to_llc: Option<f64>,
    /// The pages asked for.
    pub pages: Option<Pages>,
    /// The smallest share of any buffer in huge pages, in percent.
    pub huge_pct: Option<f64>,
    /// Threads per initiator.
    pub threads: usize,
    /// The CPUs the threads were pinned to, by initiator node.
    pub cpus: BTreeMap<u32, CpuSet>,
    /// Timed runs per figure.
    pub repeat: u32,
    /// Untimed warm-up runs before them.
    pub warmup: u32,
    /// What the figure of several runs is (`median`, `best`).
    pub statistic: String,
    /// What was checked before the figures were kept.
    pub verified: String,
    /// How busy the machine was.
    pub load: Load,
    /// CPU frequency governors of the measuring CPUs.
    pub governors: BTreeMap<u32, String>,
    /// Wall time of the whole benchmark, in seconds.
    pub seconds: f64,
}

/// Why figures might not be trusted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    /// What kind of doubt.
    pub kind: WarningKind,
    /// One line saying what was seen and what to do.
    pub message: String,
}

/// Kinds of [`Warning`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    /// Other work used the measuring CPUs.
    Busy,
    /// A buffer not much larger than the last-level cache.
    SmallBuffer,
    /// Pages not on the node they were meant for.
    Misplaced,
    /// A frequency governor that scales, or a clock that moved.
    FrequencyScaling,
    /// No huge pages where they were wanted.
    BasePages,
}

/// What a benchmark learns while it runs, turned into its methodology and
/// warnings at the end.
#[derive(Debug)]
pub struct Session<'r> {
    root: &'r Root,
    start: Instant,
    times: TimeSample,
    clocks: Clocks,
    loadavg: Option<f64>,
    cpus: BTreeMap<u32, CpuSet>,
    warnings: Vec<Warning>,
    huge_pct: Option<f64>,
    checked: u32,
}

impl<'r> Session<'r> {
    /// Starts: reads the CPUs' time, clocks and load average.
    pub fn start(root: &'r Root, cpus: BTreeMap<u32, CpuSet>) -> Session<'r> {
        let all = cpus.values().fold(CpuSet::new(), |a, c| a.union(c));
        Session {
            root,
            start: Instant::now(),
            times: TimeSample::read(root),
            clocks: Clocks::read(root, &all),
            loadavg: probe::loadavg(root),
            cpus,
            warnings: Vec::new(),
            huge_pct: None,
            checked: 0,
        }
    }

    /// Adds a warning (once per message).
    pub fn warn(&mut self, kind: WarningKind, message: String) {
        let w = Warning { kind, message };
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    /// Records a buffer's placement: flags it when less than 99% of its
    /// pages are on `target`.
    pub fn placed(&mut self, what: &str, target: Option<NodeId>, p: &Placement) {
        self.checked += 1;
        if let Some(h) = p.huge_pct {
            self.huge_pct = Some(self.huge_pct.map_or(h, |m: f64| m.min(h)));
        }
        if let Some(t) = target {
            let pct = p.pct_on(t);
            if pct < PLACED_PCT {
                self.warn(
                    WarningKind::Misplaced,
                    format!(
                        "{what}: only {pct:.1}% of its pages are on node {t} (where: {}); its figure is not node {t}'s",
                        where_pages(p)
                    ),
                );
            }
        }
    }

    /// Buffers checked so far.
    pub fn checked(&self) -> u32 {
        self.checked
    }

    /// The smallest huge-page share seen, in percent.
    pub fn huge_pct(&self) -> Option<f64> {
        self.huge_pct
    }

    /// Ends: measures what other work took, checks the clocks, and fills
    /// in `m`'s load, governors, CPUs and time. Returns the methodology and
    /// the warnings.
    pub fn finish(mut self, mut m: Methodology) -> (Methodology, Vec<Warning>) {
        let all = self.cpus.values().fold(CpuSet::new(), |a, c| a.union(c));
        let times = TimeSample::read(self.root);
        let clocks = Clocks::read(self.root, &all);
        let (other, steal) = probe::busy_between(&self.times, &times, &all);
        m.load = Load {
            loadavg_1m: self.loadavg,
            cpus_online: self
                .root
                .read_trim("/sys/devices/system/cpu/online")
                .and_then(|s| s.parse::<CpuSet>().ok())
                .map(|s| s.len()),
            other_pct: other,
            steal_pct: steal,
        };
        let taken = other.unwrap_or(0.0) + steal.unwrap_or(0.0);
        if taken > BUSY_PCT {
            self.warn(
                WarningKind::Busy,
                format!(
                    "the machine was busy: other work took {taken:.0}% of the measuring CPUs ({all}){}; rerun when it is idle",
                    steal
                        .filter(|s| *s > 1.0)
                        .map(|s| format!(", {s:.0}% of it by the hypervisor"))
                        .unwrap_or_default()
                ),
            );
        }
        let scaling = self.clocks.scaling_governors();
        if !scaling.is_empty() {
            self.warn(
                WarningKind::FrequencyScaling,
                format!(
                    "CPU frequency scaling is on (governor {}): the clock can change while measuring; the performance governor gives steadier figures",
                    scaling.join(", ")
                ),
            );
        }
        for (cpu, a, b) in self.clocks.moved(&clocks) {
            self.warn(
                WarningKind::FrequencyScaling,
                format!(
                    "the clock of CPU {cpu} moved from {} to {} MHz during the run",
                    a / 1000,
                    b / 1000
                ),
            );
        }
        m.governors = self.clocks.governor.clone();
        m.cpus = self.cpus.clone();
        m.huge_pct = self.huge_pct;
        m.seconds = self.start.elapsed().as_secs_f64();
        (m, self.warnings)
    }
}

/// `node 0: 80%, node 1: 20%` for a placement.
pub fn where_pages(p: &Placement) -> String {
    let mut parts: Vec<String> = p
        .by_node
        .iter()
        .filter(|(_, c)| **c > 0)
        .map(|(n, c)| format!("node {n} {:.0}%", *c as f64 * 100.0 / p.pages.max(1) as f64))
        .collect();
    if p.not_present > 0 {
        parts.push(format!(
            "not present {:.0}%",
            p.not_present as f64 * 100.0 / p.pages.max(1) as f64
        ));
    }
    if parts.is_empty() {
        "nowhere".into()
    } else {
        parts.join(", ")
    }
}

/// The pages part of a methodology line, with what base pages do to a
/// latency figure when `tlb` is set.
pub fn describe_pages(pages: Pages, huge_pct: Option<f64>, tlb: bool) -> String {
    let share = huge_pct
        .map(|h| format!(" ({h:.0}% of the buffers in 2 MiB pages)"))
        .unwrap_or_default();
    match pages {
        Pages::Hugetlb => format!("2 MiB hugetlb pages{share}"),
        Pages::Transparent => format!("transparent huge pages{share}"),
        Pages::Base if tlb => {
            "4 KiB pages: most loads also miss the TLB and pay a page walk, so latencies read high"
                .into()
        }
        Pages::Base => "base pages".into(),
    }
}

/// Warns when `pages` asked for huge pages and they are mostly missing.
pub fn check_huge(s: &mut Session<'_>, pages: Pages, tlb: bool) {
    let Some(h) = s.huge_pct() else { return };
    if pages != Pages::Base && h < 90.0 {
        let cost = if tlb {
            ": most loads also miss the TLB and pay a page walk, so latencies read high"
        } else {
            ""
        };
        s.warn(
            WarningKind::BasePages,
            format!("only {h:.0}% of a buffer got huge pages{cost}"),
        );
    }
}

/// Warns when a buffer is less than `factor` times the cache it should
/// dwarf.
pub fn check_size(s: &mut Session<'_>, bytes: u64, llc: Option<Llc>, cache: u64, factor: u64) {
    if llc.is_some() && bytes < cache.saturating_mul(factor) {
        s.warn(
            WarningKind::SmallBuffer,
            format!(
                "the buffer ({}) is less than {factor}x the {} cache it is compared with: part of it stays cached and the figures flatter memory",
                ByteSize(bytes),
                ByteSize(cache)
            ),
        );
    }
}

/// `CPU 0 (node 0), CPU 2 (node 1)` or `CPUs 0-3 on node 0`.
pub fn describe_cpus(cpus: &BTreeMap<u32, Vec<CpuId>>) -> String {
    cpus.iter()
        .map(|(n, c)| {
            let set: CpuSet = c.iter().copied().collect();
            if c.len() == 1 {
                format!("CPU {set} (node {n})")
            } else {
                format!("CPUs {set} (node {n})")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
