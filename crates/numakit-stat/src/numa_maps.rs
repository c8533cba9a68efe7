//! `/proc/PID/numa_maps`: one line per mapping, its policy and its pages
//! per node.
//!
//! A line is `ADDRESS POLICY [TOKEN...]`. The policy is one word
//! (`default`, `bind:0-1`, `interleave=static:0,2`, `prefer:1`, `local`)
//! except for two modes the kernel names with a space (`prefer (many):0-1`,
//! `weighted interleave:0-3`). Tokens are `key=value` (`file=`, `anon=`,
//! `dirty=`, `mapped=`, `mapmax=`, `swapcache=`, `active=`, `writeback=`,
//! `kernelpagesize_kB=`, `N<node>=`) or words (`heap`, `stack`, `huge`).
//! The kernel escapes spaces, tabs, newlines and `=` in file names, so a
//! line splits on whitespace. `N<node>=` counts pages of the mapping's page
//! size (`kernelpagesize_kB`; transparent huge pages count as base pages).
//!
//! # Example
//! ```
//! use numakit_stat::numa_maps::parse;
//! let m = parse("7f0000000000 bind:1 anon=512 dirty=512 N1=512 kernelpagesize_kB=4\n").unwrap();
//! assert_eq!(m[0].policy, "bind:1");
//! assert_eq!(m[0].pages_on(1), 512);
//! assert_eq!(m[0].page_size(4096, 2 << 20), 4096);
//! ```

use serde::Serialize;

use crate::{Error, Result};

/// Policy names that contain a space, as the kernel prints them.
const SPACED_POLICIES: [&str; 2] = ["prefer (many)", "weighted interleave"];

/// One line of `numa_maps`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Start address of the mapping.
    pub address: u64,
    /// The policy as written (`default`, `bind:0-1`, `prefer (many):0-1`).
    pub policy: String,
    /// `file=`: the backing file (escapes kept as the kernel writes them).
    pub file: Option<String>,
    /// The `heap` word.
    pub heap: bool,
    /// The `stack` word (also the old `stack:TID`).
    pub stack: bool,
    /// The `huge` word: a hugetlb mapping.
    pub huge: bool,
    /// `anon=`: anonymous pages.
    pub anon: Option<u64>,
    /// `dirty=`.
    pub dirty: Option<u64>,
    /// `mapped=`.
    pub mapped: Option<u64>,
    /// `mapmax=`: the most processes mapping one of its pages.
    pub mapmax: Option<u64>,
    /// `swapcache=`.
    pub swapcache: Option<u64>,
    /// `active=`.
    pub active: Option<u64>,
    /// `writeback=`.
    pub writeback: Option<u64>,
    /// `kernelpagesize_kB=`: the page size of the mapping in KiB.
    pub kernel_page_kib: Option<u64>,
    /// `N<node>=<pages>`, in the order written.
    pub nodes: Vec<(u32, u64)>,
}

impl Entry {
    /// Pages on `node`.
    pub fn pages_on(&self, node: u32) -> u64 {
        self.nodes
            .iter()
            .filter(|(n, _)| *n == node)
            .map(|(_, p)| p)
            .sum()
    }

    /// Pages on every node.
    pub fn pages(&self) -> u64 {
        self.nodes.iter().map(|(_, p)| p).sum()
    }

    /// The size of the pages `N<node>=` counts: `kernelpagesize_kB` when
    /// the kernel wrote it (since Linux 3.13), else `huge_default` for a
    /// hugetlb mapping and `base` for any other.
    pub fn page_size(&self, base: u64, huge_default: u64) -> u64 {
        match self.kernel_page_kib {
            Some(k) if k > 0 => k.saturating_mul(1024),
            _ if self.huge => huge_default,
            _ => base,
        }
    }
}

