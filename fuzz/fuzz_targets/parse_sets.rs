//! Fuzz target for the kernel set syntaxes and PCI addresses.
//!
//! Under `cargo fuzz` (which sets `--cfg fuzzing`) this is a libFuzzer
//! target. Built plainly (`cargo run --release -- FILES|DIRS`, or input on
//! stdin) it replays inputs through the same checks, so the corpus runs on a
//! stable toolchain too.
#![cfg_attr(fuzzing, no_main)]

#[cfg(not(fuzzing))]
mod replay;

use numakit_types::{CpuSet, NodeSet, PciAddress};

/// Every invariant the parsers promise, for one input.
fn check(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    // The kernel list syntax: what parses prints back as a list that parses
    // to the same set, and as a mask that parses to the same set.
    if let Ok(set) = CpuSet::parse_list(s) {
        let list = set.to_string();
        let again = CpuSet::parse_list(&list).expect("printed list parses");
        assert_eq!(again, set, "list round trip of {s:?} via {list:?}");
        let mask = set.to_mask_string(0);
        let from_mask = CpuSet::parse_mask(&mask).expect("printed mask parses");
        assert_eq!(from_mask, set, "mask round trip of {s:?} via {mask:?}");
        assert_eq!(set.len(), set.iter().count());
    }
    if let Ok(set) = NodeSet::parse_list(s) {
        let list = set.to_string();
        assert_eq!(NodeSet::parse_list(&list).ok(), Some(set), "{s:?}");
    }
    // The mask syntax: what parses prints back to the same set, whatever
    // width is asked for.
    if let Ok(set) = CpuSet::parse_mask(s) {
        for nbits in [0, 1, 32, 64, 1000] {
            let mask = set.to_mask_string(nbits);
            assert_eq!(
                CpuSet::parse_mask(&mask).ok(),
                Some(set.clone()),
                "mask round trip of {s:?} via {mask:?} ({nbits} bits)"
            );
        }
        let list = set.to_string();
        assert_eq!(
            CpuSet::parse_list(&list).ok(),
            Some(set),
            "{s:?} via {list:?}"
        );
    }
    // PCI addresses: what parses prints in the full form and parses back.
    if let Ok(a) = s.parse::<PciAddress>() {
        let printed = a.to_string();
        assert_eq!(
            printed.parse::<PciAddress>().ok(),
            Some(a),
            "{s:?} via {printed:?}"
        );
        assert!(a.device < 32 && a.function < 8);
    }
}

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));

#[cfg(not(fuzzing))]
fn main() {
    replay::main("parse_sets", check, |d| (0..d.len()).collect());
}
