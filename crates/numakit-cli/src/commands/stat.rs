//! `numakit stat`: where memory is, system-wide (per node numastat
//! counters, every meminfo field, hugepages per size, tiers, the vmstat
//! balancing and tiering counters), per process (`-p`), per cgroup
//! (`--cgroup`) and per file's page cache (`--file`); `--audit` adds the
//! placement audit of each process, `--watch` a live view with rates.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use numakit_doctor::Finding;
use numakit_doctor::audit::{self, Context};
use numakit_placement::pagecache::{self, FileCache};
use numakit_root::Root;
use numakit_stat::cgroup::{self, CgroupStat};
use numakit_stat::devices::{self, UsedDevice};
use numakit_stat::process::{self, ProcSpec, ProcessStat, ReadOptions};
use numakit_stat::sample::Rates;
use numakit_stat::system::{self, SystemStat};
use numakit_topo::{Machine, Parts};
use serde::Serialize;

use crate::commands::common::open_root;
use crate::error::{CliError, CliResult, EXIT_ERROR, EXIT_FINDINGS, chain};
use crate::output;
use crate::render::stat as render;

/// Schema of the `--json` document.
pub const SCHEMA: &str = "numakit.stat/1";
/// Schema of each `--watch --json` line.
pub const WATCH_SCHEMA: &str = "numakit.stat-watch/1";

/// Arguments of `numakit stat`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 everything asked for was read; 1 --audit found problems; 2 an item (a process, a cgroup, a file) could not be read or matched nothing (the rest is still shown), or bad usage."
)]
pub struct StatArgs {
    /// A process: a PID, or a pattern matched against its name and command line as numastat matches. May be repeated.
    #[arg(short = 'p', long = "pid", value_name = "PID|PATTERN")]
    pub pids: Vec<String>,
    /// A cgroup: a path under /sys/fs/cgroup (or the full path). May be repeated.
    #[arg(long, value_name = "PATH")]
    pub cgroup: Vec<String>,
    /// A file: how much of it is in the page cache, per node (needs the running system). May be repeated.
    #[arg(long, value_name = "PATH")]
    pub file: Vec<PathBuf>,
    /// With -p: audit where each process's threads, memory and devices are (exit 1 on a finding).
    #[arg(long)]
    pub audit: bool,
    /// Show each mapping with its policy, and each thread.
    #[arg(short, long)]
    pub verbose: bool,
    /// Print JSON (schema numakit.stat/1, see docs/stat-json.md; with --watch one numakit.stat-watch/1 object per line).
    #[arg(long)]
    pub json: bool,
    /// Sample every SECONDS and show rates (misses/s, migrations/s, promotions/s) until interrupted.
    #[arg(long, value_name = "SECONDS")]
    pub watch: Option<f64>,
    /// With --watch: stop after N records.
    #[arg(long, value_name = "N", requires = "watch")]
    pub count: Option<u64>,
}

/// An item that could not be read.
#[derive(Debug, Serialize)]
pub struct ItemError {
    /// What (`process 123`, `pattern java`, `cgroup /a`, `file /m`).
    pub item: String,
    /// Why.
    pub message: String,
}

/// A process with its audit.
#[derive(Debug, Serialize)]
pub struct ProcessReport {
    /// The stat.
    #[serde(flatten)]
    pub stat: ProcessStat,
    /// Devices it has open (with --audit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<UsedDevice>>,
    /// Audit findings (with --audit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings: Option<Vec<Finding>>,
}

/// The `numakit.stat/1` document.
#[derive(Debug, Serialize)]
pub struct StatReport {
    /// Always `numakit.stat/1`.
    pub schema: &'static str,
    /// The system view (when no process, cgroup or file is asked for).
    pub system: Option<SystemStat>,
    /// Processes.
    pub processes: Vec<ProcessReport>,
    /// Cgroups.
    pub cgroups: Vec<CgroupStat>,
    /// Files.
    pub files: Vec<FileCache>,
    /// Items that could not be read.
    pub errors: Vec<ItemError>,
}

/// Runs `numakit stat`.
pub fn run(root: Option<PathBuf>, args: StatArgs) -> CliResult<u8> {
    let root = open_root(root)?;
    if let Some(secs) = args.watch {
        if !(0.05..=86400.0).contains(&secs) {
            return Err(CliError::new(format!(
                "--watch {secs}: the interval must be between 0.05 and 86400 seconds"
            )));
        }
        return watch(&root, &args, secs);
    }
    if args.audit && args.pids.is_empty() {
        return Err(
            CliError::new("--audit needs a process: give -p PID or -p PATTERN")
                .hint("numakit stat -p PID --audit; 'numakit doctor' checks the whole system"),
        );
    }
    let report = report(&root, &args)?;
    let findings = report
        .processes
        .iter()
        .filter_map(|p| p.findings.as_ref())
        .flatten()
        .any(|f| f.severity.counts());
    if args.json {
        output::print_json(&report)?;
    } else {
        output::print(&render::report(&report, args.verbose))?;
    }
    for e in &report.errors {
        crate::output::eprint(&format!(
            "numakit: {}: {}\n",
            output::sanitize(&e.item),
            output::sanitize(&e.message)
        ));
    }
    Ok(if !report.errors.is_empty() {
        EXIT_ERROR
    } else if findings {
        EXIT_FINDINGS
    } else {
        0
    })
}

