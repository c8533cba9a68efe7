//! `numakit dma ...`: the DMA API model.

use crate::error::{CliError, CliResult};

/// DMA subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DmaCommand {
    /// Run a DMA scenario file and report the checker's findings.
    Simulate {
        /// The scenario file.
        file: std::path::PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a DMA subcommand.
pub fn run(cmd: DmaCommand) -> CliResult<u8> {
    match cmd {
        DmaCommand::Simulate { .. } => Err(CliError::new("dma simulate is not built yet")),
    }
}
