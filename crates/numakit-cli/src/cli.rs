//! Argument parsing and dispatch to the command modules.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands;
use crate::error::CliResult;

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
    /// Model of the kernel DMA API with a checker.
    #[command(subcommand)]
    Dma(commands::dma::DmaCommand),
}

/// Parses argv (honouring argv[0] compatibility names) and runs the command.
pub fn dispatch(argv: Vec<OsString>) -> CliResult<u8> {
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
        Command::Dma(a) => commands::dma::run(a),
    }
}
