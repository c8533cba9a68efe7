//! numactl 2.0.19 compatibility: argument translation only.

use std::ffi::OsString;

use crate::error::{CliError, CliResult};

/// Runs the numactl-compatible interface with numactl's arguments (argv[0] removed).
pub fn run(_args: Vec<OsString>) -> CliResult<u8> {
    Err(CliError::new("numactl compatibility is not built yet"))
}
