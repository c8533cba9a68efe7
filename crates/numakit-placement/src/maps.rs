//! `/proc/PID/maps` lines and `ADDR-ADDR` ranges.
//!
//! # Example
//! ```
//! use numakit_placement::maps::{parse_maps, parse_range};
//! let m = parse_maps("7f00a000-7f00c000 rw-p 00000000 00:00 0 \n").unwrap();
//! assert_eq!(m[0].end - m[0].start, 0x2000);
//! assert_eq!(m[0].path, "");
//! let r = parse_range("0x1000-2000").unwrap();
//! assert_eq!((r.start(), r.end()), (0x1000, 0x2000));
//! ```

use std::fmt;

use crate::{AddrRange, Error, Result};

/// One mapping of a process.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MapsEntry {
    /// Start address.
    pub start: u64,
    /// End address (exclusive).
    pub end: u64,
    /// Permissions, `rw-p`.
    pub perms: String,
    /// File offset.
    pub offset: u64,
    /// Device, `fd:01`.
    pub dev: String,
    /// Inode.
    pub inode: u64,
    /// Path or pseudo-name (`[heap]`), empty for anonymous memory.
    pub path: String,
}

impl MapsEntry {
    /// Whether the mapping can hold pages at all (not a `---p` guard).
    pub fn accessible(&self) -> bool {
        self.perms.bytes().take(3).any(|c| c != b'-')
    }
}

impl fmt::Display for MapsEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:08x}-{:08x} {} {:08x} {} {}",
            self.start, self.end, self.perms, self.offset, self.dev, self.inode
        )?;
        if !self.path.is_empty() {
            write!(f, " {}", self.path)?;
        }
        Ok(())
    }
}

fn hex(what: &'static str, line: &str, t: &str) -> Result<u64> {
    let t = t.strip_prefix("0x").unwrap_or(t);
    if t.is_empty() || t.len() > 16 {
        return Err(Error::Parse {
            what,
            text: line.to_string(),
            why: "expected a hexadecimal number".into(),
        });
    }
    u64::from_str_radix(t, 16).map_err(|_| Error::Parse {
        what,
        text: line.to_string(),
        why: "expected a hexadecimal number".into(),
    })
}

/// Parses one line of `/proc/PID/maps`.
pub fn parse_maps_line(line: &str) -> Result<MapsEntry> {
    let bad = |why: &str| Error::Parse {
        what: "maps line",
        text: line.to_string(),
        why: why.to_string(),
    };
    let mut rest = line;
    let mut field = || {
        rest = rest.trim_start_matches(' ');
        let end = rest.find(' ').unwrap_or(rest.len());
        let (f, r) = rest.split_at(end);
        rest = r;
        f
    };
    let range = field();
    let perms = field().to_string();
    let offset = field();
    let dev = field().to_string();
    let inode = field();
    let path = rest.trim_start_matches(' ').to_string();
    let (s, e) = range
        .split_once('-')
        .ok_or_else(|| bad("no address range"))?;
    let start = hex("maps line", line, s)?;
    let end = hex("maps line", line, e)?;
    if perms.len() != 4 || dev.is_empty() {
        return Err(bad("expected 'START-END PERMS OFFSET DEV INODE [PATH]'"));
    }
    if end < start {
        return Err(bad("end before start"));
    }
    Ok(MapsEntry {
        start,
        end,
        perms,
        offset: hex("maps line", line, offset)?,
        dev,
        inode: inode.parse().map_err(|_| bad("bad inode"))?,
        path,
    })
}

/// Parses a whole `/proc/PID/maps` text; empty lines are skipped.
pub fn parse_maps(text: &str) -> Result<Vec<MapsEntry>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_maps_line)
        .collect()
}

/// Parses `START-END` (hexadecimal, `0x` optional, END exclusive) into
/// the one range type ([`AddrRange`]), with errors that say what a range
/// should look like.
pub fn parse_range(s: &str) -> Result<AddrRange> {
    let (a, b) = s.split_once('-').ok_or_else(|| Error::Parse {
        what: "address range",
        text: s.to_string(),
        why: "expected START-END in hexadecimal, e.g. 7f0000000000-7f0000100000".into(),
    })?;
    let start = hex("address range", s, a.trim())?;
    let end = hex("address range", s, b.trim())?;
    if end <= start {
        return Err(Error::BadRange {
            range: s.to_string(),
            why: "the end must be above the start",
        });
    }
    Ok(AddrRange::new(start, end)?)
}