/// The processes named by `specs`, and the specs that matched nothing.
pub fn select(root: &Root, specs: &[String], errors: &mut Vec<ItemError>) -> Vec<i32> {
    let me = root.is_live().then(|| std::process::id() as i32);
    let mut pids = Vec::new();
    for s in specs {
        match ProcSpec::parse(s) {
            ProcSpec::Pid(p) => pids.push(p),
            ProcSpec::Pattern(pat) => {
                let found = process::find(root, &pat, me);
                if found.is_empty() {
                    errors.push(ItemError {
                        item: format!("pattern {pat:?}"),
                        message: "no process matches".into(),
                    });
                }
                pids.extend(found);
            }
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// The read options for this machine.
pub fn read_options(root: &Root, mappings: bool) -> ReadOptions {
    ReadOptions {
        mappings,
        threads: true,
        base_page_size: numakit_placement::page_size() as u64,
        huge_page_size: system::default_huge_page_size(root).unwrap_or(2 << 20),
    }
}

fn report(root: &Root, args: &StatArgs) -> CliResult<StatReport> {
    let mut errors = Vec::new();
    let views = !args.pids.is_empty() || !args.cgroup.is_empty() || !args.file.is_empty();
    let system = if views {
        None
    } else {
        Some(SystemStat::read(root).map_err(|e| {
            CliError::new(format!("cannot read the nodes of {}: {e}", root.label()))
                .hint("a root needs sys/devices/system/node; a kernel without NUMA has none")
        })?)
    };
    let pids = select(root, &args.pids, &mut errors);
    let cpu_nodes = process::cpu_nodes(root);
    let opts = read_options(root, args.verbose || args.json);
    let machine = args.audit.then(|| {
        Machine::discover_parts(
            root,
            Parts {
                pci: true,
                knobs: true,
                cpus: true,
                ..Parts::NODES
            },
        )
    });
    let mut processes = Vec::new();
    for (pid, r) in pids
        .iter()
        .zip(process::read_all(root, &pids, &opts, &cpu_nodes))
    {
        match r {
            Ok(stat) => processes.push(audited(root, stat, machine.as_ref())),
            Err(e) => errors.push(ItemError {
                item: format!("process {pid}"),
                message: chain(&e),
            }),
        }
    }
    let mut cgroups = Vec::new();
    for c in &args.cgroup {
        match cgroup::read(root, c, opts.base_page_size) {
            Ok(s) => cgroups.push(s),
            Err(e) => errors.push(ItemError {
                item: format!("cgroup {c}"),
                message: e.to_string(),
            }),
        }
    }
    let mut files = Vec::new();
    for f in &args.file {
        if !root.is_live() {
            errors.push(ItemError {
                item: format!("file {}", f.display()),
                message: format!(
                    "the page cache of a file needs the running system, not {}",
                    root.label()
                ),
            });
            continue;
        }
        match pagecache::file_cache(f) {
            Ok(c) => files.push(c),
            Err(e) => errors.push(ItemError {
                item: format!("file {}", f.display()),
                message: chain(&e),
            }),
        }
    }
    Ok(StatReport {
        schema: SCHEMA,
        system,
        processes,
        cgroups,
        files,
        errors,
    })
}

fn audited(root: &Root, stat: ProcessStat, m: Option<&Machine>) -> ProcessReport {
    let Some(m) = m else {
        return ProcessReport {
            stat,
            devices: None,
            findings: None,
        };
    };
    let devices = devices::used_devices(root, stat.pid);
    let ctx = Context {
        devices: &devices,
        migrated_pages: process::sched_numa_migrated(root, stat.pid),
        page_size: numakit_placement::page_size() as u64,
    };
    let findings = audit::audit(&stat, m, &ctx);
    ProcessReport {
        stat,
        devices: Some(devices),
        findings: Some(findings),
    }
}

/// One `--watch` record.
#[derive(Debug, Serialize)]
pub struct WatchRecord {
    /// Always `numakit.stat-watch/1`.
    pub schema: &'static str,
    /// Seconds since the first sample.
    pub elapsed_s: f64,
    /// Rates since the previous sample.
    pub rates: Rates,
    /// The latest sample.
    pub system: SystemStat,
    /// The watched processes, latest sample.
    pub processes: Vec<ProcessStat>,
}

fn watch(root: &Root, args: &StatArgs, secs: f64) -> CliResult<u8> {
    let tty = output::is_stdout_terminal() && !args.json;
    let start = Instant::now();
    let read = || {
        SystemStat::read(root)
            .map_err(|e| CliError::new(format!("cannot read the nodes of {}: {e}", root.label())))
    };
    let mut errors = Vec::new();
    let pids = select(root, &args.pids, &mut errors);
    for e in &errors {
        crate::output::eprint(&format!(
            "numakit: {}: {}\n",
            output::sanitize(&e.item),
            output::sanitize(&e.message)
        ));
    }
    let cpu_nodes = process::cpu_nodes(root);
    let opts = read_options(root, false);
    let mut prev = (read()?, Instant::now());
    let mut n = 0u64;
    while args.count.is_none_or(|c| n < c) {
        std::thread::sleep(Duration::from_secs_f64(secs));
        let now = (read()?, Instant::now());
        let rates = Rates::between(&prev.0, &now.0, now.1.duration_since(prev.1).as_secs_f64());
        let processes = process::read_all(root, &pids, &opts, &cpu_nodes)
            .into_iter()
            .filter_map(Result::ok)
            .collect();
        let rec = WatchRecord {
            schema: WATCH_SCHEMA,
            elapsed_s: start.elapsed().as_secs_f64(),
            rates,
            system: now.0.clone(),
            processes,
        };
        let text = if args.json {
            serde_json::to_string(&rec)
                .map_err(|e| CliError::new(format!("cannot render JSON: {e}")))?
                + "\n"
        } else if tty {
            format!("\x1b[H\x1b[2J{}", render::watch(&rec, true))
        } else {
            render::watch(&rec, false)
        };
        if !output::print_open(&text)? {
            break;
        }
        prev = now;
        n += 1;
    }
    Ok(if errors.is_empty() { 0 } else { EXIT_ERROR })
}
