//! The node and CPU specification grammar of libnuma 2.0.19
//! (`numa_parse_nodestring` / `numa_parse_cpustring`), as numactl accepts it.
//!
//! A specification is, in order:
//! - an optional `!`: the result is inverted over `0..invert_limit` (libnuma
//!   uses the number of nodes with memory, or the number of configured CPUs);
//! - an optional `+`: every number counts within the allowed set (`+0` is
//!   the first allowed node);
//! - a comma list of numbers and `A-B` ranges, or `all` (the allowed set;
//!   it ends the list, whatever came before), or, for nodes, a device:
//!   `netdev:IF`, `pci:...`, `block:DEV`, `file:PATH`, `ip:HOST` (it also
//!   ends the list).
//!
//! Numbers are read like C's `strtoul(s, &end, 0)`: leading white space, an
//! optional sign, `0x` hex and leading-`0` octal. Every number and both ends
//! of a range must be in the allowed set (the process's cpuset, or with
//! `--all` every configured node/CPU); a range takes only the allowed
//! members between its ends. The empty string is the empty set. Anything
//! else is invalid, with libnuma's warning where libnuma prints one.
//!
//! One deliberate difference: libnuma truncates numbers to 32 bits before
//! the allowed check (so `4294967296` means node 0); here such numbers are
//! out of range.

use std::collections::BTreeSet;

/// What is being parsed: the warnings differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A node specification (`--membind`, `--cpunodebind`, ...).
    Node,
    /// A CPU specification (`--physcpubind`).
    Cpu,
}

/// What a specification is checked against.
#[derive(Debug, Clone)]
pub struct Bounds {
    /// The numbers that may appear (the allowed set).
    pub allowed: BTreeSet<u32>,
    /// The size in bits of libnuma's mask (what a relative number past the
    /// end of the allowed set turns into in the warning).
    pub mask_bits: u32,
    /// `!` inverts over `0..invert_limit`.
    pub invert_limit: u32,
}

/// An invalid specification: numactl prints `<spec> is invalid` after
/// `warning` (already formatted, with its line ends), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The text for stderr, or `None` when libnuma stays silent.
    pub warning: Option<Vec<u8>>,
}

/// Resolves a device specification (`netdev:eth0`) to nodes. Returns `None`
/// when `rest` does not start with a device prefix, `Some(Err(warning))`
/// when it names no usable device.
pub type Resolver<'a> = dyn FnMut(&[u8]) -> Option<Result<BTreeSet<u32>, Vec<u8>>> + 'a;

/// libnuma's warning format: prefix, message, newline. The message's parts
/// are bytes: what the user gave is echoed exactly, as C prints it.
fn warn(parts: &[&[u8]]) -> Invalid {
    let mut w = b"libnuma: Warning: ".to_vec();
    for p in parts {
        w.extend_from_slice(p);
    }
    w.push(b'\n');
    Invalid { warning: Some(w) }
}

pub use numakit_types::strtoul;

/// libnuma's `get_nr`: a number, or with `relative` the n-th allowed one.
fn get_nr(s: &[u8], b: &Bounds, relative: bool) -> (u64, usize) {
    let (v, n) = strtoul(s);
    if !relative || n == 0 {
        return (v, n);
    }
    let nr = v as i64;
    if nr < 0 {
        return (u64::MAX, n);
    }
    let found = b
        .allowed
        .iter()
        .copied()
        .filter(|&x| x < b.mask_bits)
        .nth(nr as usize);
    (u64::from(found.unwrap_or(b.mask_bits)), n)
}

fn allowed(b: &Bounds, v: u64) -> bool {
    u32::try_from(v).is_ok_and(|v| b.allowed.contains(&v))
}

/// How C's `printf("%d", unsigned long)` shows a value on x86_64.
fn as_c_int(v: u64) -> i32 {
    v as u32 as i32
}

