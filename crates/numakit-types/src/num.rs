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

/// C's `strtoul(s, &end, 0)`, for the interfaces that must read numbers
/// exactly as a C tool does: leading blanks, a sign, `0x` hex, `0` octal or
/// decimal. Returns the value and how many bytes were read (0 when there is
/// no number). Overflow saturates; a minus sign negates modulo 2^64.
///
/// ```
/// use numakit_types::strtoul;
/// assert_eq!(strtoul(b" 0x1fz"), (31, 5));
/// assert_eq!(strtoul(b"010"), (8, 3));
/// assert_eq!(strtoul(b"-1"), (u64::MAX, 2));
/// assert_eq!(strtoul(b"x"), (0, 0));
/// ```
pub fn strtoul(s: &[u8]) -> (u64, usize) {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let (base, start) = if s.get(i) == Some(&b'0')
        && matches!(s.get(i + 1), Some(b'x' | b'X'))
        && s.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit())
    {
        (16, i + 2)
    } else if s.get(i) == Some(&b'0') {
        (8, i)
    } else {
        (10, i)
    };
    let mut j = start;
    let mut v: u64 = 0;
    let mut overflow = false;
    while let Some(d) = s.get(j).and_then(|c| (*c as char).to_digit(base)) {
        match v
            .checked_mul(u64::from(base))
            .and_then(|x| x.checked_add(u64::from(d)))
        {
            Some(x) => v = x,
            None => overflow = true,
        }
        j += 1;
    }
    if j == start {
        return (0, 0);
    }
    if overflow {
        return (u64::MAX, j);
    }
    (if neg { v.wrapping_neg() } else { v }, j)
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
