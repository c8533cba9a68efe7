//! Numbers as the kernel writes them in sysfs and procfs files.

/// Parses one number as sysfs attributes write it: decimal (`4096`), or hex
/// with a `0x`/`0X` prefix (`0x1000`). Surrounding whitespace is ignored;
/// anything else (a sign, a suffix, an empty string) is `None`.
///
/// ```
/// use numakit_types::parse_u64;
/// assert_eq!(parse_u64("4096\n"), Some(4096));
/// assert_eq!(parse_u64("0x1000"), Some(4096));
/// assert_eq!(parse_u64("-1"), None);
/// ```
pub fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::parse_u64;

    #[test]
    fn decimal_and_prefixed_hex() {
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64(" 42\n"), Some(42));
        assert_eq!(parse_u64("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64("0x1f"), Some(31));
        assert_eq!(parse_u64("0XFF"), Some(255));
        assert_eq!(parse_u64("0xffffffffffffffff"), Some(u64::MAX));
    }

    #[test]
    fn garbage_is_none() {
        for s in [
            "",
            " ",
            "-1",
            "+",
            "0x",
            "1f",
            "12 kB",
            "0x1g",
            "18446744073709551616",
        ] {
            assert_eq!(parse_u64(s), None, "{s:?}");
        }
    }
}
