//! Argument parsing and dispatch to the command modules.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::error::{CliError, CliResult};
use crate::{commands, compat};

/// See, control, verify and measure memory locality on Linux.
#[derive(Debug, Parser)]
#[command(name = "numakit", version = VERSION, about, long_about = None, after_help = EXIT_HELP)]
pub struct Cli {
    /// Read the machine from this root instead of `/`: a directory or a
    /// `.tar.gz`/`.tar.bz2` snapshot. Default: `NUMAKIT_ROOT` where set and
    /// not empty.
    #[arg(long, global = true, value_name = "DIR|TARBALL")]
    pub root: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// `numakit --version`: the crate version and the git revision it was
/// built from (`-modified` when the tree had uncommitted changes).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("NUMAKIT_GIT_REV"),
    ")"
);

pub(crate) const EXIT_HELP: &str = "Exit status: 0 success; 1 the work ran and found problems; 2 usage, input or system error; `run` returns its command's status.";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the machine: NUMA nodes, CPUs, memory, PCI devices, IOMMU.
    Topo(commands::topo::TopoArgs),
    /// Save the files numakit reads into a tarball that `--root` replays.
    Snapshot(commands::snapshot::SnapshotArgs),
    /// Run a command with a memory policy and CPU binding (numactl-like, plus `--near DEVICE`).
    Run(commands::run::RunArgs),
    /// Show this process's policy, allowed and bound CPUs and nodes.
    Show(commands::show::ShowArgs),
    /// Count a process's pages per NUMA node, per mapping.
    Pages(commands::pages::PagesArgs),
    /// Move a process's pages from some nodes to others.
    Migrate(commands::migrate::MigrateArgs),
    /// Where memory is: per node, per process, per cgroup, per file's page cache; --audit, --watch.
    Stat(commands::stat::StatArgs),
    /// Check the system for locality problems: each finding with evidence and fix.
    Doctor(commands::doctor::DoctorArgs),
    /// Serve /metrics for Prometheus: per-node memory, numastat, tiering counters, selected processes and cgroups.
    Exporter(commands::exporter::ExporterArgs),
    /// numactl 2.0.19 compatible interface (also when invoked as `numactl`).
    #[command(disable_help_flag = true)]
    Numactl {
        /// numactl's arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// migratepages compatible interface (also when invoked as `migratepages`).
    #[command(disable_help_flag = true)]
    Migratepages {
        /// migratepages' arguments: PID FROM-NODES TO-NODES.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Measure: latency and bandwidth between nodes, loaded latency, first touch, policies, interleave weights, GPU copies.
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
    /// numastat 2.0.19 compatible interface (also when invoked as `numastat`).
    #[command(disable_help_flag = true)]
    Numastat {
        /// numastat's arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Model of the kernel DMA API with a checker.
    #[command(subcommand)]
    Dma(commands::dma::DmaCommand),
    /// Node Feature Discovery labels for this machine (a features.d file).
    Nfd(commands::nfd::NfdArgs),
    /// List, reserve or release persistent huge pages per NUMA node.
    Hugepages(commands::hugepages::HugepagesArgs),
    /// Print a shell completion script (bash, zsh, fish).
    Completions(commands::completions::CompletionsArgs),
    /// Write the manual pages (numakit.1 and one per command) to a directory.
    Manpages(commands::completions::ManpagesArgs),
    /// Real DMA-BUFs: allocate on a node, pass between processes, list, run the camera -> GPU -> display pipeline.
    #[command(subcommand)]
    Dmabuf(commands::dmabuf::DmabufCommand),
    /// The IOMMU, its mode, and every group with whether VFIO can take it.
    Iommu(commands::iommu::IommuArgs),
    /// Move devices to vfio-pci and back (a dry run unless --apply).
    #[command(subcommand)]
    Vfio(commands::vfio::VfioCommand),
}

/// Parses argv (honouring argv[0] compatibility names) and runs the command.
pub fn dispatch(argv: Vec<OsString>) -> CliResult<u8> {
    let argv0 = argv
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match argv0.as_str() {
        "numactl" => return compat::numactl::run(argv.into_iter().skip(1).collect(), None),
        "migratepages" => return compat::migratepages::run(argv.into_iter().skip(1).collect()),
        "numastat" => {
            let prog = argv[0].to_string_lossy().into_owned();
            return compat::numastat::run(prog, argv.into_iter().skip(1).collect());
        }
        _ => {}
    }
    if let Some(code) = compat_subcommand(&argv) {
        return code;
    }
    let cli = match Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) => return parse_error(e),
    };
    let root = cli.root.clone().or_else(env_root);
    match cli.command {
        Command::Topo(a) => commands::topo::run(root, a),
        Command::Snapshot(a) => commands::snapshot::run(root, a),
        Command::Run(a) => commands::run::run(root, a),
        Command::Show(a) => commands::show::run(root, a),
        Command::Pages(a) => commands::pages::run(root, a),
        Command::Migrate(a) => commands::migrate::run(root, a),
        Command::Stat(a) => commands::stat::run(root, a),
        Command::Doctor(a) => commands::doctor::run(root, a),
        Command::Exporter(a) => commands::exporter::run(root, a),
        Command::Numactl { args } => compat::numactl::run(args, cli.root),
        Command::Migratepages { args } => compat::migratepages::run(args),
        Command::Numastat { args } => compat::numastat::run("numastat".into(), args),
        Command::Dma(a) => commands::dma::run(root, a),
        Command::Bench(a) => commands::bench::run(root, a),
        Command::Nfd(a) => commands::nfd::run(root, a),
        Command::Hugepages(a) => commands::hugepages::run(root, a),
        Command::Completions(a) => commands::completions::run(a),
        Command::Manpages(a) => commands::completions::manpages(a),
        Command::Dmabuf(a) => commands::dmabuf::run(root, a),
        Command::Iommu(a) => commands::iommu::run(root, a),
        Command::Vfio(a) => commands::vfio::run(root, a),
    }
}

