//! Property tests for the parsers: maps lines, address ranges, device names.

use numakit_placement::DeviceSpec;
use numakit_placement::maps::{MapsEntry, parse_maps, parse_maps_line, parse_range};
use proptest::prelude::*;

fn entry() -> impl Strategy<Value = MapsEntry> {
    (
        any::<u64>(),
        0u64..1 << 40,
        "[r-][w-][x-][ps]",
        any::<u64>(),
        "[0-9a-f]{2}:[0-9a-f]{2}",
        any::<u64>(),
        prop_oneof![
            Just(String::new()),
            "/[a-z/._-]{1,30}",
            Just("[heap]".to_string()),
            Just("/tmp/a b (deleted)".to_string())
        ],
    )
        .prop_map(|(start, len, perms, offset, dev, inode, path)| MapsEntry {
            start,
            end: start.saturating_add(len),
            perms,
            offset,
            dev,
            inode,
            path,
        })
}

proptest! {
    #[test]
    fn maps_line_roundtrip(e in entry()) {
        prop_assert_eq!(parse_maps_line(&e.to_string()).unwrap(), e);
    }

    #[test]
    fn maps_text_roundtrip(es in proptest::collection::vec(entry(), 0..20)) {
        let text: String = es.iter().map(|e| format!("{e}\n")).collect();
        prop_assert_eq!(parse_maps(&text).unwrap(), es);
    }

    #[test]
    fn maps_never_panics(s in "\\PC{0,80}") {
        let _ = parse_maps(&s);
    }

    #[test]
    fn range_roundtrip(a in any::<u64>(), len in 1u64..u64::MAX) {
        let b = a.saturating_add(len);
        prop_assume!(b > a);
        let r = parse_range(&format!("{a:x}-{b:x}")).unwrap();
        prop_assert_eq!((r.start(), r.end()), (a, b));
        let r = parse_range(&format!("0x{a:x}-0x{b:x}")).unwrap();
        prop_assert_eq!((r.start(), r.end()), (a, b));
        let rev = format!("{b:x}-{a:x}");
        prop_assert!(parse_range(&rev).is_err());
    }

    #[test]
    fn range_never_panics(s in "\\PC{0,40}") {
        let _ = parse_range(&s);
    }

    #[test]
    fn device_roundtrip(n in 0u32..1000, name in "[a-z][a-z0-9]{0,12}",
                        dom in 0u32..0x10000, bus in 0u8.., dev in 0u8..32, f in 0u8..8) {
        for s in [
            format!("gpu:{n}"),
            format!("nvme:{n}"),
            format!("net:{name}"),
            format!("block:{name}"),
            format!("{dom:04x}:{bus:02x}:{dev:02x}.{f}"),
        ] {
            let d: DeviceSpec = s.parse().unwrap();
            prop_assert_eq!(d.to_string(), s);
        }
    }

    #[test]
    fn device_never_panics(s in "\\PC{0,30}") {
        let _ = s.parse::<DeviceSpec>();
    }
}
