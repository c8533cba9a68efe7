//! Text of the benchmark reports: a title, the methodology line, the
//! figures as tables, and the warnings last (in yellow on a terminal).

use std::fmt::Write;

use numakit_bench::bandwidth::BandwidthCell;
use numakit_bench::gpu::{Direction, GpuStatus, HostMemory};
use numakit_bench::latency::LatencyCell;
use numakit_bench::{
    BandwidthResult, FirstTouchResult, GpuResult, LatencyResult, LoadedResult, Matrix,
    PolicyResult, Report, Stats, WeightsResult,
};

use crate::output::sanitize;

fn paint(color: bool, code: &str, s: &str) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// Title and methodology.
fn head<T>(r: &Report<T>, title: &str, color: bool) -> String {
    format!(
        "{}\nmethod: {}\n\n",
        paint(color, "1", title),
        sanitize(&r.methodology.summary)
    )
}

/// Warnings, and the machine's load.
fn tail<T>(r: &Report<T>, color: bool) -> String {
    let mut s = String::new();
    let l = &r.methodology.load;
    if let (Some(o), Some(st)) = (l.other_pct, l.steal_pct) {
        let _ = writeln!(
            s,
            "\nmachine: other work {o:.0}% and steal {st:.0}% of the measuring CPUs; load average {} at the start; {:.1} s",
            l.loadavg_1m.map_or("unknown".into(), |v| format!("{v:.2}")),
            r.methodology.seconds
        );
    }
    for w in &r.warnings {
        let _ = writeln!(
            s,
            "{}",
            paint(color, "33", &format!("warning: {}", sanitize(&w.message)))
        );
    }
    s
}

