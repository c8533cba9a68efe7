//! Device forms of a node specification (numactl's `netdev:`, `block:`,
//! `pci:`, `file:`), resolved as libnuma's `affinity.c` resolves them,
//! quirks included, so that the node found and the warning printed are
//! libnuma's. numakit's own device names are [`crate::locate`]'s; this
//! module exists so that the numactl-compatible interface refuses what
//! numactl refuses: `netdev:IF` and `block:DEV` read the
//! `numa_node` of the first PCI function on the path of
//! `/sys/class/CLASS/NAME` (else of its `device`), `pci:[seg:]bus:dev[.func]`
//! reads `/sys/devices/pciSEG:BUS/SEG:BUS:DEV.FUNC/numa_node`, `file:PATH`
//! finds the block device holding the file. A `numa_node` of -1 is "Kernel
//! does not know node mask for ... device", a missing or garbage one
//! "Cannot read node mask for ... device"; either refuses the
//! specification. Every read goes through the root; `file:` stats the
//! user's path on the running system.

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use numakit_root::Root;

/// The nodes of a device form, or libnuma's warnings (each a
/// `libnuma: Warning: ...` line, as bytes: a user's device name is echoed
/// as given) when it refuses it; `None` when `spec` is not a device form
/// (`ip:` is refused as numakit does not look up routes). `nodes` is
/// `numa_num_task_nodes()`: a node number at or above it is unreadable.
pub fn resolve(root: &Root, nodes: usize, spec: &[u8]) -> Option<Result<BTreeSet<u32>, Vec<u8>>> {
    let r = Resolver { root, nodes };
    let found = if let Some(dev) = spec.strip_prefix(b"netdev:") {
        r.class(b"net", dev)
    } else if let Some(dev) = spec.strip_prefix(b"block:") {
        r.class(b"block", dev)
    } else if let Some(id) = spec.strip_prefix(b"pci:") {
        r.pci(id)
    } else if let Some(file) = spec.strip_prefix(b"file:") {
        r.file(file)
    } else if let Some(host) = spec.strip_prefix(b"ip:") {
        let mut m = b"ip:".to_vec();
        m.extend_from_slice(host);
        m.extend_from_slice(
            b": node specifications by IP address are not supported by numakit yet",
        );
        Err(warning(&[&m]))
    } else {
        return None;
    };
    Some(found.map(|n| BTreeSet::from([n])))
}

/// One `libnuma: Warning: ...` line.
fn warning(parts: &[&[u8]]) -> Vec<u8> {
    let mut w = b"libnuma: Warning: ".to_vec();
    for p in parts {
        w.extend_from_slice(p);
    }
    w.push(b'\n');
    w
}

/// Why `sysfs_node_read` failed: libnuma's -2 and -1.
enum NodeRead {
    /// The file says -1 (or any negative number).
    Unknown,
    /// Missing, empty, garbage, or a node beyond the task's nodes.
    Unreadable,
}

struct Resolver<'a> {
    root: &'a Root,
    /// `numa_num_task_nodes()`: a node number at or above it is unreadable.
    nodes: usize,
}

