//! Every DMA-BUF on the system and who holds it, read through a [`Root`]:
//! descriptors from `/proc/*/fd` and `/proc/*/fdinfo/*` (size, exporter,
//! name, inode), mappings from `/proc/*/maps` (`/dmabuf:NAME` lines, whose
//! inode column is the buffer's), and, where readable, the kernel's own
//! lists: debugfs `dma_buf/bufinfo` (every buffer, even those no process
//! holds, and the devices attached to each) and `/sys/kernel/dmabuf/buffers`
//! (`CONFIG_DMABUF_SYSFS_STATS`). What cannot be read (another user's
//! process) is listed as such, never skipped silently.

use std::collections::BTreeMap;
use std::io;

use numakit_root::Root;
use serde::Serialize;

/// Schema of [`Listing`] as JSON.
pub const SCHEMA: &str = "numakit.dmabuf-list/1";

/// The listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Listing {
    /// `numakit.dmabuf-list/1`.
    pub schema: &'static str,
    /// Buffers by inode.
    pub buffers: Vec<Buffer>,
    /// Processes (or parts of them) that could not be read.
    pub unreadable: Vec<Unreadable>,
    /// What the listing was read from.
    pub sources: Sources,
}

/// One buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Buffer {
    /// Inode number (unique per buffer on the system).
    pub inode: u64,
    /// Size in bytes.
    pub size: Option<u64>,
    /// The exporter (`system`, `udmabuf`, `videobuf2_vmalloc`, ...).
    pub exporter: Option<String>,
    /// The name set with `DMA_BUF_SET_NAME`.
    pub name: Option<String>,
    /// Devices attached to it (from `bufinfo`; `None` when not readable).
    pub attached: Option<Vec<String>>,
    /// Fences on it, one line each (from `bufinfo`).
    pub fences: Option<Vec<String>>,
    /// Processes holding a descriptor or a mapping of it.
    pub holders: Vec<Holder>,
}

/// A process that holds a buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// `/proc/PID/comm`.
    pub comm: Option<String>,
    /// Its descriptors of the buffer.
    pub fds: Vec<u32>,
    /// Its mappings of the buffer.
    pub mappings: Vec<MappingRange>,
}

/// One mapping of a buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MappingRange {
    /// Start address (hex).
    pub start: String,
    /// End address (hex).
    pub end: String,
    /// `rw-s`.
    pub perms: String,
}

/// A process part that could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    /// Process id.
    pub pid: u32,
    /// `/proc/PID/comm`, when readable.
    pub comm: Option<String>,
    /// `descriptors` or `mappings`.
    pub what: &'static str,
    /// Why.
    pub why: String,
}

/// Where the listing came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Sources {
    /// Processes looked at.
    pub processes: usize,
    /// debugfs `dma_buf/bufinfo`: `read`, `absent`, or why not.
    pub bufinfo: String,
    /// `/sys/kernel/dmabuf/buffers`: `read` or `absent`.
    pub sysfs: String,
}

const BUFINFO: &str = "/sys/kernel/debug/dma_buf/bufinfo";
const SYSFS: &str = "/sys/kernel/dmabuf/buffers";

/// Lists every buffer; with `pid`, only that process's.
pub fn list(root: &Root, pid: Option<u32>) -> Listing {
    let mut bufs: BTreeMap<u64, Buffer> = BTreeMap::new();
    let mut l = Listing {
        schema: SCHEMA,
        ..Listing::default()
    };
    let pids: Vec<u32> = match pid {
        Some(p) => vec![p],
        None => proc_pids(root),
    };
    l.sources.processes = pids.len();
    for p in pids {
        scan_process(root, p, &mut bufs, &mut l.unreadable);
    }
    l.sources.bufinfo = merge_bufinfo(root, &mut bufs, pid.is_none());
    l.sources.sysfs = merge_sysfs(root, &mut bufs, pid.is_none());
    l.buffers = bufs.into_values().collect();
    l
}

fn proc_pids(root: &Root) -> Vec<u32> {
    let mut v: Vec<u32> = root
        .read_dir("/proc")
        .unwrap_or_default()
        .iter()
        .filter_map(|d| d.parse().ok())
        .collect();
    v.sort_unstable();
    v
}

/// Why a read failed, in words; `None` when the process is simply gone.
pub fn unreadable_why(e: &io::Error) -> Option<String> {
    match e.kind() {
        io::ErrorKind::NotFound => None,
        io::ErrorKind::PermissionDenied => {
            Some("permission denied (another user's process; run as root)".into())
        }
        _ => Some(e.to_string()),
    }
}