/// A table: a header row, then rows; the first column left-aligned.
fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut w = vec![0; cols];
    for r in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        for (i, c) in r.iter().enumerate().take(cols) {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut s = String::new();
    for r in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate().take(cols) {
            if i == 0 {
                let _ = write!(line, "{c:<width$}", width = w[0]);
            } else {
                let _ = write!(line, "  {c:>width$}", width = w[i]);
            }
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

/// A matrix as a table: rows `from node N`, columns `node N`.
fn matrix<T>(m: &Matrix<T>, cell: impl Fn(&T) -> String) -> String {
    let mut header = vec!["from \\ to".to_string()];
    header.extend(m.targets.iter().map(|t| format!("node {t}")));
    let rows: Vec<Vec<String>> = m
        .initiators
        .iter()
        .map(|i| {
            let mut r = vec![format!("node {i}")];
            r.extend(
                m.targets
                    .iter()
                    .map(|t| m.get(*i, *t).map_or("-".into(), &cell)),
            );
            r
        })
        .collect();
    table(&header, &rows)
}

/// The spread of the runs, `(max - min) / median`.
fn spread(s: &Stats) -> String {
    format!("({:.1}%)", s.spread_pct)
}

/// `bench latency`.
pub fn latency(r: &Report<LatencyResult>, color: bool) -> String {
    let mut s = head(
        r,
        "idle latency, ns per dependent load: median of the runs (their spread, (max-min)/median)",
        color,
    );
    s.push_str(&matrix(&r.result.matrix, |c: &LatencyCell| {
        format!("{:.1} {}", c.ns.median, spread(&c.ns))
    }));
    s.push_str(&tail(r, color));
    s
}

/// `bench bandwidth`.
pub fn bandwidth(r: &Report<BandwidthResult>, color: bool) -> String {
    let mut s = head(
        r,
        "bandwidth, GB/s (10^9 bytes/s; best run, as STREAM reports)",
        color,
    );
    for k in &r.result.kernels {
        let _ = writeln!(
            s,
            "{} ({} per run)",
            k.kernel.name(),
            human_bytes(k.bytes_per_run)
        );
        s.push_str(&matrix(&k.matrix, |c: &BandwidthCell| {
            format!("{:.2}", c.gbps.max)
        }));
        s.push('\n');
    }
    if !r.result.skipped.is_empty() {
        let names: Vec<&str> = r.result.skipped.iter().map(|k| k.name()).collect();
        let _ = writeln!(
            s,
            "not run (no streaming stores on this CPU): {}",
            names.join(", ")
        );
    }
    s.push_str(&tail(r, color));
    s
}

fn human_bytes(b: u64) -> String {
    format!("{:.1} GB", b as f64 / 1e9)
}

/// `bench loaded-latency`.
pub fn loaded(r: &Report<LoadedResult>, color: bool) -> String {
    let mut s = head(
        r,
        "loaded latency: ns per dependent load while other CPUs read",
        color,
    );
    for c in &r.result.curves {
        let _ = writeln!(
            s,
            "node {} -> node {} (chase on CPU {}, injector threads: {})",
            c.initiator, c.target, c.chase_cpu, c.injectors
        );
        let header = [
            "delay".to_string(),
            "injected GB/s".into(),
            "latency ns (spread)".into(),
        ];
        let rows: Vec<Vec<String>> = c
            .points
            .iter()
            .map(|p| {
                vec![
                    p.delay.map_or("idle".into(), |d| d.to_string()),
                    format!("{:.2}", p.injected_gbps),
                    format!("{:.1} {}", p.ns.median, spread(&p.ns)),
                ]
            })
            .collect();
        s.push_str(&table(&header, &rows));
        s.push('\n');
    }
    s.push_str(&tail(r, color));
    s
}

/// `bench first-touch`.
pub fn first_touch(r: &Report<FirstTouchResult>, color: bool) -> String {
    let f = &r.result;
    let mut s = head(
        r,
        "first touch: who writes the arrays first decides where they live",
        color,
    );
    let header = [
        "first written by".to_string(),
        format!("{} GB/s", f.kernel.name()),
        "pages on".into(),
    ];
    let row = |who: String, c: &numakit_bench::first_touch::Case| {
        vec![
            who,
            format!("{:.2}", c.gbps.max),
            numakit_bench::report::where_pages(&c.placement),
        ]
    };
    let rows = [
        row(
            format!("1 thread on node {}", f.main_thread.touched_by),
            &f.main_thread,
        ),
        row(
            format!("the {} workers (node {})", f.threads, f.work_node),
            &f.workers,
        ),
    ];
    s.push_str(&table(&header, &rows));
    let _ = writeln!(
        s,
        "\nworkers on node {}: first touch by the workers is {:.2}x the main thread's",
        f.work_node, f.ratio
    );
    if f.same_node {
        s.push_str("note: only one node with CPUs was used, so both cases are local and the pitfall cannot show here\n");
    }
    s.push_str(&tail(r, color));
    s
}

/// `bench policy`.
pub fn policy(r: &Report<PolicyResult>, color: bool) -> String {
    let p = &r.result;
    let mut s = head(
        r,
        &format!(
            "memory policies from node {} ({} threads)",
            p.initiator, p.threads
        ),
        color,
    );
    let header = [
        "policy".to_string(),
        "triad GB/s".into(),
        "latency ns".into(),
        "pages on".into(),
    ];
    let rows: Vec<Vec<String>> = p
        .rows
        .iter()
        .map(|row| match &row.skipped {
            Some(why) => vec![
                row.name.clone(),
                "-".into(),
                "-".into(),
                format!("skipped: {why}"),
            ],
            None => vec![
                row.name.clone(),
                row.triad_gbps
                    .as_ref()
                    .map_or("-".into(), |g| format!("{:.2}", g.max)),
                row.latency_ns
                    .as_ref()
                    .map_or("-".into(), |l| format!("{:.1}", l.median)),
                row.placement
                    .as_ref()
                    .map_or("-".into(), numakit_bench::report::where_pages),
            ],
        })
        .collect();
    s.push_str(&table(&header, &rows));
    let _ = writeln!(s, "\nrecommendation: {}", p.recommendation);
    s.push_str(&tail(r, color));
    s
}

/// `bench weights`.
pub fn weights(r: &Report<WeightsResult>, color: bool) -> String {
    let w = &r.result;
    let mut s = head(
        r,
        &format!(
            "weighted-interleave weights from {} bandwidth seen by node {}",
            w.kernel.name(),
            w.initiator
        ),
        color,
    );
    let header = [
        "node".to_string(),
        "GB/s".into(),
        "weight".into(),
        "now".into(),
    ];
    let rows: Vec<Vec<String>> = w
        .nodes
        .iter()
        .map(|n| {
            vec![
                format!("node {}", n.node),
                format!("{:.2}", n.gbps.max),
                n.weight.to_string(),
                n.current.map_or("-".into(), |c| c.to_string()),
            ]
        })
        .collect();
    s.push_str(&table(&header, &rows));
    match &w.unsupported {
        Some(why) => {
            let _ = writeln!(s, "\nthese weights cannot be set here: {}", sanitize(why));
        }
        None => {
            s.push_str(
                "\nto set them (as root; system-wide, for every weighted-interleave policy):\n",
            );
            for wr in &w.writes {
                let _ = writeln!(s, "  {wr}");
            }
            if w.auto == Some(true) {
                s.push_str(
                    "the kernel sets the weights itself now (auto); writing one turns that off\n",
                );
            }
        }
    }
    s.push_str(&tail(r, color));
    s
}

/// `bench gpu`.
pub fn gpu(r: &Report<GpuResult>, color: bool) -> String {
    let g = &r.result;
    if g.status != GpuStatus::Measured {
        return format!(
            "{}\nnothing measured\n",
            sanitize(g.message.as_deref().unwrap_or("no GPU"))
        );
    }
    let mut s = head(
        r,
        "GPU copy bandwidth, GB/s (median): rows are the copying thread's node, columns the host memory's",
        color,
    );
    for d in &g.gpus {
        let _ = writeln!(
            s,
            "GPU {}: {} ({}, node {})",
            d.ordinal,
            sanitize(&d.name),
            d.pci.as_deref().unwrap_or("PCI address unknown"),
            d.node.map_or("unknown".into(), |n| n.to_string())
        );
        for m in &d.matrices {
            let dir = match m.direction {
                Direction::HostToDevice => "host to device",
                Direction::DeviceToHost => "device to host",
            };
            let host = match m.host {
                HostMemory::Pinned => "pinned",
                HostMemory::Pageable => "pageable",
            };
            let _ = writeln!(s, "{dir}, {host}");
            s.push_str(&matrix(&m.matrix, |c| format!("{:.2}", c.gbps.median)));
        }
        s.push('\n');
    }
    s.push_str(&tail(r, color));
    s
}