/// Parses one line; `Ok(None)` for a blank line.
pub fn parse_line(line: &str) -> Result<Option<Entry>> {
    let bad = |why: &'static str| Error::Parse {
        what: "numa_maps line",
        text: line.chars().take(200).collect(),
        why,
    };
    let line = line.trim_end_matches(['\n', '\r']);
    let rest = line.trim_start();
    if rest.is_empty() {
        return Ok(None);
    }
    let (addr, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if addr.is_empty() || addr.len() > 16 {
        return Err(bad("expected a hexadecimal address"));
    }
    let address =
        u64::from_str_radix(addr, 16).map_err(|_| bad("expected a hexadecimal address"))?;
    let rest = rest.trim_start();
    let (policy, rest) = match SPACED_POLICIES.iter().find(|p| rest.starts_with(*p)) {
        Some(p) => {
            let end = rest[p.len()..]
                .find(char::is_whitespace)
                .map_or(rest.len(), |i| i + p.len());
            rest.split_at(end)
        }
        None => rest.split_at(rest.find(char::is_whitespace).unwrap_or(rest.len())),
    };
    if policy.is_empty() {
        return Err(bad("no policy after the address"));
    }
    let mut e = Entry {
        address,
        policy: policy.to_string(),
        ..Entry::default()
    };
    for tok in rest.split_whitespace() {
        token(&mut e, tok).map_err(bad)?;
    }
    Ok(Some(e))
}

/// Reads one token into `e`. Unknown words and keys are skipped: newer
/// kernels may add some.
fn token(e: &mut Entry, tok: &str) -> std::result::Result<(), &'static str> {
    let Some((key, value)) = tok.split_once('=') else {
        match tok {
            "heap" => e.heap = true,
            "huge" => e.huge = true,
            t if t == "stack" || t.starts_with("stack:") => e.stack = true,
            _ => {}
        }
        return Ok(());
    };
    if key == "file" {
        e.file = Some(value.to_string());
        return Ok(());
    }
    let num = || {
        value
            .parse::<u64>()
            .map_err(|_| "expected a number after '='")
    };
    if let Some(node) = key.strip_prefix('N') {
        let node = node
            .parse::<u32>()
            .map_err(|_| "expected N<node>=<pages>")?;
        e.nodes.push((node, num()?));
        return Ok(());
    }
    let slot = match key {
        "anon" => &mut e.anon,
        "dirty" => &mut e.dirty,
        "mapped" => &mut e.mapped,
        "mapmax" => &mut e.mapmax,
        "swapcache" => &mut e.swapcache,
        "active" => &mut e.active,
        "writeback" => &mut e.writeback,
        "kernelpagesize_kB" => &mut e.kernel_page_kib,
        _ => return Ok(()),
    };
    *slot = Some(num()?);
    Ok(())
}

/// Parses a whole file; blank lines are skipped, the first malformed line
/// is an error.
pub fn parse(text: &str) -> Result<Vec<Entry>> {
    let mut v = Vec::new();
    for line in text.lines() {
        if let Some(e) = parse_line(line)? {
            v.push(e);
        }
    }
    Ok(v)
}

/// Parses a whole file, keeping the lines that parse and counting those
/// that do not (a process's mappings can change while the kernel writes
/// the file, so a reader that must not fail uses this).
pub fn parse_lenient(text: &str) -> (Vec<Entry>, usize) {
    let mut bad = 0;
    let mut v = Vec::new();
    for line in text.lines() {
        match parse_line(line) {
            Ok(Some(e)) => v.push(e),
            Ok(None) => {}
            Err(_) => bad += 1,
        }
    }
    (v, bad)
}

/// Cuts text that arrives in pieces (a file read a page at a time) into
/// whole lines; a line split between two pieces is kept until its end
/// arrives. Invalid UTF-8 in a line is replaced.
#[derive(Debug, Default)]
pub struct LineCutter {
    carry: Vec<u8>,
}

