//! Fuzz target for the counter (`/proc/vmstat`, a node's `vmstat` and
//! `numastat`) and `meminfo` parsers of `numakit-stat`.
//!
//! Under `cargo fuzz` (`--cfg fuzzing`) a libFuzzer target; built plainly it
//! replays files, folders or stdin through the same checks.
#![cfg_attr(fuzzing, no_main)]

#[cfg(not(fuzzing))]
mod replay;

use numakit_stat::{counters, meminfo};

/// No panic; every non-blank line is either a value or counted as
/// malformed; what parses prints back to text that parses the same.
fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines = text
        .lines()
        .filter(|l| {
            !l.trim_matches(|c: char| c.is_whitespace() || c == '\0')
                .is_empty()
        })
        .count();
    let c = counters::parse(&text);
    assert_eq!(c.values.len() + c.malformed, lines);
    let printed: String = c.values.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
    assert_eq!(counters::parse(&printed).values, c.values);
    let _ = c.sum_prefix("numa_");
    let m = meminfo::parse(&text);
    assert!(m.fields.len() + m.malformed <= text.lines().count());
    let printed: String = m
        .fields
        .iter()
        .map(|f| match f.value {
            meminfo::Value::Bytes(b) => format!("Node 0 {}: {} kB\n", f.key, b / 1024),
            meminfo::Value::Count(n) => format!("{}: {n}\n", f.key),
        })
        .collect();
    assert_eq!(meminfo::parse(&printed).fields, m.fields);
}

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));

#[cfg(not(fuzzing))]
fn main() {
    replay::main("parse_vmstat", check, |d| (0..d.len()).collect());
}
