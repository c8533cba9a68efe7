//! Sets of nodes and CPUs, in the kernel's list (`0-3,8`) and mask
//! (`ff,ffffffff`) syntaxes.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use crate::{CpuId, MAX_CPUS, MAX_NODES, NodeId};

/// What a set holds: ties an [`IdSet`] to its id type so that node sets and CPU
/// sets cannot be mixed up.
pub trait SetKind: Copy + Eq + fmt::Debug {
    /// The id type of a member.
    type Id: Copy + From<u32>;
    /// Converts a member back to its kernel number.
    fn raw(id: Self::Id) -> u32;
    /// What one member is called in messages ("CPU", "node").
    const NOUN: &'static str;
    /// The kernel's limit: every id is below it ([`MAX_CPUS`],
    /// [`MAX_NODES`]).
    const LIMIT: u32;
    /// Why a number at or above [`SetKind::LIMIT`] is refused.
    const TOO_LARGE: &'static str;
}

/// Marker for sets of NUMA nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeKind;
/// Marker for sets of CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CpuKind;

impl SetKind for NodeKind {
    type Id = NodeId;
    fn raw(id: NodeId) -> u32 {
        id.0
    }
    const NOUN: &'static str = "node";
    const LIMIT: u32 = MAX_NODES;
    const TOO_LARGE: &'static str =
        "number too large: node numbers are below 1024, the kernel's limit";
}
impl SetKind for CpuKind {
    type Id = CpuId;
    fn raw(id: CpuId) -> u32 {
        id.0
    }
    const NOUN: &'static str = "CPU";
    const LIMIT: u32 = MAX_CPUS;
    const TOO_LARGE: &'static str =
        "number too large: CPU numbers are below 8192, the kernel's limit";
}

/// A set of kernel ids stored as a bitmap, printed and parsed in the kernel's
/// list syntax (`0-3,8-11`) or mask syntax (`ff,ffffffff`). Ids are below
/// the kernel's limit for the kind ([`SetKind::LIMIT`]), so the bitmap is at
/// most 1 KiB: text or a folder name that asks for more is refused (parsing)
/// or not kept ([`IdSet::insert_raw`]).
///
/// It is libnuma's `struct bitmask` with a kind: `==` compares two sets
/// (`numa_bitmask_equal`), `clone` copies one (`copy_bitmask_to_bitmask`),
/// and a set is freed when it goes out of scope (`numa_bitmask_free`).
#[derive(Clone, PartialEq, Eq, Hash)]
#[doc(alias = "numa_bitmask_equal")]
#[doc(alias = "copy_bitmask_to_bitmask")]
#[doc(alias = "numa_bitmask_free")]
#[doc(alias = "numa_free_nodemask")]
#[doc(alias = "numa_free_cpumask")]
pub struct IdSet<K: SetKind> {
    // invariant: no trailing zero words
    words: Vec<u64>,
    _kind: PhantomData<K>,
}

/// A set of NUMA nodes.
pub type NodeSet = IdSet<NodeKind>;
/// A set of CPUs.
pub type CpuSet = IdSet<CpuKind>;

/// Why a string is not a valid list or mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetParseError {
    input: String,
    reason: &'static str,
}

impl SetParseError {
    fn new(input: &str, reason: &'static str) -> Self {
        let mut input: String = input.chars().take(64).collect();
        if input.len() >= 64 {
            input.push('…');
        }
        SetParseError { input, reason }
    }
    /// What was wrong, without the input.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for SetParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a valid list: {}",
            self.input.escape_debug(),
            self.reason
        )
    }
}
impl std::error::Error for SetParseError {}

impl<K: SetKind> Default for IdSet<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: SetKind> IdSet<K> {
    /// An empty set.
    #[doc(alias = "numa_bitmask_alloc")]
    #[doc(alias = "numa_allocate_nodemask")]
    #[doc(alias = "numa_allocate_cpumask")]
    #[doc(alias = "numa_no_nodes_ptr")]
    #[doc(alias = "numa_no_nodes")]
    pub const fn new() -> Self {
        IdSet {
            words: Vec::new(),
            _kind: PhantomData,
        }
    }

