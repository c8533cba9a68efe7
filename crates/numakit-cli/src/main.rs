//! `numakit`: make memory locality on Linux visible, controllable, verifiable
//! and measurable.
//!
//! This binary is thin: it parses arguments, calls the libraries and renders
//! their answers. Exit codes: 0 success, 1 the work ran and found problems
//! (checker findings, failed verification, misplaced benchmark buffers), 2
//! usage, input or system errors;
//! `run` returns its child's status.

// Output goes through `output` (stdout: `print`, stderr: `eprint`), which
// never panics on a closed or full stream, unlike the print macros.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod cli;
mod commands;
mod compat;
mod error;
mod output;
mod progress;
mod render;

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let code = match cli::dispatch(argv) {
        Ok(code) => code,
        Err(e) => e.report(),
    };
    ExitCode::from(code)
}
