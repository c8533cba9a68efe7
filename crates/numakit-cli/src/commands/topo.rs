//! `numakit topo`.

use std::path::PathBuf;

use crate::error::{CliError, CliResult};

/// Arguments of `numakit topo`.
#[derive(Debug, clap::Args)]
pub struct TopoArgs {
    /// Print the whole model as JSON (schema `numakit.topology/1`).
    #[arg(long)]
    pub json: bool,
}

/// Runs `numakit topo`.
pub fn run(_root: Option<PathBuf>, _args: TopoArgs) -> CliResult<u8> {
    Err(CliError::new("topo is not built yet"))
}
