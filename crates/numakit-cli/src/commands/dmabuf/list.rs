//! `numakit dmabuf list`: every DMA-BUF on the system (or of one process),
//! its size, exporter, name, the devices attached to it, and the
//! processes that hold a descriptor or a mapping of it. Processes that
//! could not be read are listed, not skipped.
//!
//! `--json` prints schema `numakit.dmabuf-list/1` (docs/dmabuf.md).

use std::fmt::Write as _;
use std::path::PathBuf;

use numakit_dmabuf::list::{Buffer, Listing, list};
use numakit_dmabuf::support::{Feature, Missing, has_udmabuf, heap_names};

use super::size_text;
use crate::commands::common::open_root;
use crate::error::{CliError, CliResult};
use crate::output::{print, print_json, sanitize};

/// `numakit dmabuf list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only the buffers this process holds.
    #[arg(long)]
    pid: Option<u32>,
    /// Print JSON (schema numakit.dmabuf-list/1).
    #[arg(long)]
    json: bool,
}

/// Runs `numakit dmabuf list`.
pub fn run(root: Option<PathBuf>, a: ListArgs) -> CliResult<u8> {
    let root = open_root(root)?;
    if let Some(p) = a.pid
        && !root.is_dir(&format!("/proc/{p}"))
    {
        return Err(CliError::new(format!("process {p} does not exist")));
    }
    let l = list(&root, a.pid);
    if l.buffers.is_empty()
        && a.pid.is_none()
        && root.is_live()
        && heap_names(&root).is_empty()
        && !has_udmabuf(&root)
    {
        let heaps = Missing::explain(&root, Feature::Heaps, "/dev/dma_heap");
        let udma = Missing::explain(&root, Feature::Udmabuf, "/dev/udmabuf");
        return Err(CliError::new(format!(
            "no DMA-BUF on this system and nothing to make one with: {heaps}; {udma}"
        ))
        .hint(heaps.hint()));
    }
    if a.json {
        print_json(&l)?;
    } else {
        print(&render(&l))?;
    }
    Ok(0)
}

fn holders(b: &Buffer) -> String {
    let mut parts = Vec::new();
    for h in &b.holders {
        let comm = h
            .comm
            .as_deref()
            .map(sanitize)
            .unwrap_or_else(|| "?".into());
        let mut s = format!("{comm}[{}]", h.pid);
        if !h.fds.is_empty() {
            let fds: Vec<String> = h.fds.iter().map(|f| f.to_string()).collect();
            let _ = write!(s, " fd {}", fds.join(","));
        }
        for m in &h.mappings {
            let _ = write!(s, " map {}-{} {}", m.start, m.end, m.perms);
        }
        parts.push(s);
    }
    if let Some(devs) = b.attached.as_ref().filter(|d| !d.is_empty()) {
        parts.push(format!(
            "attached: {}",
            devs.iter()
                .map(|d| sanitize(d))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if parts.is_empty() {
        "no process".into()
    } else {
        parts.join("; ")
    }
}

fn render(l: &Listing) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<8} {:>9}  {:<20} {:<16} holders",
        "DMA-BUF", "size", "exporter", "name"
    );
    let mut total = 0u64;
    for b in &l.buffers {
        total += b.size.unwrap_or(0);
        let _ = writeln!(
            s,
            "{:<8} {:>9}  {:<20} {:<16} {}",
            b.inode,
            b.size.map(size_text).unwrap_or_else(|| "?".into()),
            b.exporter
                .as_deref()
                .map(sanitize)
                .unwrap_or_else(|| "?".into()),
            b.name
                .as_deref()
                .map(sanitize)
                .unwrap_or_else(|| "-".into()),
            holders(b)
        );
    }
    let _ = writeln!(
        s,
        "{} buffers, {}; {} processes read; debugfs bufinfo: {}; sysfs stats: {}",
        l.buffers.len(),
        size_text(total),
        l.sources.processes,
        l.sources.bufinfo,
        l.sources.sysfs
    );
    for u in &l.unreadable {
        let comm = u
            .comm
            .as_deref()
            .map(sanitize)
            .unwrap_or_else(|| "?".into());
        let _ = writeln!(
            s,
            "cannot read the {} of {comm}[{}]: {}",
            u.what, u.pid, u.why
        );
    }
    s
}