impl Resolver<'_> {
    /// `sysfs_node_read`: the first number of the file at `path`.
    fn node_read(&self, path: &[u8]) -> Result<u32, NodeRead> {
        let text = self
            .root
            .read(&String::from_utf8_lossy(path))
            .map_err(|_| NodeRead::Unreadable)?;
        let (v, used) = strtol(&text);
        match v {
            _ if used == 0 => Err(NodeRead::Unreadable),
            v if v < 0 => Err(NodeRead::Unknown),
            v if v as u64 >= self.nodes as u64 => Err(NodeRead::Unreadable),
            v => Ok(v as u32),
        }
    }

    /// `node_parse_failure`.
    fn failure(why: NodeRead, cls: &[u8], dev: &[u8]) -> Vec<u8> {
        match why {
            NodeRead::Unknown => {
                let sep: &[u8] = if cls.is_empty() { b"" } else { b" " };
                warning(&[
                    b"Kernel does not know node mask for",
                    sep,
                    cls,
                    b" device `",
                    dev,
                    b"'",
                ])
            }
            NodeRead::Unreadable => {
                warning(&[b"Cannot read node mask for ", cls, b" device `", dev, b"'"])
            }
        }
    }

    /// `affinity_class`: a device of `/sys/class/CLS`.
    fn class(&self, cls: &[u8], dev: &[u8]) -> Result<u32, Vec<u8>> {
        let dev = trim_space(dev);
        if dev.iter().any(|&c| c == b'/' || c == b'.') {
            return Err(warning(&[
                b"Illegal characters in `",
                dev,
                b"' specification",
            ]));
        }
        let link = cat(&[b"/sys/class/", cls, b"/", dev]);
        if let Ok(target) = self.root.read_link(&String::from_utf8_lossy(&link))
            && let Some(p) = first_pci_function(target.as_bytes())
        {
            return self
                .node_read(&cat(&[b"/sys/", p, b"/numa_node"]))
                .map_err(|e| Self::failure(e, b"", p));
        }
        self.node_read(&cat(&[&link, b"/device/numa_node"]))
            .map_err(|e| Self::failure(e, cls, dev))
    }

    /// `affinity_pci`.
    fn pci(&self, id: &[u8]) -> Result<u32, Vec<u8>> {
        let (seg, bus, dev, func) = match scan_hex(id, b"::.") {
            (v, n) if n >= 3 => (v[0], v[1], v[2], if n == 4 { v[3] } else { 0 }),
            _ => match scan_hex(id, b":.") {
                (v, n) if n >= 2 => (0, v[0], v[1], if n == 3 { v[2] } else { 0 }),
                _ => return Err(warning(&[b"Cannot parse PCI device `", id, b"'"])),
            },
        };
        let path = format!(
            "/sys/devices/pci{seg:04x}:{bus:02x}/{seg:04x}:{bus:02x}:{dev:02x}.{func:x}/numa_node"
        );
        self.node_read(path.as_bytes())
            .map_err(|e| Self::failure(e, b"", id))
    }

    /// `affinity_file`: the block device holding `file`.
    fn file(&self, file: &[u8]) -> Result<u32, Vec<u8>> {
        let path = std::path::Path::new(std::ffi::OsStr::from_bytes(file));
        let Ok(st) = std::fs::metadata(path) else {
            return Err(warning(&[b"Cannot stat file ", file]));
        };
        let (cls, d): (&[u8], u64) = if st.file_type().is_char_device() {
            (b"misc", st.rdev())
        } else if st.file_type().is_block_device() {
            (b"block", st.rdev())
        } else {
            (b"block", st.dev())
        };
        let want = (libc_major(d), libc_minor(d));
        let Ok(names) = self
            .root
            .read_dir(&format!("/sys/class/{}", String::from_utf8_lossy(cls)))
        else {
            return Err(warning(&[b"Cannot enumerate ", cls, b" devices in sysfs"]));
        };
        let mut warnings = Vec::new();
        let mut last = (0, 0);
        for name in names.iter().filter(|n| !n.starts_with('.')) {
            let Some(mm) = self
                .root
                .read_trim(&format!("/sys/class/block/{name}/dev"))
                .and_then(|t| parse_major_minor(&t))
            else {
                warnings.extend(warning(&[b"Cannot parse sysfs device ", name.as_bytes()]));
                continue;
            };
            last = mm;
            if mm == want {
                return self
                    .class(b"block", name.as_bytes())
                    .map_err(|w| [warnings, w].concat());
            }
        }
        let msg = format!(
            "Cannot find block device {:x}:{:x} in sysfs for `",
            last.0, last.1
        );
        warnings.extend(warning(&[msg.as_bytes(), file, b"'"]));
        Err(warnings)
    }
}

/// glibc's `major()` of a `dev_t`.
fn libc_major(d: u64) -> u32 {
    (((d >> 32) & 0xffff_f000) | ((d >> 8) & 0x0000_0fff)) as u32
}

/// glibc's `minor()` of a `dev_t`.
fn libc_minor(d: u64) -> u32 {
    (((d >> 12) & 0xffff_ff00) | (d & 0x0000_00ff)) as u32
}

/// `sscanf(s, "%u:%u")` with both numbers read.
fn parse_major_minor(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once(':')?;
    let num = |t: &str| {
        let d: String = t
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        d.parse().ok()
    };
    Some((num(a)?, num(b)?))
}