    /// Parses the kernel list syntax: `0-3,8,10-15:2/4` (ranges, single ids
    /// and `a-b:used/group` strides). Surrounding whitespace is ignored and an
    /// empty string is the empty set.
    pub fn parse_list(s: &str) -> Result<Self, SetParseError> {
        let t = s.trim();
        let mut set = Self::new();
        if t.is_empty() {
            return Ok(set);
        }
        for item in t.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(SetParseError::new(s, "empty item between commas"));
            }
            let (range, stride) = match item.split_once(':') {
                Some((r, st)) => (r, Some(st)),
                None => (item, None),
            };
            let (a, b) = match range.split_once('-') {
                Some((a, b)) => (num::<K>(s, a)?, num::<K>(s, b)?),
                None => {
                    let a = num::<K>(s, range)?;
                    (a, a)
                }
            };
            if a > b {
                return Err(SetParseError::new(s, "range start is after its end"));
            }
            let (used, group) = match stride {
                None => (1, 1),
                Some(st) => {
                    let (u, g) = st
                        .split_once('/')
                        .ok_or_else(|| SetParseError::new(s, "stride must be USED/GROUP"))?;
                    let (u, g) = (num::<K>(s, u)?, num::<K>(s, g)?);
                    if u == 0 || g == 0 || u > g {
                        return Err(SetParseError::new(s, "stride must have 0 < USED <= GROUP"));
                    }
                    (u, g)
                }
            };
            let mut i = a;
            while i <= b {
                if (i - a) % group < used {
                    set.insert_raw(i);
                }
                i += 1;
            }
        }
        Ok(set)
    }

    /// Parses the kernel mask syntax: comma-separated 32-bit hex words, most
    /// significant first (`ff,ffffffff`). An optional `0x` prefix is accepted.
    #[doc(alias = "numa_parse_bitmap")]
    pub fn parse_mask(s: &str) -> Result<Self, SetParseError> {
        let t = s.trim();
        let t = t
            .strip_prefix("0x")
            .or_else(|| t.strip_prefix("0X"))
            .unwrap_or(t);
        if t.is_empty() {
            return Err(SetParseError::new(s, "empty mask"));
        }
        let chunks: Vec<&str> = t.split(',').collect();
        if chunks.len() as u64 * 32 > K::LIMIT as u64 {
            return Err(SetParseError::new(s, "mask is too long"));
        }
        let mut set = Self::new();
        for (i, chunk) in chunks.iter().rev().enumerate() {
            if chunk.is_empty() || chunk.len() > 8 || !chunk.bytes().all(|c| c.is_ascii_hexdigit())
            {
                return Err(SetParseError::new(s, "each word must be 1-8 hex digits"));
            }
            let w = u32::from_str_radix(chunk, 16)
                .map_err(|_| SetParseError::new(s, "bad hex word"))?;
            for bit in 0..32 {
                if w & (1 << bit) != 0 {
                    set.insert_raw(i as u32 * 32 + bit);
                }
            }
        }
        Ok(set)
    }

    /// Prints the set in the kernel mask syntax for a bitmap of `nbits` bits,
    /// as sysfs does (`cpumap`): 32-bit words, the first one only as wide as it
    /// needs to be. Members at or above `nbits` widen the mask.
    pub fn to_mask_string(&self, nbits: u32) -> String {
        let nbits = nbits.max(self.last_raw().map_or(1, |l| l + 1)).max(1);
        let nchunks = nbits.div_ceil(32);
        let mut out = String::new();
        for c in (0..nchunks).rev() {
            let mut w: u32 = 0;
            for bit in 0..32 {
                if self.contains_raw(c * 32 + bit) {
                    w |= 1 << bit;
                }
            }
            if c == nchunks - 1 {
                let bits_here = nbits - c * 32;
                let digits = bits_here.div_ceil(4) as usize;
                out.push_str(&format!("{w:0digits$x}"));
            } else {
                out.push_str(&format!(",{w:08x}"));
            }
        }
        out
    }

    /// Builds a set from raw kernel numbers.
    pub fn from_raw<I: IntoIterator<Item = u32>>(ids: I) -> Self {
        let mut s = Self::new();
        for i in ids {
            s.insert_raw(i);
        }
        s
    }

    /// Adds a member.
    #[doc(alias = "numa_bitmask_setbit")]
    pub fn insert(&mut self, id: K::Id) {
        self.insert_raw(K::raw(id));
    }

    /// Adds a member by its kernel number. A number at or above the kernel's
    /// limit ([`SetKind::LIMIT`]) is not kept: no kernel has it, and keeping
    /// it would cost memory in proportion to the number.
    pub fn insert_raw(&mut self, i: u32) {
        if i >= K::LIMIT {
            return;
        }
        let (w, b) = ((i / 64) as usize, i % 64);
        if self.words.len() <= w {
            self.words.resize(w + 1, 0);
        }
        self.words[w] |= 1 << b;
    }

    /// Removes a member.
    #[doc(alias = "numa_bitmask_clearbit")]
    pub fn remove(&mut self, id: K::Id) {
        let i = K::raw(id);
        let (w, b) = ((i / 64) as usize, i % 64);
        if let Some(word) = self.words.get_mut(w) {
            *word &= !(1 << b);
        }
        self.trim();
    }

    /// Whether `id` is a member.
    #[doc(alias = "numa_bitmask_isbitset")]
    pub fn contains(&self, id: K::Id) -> bool {
        self.contains_raw(K::raw(id))
    }

    /// Whether the kernel number `i` is a member.
    pub fn contains_raw(&self, i: u32) -> bool {
        self.words
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Number of members.
    #[doc(alias = "numa_bitmask_weight")]
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether the set has no members.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Members in increasing order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = K::Id> + '_ {
        self.iter_raw().map(K::Id::from)
    }

    /// Kernel numbers of the members in increasing order.
    pub fn iter_raw(&self) -> impl DoubleEndedIterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            (0..64u32)
                .filter(move |b| w & (1u64 << b) != 0)
                .map(move |b| wi as u32 * 64 + b)
        })
    }

    /// The smallest member.
    pub fn first(&self) -> Option<K::Id> {
        self.iter_raw().next().map(K::Id::from)
    }

    /// The largest member's kernel number.
    pub fn last_raw(&self) -> Option<u32> {
        let (wi, w) = self.words.iter().enumerate().next_back()?;
        Some(wi as u32 * 64 + 63 - w.leading_zeros())
    }

    /// The largest member.
    pub fn last(&self) -> Option<K::Id> {
        self.last_raw().map(K::Id::from)
    }

    /// Members of both sets.
    pub fn intersection(&self, other: &Self) -> Self {
        let mut s = IdSet {
            words: self
                .words
                .iter()
                .zip(&other.words)
                .map(|(a, b)| a & b)
                .collect(),
            _kind: PhantomData,
        };
        s.trim();
        s
    }

    /// Members of either set.
    pub fn union(&self, other: &Self) -> Self {
        let n = self.words.len().max(other.words.len());
        let words = (0..n)
            .map(|i| {
                self.words.get(i).copied().unwrap_or(0) | other.words.get(i).copied().unwrap_or(0)
            })
            .collect();
        IdSet {
            words,
            _kind: PhantomData,
        }
    }

    /// Members of `self` that are not in `other`.
    pub fn difference(&self, other: &Self) -> Self {
        let mut s = IdSet {
            words: self
                .words
                .iter()
                .enumerate()
                .map(|(i, a)| a & !other.words.get(i).copied().unwrap_or(0))
                .collect(),
            _kind: PhantomData,
        };
        s.trim();
        s
    }

    /// Whether every member of `self` is in `other`.
    pub fn is_subset(&self, other: &Self) -> bool {
        self.difference(other).is_empty()
    }

    /// Whether the sets share a member.
    pub fn intersects(&self, other: &Self) -> bool {
        self.words.iter().zip(&other.words).any(|(a, b)| a & b != 0)
    }

    /// The raw bitmap as 64-bit words (least significant first), for system
    /// calls that take `unsigned long` masks.
    #[doc(alias = "copy_bitmask_to_nodemask")]
    pub fn as_words(&self) -> &[u64] {
        &self.words
    }

    /// Builds a set from a raw bitmap of 64-bit words (least significant
    /// first); bits at or above [`SetKind::LIMIT`] are not kept.
    #[doc(alias = "copy_nodemask_to_bitmask")]
    pub fn from_words(words: &[u64]) -> Self {
        let keep = K::LIMIT.div_ceil(64) as usize;
        let mut s = IdSet {
            words: words[..words.len().min(keep)].to_vec(),
            _kind: PhantomData,
        };
        s.trim();
        s
    }

    fn trim(&mut self) {
        while self.words.last() == Some(&0) {
            self.words.pop();
        }
    }
}

