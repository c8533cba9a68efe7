//! Fuzz target for the counter (`/proc/vmstat`, a node's `vmstat` and
//! `numastat`) and `meminfo` parsers of `numakit-stat`.
//!
//! Under `cargo fuzz` (`--cfg fuzzing`) a libFuzzer target; built plainly it
//! replays files, folders or stdin through the same checks.
#![cfg_attr(fuzzing, no_main)]

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
    use std::io::Read;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut n = 0usize;
    if args.is_empty() {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).expect("read stdin");
        check(&buf);
        n += 1;
    }
    for a in &args {
        let p = std::path::Path::new(a);
        let files: Vec<std::path::PathBuf> = if p.is_dir() {
            let mut v: Vec<_> = std::fs::read_dir(p)
                .expect("read corpus folder")
                .map(|e| e.expect("corpus entry").path())
                .collect();
            v.sort();
            v
        } else {
            vec![p.to_path_buf()]
        };
        for f in files {
            let data = std::fs::read(&f).expect("read input");
            check(&data);
            // and every prefix, as a cheap stand-in for mutation
            for cut in 0..data.len() {
                check(&data[..cut]);
            }
            n += 1;
        }
    }
    eprintln!("parse_vmstat: {n} inputs passed");
}
