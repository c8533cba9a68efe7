//! `numakit run`.

use std::path::PathBuf;

use crate::error::{CliError, CliResult};

/// Arguments of `numakit run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {}

/// Runs `numakit run`.
pub fn run(_root: Option<PathBuf>, _args: RunArgs) -> CliResult<u8> {
    Err(CliError::new("run is not built yet"))
}
