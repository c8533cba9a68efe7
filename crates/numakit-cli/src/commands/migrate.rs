//! `numakit migrate` and `migratepages`.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::error::{CliError, CliResult};

/// Arguments of `numakit migrate`.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {}

/// Runs `numakit migrate`.
pub fn run(_root: Option<PathBuf>, _args: MigrateArgs) -> CliResult<u8> {
    Err(CliError::new("migrate is not built yet"))
}

/// Runs the `migratepages PID FROM TO` compatible interface.
pub fn run_migratepages(_args: Vec<OsString>) -> CliResult<u8> {
    Err(CliError::new("migratepages is not built yet"))
}