/// The bytes joined.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn trim_space(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .take_while(|c| c.is_ascii_whitespace() || **c == 0x0b)
        .count();
    &s[n..]
}

/// In a link target, what libnuma's regex `(/devices/pci[0-9a-fA-F:/]+\.[0-9]+)/`
/// matches: the first PCI function on the path, with its `/`.
fn first_pci_function(t: &[u8]) -> Option<&[u8]> {
    const START: &[u8] = b"/devices/pci";
    let is_class = |c: &u8| c.is_ascii_hexdigit() || *c == b':' || *c == b'/';
    (0..t.len())
        .filter(|&i| t[i..].starts_with(START))
        .find_map(|i| {
            let mut j = i + START.len();
            let run = t[j..].iter().take_while(|c| is_class(c)).count();
            if run == 0 || t.get(j + run) != Some(&b'.') {
                return None;
            }
            j += run + 1;
            let digits = t[j..].iter().take_while(|c| c.is_ascii_digit()).count();
            (digits > 0 && t.get(j + digits) == Some(&b'/')).then(|| &t[i..=j + digits])
        })
}

/// `sscanf(s, "%x" SEP "%x" SEP ...)`: the numbers read before the first
/// mismatch, and how many.
fn scan_hex(s: &[u8], seps: &[u8]) -> ([u32; 4], usize) {
    let mut out = [0u32; 4];
    let mut i = 0;
    for k in 0..=seps.len() {
        while s.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        let neg = matches!(s.get(i), Some(b'-'));
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if s.get(i) == Some(&b'0')
            && matches!(s.get(i + 1), Some(b'x' | b'X'))
            && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        {
            i += 2;
        }
        let digits = s[i..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
        if digits == 0 {
            return (out, k);
        }
        let v = s[i..i + digits].iter().fold(0u32, |v, c| {
            v.wrapping_mul(16)
                .wrapping_add((*c as char).to_digit(16).unwrap_or(0))
        });
        out[k] = if neg { v.wrapping_neg() } else { v };
        i += digits;
        match seps.get(k) {
            Some(sep) if s.get(i) == Some(sep) => i += 1,
            Some(_) => return (out, k + 1),
            None => return (out, k + 1),
        }
    }
    (out, seps.len() + 1)
}

/// `strtol(s, &end, 0)` on the start of a file: the value and how many
/// bytes were read (0 when there is no number).
fn strtol(s: &[u8]) -> (i64, usize) {
    let (v, used) = numakit_types::strtoul(s);
    (v as i64, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_regex_finds_the_first_pci_function() {
        let t = b"../../devices/pci0000:00/0000:00:01.0/0000:01:00.0/net/eth0";
        assert_eq!(
            first_pci_function(t),
            Some(&b"/devices/pci0000:00/0000:00:01.0/"[..])
        );
        assert_eq!(first_pci_function(b"../../devices/virtual/net/lo"), None);
        assert_eq!(first_pci_function(b"/devices/pci0000:00/x"), None);
    }

    #[test]
    fn pci_ids_scan_as_sscanf_does() {
        assert_eq!(scan_hex(b"0000:41:00.0", b"::."), ([0, 0x41, 0, 0], 4));
        assert_eq!(scan_hex(b"0001:41:02.3", b"::."), ([1, 0x41, 2, 3], 4));
        assert_eq!(scan_hex(b"0001:41:02", b"::."), ([1, 0x41, 2, 0], 3));
        assert_eq!(scan_hex(b"00:02.0", b"::."), ([0, 2, 0, 0], 2));
        assert_eq!(scan_hex(b"00:02.1", b":."), ([0, 2, 1, 0], 3));
        assert_eq!(scan_hex(b"x", b":."), ([0; 4], 0));
    }

    #[test]
    fn device_numbers_split_as_glibc_does() {
        let d = (259u64 << 8) | 3;
        assert_eq!((libc_major(d), libc_minor(d)), (259, 3));
        assert_eq!(parse_major_minor("8:1"), Some((8, 1)));
        assert_eq!(parse_major_minor("x"), None);
    }
}
