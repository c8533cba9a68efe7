//! Fuzz target for the `numa_maps` parser of `numakit-stat`.
//!
//! Under `cargo fuzz` (`--cfg fuzzing`) a libFuzzer target; built plainly it
//! replays files, folders or stdin through the same checks.
#![cfg_attr(fuzzing, no_main)]

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
    eprintln!("parse_numa_maps: {n} inputs passed");
}
