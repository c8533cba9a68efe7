//! Text of `numakit stat`: the system view as tables with one column per
//! node, a process as its memory per node by kind, cgroups, files, audit
//! findings, and `--watch` records.

use std::collections::BTreeMap;
use std::fmt::Write;

use numakit_doctor::Finding;
use numakit_placement::pagecache::FileCache;
use numakit_stat::cgroup::CgroupStat;
use numakit_stat::meminfo::Value;
use numakit_stat::process::{Category, ProcessStat};
use numakit_stat::system::SystemStat;

use crate::commands::stat::{StatReport, WatchRecord};
use crate::output::sanitize;

const MIB: f64 = 1024.0 * 1024.0;

fn mib(b: u64) -> String {
    format!("{:.1}", b as f64 / MIB)
}

/// A table: a label column, then one right-justified column per header.
fn table(out: &mut String, title: &str, heads: &[String], rows: &[(String, Vec<String>)]) {
    let lw = rows
        .iter()
        .map(|(l, _)| l.len())
        .chain([title.len()])
        .max()
        .unwrap_or(0)
        + 2;
    let widths: Vec<usize> = (0..heads.len())
        .map(|i| {
            rows.iter()
                .filter_map(|(_, v)| v.get(i).map(String::len))
                .chain([heads[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let _ = write!(out, "{title:<lw$}");
    for (h, w) in heads.iter().zip(&widths) {
        let _ = write!(out, "  {h:>w$}");
    }
    out.push('\n');
    for (l, v) in rows {
        let _ = write!(out, "{:<lw$}", sanitize(l));
        for (x, w) in v.iter().zip(&widths) {
            let _ = write!(out, "  {x:>w$}");
        }
        out.push('\n');
    }
}

fn system(out: &mut String, s: &SystemStat) {
    let heads: Vec<String> = s.nodes.iter().map(|n| format!("node {}", n.node)).collect();
    numastat_table(out, s, &heads);
    out.push('\n');
    meminfo_table(out, s, &heads);
    out.push('\n');
    hugepages_table(out, s, &heads);
    out.push('\n');
    vmstat_table(out, s);
}

fn numastat_table(out: &mut String, s: &SystemStat, heads: &[String]) {
    let unknown = "?".to_string();
    let mut keys: Vec<String> = Vec::new();
    for n in &s.nodes {
        for (k, _) in n.numastat.iter().flat_map(|c| &c.values) {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    let rows: Vec<(String, Vec<String>)> = keys
        .iter()
        .map(|k| {
            (
                k.clone(),
                s.nodes
                    .iter()
                    .map(|n| {
                        n.numastat
                            .as_ref()
                            .and_then(|c| c.get(k))
                            .map_or(unknown.clone(), |v| v.to_string())
                    })
                    .collect(),
            )
        })
        .collect();
    table(out, "numastat (pages)", heads, &rows);
}

fn meminfo_table(out: &mut String, s: &SystemStat, heads: &[String]) {
    let unknown = "?".to_string();
    let mut keys: Vec<String> = Vec::new();
    for n in &s.nodes {
        for f in n.meminfo.iter().flat_map(|m| &m.fields) {
            if !keys.contains(&f.key) {
                keys.push(f.key.clone());
            }
        }
    }
    let rows: Vec<(String, Vec<String>)> = keys
        .iter()
        .map(|k| {
            let cells = s
                .nodes
                .iter()
                .map(|n| match n.meminfo.as_ref().and_then(|m| m.get(k)) {
                    Some(Value::Bytes(b)) => mib(b),
                    Some(Value::Count(c)) => c.to_string(),
                    None => unknown.clone(),
                });
            let unit = if s.nodes.iter().any(|n| {
                matches!(
                    n.meminfo.as_ref().and_then(|m| m.get(k)),
                    Some(Value::Count(_))
                )
            }) {
                ""
            } else {
                " (MiB)"
            };
            (format!("{k}{unit}"), cells.collect())
        })
        .collect();
    table(out, "meminfo", heads, &rows);
}

fn hugepages_table(out: &mut String, s: &SystemStat, heads: &[String]) {
    let unknown = "?".to_string();
    let mut sizes: Vec<u64> = s
        .nodes
        .iter()
        .flat_map(|n| n.hugepages.iter().map(|p| p.page_size))
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    let mut rows = Vec::new();
    for sz in sizes {
        for (what, pick) in [("total", 0), ("free", 1), ("surplus", 2)] {
            let cells = s
                .nodes
                .iter()
                .map(|n| {
                    let p = n.hugepages.iter().find(|p| p.page_size == sz);
                    let v = p.and_then(|p| [p.total, p.free, p.surplus][pick]);
                    v.map_or(unknown.clone(), |v| v.to_string())
                })
                .collect();
            rows.push((format!("{} pages {what}", numakit_doctor::human(sz)), cells));
        }
    }
    rows.push((
        "memory tier".into(),
        s.nodes
            .iter()
            .map(|n| n.memory_tier.map_or(unknown.clone(), |t| t.to_string()))
            .collect(),
    ));
    table(out, "hugepages and tiers", heads, &rows);
}

fn vmstat_table(out: &mut String, s: &SystemStat) {
    match &s.vmstat {
        Some(v) if !v.values.is_empty() => {
            let rows: Vec<(String, Vec<String>)> = v
                .values
                .iter()
                .map(|(k, x)| (k.clone(), vec![x.to_string()]))
                .collect();
            table(
                out,
                "vmstat (balancing, tiering, migration)",
                &["value".into()],
                &rows,
            );
        }
        _ => out.push_str("vmstat: unknown (no /proc/vmstat)\n"),
    }
}

fn process(out: &mut String, p: &ProcessStat, verbose: bool) {
    let total = p.total();
    let nodes: Vec<u32> = total.keys().copied().collect();
    let all: u64 = total.values().sum();
    let name = p.name.as_deref().map_or("?".to_string(), sanitize);
    let _ = writeln!(out, "process {} ({name}): {} MiB", p.pid, mib(all));
    let mut heads: Vec<String> = nodes.iter().map(|n| format!("node {n}")).collect();
    heads.push("total".into());
    let row = |label: String, by: &BTreeMap<u32, u64>| {
        let mut v: Vec<String> = nodes
            .iter()
            .map(|n| mib(by.get(n).copied().unwrap_or(0)))
            .collect();
        v.push(mib(by.values().sum()));
        (label, v)
    };
    let mut rows = Vec::new();
    for c in Category::ALL {
        if c == Category::Huge {
            for h in &p.huge_pages {
                rows.push(row(
                    format!("huge ({})", numakit_doctor::human(h.page_size)),
                    &h.bytes,
                ));
            }
            continue;
        }
        rows.push(row(
            c.name().replace('_', " "),
            p.categories.get(&c).unwrap_or(&BTreeMap::new()),
        ));
    }
    rows.push(row("total".into(), &total));
    table(out, "MiB", &heads, &rows);
    let mut per: BTreeMap<String, usize> = BTreeMap::new();
    for t in &p.threads {
        *per.entry(t.node.map_or("node ?".into(), |n| format!("node {n}")))
            .or_default() += 1;
    }
    let runs: Vec<String> = per.iter().map(|(n, c)| format!("{n}: {c}")).collect();
    let _ = writeln!(out, "threads: {} ({})", p.threads.len(), runs.join(", "));
    let show = |x: Option<String>| x.unwrap_or_else(|| "unknown".into());
    let _ = writeln!(
        out,
        "allowed: CPUs {}, nodes {}",
        show(p.cpus_allowed.as_ref().map(ToString::to_string)),
        show(p.mems_allowed.as_ref().map(ToString::to_string))
    );
    if p.malformed_lines > 0 {
        let _ = writeln!(
            out,
            "({} numa_maps lines could not be read: the process changed its mappings meanwhile)",
            p.malformed_lines
        );
    }
    if verbose {
        details(out, p);
    }
}

/// Each thread and each mapping (`-v`).
fn details(out: &mut String, p: &ProcessStat) {
    let show = |x: Option<String>| x.unwrap_or_else(|| "unknown".into());
    for t in &p.threads {
        let _ = writeln!(
            out,
            "  thread {} last ran on CPU {} (node {})",
            t.tid,
            show(t.cpu.map(|c| c.to_string())),
            show(t.node.map(|n| n.to_string()))
        );
    }
    for m in &p.mappings {
        let by: Vec<String> = m
            .bytes
            .iter()
            .map(|(n, b)| format!("N{n}={}", mib(*b)))
            .collect();
        let _ = writeln!(
            out,
            "  {} {:<12} {:<24} {} {}",
            m.address,
            m.category.name(),
            sanitize(&m.policy),
            by.join(" "),
            sanitize(m.file.as_deref().unwrap_or(""))
        );
    }
}

fn findings(out: &mut String, f: &[Finding]) {
    if f.is_empty() {
        out.push_str("audit: no findings\n");
    }
    for x in f {
        let _ = writeln!(
            out,
            "{}: {} [{}]",
            x.severity.name(),
            sanitize(&x.message),
            x.check
        );
        for e in &x.evidence {
            let _ = writeln!(out, "  evidence: {}", sanitize(e));
        }
        if let Some(fix) = &x.fix {
            let _ = writeln!(out, "  fix: {}", sanitize(fix));
        }
    }
}

/// The whole report.
pub fn report(r: &StatReport, verbose: bool) -> String {
    let mut out = String::new();
    if let Some(s) = &r.system {
        system(&mut out, s);
    }
    for p in &r.processes {
        if !out.is_empty() {
            out.push('\n');
        }
        process(&mut out, &p.stat, verbose);
        if let Some(d) = &p.devices {
            for d in d {
                let pci: Vec<String> = d.pci.iter().map(ToString::to_string).collect();
                let _ = writeln!(
                    out,
                    "uses {} ({})",
                    sanitize(&d.name),
                    if pci.is_empty() {
                        "PCI function unknown".into()
                    } else {
                        pci.join(", ")
                    }
                );
            }
        }
        if let Some(f) = &p.findings {
            findings(&mut out, f);
        }
    }
    for c in &r.cgroups {
        if !out.is_empty() {
            out.push('\n');
        }
        cgroup(&mut out, c);
    }
    for f in &r.files {
        if !out.is_empty() {
            out.push('\n');
        }
        file(&mut out, f);
    }
    out
}

fn cgroup(out: &mut String, c: &CgroupStat) {
    let show = |x: Option<String>| x.unwrap_or_else(|| "unknown".into());
    let _ = writeln!(
        out,
        "cgroup {} (v{}, {})",
        sanitize(&c.path),
        c.version,
        sanitize(&c.dir)
    );
    let _ = writeln!(
        out,
        "cpuset: CPUs {}, nodes {}{}",
        show(c.cpus_effective.as_ref().map(ToString::to_string)),
        show(c.mems_effective.as_ref().map(ToString::to_string)),
        match c.mems_configured.as_deref() {
            Some("") => " (cpuset.mems not set: every node of the parent)".to_string(),
            _ => String::new(),
        }
    );
    let nodes: Vec<u32> = {
        let mut v: Vec<u32> = c
            .numa_stat
            .iter()
            .flat_map(|(_, b)| b.keys().copied())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let heads: Vec<String> = nodes.iter().map(|n| format!("node {n}")).collect();
    let rows: Vec<(String, Vec<String>)> = c
        .numa_stat
        .iter()
        .map(|(k, b)| {
            (
                k.clone(),
                nodes
                    .iter()
                    .map(|n| mib(b.get(n).copied().unwrap_or(0)))
                    .collect(),
            )
        })
        .collect();
    if rows.is_empty() {
        out.push_str("memory.numa_stat: unknown (no memory controller)\n");
    } else {
        table(out, "memory.numa_stat (MiB)", &heads, &rows);
    }
}

fn file(out: &mut String, f: &FileCache) {
    let by: Vec<String> = f
        .by_node
        .iter()
        .map(|(n, p)| format!("node {n}: {} MiB", mib(p * f.page_size)))
        .collect();
    let _ = writeln!(
        out,
        "file {}: {} MiB, {} MiB in the page cache ({}%){}{}",
        sanitize(&f.path),
        mib(f.size),
        mib(f.cached * f.page_size),
        (f.cached * 100).checked_div(f.pages).unwrap_or(0),
        if by.is_empty() {
            String::new()
        } else {
            format!(": {}", by.join(", "))
        },
        if f.unknown > 0 {
            format!(", {} pages on no known node", f.unknown)
        } else {
            String::new()
        }
    );
}

fn rate(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |v| format!("{v:.1}"))
}

/// One `--watch` record: a screen on a terminal, else one line (and a
/// line per process).
pub fn watch(r: &WatchRecord, screen: bool) -> String {
    let rt = &r.rates;
    let mut out = String::new();
    let per: Vec<String> = rt
        .numa_miss
        .iter()
        .map(|(n, v)| format!("node {n} {v:.1}"))
        .collect();
    if screen {
        let _ = writeln!(
            out,
            "numakit stat --watch: {:.1} s (Ctrl-C stops)\n",
            r.elapsed_s
        );
        let _ = writeln!(
            out,
            "misses/s      {} ({})",
            rate(rt.misses),
            per.join(", ")
        );
        let _ = writeln!(out, "migrations/s  {}", rate(rt.migrations));
        let _ = writeln!(out, "promotions/s  {}", rate(rt.promotions));
        let _ = writeln!(out, "demotions/s   {}", rate(rt.demotions));
        let _ = writeln!(out, "hint faults/s {}", rate(rt.hint_faults));
        for n in &r.system.nodes {
            let free = n.meminfo.as_ref().and_then(|m| m.bytes("MemFree"));
            let _ = writeln!(
                out,
                "node {}: {} MiB free",
                n.node,
                free.map_or("?".into(), mib)
            );
        }
    } else {
        let _ = writeln!(
            out,
            "t={:.1}s misses/s={} migrations/s={} promotions/s={} demotions/s={} hint_faults/s={} [{}]",
            r.elapsed_s,
            rate(rt.misses),
            rate(rt.migrations),
            rate(rt.promotions),
            rate(rt.demotions),
            rate(rt.hint_faults),
            per.join(", ")
        );
    }
    for p in &r.processes {
        let by: Vec<String> = p
            .total()
            .iter()
            .map(|(n, b)| format!("node {n} {} MiB", mib(*b)))
            .collect();
        let _ = writeln!(
            out,
            "  process {} ({}): {}",
            p.pid,
            sanitize(p.name.as_deref().unwrap_or("?")),
            by.join(", ")
        );
    }
    out
}
