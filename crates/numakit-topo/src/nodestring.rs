//! Node and CPU strings as libnuma reads them (`numa_parse_nodestring`,
//! `numa_parse_cpustring` and their `_all` forms): lists and ranges
//! (`0,2-3`), `all`, `!` for every node except those, and `+` for numbers
//! relative to the allowed set, checked against what this process may use
//! (or against the whole machine).
//!
//! numactl's device forms (`netdev:`, `block:`, `pci:`, `file:`) are
//! [`crate::libnuma::resolve`]'s; numakit's own device names are
//! [`crate::locate`]'s.

use std::fmt;

use numakit_types::{CpuSet, IdSet, NodeSet, SetKind};

use crate::Machine;

/// What a node or CPU string is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Within {
    /// What this process may use: its allowed nodes
    /// ([`Machine::allowed_nodes`]) or CPUs ([`Machine::allowed_cpus`]),
    /// as `numa_parse_nodestring` and `numa_parse_cpustring` check.
    Allowed,
    /// Every node or CPU of the machine, as the `_all` forms check.
    All,
}

/// Why a node or CPU string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeStringError {
    /// Nothing to read.
    Empty,
    /// Text that is not a number, a range, `all`, `!` or `+` where one was
    /// expected.
    Syntax {
        /// The whole string.
        text: String,
        /// The part that could not be read.
        at: String,
    },
    /// A range whose end is below its start.
    Reversed {
        /// The range as written.
        range: String,
    },
    /// A number outside the set it is checked against.
    NotAllowed {
        /// `node` or `CPU`.
        noun: &'static str,
        /// The number.
        id: u32,
        /// The set it must be in, as a list.
        allowed: String,
        /// What that set is.
        within: Within,
    },
    /// A relative number (`+N`) beyond the size of the set.
    RelativeOutOfRange {
        /// `node` or `CPU`.
        noun: &'static str,
        /// The relative number.
        index: u32,
        /// How many there are to count in.
        count: usize,
        /// What they are.
        within: Within,
    },
}

impl fmt::Display for NodeStringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeStringError::Empty => {
                f.write_str("an empty string names nothing: give a list such as 0,2-3 or all")
            }
            NodeStringError::Syntax { text, at } => write!(
                f,
                "cannot read '{}' at '{}': expected N, N-M, all, !LIST or +LIST, separated by commas",
                text.escape_debug(),
                at.escape_debug()
            ),
            NodeStringError::Reversed { range } => {
                write!(
                    f,
                    "range {range} ends below its start: write it as low-high"
                )
            }
            NodeStringError::NotAllowed {
                noun,
                id,
                allowed,
                within,
            } => write!(
                f,
                "{noun} {id} is not one {} (those are {allowed})",
                within.says()
            ),
            NodeStringError::RelativeOutOfRange {
                noun,
                index,
                count,
                within,
            } => write!(
                f,
                "relative {noun} +{index} is beyond the {count} {} (+0 to +{})",
                within.says(),
                count.saturating_sub(1)
            ),
        }
    }
}

impl std::error::Error for NodeStringError {}

impl Within {
    /// What the set is, for messages.
    fn says(self) -> &'static str {
        match self {
            Within::Allowed => "this process may use",
            Within::All => "of this machine",
        }
    }
}

impl Machine {
    /// Reads a node string: `1`, `0,2-3`, `all`, `!1` (all but node 1),
    /// `+0-1` (the first two allowed nodes), `!+0`, each node checked
    /// against `within`.
    ///
    /// ```
    /// use numakit_topo::nodestring::Within;
    /// # let dir = std::env::temp_dir().join(format!("numakit-ns-doc-{}", std::process::id()));
    /// # let node = dir.join("sys/devices/system/node");
    /// # for n in 0..4 { std::fs::create_dir_all(node.join(format!("node{n}"))).unwrap(); }
    /// # std::fs::create_dir_all(dir.join("proc/self")).unwrap();
    /// # std::fs::write(dir.join("proc/self/status"), "Mems_allowed_list:\t1-3\n").unwrap();
    /// # let m = numakit_topo::Machine::discover(&numakit_root::Root::open(&dir).unwrap());
    /// // this process may use nodes 1-3 of 0-3
    /// assert_eq!(m.parse_nodestring("all", Within::Allowed).unwrap().to_string(), "1-3");
    /// assert_eq!(m.parse_nodestring("!2", Within::Allowed).unwrap().to_string(), "1,3");
    /// assert_eq!(m.parse_nodestring("+0-1", Within::Allowed).unwrap().to_string(), "1-2");
    /// assert!(m.parse_nodestring("0", Within::Allowed).is_err());
    /// assert_eq!(m.parse_nodestring("0", Within::All).unwrap().to_string(), "0");
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    #[doc(alias = "numa_parse_nodestring")]
    #[doc(alias = "numa_parse_nodestring_all")]
    pub fn parse_nodestring(&self, s: &str, within: Within) -> Result<NodeSet, NodeStringError> {
        let scope = match within {
            Within::Allowed => self.allowed_nodes(),
            Within::All => self.node_ids(),
        };
        parse(s, &scope, within)
    }

