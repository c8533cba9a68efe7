//! The progress bar of long measurements: drawn on stderr, and only when
//! stderr is a terminal, so pipes, files and `--json` consumers never see
//! it.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use numakit_bench::Progress;

/// A bar on stderr that a benchmark moves.
#[derive(Debug)]
pub struct Bar(ProgressBar);

impl Bar {
    /// A bar when stderr is a terminal; `None` otherwise.
    pub fn on_terminal() -> Option<Bar> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style =
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                .map(|s| s.progress_chars("=> "))
                .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Some(Bar(bar))
    }
}

impl Progress for Bar {
    fn begin(&self, steps: u64, what: &str) {
        self.0.set_length(steps);
        self.0.set_position(0);
        self.0.set_prefix(what.to_string());
    }
    fn phase(&self, what: &str) {
        self.0.set_message(what.to_string());
    }
    fn step(&self) {
        self.0.inc(1);
    }
    fn end(&self) {
        self.0.finish_and_clear();
    }
}