/// `NUMAKIT_ROOT`, where set and not empty: an empty value means unset.
pub fn env_root() -> Option<PathBuf> {
    std::env::var_os("NUMAKIT_ROOT")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `numakit [--root R] numactl|migratepages ARGS...`: the compatible
/// interfaces get their arguments exactly as given, `--` included, which
/// the argument parser would take for itself. `None` for anything else.
fn compat_subcommand(argv: &[OsString]) -> Option<CliResult<u8>> {
    let mut root = None;
    let mut i = 1;
    while let Some(a) = argv.get(i) {
        let bytes = a.as_encoded_bytes();
        if bytes == b"--root" {
            root = Some(PathBuf::from(argv.get(i + 1)?));
            i += 2;
        } else if let Some(v) = bytes.strip_prefix(b"--root=") {
            root = Some(PathBuf::from(OsString::from_vec(v.to_vec())));
            i += 1;
        } else {
            break;
        }
    }
    let rest = || argv[i + 1..].to_vec();
    match argv.get(i)?.to_str()? {
        "numactl" => Some(compat::numactl::run(rest(), root)),
        "migratepages" => Some(compat::migratepages::run(rest())),
        _ => None,
    }
}

/// What the argument parser refused, as one line and a hint (exit 2);
/// `--help` and `--version` printed on stdout (exit 0).
fn parse_error(e: clap::Error) -> CliResult<u8> {
    use clap::error::ErrorKind;
    let text = e.render().to_string();
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        crate::output::print(&text)?;
        return Ok(crate::error::EXIT_OK);
    }
    Err(usage_error(e.kind(), &text))
}

/// clap's rendered error (`error: WHAT`, indented details and tips, a
/// usage block) as one line and a hint naming the command's help.
fn usage_error(kind: clap::error::ErrorKind, text: &str) -> CliError {
    let command = text
        .lines()
        .find_map(|l| l.strip_prefix("Usage: "))
        .map(|u| {
            u.split_whitespace()
                .take_while(|w| !w.starts_with(['[', '<', '-']))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "numakit".into());
    let see = format!("see '{command} --help'");
    if kind == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        return CliError::new(format!("'{command}' needs a command")).hint(see);
    }
    let mut lines = text.lines();
    let mut what = lines
        .next()
        .map(|l| l.strip_prefix("error: ").unwrap_or(l).trim().to_string())
        .unwrap_or_else(|| "cannot read the arguments".into());
    // indented lines: details of what failed (the missing arguments, the
    // possible values), then `tip: ` lines
    let (tips, details): (Vec<&str>, Vec<&str>) = lines
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .partition(|l| l.starts_with("tip: "));
    if !details.is_empty() {
        let sep = if what.ends_with(':') { " " } else { ": " };
        what = format!("{what}{sep}{}", details.join(", "));
    }
    let mut hint: Vec<&str> = tips.iter().map(|t| t.trim_start_matches("tip: ")).collect();
    hint.push(&see);
    let hint = hint.join("; ");
    CliError::new(what).hint(hint)
}
