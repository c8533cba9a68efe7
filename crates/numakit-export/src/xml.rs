//! What the XML and SVG writers share: escaping and hwloc's bitmap syntax.

use numakit_types::{IdSet, SetKind};

/// Escapes text for an XML attribute value or element content. Control
/// characters XML 1.0 cannot carry become `?`.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// A set in hwloc's bitmap syntax: 32-bit words, most significant first,
/// each `0x%08x`, separated by commas; the empty set is `0x0`.
pub(crate) fn hwloc_bitmap<K: SetKind>(set: &IdSet<K>) -> String {
    let Some(last) = set.last_raw() else {
        return "0x0".into();
    };
    let words = last / 32 + 1;
    let mut out = String::new();
    for w in (0..words).rev() {
        let mut v: u32 = 0;
        for bit in 0..32 {
            if set.contains_raw(w * 32 + bit) {
                v |= 1 << bit;
            }
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&format!("0x{v:08x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use numakit_types::CpuSet;

    #[test]
    fn bitmaps_as_hwloc_prints_them() {
        let s = |t: &str| hwloc_bitmap(&t.parse::<CpuSet>().unwrap());
        // values from hwloc's own expected outputs
        assert_eq!(s("0-3"), "0x0000000f");
        assert_eq!(s("0-39"), "0x000000ff,0xffffffff");
        assert_eq!(s("32"), "0x00000001,0x00000000");
        assert_eq!(hwloc_bitmap(&CpuSet::new()), "0x0");
    }

    #[test]
    fn escaping() {
        assert_eq!(escape("a<b>&\"'\u{1}"), "a&lt;b&gt;&amp;&quot;&apos;?");
    }
}
