//! Fuzz target for the `numa_maps` parser of `numakit-stat`.
//!
//! Under `cargo fuzz` (`--cfg fuzzing`) a libFuzzer target; built plainly it
//! replays files, folders or stdin through the same checks.
#![cfg_attr(fuzzing, no_main)]

#[cfg(not(fuzzing))]
mod replay;

use numakit_stat::numa_maps;

/// What the parser promises for any input: no panic; the lenient parse
/// keeps exactly the lines the strict parse of each line accepts; page
/// sizes and byte counts never overflow silently.
fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (entries, bad) = numa_maps::parse_lenient(&text);
    let mut good = 0;
    let mut malformed = 0;
    for line in text.lines() {
        match numa_maps::parse_line(line) {
            Ok(Some(_)) => good += 1,
            Ok(None) => {}
            Err(e) => {
                malformed += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    assert_eq!((entries.len(), bad), (good, malformed));
    for e in &entries {
        let ps = e.page_size(4096, 2 << 20);
        assert!(ps > 0);
        let _ = e.pages().checked_mul(ps);
        assert!(!e.policy.is_empty());
    }
    if bad == 0 {
        assert_eq!(numa_maps::parse(&text).map(|v| v.len()).ok(), Some(good));
    }
}

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));

#[cfg(not(fuzzing))]
fn main() {
    replay::main("parse_numa_maps", check, |d| (0..d.len()).collect());
}
