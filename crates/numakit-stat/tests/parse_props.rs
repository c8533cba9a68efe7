//! The parsers on arbitrary input: never a panic, lenient and strict
//! parses agree, what parses prints back the same; and the fuzz corpus
//! (`fuzz/corpus/`) replayed.

use numakit_stat::{counters, meminfo, numa_maps};
use proptest::prelude::*;

/// Text made of numa_maps-like pieces, so that lines often almost parse.
fn numa_maps_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("default".to_string()),
        Just("bind:0-1".to_string()),
        Just("prefer (many):1".to_string()),
        Just("weighted interleave:0-3".to_string()),
        Just("heap".to_string()),
        Just("stack".to_string()),
        Just("huge".to_string()),
        "[0-9a-f]{1,17}",
        "N[0-9]{1,3}=[0-9]{1,21}",
        "(anon|dirty|mapped|kernelpagesize_kB|file)=[0-9a-z/]{0,8}",
        "[ -~]{0,6}",
    ];
    prop::collection::vec(
        prop::collection::vec(token, 0..8).prop_map(|t| t.join(" ")),
        0..6,
    )
    .prop_map(|l| l.join("\n"))
}

proptest! {
    #[test]
    fn numa_maps_never_panics(text in numa_maps_text()) {
        let (entries, bad) = numa_maps::parse_lenient(&text);
        let strict: Vec<_> = text.lines().map(numa_maps::parse_line).collect();
        prop_assert_eq!(entries.len(), strict.iter().filter(|r| matches!(r, Ok(Some(_)))).count());
        prop_assert_eq!(bad, strict.iter().filter(|r| r.is_err()).count());
        for e in entries {
            prop_assert!(e.page_size(4096, 2 << 20) > 0);
        }
    }

    #[test]
    fn counters_and_meminfo_never_panic(text in "([a-zA-Z_()0-9 :\\t]{0,30}\n){0,8}") {
        let c = counters::parse(&text);
        let printed: String = c.values.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
        prop_assert_eq!(counters::parse(&printed).values, c.values);
        let m = meminfo::parse(&text);
        prop_assert!(m.fields.len() + m.malformed <= text.lines().count());
    }
}

#[test]
fn fuzz_corpus_replays() {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut n = 0;
    for dir in ["parse_numa_maps", "parse_vmstat"] {
        for e in std::fs::read_dir(base.join(dir)).unwrap() {
            let text =
                String::from_utf8_lossy(&std::fs::read(e.unwrap().path()).unwrap()).into_owned();
            let _ = numa_maps::parse_lenient(&text);
            let _ = counters::parse(&text);
            let _ = meminfo::parse(&text);
            n += 1;
        }
    }
    assert!(n >= 7);
}