impl LineCutter {
    /// Hands `each` every line `piece` completes.
    pub fn feed(&mut self, piece: &[u8], each: &mut impl FnMut(&str)) {
        let Some(last) = piece.iter().rposition(|b| *b == b'\n') else {
            self.carry.extend_from_slice(piece);
            return;
        };
        let (whole, rest) = piece.split_at(last + 1);
        if self.carry.is_empty() {
            lines_of(whole, each);
        } else {
            self.carry.extend_from_slice(whole);
            lines_of(&self.carry, each);
            self.carry.clear();
        }
        self.carry.extend_from_slice(rest);
    }

    /// Hands `each` the last line, when the text did not end with a newline.
    pub fn finish(self, each: &mut impl FnMut(&str)) {
        lines_of(&self.carry, each);
    }
}

fn lines_of(text: &[u8], each: &mut impl FnMut(&str)) {
    for line in text.split(|b| *b == b'\n') {
        if line.is_empty() {
            continue;
        }
        match std::str::from_utf8(line) {
            Ok(l) => each(l),
            Err(_) => each(&String::from_utf8_lossy(line)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_lines() {
        let t = "\
55d0c0a00000 default file=/usr/bin/cat mapped=4 mapmax=3 N0=4 kernelpagesize_kB=4
55d0c2b1c000 default heap anon=33 dirty=33 N0=20 N1=13 kernelpagesize_kB=4
7f1e00000000 prefer (many):0-1 anon=2 dirty=2 N1=2 kernelpagesize_kB=4
7f1e40000000 weighted interleave:0-3 huge anon=2 dirty=2 N0=1 N1=1 kernelpagesize_kB=1048576
7ffd5a1b3000 default stack anon=3 dirty=3 N0=3 kernelpagesize_kB=4
7f00 interleave=static:0,2 file=/a\\040b unknown_word future=7
";
        let m = parse(t).unwrap();
        assert_eq!(m.len(), 6);
        assert_eq!(m[0].file.as_deref(), Some("/usr/bin/cat"));
        assert!(m[1].heap && m[1].pages() == 33 && m[1].pages_on(1) == 13);
        assert_eq!(m[2].policy, "prefer (many):0-1");
        assert_eq!(m[3].policy, "weighted interleave:0-3");
        assert!(m[3].huge);
        assert_eq!(m[3].page_size(4096, 2 << 20), 1 << 30);
        assert!(m[4].stack);
        assert_eq!(m[5].policy, "interleave=static:0,2");
        assert_eq!(m[5].file.as_deref(), Some("/a\\040b"));
        assert_eq!(m[5].page_size(4096, 2 << 20), 4096);
    }

    #[test]
    fn page_size_without_the_kernel_field() {
        let e = parse_line("1000 default huge N0=1").unwrap().unwrap();
        assert_eq!(e.page_size(4096, 2 << 20), 2 << 20);
    }

    #[test]
    fn malformed() {
        assert!(parse_line("zzz default").is_err());
        assert!(parse_line("1000").is_err());
        assert!(parse_line("1000 default N0=x").is_err());
        assert!(parse_line("1000 default Nx=1").is_err());
        assert!(parse_line("12345678901234567 default").is_err());
        assert_eq!(parse_line("   ").unwrap(), None);
        let (v, bad) = parse_lenient("1000 default N0=1\nbad\n2000 default N1=2\n");
        assert_eq!((v.len(), bad), (2, 1));
    }

    #[test]
    fn lines_cut_anywhere_come_out_whole() {
        let text = "1000 default N0=1\n2000 bind:1 N1=2\n\n3000 default N0=3";
        for cut in 0..=text.len() {
            for step in 1..=text.len().max(1) {
                let mut got = Vec::new();
                let mut c = LineCutter::default();
                let (a, b) = text.as_bytes().split_at(cut);
                for piece in a.chunks(step).chain(b.chunks(step)) {
                    c.feed(piece, &mut |l| got.push(l.to_string()));
                }
                c.finish(&mut |l| got.push(l.to_string()));
                let want: Vec<String> = text
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect();
                assert_eq!(got, want, "cut {cut}, pieces of {step}");
            }
        }
    }
}