fn num<K: SetKind>(input: &str, t: &str) -> Result<u32, SetParseError> {
    let t = t.trim();
    if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
        return Err(SetParseError::new(input, "expected a decimal number"));
    }
    let v: u64 = t
        .parse()
        .map_err(|_| SetParseError::new(input, K::TOO_LARGE))?;
    if v >= K::LIMIT as u64 {
        return Err(SetParseError::new(input, K::TOO_LARGE));
    }
    Ok(v as u32)
}

impl<K: SetKind> FromStr for IdSet<K> {
    type Err = SetParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_list(s)
    }
}

impl<K: SetKind> fmt::Display for IdSet<K> {
    /// The kernel list syntax, `0-3,8-11`; the empty set prints as nothing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut it = self.iter_raw().peekable();
        while let Some(a) = it.next() {
            let mut b = a;
            while b.checked_add(1).is_some_and(|n| it.peek() == Some(&n)) {
                b = it.next().unwrap_or(b);
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}-{b}")?;
            }
        }
        Ok(())
    }
}

impl<K: SetKind> fmt::Debug for IdSet<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}Set[{}]", K::NOUN, self)
    }
}

impl<K: SetKind> FromIterator<K::Id> for IdSet<K> {
    fn from_iter<I: IntoIterator<Item = K::Id>>(iter: I) -> Self {
        let mut s = Self::new();
        for i in iter {
            s.insert(i);
        }
        s
    }
}

