//! `numakit snapshot FILE.tar.gz`.

use std::path::PathBuf;

use crate::error::{CliError, CliResult};

/// Arguments of `numakit snapshot`.
#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {
    /// The tarball to write (`.tar.gz`).
    pub file: PathBuf,
}

/// Runs `numakit snapshot`.
pub fn run(_root: Option<PathBuf>, _args: SnapshotArgs) -> CliResult<u8> {
    Err(CliError::new("snapshot is not built yet"))
}
