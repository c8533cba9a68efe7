//! Address ranges of a process: [`AddrRange`], the one range type of every
//! call that takes memory by address (bind, locate, migrate, home node).

use std::fmt;
use std::str::FromStr;

/// A non-empty range of virtual addresses `[start, end)` of a process.
///
/// Every constructor refuses an empty, reversed or overflowing range with a
/// [`RangeError`], so a value of this type is always at least one byte long;
/// the calls that take one never see a range they would have to second-guess.
/// Page addresses come from [`pages`](Self::pages), never by hand.
///
/// # Example
/// ```
/// use numakit_types::{AddrRange, RangeError};
/// let r: AddrRange = "7f0000001000-7f0000003000".parse().unwrap();
/// assert_eq!(r.len(), 0x2000);
/// assert_eq!(r.pages(4096).collect::<Vec<_>>(), [0x7f0000001000, 0x7f0000002000]);
/// assert_eq!(AddrRange::new(0x2000, 0x1000), Err(RangeError::Reversed { start: 0x2000, end: 0x1000 }));
/// assert_eq!(AddrRange::from_len(0x1000, 0), Err(RangeError::Empty { start: 0x1000 }));
/// let v = vec![0u64; 512];
/// assert_eq!(AddrRange::of_slice(&v).unwrap().len(), 4096);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddrRange {
    start: u64,
    end: u64,
}

/// Why a range was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    /// `start == end`, or a length of zero.
    Empty {
        /// Where it starts.
        start: u64,
    },
    /// The end is below the start.
    Reversed {
        /// The start given.
        start: u64,
        /// The end given.
        end: u64,
    },
    /// `start + len` is beyond the address space.
    Overflow {
        /// The start given.
        start: u64,
        /// The length given.
        len: u64,
    },
    /// Text that is not `START-END` in hexadecimal.
    Syntax {
        /// The text (at most 64 characters of it).
        text: String,
    },
}

impl RangeError {
    /// What is wrong, in a few words (`it is empty`).
    pub fn reason(&self) -> &'static str {
        match self {
            RangeError::Empty { .. } => "it is empty",
            RangeError::Reversed { .. } => "the end is below the start",
            RangeError::Overflow { .. } => "it runs past the end of the address space",
            RangeError::Syntax { .. } => {
                "expected START-END in hexadecimal, e.g. 7f0000000000-7f0000100000"
            }
        }
    }
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RangeError::Empty { start } => write!(f, "bad memory range at {start:#x}: "),
            RangeError::Reversed { start, end } => {
                write!(f, "bad memory range {start:#x}-{end:#x}: ")
            }
            RangeError::Overflow { start, len } => {
                write!(f, "bad memory range {start:#x}+{len:#x}: ")
            }
            RangeError::Syntax { text } => {
                write!(f, "cannot read memory range '{}': ", text.escape_debug())
            }
        }?;
        f.write_str(self.reason())
    }
}

impl std::error::Error for RangeError {}

impl AddrRange {
    /// `[start, end)`.
    pub fn new(start: u64, end: u64) -> Result<AddrRange, RangeError> {
        match end.cmp(&start) {
            std::cmp::Ordering::Greater => Ok(AddrRange { start, end }),
            std::cmp::Ordering::Equal => Err(RangeError::Empty { start }),
            std::cmp::Ordering::Less => Err(RangeError::Reversed { start, end }),
        }
    }

    /// `len` bytes from `start`.
    pub fn from_len(start: u64, len: u64) -> Result<AddrRange, RangeError> {
        if len == 0 {
            return Err(RangeError::Empty { start });
        }
        let end = start
            .checked_add(len)
            .ok_or(RangeError::Overflow { start, len })?;
        Ok(AddrRange { start, end })
    }

    /// The bytes of a slice of this process.
    pub fn of_slice<T>(s: &[T]) -> Result<AddrRange, RangeError> {
        AddrRange::from_len(s.as_ptr() as u64, std::mem::size_of_val(s) as u64)
    }

    /// The first address.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// One past the last address.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The length in bytes (never 0).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether `start` is a multiple of `page`.
    pub fn is_aligned(&self, page: u64) -> bool {
        page != 0 && self.start.is_multiple_of(page)
    }

    /// The start address of every page of size `page` that holds a byte of
    /// the range, in order (the first page may start below `start`).
    pub fn pages(&self, page: u64) -> impl Iterator<Item = u64> + use<> {
        let page = page.max(1);
        let first = self.start - self.start % page;
        (first..self.end).step_by(usize::try_from(page).unwrap_or(usize::MAX))
    }

    /// How many pages of size `page` hold a byte of the range.
    pub fn page_count(&self, page: u64) -> u64 {
        let page = page.max(1);
        let first = self.start / page;
        let last = (self.end - 1) / page;
        last - first + 1
    }
}

impl fmt::Display for AddrRange {
    /// `START-END` in hexadecimal, as `/proc/PID/maps` writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}-{:x}", self.start, self.end)
    }
}

impl FromStr for AddrRange {
    type Err = RangeError;
    /// `START-END` in hexadecimal (`0x` optional), END exclusive.
    fn from_str(s: &str) -> Result<AddrRange, RangeError> {
        let syntax = || RangeError::Syntax {
            text: s.chars().take(64).collect(),
        };
        let hex = |t: &str| {
            let t = t.trim();
            let t = t.strip_prefix("0x").unwrap_or(t);
            if t.is_empty() || t.len() > 16 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u64::from_str_radix(t, 16).ok()
        };
        let (a, b) = s.split_once('-').ok_or_else(syntax)?;
        let start = hex(a).ok_or_else(syntax)?;
        let end = hex(b).ok_or_else(syntax)?;
        AddrRange::new(start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_refuse_empty_reversed_and_overflowing_ranges() {
        assert_eq!(AddrRange::new(5, 5), Err(RangeError::Empty { start: 5 }));
        assert_eq!(
            AddrRange::from_len(u64::MAX - 1, 2),
            Err(RangeError::Overflow {
                start: u64::MAX - 1,
                len: 2
            })
        );
        let r = AddrRange::from_len(u64::MAX - 1, 1).unwrap();
        assert_eq!(r.end(), u64::MAX);
        assert!(AddrRange::of_slice::<u8>(&[]).is_err());
        assert_eq!(
            "10-5".parse::<AddrRange>().unwrap_err().to_string(),
            "bad memory range 0x10-0x5: the end is below the start"
        );
        assert_eq!(
            "zz-5".parse::<AddrRange>().unwrap_err().to_string(),
            "cannot read memory range 'zz-5': expected START-END in hexadecimal, e.g. 7f0000000000-7f0000100000"
        );
        for bad in ["", "-", "1-", "+1-2", "0x-1", "12345678901234567-2"] {
            assert!(bad.parse::<AddrRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn pages_cover_every_byte() {
        let r = AddrRange::new(0x1fff, 0x3001).unwrap();
        assert_eq!(
            r.pages(0x1000).collect::<Vec<_>>(),
            [0x1000, 0x2000, 0x3000]
        );
        assert_eq!(r.page_count(0x1000), 3);
        let top = AddrRange::new(u64::MAX - 0x1000, u64::MAX).unwrap();
        assert_eq!(top.pages(0x1000).count() as u64, top.page_count(0x1000));
        assert_eq!(
            "0x1000-0x2000".parse::<AddrRange>().unwrap().to_string(),
            "1000-2000"
        );
        assert!(r.is_aligned(1) && !r.is_aligned(0x1000) && !r.is_aligned(0));
    }
}
