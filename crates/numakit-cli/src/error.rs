//! One error type for the command line: one line of what failed and why, an
//! optional hint, and the exit code.

use std::fmt;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the work ran and found problems.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: usage, input or system error.
pub const EXIT_ERROR: u8 = 2;

/// An error to show a user.
#[derive(Debug)]
pub struct CliError {
    /// What failed and why, one line, without the `numakit: ` prefix.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// The exit code.
    pub code: u8,
    /// The prefix before the message (`numakit`, or `numactl` when invoked so).
    pub program: &'static str,
}

impl CliError {
    /// An error with exit code 2.
    pub fn new(message: impl fmt::Display) -> Self {
        CliError {
            message: message.to_string(),
            hint: None,
            code: EXIT_ERROR,
            program: "numakit",
        }
    }
    /// Adds a hint line.
    pub fn hint(mut self, hint: impl fmt::Display) -> Self {
        self.hint = Some(hint.to_string());
        self
    }
    /// Sets the exit code.
    pub fn code(mut self, code: u8) -> Self {
        self.code = code;
        self
    }
    /// Prints the error on stderr and returns its exit code.
    pub fn report(&self) -> u8 {
        eprintln!(
            "{}: {}",
            self.program,
            crate::output::sanitize(&self.message)
        );
        if let Some(h) = &self.hint {
            eprintln!("hint: {}", crate::output::sanitize(h));
        }
        self.code
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Renders an error and its whole `source()` chain on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// Result type of the command modules.
pub type CliResult<T = u8> = Result<T, CliError>;