fn scan_process(
    root: &Root,
    pid: u32,
    bufs: &mut BTreeMap<u64, Buffer>,
    bad: &mut Vec<Unreadable>,
) {
    let comm = root.read_trim(&format!("/proc/{pid}/comm"));
    let holder = |bufs: &mut BTreeMap<u64, Buffer>, ino: u64| -> usize {
        let b = bufs.entry(ino).or_insert_with(|| Buffer {
            inode: ino,
            ..Buffer::default()
        });
        if let Some(i) = b.holders.iter().position(|h| h.pid == pid) {
            return i;
        }
        b.holders.push(Holder {
            pid,
            comm: comm.clone(),
            ..Holder::default()
        });
        b.holders.len() - 1
    };
    match root.read_dir(&format!("/proc/{pid}/fd")) {
        Ok(fds) => {
            for fd in fds.iter().filter_map(|f| f.parse::<u32>().ok()) {
                let Some(info) = fd_info(root, pid, fd) else {
                    continue;
                };
                let i = holder(bufs, info.inode);
                let b = bufs.get_mut(&info.inode).expect("just inserted");
                b.size = b.size.or(info.size);
                b.exporter = b.exporter.take().or(info.exporter);
                b.name = b.name.take().or(info.name);
                b.holders[i].fds.push(fd);
            }
        }
        Err(e) => note(bad, pid, &comm, "descriptors", &e),
    }
    match root.read_to_string(&format!("/proc/{pid}/maps")) {
        Ok(text) => {
            for (ino, m) in parse_maps(&text) {
                let i = holder(bufs, ino);
                bufs.get_mut(&ino).expect("just inserted").holders[i]
                    .mappings
                    .push(m);
            }
        }
        Err(e) => note(bad, pid, &comm, "mappings", &e),
    }
}

fn note(
    bad: &mut Vec<Unreadable>,
    pid: u32,
    comm: &Option<String>,
    what: &'static str,
    e: &io::Error,
) {
    if let Some(why) = unreadable_why(e) {
        bad.push(Unreadable {
            pid,
            comm: comm.clone(),
            what,
            why,
        });
    }
}

/// What `/proc/PID/fdinfo/FD` says about a DMA-BUF descriptor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FdInfo {
    /// `ino:`.
    pub inode: u64,
    /// `size:`.
    pub size: Option<u64>,
    /// `exp_name:`.
    pub exporter: Option<String>,
    /// `name:`.
    pub name: Option<String>,
}

/// The fdinfo of a descriptor whose link names a DMA-BUF, else `None`.
fn fd_info(root: &Root, pid: u32, fd: u32) -> Option<FdInfo> {
    let link = root.read_link(&format!("/proc/{pid}/fd/{fd}")).ok()?;
    if !(link.starts_with("/dmabuf:") || link == "anon_inode:dmabuf") {
        return None;
    }
    parse_fdinfo(
        &root
            .read_to_string(&format!("/proc/{pid}/fdinfo/{fd}"))
            .ok()?,
    )
}

/// Parses a DMA-BUF's fdinfo (`None` without `exp_name:` and `ino:`).
pub fn parse_fdinfo(text: &str) -> Option<FdInfo> {
    let mut i = FdInfo::default();
    let mut seen = (false, false);
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim_start_matches([' ', '\t']);
        match k {
            "ino" => {
                i.inode = v.trim().parse().ok()?;
                seen.0 = true;
            }
            "size" => i.size = v.trim().parse().ok(),
            "exp_name" => {
                i.exporter = Some(v.to_string());
                seen.1 = true;
            }
            "name" => i.name = Some(v.to_string()),
            _ => {}
        }
    }
    (seen.0 && seen.1).then_some(i)
}

/// The DMA-BUF mappings of a `/proc/PID/maps`: inode and range.
pub fn parse_maps(text: &str) -> Vec<(u64, MappingRange)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut f = line.splitn(6, ' ');
        let (Some(range), Some(perms), Some(_off), Some(_dev), Some(ino)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let path = f.next().unwrap_or("").trim_start();
        if !path.starts_with("/dmabuf:") {
            continue;
        }
        let (Some((s, e)), Ok(ino)) = (range.split_once('-'), ino.parse::<u64>()) else {
            continue;
        };
        out.push((
            ino,
            MappingRange {
                start: format!("0x{s}"),
                end: format!("0x{e}"),
                perms: perms.to_string(),
            },
        ));
    }
    out
}

/// One buffer of debugfs `bufinfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BufInfo {
    /// Size.
    pub size: u64,
    /// Exporter.
    pub exporter: String,
    /// Inode.
    pub inode: u64,
    /// Name (`None` for `<none>`).
    pub name: Option<String>,
    /// Reference count of its file.
    pub count: u64,
    /// Attached devices.
    pub attached: Vec<String>,
    /// Fence lines.
    pub fences: Vec<String>,
}

