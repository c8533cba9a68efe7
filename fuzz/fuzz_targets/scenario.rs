//! Fuzz target for DMA scenario files: whatever the text, running it on the
//! model gives a report or an error that names a line, never a panic; a
//! report renders as JSON.
//!
//! Under `cargo fuzz` (which sets `--cfg fuzzing`) this is a libFuzzer
//! target; run it with `-rss_limit_mb` so that a scenario that makes the
//! model allocate without bound is found. Built plainly (`cargo run
//! --release --bin scenario -- FILES|DIRS`, or input on stdin) it replays
//! inputs through the same checks, each whole and cut after every line.
#![cfg_attr(fuzzing, no_main)]

#[cfg(not(fuzzing))]
mod replay;

/// Every invariant of the scenario runner, for one input.
fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match numakit_dma::scenario::run_str(text) {
        Ok(report) => {
            serde_json::to_string(&report).expect("the report renders as JSON");
        }
        Err(e) => {
            // an error names a line of the text (or the one after its end)
            assert!(
                (1..=text.lines().count() as u32 + 1).contains(&e.line),
                "{e}"
            );
        }
    }
}

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));

#[cfg(not(fuzzing))]
fn main() {
    replay::main("scenario", check, |d| {
        d.iter()
            .enumerate()
            .filter(|(_, c)| **c == b'\n')
            .map(|(i, _)| i + 1)
            .collect()
    });
}
