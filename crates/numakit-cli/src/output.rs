//! Output helpers: escaping strings read from the machine, colour decisions,
//! writing to stdout without panicking on a closed pipe.

use std::io::{self, IsTerminal, Write};

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
pub fn print(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

/// Serialises `value` as pretty JSON followed by a newline and prints it.
pub fn print_json<T: serde::Serialize>(value: &T) -> crate::error::CliResult<()> {
    let mut s = serde_json::to_string_pretty(value)
        .map_err(|e| crate::error::CliError::new(format!("cannot render JSON: {e}")))?;
    s.push('\n');
    print(&s).map_err(|e| crate::error::CliError::new(format!("cannot write output: {e}")))
}