#[cfg(feature = "serde")]
impl<K: SetKind> serde::Serialize for IdSet<K> {
    /// An array of kernel numbers, increasing.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter_raw())
    }
}

#[cfg(feature = "serde")]
impl<'de, K: SetKind> serde::Deserialize<'de> for IdSet<K> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Vec::<u32>::deserialize(d)?;
        if v.iter().any(|&i| i >= K::LIMIT) {
            return Err(serde::de::Error::custom("id too large"));
        }
        Ok(Self::from_raw(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15: an id from text, a mask, a folder name or a bitmap is bounded
    /// by the kernel's limit for its kind, so no input makes a set larger
    /// than 1 KiB.
    #[test]
    fn issue15_ids_are_bounded_by_the_kernels_limits() {
        assert_eq!(CpuSet::parse_list("8191").unwrap().last_raw(), Some(8191));
        let e = CpuSet::parse_list("0,8192").unwrap_err();
        assert!(e.reason().contains("below 8192"), "{e}");
        assert!(CpuSet::parse_list("4294967295").is_err());
        assert!(CpuSet::parse_list("0-4294967295").is_err());
        assert!(NodeSet::parse_list("1023").is_ok());
        assert!(
            NodeSet::parse_list("1024")
                .unwrap_err()
                .reason()
                .contains("below 1024")
        );
        assert!(NodeSet::parse_mask(&vec!["0"; 33].join(",")).is_err());
        assert!(CpuSet::parse_mask(&vec!["ffffffff"; 256].join(",")).is_ok());
        let mut s = NodeSet::new();
        s.insert_raw(u32::MAX);
        s.insert_raw(1024);
        assert!(s.is_empty());
        let s = NodeSet::from_raw([1, 4_000_000_000]);
        assert_eq!(s.to_string(), "1");
        assert!(s.as_words().len() <= 16);
        let s = CpuSet::from_words(&vec![u64::MAX; 1 << 16]);
        assert_eq!(s.len(), 8192);
        assert_eq!(s.as_words().len(), 128);
    }

    #[test]
    fn list_basics() {
        let s = CpuSet::parse_list("0-3,8-11\n").unwrap();
        assert_eq!(s.len(), 8);
        assert_eq!(s.to_string(), "0-3,8-11");
        assert_eq!(CpuSet::parse_list("").unwrap().len(), 0);
        assert_eq!(CpuSet::parse_list("5").unwrap().to_string(), "5");
        assert_eq!(
            CpuSet::parse_list("0-15:2/4").unwrap().to_string(),
            "0-1,4-5,8-9,12-13"
        );
        for bad in [
            "a",
            "3-1",
            "1,,2",
            "-1",
            "1-",
            "0-3:0/4",
            "99999999999",
            "4194304",
        ] {
            assert!(CpuSet::parse_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mask_basics() {
        let s = CpuSet::parse_mask("ff,ffffffff").unwrap();
        assert_eq!(s.to_string(), "0-39");
        assert_eq!(s.to_mask_string(40), "ff,ffffffff");
        assert_eq!(CpuSet::parse_list("0-1").unwrap().to_mask_string(4), "3");
        assert_eq!(
            CpuSet::parse_list("0").unwrap().to_mask_string(64),
            "00000000,00000001"
        );
        assert_eq!(NodeSet::parse_mask("00000000,00000000").unwrap().len(), 0);
        for bad in ["", "g", "123456789", "ff,,ff"] {
            assert!(NodeSet::parse_mask(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn set_ops() {
        let a = NodeSet::parse_list("0-3").unwrap();
        let b = NodeSet::parse_list("2-5").unwrap();
        assert_eq!(a.intersection(&b).to_string(), "2-3");
        assert_eq!(a.union(&b).to_string(), "0-5");
        assert_eq!(a.difference(&b).to_string(), "0-1");
        assert!(!a.is_subset(&b));
        assert!(a.intersection(&b).is_subset(&a));
        assert_eq!(a.last(), Some(NodeId(3)));
        let mut c = a.clone();
        c.remove(NodeId(3));
        assert_eq!(c.to_string(), "0-2");
        c.remove(NodeId(200));
        assert_eq!(c.to_string(), "0-2");
    }
}
