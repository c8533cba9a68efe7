//! `numakit doctor`: the system checks, each with a severity, the evidence
//! and the fix; live or on a snapshot.

use std::path::PathBuf;

use numakit_doctor::checks::{self, Inputs, Pinned};
use numakit_doctor::{Finding, Severity};
use numakit_root::Root;
use numakit_stat::system::SystemStat;
use numakit_topo::Machine;
use numakit_types::CpuSet;
use serde::Serialize;

use crate::commands::common::open_root;
use crate::error::{CliResult, EXIT_FINDINGS};
use crate::output;

/// Arguments of `numakit doctor`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Checks: device-without-node, device-cpus-outside-cpuset, pcie-link-degraded, resizable-bar-off, iommu-mode, kernel-lacks-mempolicy, single-memory-tier, demotion-disabled, thp-never, no-hugepages-on-gpu-node, autonuma-with-pinned.\n\nExit status: 0 no warnings (information only); 1 at least one warning; 2 usage or input error."
)]
pub struct DoctorArgs {
    /// Print JSON (schema numakit.doctor/1, see docs/stat-json.md).
    #[arg(long)]
    pub json: bool,
}

/// The `numakit.doctor/1` document.
#[derive(Debug, Serialize)]
pub struct DoctorReport {
    /// Always `numakit.doctor/1`.
    pub schema: &'static str,
    /// The root read.
    pub root: String,
    /// Findings, in check order.
    pub findings: Vec<Finding>,
}

/// User processes that restrict themselves to fewer CPUs than the machine
/// has (kernel threads, which have no command line, are left out).
pub fn pinned_processes(root: &Root, m: &Machine) -> Vec<Pinned> {
    let all: CpuSet = m.nodes.iter().fold(CpuSet::new(), |a, n| a.union(&n.cpus));
    let mut v = Vec::new();
    for name in root.read_dir("/proc").unwrap_or_default() {
        let Ok(pid) = name.parse::<i32>() else {
            continue;
        };
        if root
            .read(&format!("/proc/{pid}/cmdline"))
            .map_or(true, |c| c.is_empty())
        {
            continue;
        }
        let Ok(status) = root.read_to_string(&format!("/proc/{pid}/status")) else {
            continue;
        };
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
        };
        let Some(cpus) = field("Cpus_allowed_list:").and_then(|s| CpuSet::parse_list(&s).ok())
        else {
            continue;
        };
        if !all.is_empty() && cpus.is_subset(&all) && cpus.len() < all.len() {
            v.push(Pinned {
                pid,
                name: field("Name:").unwrap_or_default(),
                cpus,
            });
        }
    }
    v.sort_by_key(|p| p.pid);
    v
}

/// Runs `numakit doctor`.
pub fn run(root: Option<PathBuf>, args: DoctorArgs) -> CliResult<u8> {
    let root = open_root(root)?;
    let m = Machine::discover(&root);
    let sys = SystemStat::read(&root).ok();
    let pinned = pinned_processes(&root, &m);
    let findings = checks::doctor(
        &m,
        &Inputs {
            system: sys.as_ref(),
            pinned: &pinned,
        },
    );
    let warn = findings.iter().any(|f| f.severity.counts());
    let report = DoctorReport {
        schema: "numakit.doctor/1",
        root: root.label().to_string(),
        findings,
    };
    if args.json {
        output::print_json(&report)?;
    } else {
        output::print(&render(&report))?;
    }
    Ok(if warn { EXIT_FINDINGS } else { 0 })
}

fn render(r: &DoctorReport) -> String {
    let mut out = String::new();
    for f in &r.findings {
        out.push_str(&format!(
            "{}: {} [{}]\n",
            f.severity.name(),
            output::sanitize(&f.message),
            f.check
        ));
        for e in &f.evidence {
            out.push_str(&format!("  evidence: {}\n", output::sanitize(e)));
        }
        if let Some(x) = &f.fix {
            out.push_str(&format!("  fix: {}\n", output::sanitize(x)));
        }
    }
    let warnings = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let n = r.findings.len();
    let plural = |k: usize, word: &str| format!("{k} {word}{}", if k == 1 { "" } else { "s" });
    out.push_str(&format!(
        "{} ({}, {} information)\n",
        plural(n, "finding"),
        plural(warnings, "warning"),
        n - warnings
    ));
    out
}
