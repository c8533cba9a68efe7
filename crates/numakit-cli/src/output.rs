//! Output helpers: escaping strings read from the machine, colour decisions,
//! writing to stdout without panicking on a closed pipe.
//!
//! Nothing here knows the command line's error type: these functions return
//! an [`OutputError`] that carries the cause, and `crate::error` turns it
//! into a message that says what failed.

use std::fmt;
use std::io::{self, IsTerminal, Write};

/// Why output could not be produced. Its text is the cause only (the I/O or
/// JSON error); the command line error adds what failed.
#[derive(Debug)]
pub enum OutputError {
    /// The value could not be rendered as JSON.
    Json(serde_json::Error),
    /// stdout could not be written.
    Write(io::Error),
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputError::Json(e) => e.fmt(f),
            OutputError::Write(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for OutputError {}

/// Escapes control characters so that strings read from the machine cannot
/// drive the terminal.
pub fn sanitize(s: &str) -> String {
    if !s.chars().any(|c| c.is_control() && c != '\t') {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Whether to colour stdout: only on a terminal, and never with `NO_COLOR` set.
pub fn color_stdout() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && io::stdout().is_terminal()
}

/// Writes `text` to stdout. A closed pipe is not an error (exit 0 quietly).
pub fn print(text: &str) -> Result<(), OutputError> {
    print_bytes(text.as_bytes())
}

/// [`print`] for bytes that need not be UTF-8.
pub fn print_bytes(bytes: &[u8]) -> Result<(), OutputError> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(OutputError::Write),
    }
}

/// Writes `text` to stderr. A message that cannot be written (stderr
/// closed, full or a broken pipe) is dropped: there is nowhere left to say
/// so, and the exit status still tells what happened. Never panics, unlike
/// `eprintln!`.
pub fn eprint(text: &str) {
    eprint_bytes(text.as_bytes());
}

/// [`eprint`] for bytes that need not be UTF-8 (a user's argument echoed
/// back as given, as the compatible interfaces do).
pub fn eprint_bytes(bytes: &[u8]) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(bytes).and_then(|_| err.flush());
}

/// Serialises `value` as pretty JSON followed by a newline and prints it.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), OutputError> {
    let mut s = serde_json::to_string_pretty(value).map_err(OutputError::Json)?;
    s.push('\n');
    print(&s)
}

/// Whether stdout is a terminal.
pub fn is_stdout_terminal() -> bool {
    io::stdout().is_terminal()
}

/// Writes `text` to stdout; `Ok(false)` when the reader has gone (a closed
/// pipe), so that a loop can stop.
pub fn print_open(text: &str) -> Result<bool, OutputError> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        r => r.map(|_| true).map_err(OutputError::Write),
    }
}
