//! Property tests for the node meminfo parser.

use numakit_topo::node::parse_node_meminfo;
use proptest::prelude::*;

proptest! {
    #[test]
    fn kb_values_are_bytes_or_unknown(node in 0u32..2048, key in "[A-Za-z_()]{1,20}", v in any::<u64>()) {
        let m = parse_node_meminfo(&format!("Node {node} {key}:   {v} kB\n"));
        prop_assert_eq!(m.get(&key).copied(), v.checked_mul(1024));
    }

    #[test]
    fn counts_stay_counts(key in "[A-Za-z_]{1,20}", v in any::<u64>()) {
        let m = parse_node_meminfo(&format!("Node 0 {key}: {v}\n\0"));
        prop_assert_eq!(m.get(&key).copied(), Some(v));
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC*") {
        let _ = parse_node_meminfo(&s);
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_node_meminfo(&String::from_utf8_lossy(&b));
    }
}
