//! `numakit pages`.

use std::path::PathBuf;

use crate::error::{CliError, CliResult};

/// Arguments of `numakit pages`.
#[derive(Debug, clap::Args)]
pub struct PagesArgs {}

/// Runs `numakit pages`.
pub fn run(_root: Option<PathBuf>, _args: PagesArgs) -> CliResult<u8> {
    Err(CliError::new("pages is not built yet"))
}
