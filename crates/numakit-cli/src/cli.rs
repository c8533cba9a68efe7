//! Argument parsing and dispatch to the command modules.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::error::CliResult;
use crate::{commands, compat};

/// See, control, verify and measure memory locality on Linux.
#[derive(Debug, Parser)]
#[command(name = "numakit", version, about, long_about = None, after_help = EXIT_HELP)]
pub struct Cli {
    /// Read the machine from this root instead of `/`: a directory or a
    /// `.tar.gz`/`.tar.bz2` snapshot.
    #[arg(long, global = true, env = "NUMAKIT_ROOT", value_name = "DIR|TARBALL")]
    pub root: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

const EXIT_HELP: &str = "Exit status: 0 success; 1 the work ran and found problems; 2 usage, input or system error; `run` returns its command's status.";

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
    /// Model of the kernel DMA API with a checker.
    #[command(subcommand)]
    Dma(commands::dma::DmaCommand),
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
        "numactl" => return compat::numactl::run(argv.into_iter().skip(1).collect()),
        "migratepages" => return compat::migratepages::run(argv.into_iter().skip(1).collect()),
        _ => {}
    }
    let cli = match Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                crate::error::EXIT_ERROR
            } else {
                0
            };
            let _ = e.print();
            return Ok(code);
        }
    };
    let root = cli.root.clone();
    match cli.command {
        Command::Topo(a) => commands::topo::run(root, a),
        Command::Snapshot(a) => commands::snapshot::run(root, a),
        Command::Run(a) => commands::run::run(root, a),
        Command::Show(a) => commands::show::run(root, a),
        Command::Pages(a) => commands::pages::run(root, a),
        Command::Migrate(a) => commands::migrate::run(root, a),
        Command::Numactl { args } => compat::numactl::run(args),
        Command::Migratepages { args } => compat::migratepages::run(args),
        Command::Dma(a) => commands::dma::run(root, a),
        Command::Iommu(a) => commands::iommu::run(root, a),
        Command::Vfio(a) => commands::vfio::run(root, a),
    }
}
