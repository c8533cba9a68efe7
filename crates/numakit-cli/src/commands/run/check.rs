//! `numakit run --check`: resolve and validate everything, try the binding
//! on a thread of numakit (on the running system), and print what would be
//! done, as text or as `numakit.run-check/1` JSON (`docs/run-check-json.md`).
//! Nothing is run. Exit 0 when the binding would succeed, 1 when not.

use numakit_placement::launcher::{EnvVars, LocalRank};
use numakit_placement::{Fallback, Step};
use numakit_root::Root;
use numakit_topo::Machine;
use numakit_topo::pci::NodeSource;
use serde::Serialize;

use super::{NearArgs, Outcome, RunArgs, plan_run};
use crate::error::{CliError, CliResult, EXIT_FINDINGS, EXIT_OK};
use crate::output::{self, sanitize};

/// The schema name and version of the JSON report.
pub const SCHEMA: &str = "numakit.run-check/1";

/// Whether the binding was tried with the kernel.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Tried {
    /// On a thread of numakit; the kernel accepted it (maybe after steps).
    Accepted,
    /// On a thread of numakit; the kernel refused it.
    Refused,
    /// Not tried: a snapshot, or the plan failed before.
    #[serde(rename = "not-tried")]
    Untried,
}

#[derive(Debug, Serialize)]
struct DeviceReport {
    spec: String,
    address: String,
    node: u32,
    node_source: NodeSource,
    how: String,
}

#[derive(Debug, Serialize)]
struct ShareReport {
    index: u32,
    count: u32,
    pool: Option<String>,
    how: String,
}

/// `numakit.run-check/1`.
#[derive(Debug, Serialize)]
struct Report {
    schema: &'static str,
    ok: bool,
    error: Option<String>,
    device: Option<DeviceReport>,
    rank: Option<LocalRank>,
    share: Option<ShareReport>,
    cpus: Option<String>,
    memory: Option<String>,
    fallback: Fallback,
    steps: Vec<Step>,
    tried: Tried,
    notes: Vec<String>,
    warnings: Vec<String>,
}

impl Report {
    fn failed(error: String, fallback: Fallback) -> Report {
        Report {
            schema: SCHEMA,
            ok: false,
            error: Some(error),
            device: None,
            rank: None,
            share: None,
            cpus: None,
            memory: None,
            fallback,
            steps: Vec::new(),
            tried: Tried::Untried,
            notes: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn from_outcome(o: &Outcome, fallback: Fallback) -> Report {
        let mut r = Report::failed(String::new(), fallback);
        r.ok = true;
        r.error = None;
        if let Some(n) = &o.near {
            r.device = Some(DeviceReport {
                spec: n
                    .gpu
                    .as_ref()
                    .map_or_else(|| n.device.spec.to_string(), |g| g.spec.clone()),
                address: n.device.address.to_string(),
                node: n.device.node.get(),
                node_source: n.node_source,
                how: n.how.clone(),
            });
            r.rank = n.rank.clone();
            r.share = n.share.as_ref().map(|s| ShareReport {
                index: s.share.index,
                count: s.share.count,
                pool: o.plan.shared.as_ref().map(|x| x.pool.to_string()),
                how: s.how.clone(),
            });
            r.warnings = n.warnings.clone();
        }
        r.cpus = o.plan.cpus.as_ref().map(ToString::to_string);
        r.memory = o.plan.memory.as_ref().map(ToString::to_string);
        r.steps = o.plan.steps.clone();
        r.notes = o
            .near
            .iter()
            .flat_map(|n| n.notes().iter().cloned())
            .collect();
        r.notes.extend(o.plan.notes.iter().cloned());
        r
    }
}

/// Runs `run --check`.
pub fn run(
    args: &RunArgs,
    near: &NearArgs,
    m: &Machine,
    root: &Root,
    env: &EnvVars,
) -> CliResult<u8> {
    let fallback = match &args.gpu.fallback {
        Some(f) => f.parse()?,
        None => Fallback::Strict,
    };
    let report = match plan_run(args, near, m, root, env) {
        Ok(o) => {
            let mut r = Report::from_outcome(&o, fallback);
            try_it(&o, root, &mut r);
            r
        }
        Err(e) if e.code == crate::error::EXIT_ERROR => Report::failed(e.message, fallback),
        Err(e) => return Err(e),
    };
    if args.json {
        output::print_json(&report)?;
    } else {
        output::print(&text(&report, root))?;
    }
    Ok(if report.ok { EXIT_OK } else { EXIT_FINDINGS })
}

/// Tries the plan on a thread of numakit when the root is the running
/// system.
fn try_it(o: &Outcome, root: &Root, r: &mut Report) {
    if !root.is_live() {
        return;
    }
    match o.plan.try_on_a_thread(root) {
        Ok(steps) => {
            r.steps.extend(steps);
            r.tried = Tried::Accepted;
        }
        Err(e) => {
            r.ok = false;
            r.error = Some(CliError::from(e).message);
            r.tried = Tried::Refused;
        }
    }
}

fn text(r: &Report, root: &Root) -> String {
    let mut lines: Vec<(&str, String)> = Vec::new();
    if let Some(d) = &r.device {
        lines.push(("device", d.how.clone()));
        let src = match d.node_source {
            NodeSource::Sysfs => "its numa_node",
            NodeSource::Inferred => "inferred: its numa_node does not say",
            NodeSource::Unknown => "unknown",
        };
        lines.push(("node", format!("{} ({src})", d.node)));
    }
    if let Some(k) = &r.rank {
        lines.push(("rank", k.to_string()));
    }
    if let Some(s) = &r.share {
        lines.push(("share", s.how.clone()));
    }
    lines.extend(r.notes.iter().map(|n| ("note", n.clone())));
    if r.error.is_none() || r.cpus.is_some() || r.memory.is_some() {
        let unbound = || "not bound".to_string();
        lines.push(("cpus", r.cpus.clone().unwrap_or_else(unbound)));
        lines.push((
            "memory",
            r.memory.clone().unwrap_or_else(|| "no policy".into()),
        ));
    }
    lines.extend(r.steps.iter().map(|s| ("step", s.to_string())));
    lines.extend(r.warnings.iter().map(|w| ("warning", w.clone())));
    let verdict = match (&r.error, &r.tried) {
        (Some(e), _) => format!("would fail: {e}"),
        (None, Tried::Accepted) => {
            "would succeed: the kernel accepted this binding on a thread of numakit; nothing was run".into()
        }
        (None, _) => format!(
            "would succeed as far as {} tells (not tried: it is not the running system); nothing was run",
            root.label()
        ),
    };
    lines.push(("check", verdict));
    lines
        .iter()
        .map(|(k, v)| format!("{k:<9} {}\n", sanitize(v)))
        .collect()
}
