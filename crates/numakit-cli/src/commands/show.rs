//! `numakit show`.

use std::path::PathBuf;

use crate::error::{CliError, CliResult};

/// Arguments of `numakit show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {}

/// Runs `numakit show`.
pub fn run(_root: Option<PathBuf>, _args: ShowArgs) -> CliResult<u8> {
    Err(CliError::new("show is not built yet"))
}