    /// Reads a CPU string, in the same syntax as
    /// [`parse_nodestring`](Self::parse_nodestring), each CPU checked
    /// against `within`.
    #[doc(alias = "numa_parse_cpustring")]
    #[doc(alias = "numa_parse_cpustring_all")]
    pub fn parse_cpustring(&self, s: &str, within: Within) -> Result<CpuSet, NodeStringError> {
        let scope = match within {
            Within::Allowed => self.allowed_cpus(),
            Within::All => self.cpu_ids(),
        };
        parse(s, &scope, within)
    }
}

/// libnuma's syntax over `scope`: `[!][+]ITEM[,ITEM...]` or `all`.
fn parse<K: SetKind>(
    s: &str,
    scope: &IdSet<K>,
    within: Within,
) -> Result<IdSet<K>, NodeStringError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(NodeStringError::Empty);
    }
    let (invert, rest) = match t.strip_prefix('!') {
        Some(r) => (true, r),
        None => (false, t),
    };
    let (relative, rest) = match rest.strip_prefix('+') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let mut set = IdSet::new();
    if rest == "all" && !relative {
        set = scope.clone();
    } else {
        for item in rest.split(',') {
            let (a, b) = match item.split_once('-') {
                Some((a, b)) => (a, Some(b)),
                None => (item, None),
            };
            let syntax = |at: &str| NodeStringError::Syntax {
                text: t.to_string(),
                at: at.to_string(),
            };
            let lo = number(a).ok_or_else(|| syntax(item))?;
            let hi = match b {
                Some(b) => number(b).ok_or_else(|| syntax(item))?,
                None => lo,
            };
            if hi < lo {
                return Err(NodeStringError::Reversed {
                    range: item.to_string(),
                });
            }
            for i in lo..=hi {
                set.insert_raw(member(i, relative, scope, within)?);
            }
        }
    }
    Ok(if invert { scope.difference(&set) } else { set })
}

/// A decimal number below the kernel's largest limit.
fn number(t: &str) -> Option<u32> {
    let t = t.trim();
    if t.is_empty() || t.len() > 5 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// The kernel number of `i`: itself, checked against `scope`, or the
/// `i`-th member of `scope` when relative.
fn member<K: SetKind>(
    i: u32,
    relative: bool,
    scope: &IdSet<K>,
    within: Within,
) -> Result<u32, NodeStringError> {
    if relative {
        return scope
            .iter_raw()
            .nth(i as usize)
            .ok_or(NodeStringError::RelativeOutOfRange {
                noun: K::NOUN,
                index: i,
                count: scope.len(),
                within,
            });
    }
    if scope.contains_raw(i) {
        Ok(i)
    } else {
        Err(NodeStringError::NotAllowed {
            noun: K::NOUN,
            id: i,
            allowed: scope.to_string(),
            within,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libnuma_forms() {
        let scope: NodeSet = "0-1,4-5".parse().unwrap();
        let p = |s: &str| parse(s, &scope, Within::Allowed).map(|n| n.to_string());
        assert_eq!(p("all").unwrap(), "0-1,4-5");
        assert_eq!(p(" 0,4-5 ").unwrap(), "0,4-5");
        assert_eq!(p("!0").unwrap(), "1,4-5");
        assert_eq!(p("+2").unwrap(), "4");
        assert_eq!(p("!+0-2").unwrap(), "5");
        assert_eq!(p("!all").unwrap(), "");
        assert_eq!(
            p("2").unwrap_err().to_string(),
            "node 2 is not one this process may use (those are 0-1,4-5)"
        );
        assert_eq!(
            p("+4").unwrap_err().to_string(),
            "relative node +4 is beyond the 4 this process may use (+0 to +3)"
        );
        assert_eq!(
            p("5-4").unwrap_err(),
            NodeStringError::Reversed {
                range: "5-4".into()
            }
        );
        for bad in [
            "",
            "x",
            "1,",
            ",1",
            "1-",
            "-1",
            "+all",
            "1--2",
            "99999999999",
            "0x1",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
        let cpus: CpuSet = "0-3".parse().unwrap();
        assert_eq!(
            parse("!1-2", &cpus, Within::All).unwrap().to_string(),
            "0,3"
        );
        assert_eq!(
            parse("4", &cpus, Within::All).unwrap_err().to_string(),
            "CPU 4 is not one of this machine (those are 0-3)"
        );
    }
}