/// Parses a node or CPU specification.
///
/// One function, longer than most, because it follows libnuma's
/// `numa_parse_nodestring`/`numa_parse_cpustring` loop step by step, which
/// is what keeps its warnings and their order the same as libnuma's.
pub fn parse(
    s: &[u8],
    kind: Kind,
    b: &Bounds,
    resolve: &mut Resolver<'_>,
) -> Result<BTreeSet<u32>, Invalid> {
    let mut mask = BTreeSet::new();
    if s.is_empty() {
        return Ok(mask);
    }
    let mut i = 0;
    let invert = s[0] == b'!';
    if invert {
        i += 1;
    }
    let relative = s.get(i) == Some(&b'+');
    if relative {
        i += 1;
    }
    let (what, desc) = match kind {
        Kind::Node => ("node", "node description"),
        Kind::Cpu => ("cpu", "cpu description"),
    };
    loop {
        let rest = &s[i..];
        if kind == Kind::Cpu || rest.first().is_some_and(u8::is_ascii_alphabetic) {
            if rest == b"all" {
                mask = b.allowed.clone();
                break;
            }
            if kind == Kind::Node
                && let Some(r) = resolve(rest)
            {
                match r {
                    Ok(nodes) => {
                        mask.extend(nodes);
                        break;
                    }
                    Err(w) => {
                        return Err(Invalid { warning: Some(w) });
                    }
                }
            }
        }
        let (arg, n) = get_nr(rest, b, relative);
        if n == 0 {
            return Err(warn(&[
                b"unparseable ",
                desc.as_bytes(),
                b" `",
                rest,
                b"'\n",
            ]));
        }
        if !allowed(b, arg) {
            return Err(match kind {
                Kind::Node => {
                    warn(&[format!("node argument {} is out of range\n", as_c_int(arg)).as_bytes()])
                }
                Kind::Cpu => warn(&[b"cpu argument ", rest, b" is out of range\n"]),
            });
        }
        mask.insert(arg as u32);
        i += n;
        if s.get(i) == Some(&b'-') {
            i += 1;
            let rest2 = &s[i..];
            let (arg2, n2) = get_nr(rest2, b, relative);
            if n2 == 0 {
                return Err(warn(&[
                    b"missing ",
                    what.as_bytes(),
                    b" argument ",
                    rest2,
                    b"\n",
                ]));
            }
            if !allowed(b, arg2) {
                return Err(match kind {
                    Kind::Node => {
                        warn(&[
                            format!("node argument {} out of range\n", as_c_int(arg2)).as_bytes()
                        ])
                    }
                    Kind::Cpu => warn(&[b"cpu argument ", rest2, b" out of range\n"]),
                });
            }
            if arg <= arg2 {
                mask.extend(b.allowed.range(arg as u32..=arg2 as u32).copied());
            }
            i += n2;
        }
        match s.get(i) {
            Some(b',') => i += 1,
            None => break,
            Some(_) => return Err(Invalid { warning: None }),
        }
    }
    if invert {
        for x in 0..b.invert_limit {
            if !mask.remove(&x) {
                mask.insert(x);
            }
        }
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bounds(allowed: &[u32], invert_limit: u32) -> Bounds {
        Bounds {
            allowed: allowed.iter().copied().collect(),
            mask_bits: 1024,
            invert_limit,
        }
    }

    fn no_devices(_: &[u8]) -> Option<Result<BTreeSet<u32>, Vec<u8>>> {
        None
    }

    fn p(s: &str, kind: Kind, b: &Bounds) -> Result<Vec<u32>, Option<String>> {
        parse(s.as_bytes(), kind, b, &mut no_devices)
            .map(|m| m.into_iter().collect())
            .map_err(|e| e.warning.map(|w| String::from_utf8(w).unwrap()))
    }

    #[test]
    fn numbers_like_strtoul() {
        assert_eq!(strtoul(b"12,3"), (12, 2));
        assert_eq!(strtoul(b"0x1f"), (31, 4));
        assert_eq!(strtoul(b"0x"), (0, 1));
        assert_eq!(strtoul(b"010"), (8, 3));
        assert_eq!(strtoul(b" \t7"), (7, 3));
        assert_eq!(strtoul(b"-1"), (u64::MAX, 2));
        assert_eq!(strtoul(b"-"), (0, 0));
        assert_eq!(strtoul(b"x"), (0, 0));
        assert_eq!(strtoul(b"99999999999999999999999"), (u64::MAX, 23));
    }

    #[test]
    fn grammar() {
        let b = bounds(&[0, 1, 2, 3], 4);
        assert_eq!(p("", Kind::Node, &b), Ok(vec![]));
        assert_eq!(p("1", Kind::Node, &b), Ok(vec![1]));
        assert_eq!(p("0-2", Kind::Node, &b), Ok(vec![0, 1, 2]));
        assert_eq!(p("3,0-1", Kind::Node, &b), Ok(vec![0, 1, 3]));
        assert_eq!(p("2-1", Kind::Node, &b), Ok(vec![2]));
        assert_eq!(p("all", Kind::Node, &b), Ok(vec![0, 1, 2, 3]));
        assert_eq!(p("1,all", Kind::Node, &b), Ok(vec![0, 1, 2, 3]));
        assert_eq!(p("!1", Kind::Node, &b), Ok(vec![0, 2, 3]));
        assert_eq!(p("!all", Kind::Node, &b), Ok(vec![]));
        assert_eq!(p("+1", Kind::Node, &b), Ok(vec![1]));
        assert_eq!(p("0x2", Kind::Node, &b), Ok(vec![2]));
        assert_eq!(p("-0", Kind::Node, &b), Ok(vec![0]));
        assert_eq!(p(" 0", Kind::Node, &b), Ok(vec![0]));
        let sparse = bounds(&[2, 5], 2);
        assert_eq!(p("+1", Kind::Node, &sparse), Ok(vec![5]));
        assert_eq!(p("+0-1", Kind::Node, &sparse), Ok(vec![2, 5]));
        assert_eq!(p("2-5", Kind::Node, &sparse), Ok(vec![2, 5]));
        assert_eq!(p("!5", Kind::Node, &sparse), Ok(vec![0, 1, 5]));
    }

    #[test]
    fn warnings_match_libnuma() {
        let b = bounds(&[0], 1);
        let w = |s: &str| p(s, Kind::Node, &b).unwrap_err();
        assert_eq!(
            w("5").as_deref(),
            Some("libnuma: Warning: node argument 5 is out of range\n\n")
        );
        assert_eq!(
            w("0-5").as_deref(),
            Some("libnuma: Warning: node argument 5 out of range\n\n")
        );
        assert_eq!(
            w("1-0").as_deref(),
            Some("libnuma: Warning: node argument 1 is out of range\n\n")
        );
        assert_eq!(
            w("x").as_deref(),
            Some("libnuma: Warning: unparseable node description `x'\n\n")
        );
        assert_eq!(
            w("0,").as_deref(),
            Some("libnuma: Warning: unparseable node description `'\n\n")
        );
        assert_eq!(
            w("all,0").as_deref(),
            Some("libnuma: Warning: unparseable node description `all,0'\n\n")
        );
        assert_eq!(
            w("0-").as_deref(),
            Some("libnuma: Warning: missing node argument \n\n")
        );
        assert_eq!(
            w("+1").as_deref(),
            Some("libnuma: Warning: node argument 1024 is out of range\n\n")
        );
        assert_eq!(
            w("-1").as_deref(),
            Some("libnuma: Warning: node argument -1 is out of range\n\n")
        );
        assert_eq!(w("0x"), None);
        assert_eq!(w("0;1"), None);
        let c = bounds(&[0, 1], 2);
        assert_eq!(
            p("0,7", Kind::Cpu, &c).unwrap_err().as_deref(),
            Some("libnuma: Warning: cpu argument 7 is out of range\n\n")
        );
        assert_eq!(
            p("0-7", Kind::Cpu, &c).unwrap_err().as_deref(),
            Some("libnuma: Warning: cpu argument 7 out of range\n\n")
        );
        assert_eq!(
            p("x", Kind::Cpu, &c).unwrap_err().as_deref(),
            Some("libnuma: Warning: unparseable cpu description `x'\n\n")
        );
        assert_eq!(p("all", Kind::Cpu, &c), Ok(vec![0, 1]));
    }

    #[test]
    fn devices_end_the_list() {
        let b = bounds(&[0, 1], 2);
        let mut r = |s: &[u8]| -> Option<Result<BTreeSet<u32>, Vec<u8>>> {
            match s {
                b"netdev:eth0" => Some(Ok([1].into())),
                b"netdev:lo" => Some(Err("no node\n".into())),
                _ => None,
            }
        };
        let got = |s: &str, r: &mut Resolver<'_>| {
            parse(s.as_bytes(), Kind::Node, &b, r).map(|m| m.into_iter().collect::<Vec<_>>())
        };
        assert_eq!(got("netdev:eth0", &mut r), Ok(vec![1]));
        assert_eq!(got("0,netdev:eth0", &mut r), Ok(vec![0, 1]));
        assert_eq!(got("!netdev:eth0", &mut r), Ok(vec![0]));
        assert_eq!(
            got("netdev:lo", &mut r),
            Err(Invalid {
                warning: Some("no node\n".into())
            })
        );
        assert!(got("bogus:x", &mut r).is_err());
    }

    /// One element of a generated list.
    #[derive(Debug, Clone)]
    enum Item {
        One(u32),
        Range(u32, u32),
    }

    /// A generated specification: what it says, and its text.
    #[derive(Debug, Clone)]
    struct Spec {
        invert: bool,
        relative: bool,
        all: bool,
        items: Vec<Item>,
    }

    impl Spec {
        fn text(&self) -> String {
            let mut s = String::new();
            if self.invert {
                s.push('!');
            }
            if self.relative {
                s.push('+');
            }
            if self.all {
                s.push_str("all");
            } else {
                let parts: Vec<String> = self
                    .items
                    .iter()
                    .map(|i| match i {
                        Item::One(a) => a.to_string(),
                        Item::Range(a, b) => format!("{a}-{b}"),
                    })
                    .collect();
                s.push_str(&parts.join(","));
            }
            s
        }

        /// The reference model: what the specification means, by the
        /// rules in the module documentation, computed from the structure
        /// instead of the text.
        fn model(&self, b: &Bounds) -> Option<BTreeSet<u32>> {
            let allowed: Vec<u32> = b.allowed.iter().copied().collect();
            let map = |n: u32| -> Option<u32> {
                if self.relative {
                    allowed.get(n as usize).copied()
                } else {
                    b.allowed.contains(&n).then_some(n)
                }
            };
            let mut set = BTreeSet::new();
            if self.all {
                set = b.allowed.clone();
            } else {
                for it in &self.items {
                    match *it {
                        Item::One(a) => {
                            set.insert(map(a)?);
                        }
                        Item::Range(a, z) => {
                            let (a, z) = (map(a)?, map(z)?);
                            set.insert(a);
                            set.extend(allowed.iter().filter(|&&x| x >= a && x <= z));
                        }
                    }
                }
            }
            if self.invert {
                set = (0..b.invert_limit)
                    .filter(|x| !set.contains(x))
                    .chain(set.iter().copied().filter(|&x| x >= b.invert_limit))
                    .collect();
            }
            Some(set)
        }
    }

    fn spec() -> impl Strategy<Value = Spec> {
        let item = prop_oneof![
            (0u32..12).prop_map(Item::One),
            (0u32..12, 0u32..12).prop_map(|(a, b)| Item::Range(a, b)),
        ];
        (
            any::<bool>(),
            any::<bool>(),
            prop::bool::weighted(0.1),
            prop::collection::vec(item, 1..5),
        )
            .prop_map(|(invert, relative, all, items)| Spec {
                invert,
                relative,
                all,
                items,
            })
    }

    fn bounds_strategy() -> impl Strategy<Value = Bounds> {
        (prop::collection::btree_set(0u32..10, 0..8), 0u32..10).prop_map(|(allowed, inv)| Bounds {
            allowed,
            mask_bits: 64,
            invert_limit: inv,
        })
    }

    proptest! {
        #[test]
        fn generated_specs_match_the_model(s in spec(), b in bounds_strategy(), cpu in any::<bool>()) {
            let kind = if cpu { Kind::Cpu } else { Kind::Node };
            let got = parse(s.text().as_bytes(), kind, &b, &mut no_devices).ok();
            prop_assert_eq!(got, s.model(&b), "spec {:?}", s.text());
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..40), b in bounds_strategy()) {
            let _ = parse(&bytes, Kind::Node, &b, &mut no_devices);
            let _ = parse(&bytes, Kind::Cpu, &b, &mut no_devices);
        }

        #[test]
        fn spec_like_garbage_never_panics(s in "[!+0-9a-z,x: -]{0,16}", b in bounds_strategy()) {
            let mut r = |t: &[u8]| t.starts_with(b"netdev:").then(|| Ok(BTreeSet::from([0])));
            let _ = parse(s.as_bytes(), Kind::Node, &b, &mut r);
            let _ = parse(s.as_bytes(), Kind::Cpu, &b, &mut no_devices);
        }
    }
}