/// Parses debugfs `dma_buf/bufinfo` (`size flags mode count exp_name ino
/// name` rows, each followed by fence lines, `Attached Devices:` and the
/// device names, one per tab-indented line).
pub fn parse_bufinfo(text: &str) -> Vec<BufInfo> {
    let mut out: Vec<BufInfo> = Vec::new();
    let mut in_devices = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix('\t') {
            let Some(cur) = out.last_mut() else { continue };
            if rest.trim_end() == "Attached Devices:" {
                in_devices = true;
            } else if in_devices {
                cur.attached.push(rest.trim().to_string());
            } else if !rest.trim().is_empty() {
                cur.fences.push(rest.trim().to_string());
            }
            continue;
        }
        in_devices = false;
        let f: Vec<&str> = line.splitn(7, '\t').collect();
        if f.len() < 7 {
            continue;
        }
        let (Ok(size), Ok(count), Ok(inode)) = (
            f[0].trim().parse::<u64>(),
            f[3].trim().parse::<u64>(),
            f[5].trim().parse::<u64>(),
        ) else {
            continue;
        };
        out.push(BufInfo {
            size,
            exporter: f[4].to_string(),
            inode,
            name: (f[6] != "<none>").then(|| f[6].to_string()),
            count,
            attached: Vec::new(),
            fences: Vec::new(),
        });
    }
    out
}

fn merge_bufinfo(root: &Root, bufs: &mut BTreeMap<u64, Buffer>, add_unheld: bool) -> String {
    let text = match root.read_to_string(BUFINFO) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return if root.exists("/sys/kernel/debug/dma_buf")
                || root.is_dir("/sys/kernel/debug/tracing")
            {
                "absent".into()
            } else {
                "absent (debugfs is not mounted at /sys/kernel/debug)".into()
            };
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return "permission denied (debugfs is for root)".into();
        }
        Err(e) => return e.to_string(),
    };
    for b in parse_bufinfo(&text) {
        if !add_unheld && !bufs.contains_key(&b.inode) {
            continue;
        }
        let e = bufs.entry(b.inode).or_insert_with(|| Buffer {
            inode: b.inode,
            ..Buffer::default()
        });
        e.size = e.size.or(Some(b.size));
        e.exporter = e.exporter.take().or(Some(b.exporter));
        e.name = e.name.take().or(b.name);
        e.attached = Some(b.attached);
        e.fences = Some(b.fences);
    }
    "read".into()
}

fn merge_sysfs(root: &Root, bufs: &mut BTreeMap<u64, Buffer>, add_unheld: bool) -> String {
    let Ok(dirs) = root.read_dir(SYSFS) else {
        return "absent".into();
    };
    for d in dirs {
        let Ok(ino) = d.parse::<u64>() else { continue };
        if !add_unheld && !bufs.contains_key(&ino) {
            continue;
        }
        let e = bufs.entry(ino).or_insert_with(|| Buffer {
            inode: ino,
            ..Buffer::default()
        });
        e.size = e
            .size
            .or_else(|| root.read_u64(&format!("{SYSFS}/{d}/size")));
        e.exporter = e
            .exporter
            .take()
            .or_else(|| root.read_trim(&format!("{SYSFS}/{d}/exporter_name")));
    }
    "read".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_of_a_named_buffer() {
        let t = "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t7\nsize:\t1048576\ncount:\t2\nexp_name:\tsystem\nname:\tmy frame\n";
        assert_eq!(
            parse_fdinfo(t),
            Some(FdInfo {
                inode: 7,
                size: Some(1048576),
                exporter: Some("system".into()),
                name: Some("my frame".into()),
            })
        );
        assert_eq!(parse_fdinfo("pos:\t0\nino:\t7\n"), None, "not a DMA-BUF");
    }

    #[test]
    fn maps_lines() {
        let t = "7f00-7f10 rw-s 00000000 00:0f 12 /dmabuf:frame\n7f10-7f20 r--p 0 00:00 0 \n";
        let m = parse_maps(t);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].0, 12);
        assert_eq!(m[0].1.perms, "rw-s");
        assert_eq!(m[0].1.start, "0x7f00");
    }

    #[test]
    fn errors_in_words() {
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert!(
            unreadable_why(&denied)
                .unwrap()
                .contains("permission denied")
        );
        assert_eq!(
            unreadable_why(&io::Error::from(io::ErrorKind::NotFound)),
            None
        );
    }
}
