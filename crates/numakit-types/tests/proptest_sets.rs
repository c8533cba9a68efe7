//! Property tests for the kernel list and mask syntaxes.
use numakit_types::{CpuSet, NodeSet};
use proptest::prelude::*;

fn ids() -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec(0u32..5000, 0..200)
}

proptest! {
    #[test]
    fn list_roundtrip(v in ids()) {
        let s = CpuSet::from_raw(v.iter().copied());
        let text = s.to_string();
        let back = CpuSet::parse_list(&text).unwrap();
        prop_assert_eq!(&back, &s);
        let mut sorted = v.clone();
        sorted.sort_unstable();
        sorted.dedup();
        prop_assert_eq!(back.iter_raw().collect::<Vec<_>>(), sorted);
    }

    #[test]
    fn mask_roundtrip(v in prop::collection::vec(0u32..1024, 0..200), extra in 0u32..=1024) {
        // node numbers and node masks stop at the kernel's 1024 nodes
        let s = NodeSet::from_raw(v.iter().copied());
        let m = s.to_mask_string(extra);
        prop_assert_eq!(NodeSet::parse_mask(&m).unwrap(), s);
        // every word after the first is exactly 8 hex digits
        for w in m.split(',').skip(1) {
            prop_assert_eq!(w.len(), 8);
        }
    }

    #[test]
    fn parse_list_never_panics(s in ".{0,64}") {
        let _ = CpuSet::parse_list(&s);
        let _ = CpuSet::parse_mask(&s);
    }

    #[test]
    fn parse_list_grammar_like(s in "[0-9,\\-:/ ]{0,40}") {
        if let Ok(set) = CpuSet::parse_list(&s) {
            // anything accepted prints to something that parses to the same set
            prop_assert_eq!(CpuSet::parse_list(&set.to_string()).unwrap(), set);
        }
    }

    #[test]
    fn set_algebra(a in ids(), b in ids()) {
        let a = CpuSet::from_raw(a);
        let b = CpuSet::from_raw(b);
        let u = a.union(&b);
        let i = a.intersection(&b);
        prop_assert!(i.is_subset(&a) && i.is_subset(&b));
        prop_assert!(a.is_subset(&u) && b.is_subset(&u));
        prop_assert_eq!(a.difference(&b).union(&i), a.clone());
        prop_assert_eq!(u.len() + i.len(), a.len() + b.len());
        prop_assert_eq!(a.intersects(&b), !i.is_empty());
    }
}
