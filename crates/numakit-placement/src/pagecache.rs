//! Where a file's page cache is: which node holds each cached page of a
//! file (or of a block device), without loading anything that was not
//! cached.
//!
//! The file is mapped read-only in windows; `mincore` says which pages the
//! page cache holds; only those are touched, which maps the cached page
//! into this process (a minor fault: nothing is read from the file); one
//! batched `move_pages` query per window then says where each is. A page
//! the kernel evicts between `mincore` and the touch is read back (one
//! page, in a window of microseconds).

use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom};
use std::os::fd::AsFd;
use std::path::Path;

use numakit_sys::filemap::FileMapping;
use serde::Serialize;

use crate::backend::{Backend, LiveBackend};
use crate::pages::{PageLocation, locate};
use crate::{Error, Result};

/// Pages per window (256 MiB of 4 KiB pages).
const WINDOW_PAGES: usize = 64 * 1024;

/// How much of a file is in the page cache, per node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileCache {
    /// The file as given.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// The base page size.
    pub page_size: u64,
    /// Pages of the file.
    pub pages: u64,
    /// Pages in the page cache.
    pub cached: u64,
    /// Cached pages per node.
    pub by_node: BTreeMap<u32, u64>,
    /// Cached pages the kernel would not place (evicted meanwhile, or
    /// unmovable).
    pub unknown: u64,
}

/// The page cache of the file at `path`, per node (needs the running
/// system).
pub fn file_cache(path: &Path) -> Result<FileCache> {
    file_cache_with(path, &LiveBackend)
}

pub(crate) fn file_cache_with(path: &Path, backend: &dyn Backend) -> Result<FileCache> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    // the end, not the metadata: a block device's metadata says 0 bytes
    let size = (&f).seek(SeekFrom::End(0)).map_err(io)?;
    let ps = numakit_sys::mm::page_size() as u64;
    let mut c = FileCache {
        path: path.display().to_string(),
        size,
        page_size: ps,
        pages: size.div_ceil(ps),
        cached: 0,
        by_node: BTreeMap::new(),
        unknown: 0,
    };
    let window = WINDOW_PAGES as u64 * ps;
    let mut off = 0;
    while off < size {
        let len = (size - off).min(window) as usize;
        let m = FileMapping::new(f.as_fd(), off, len)
            .map_err(|e| Error::from_errno(format!("mapping {}", path.display()), e, None))?;
        let resident = m
            .resident()
            .map_err(|e| Error::from_errno(format!("mincore on {}", path.display()), e, None))?;
        let pages: Vec<usize> = resident
            .iter()
            .enumerate()
            .filter(|(_, r)| **r)
            .map(|(i, _)| {
                m.touch(i);
                m.addr() + i * ps as usize
            })
            .collect();
        c.cached += pages.len() as u64;
        if !pages.is_empty() {
            for loc in locate(backend, 0, &pages)? {
                match loc {
                    PageLocation::Node(n) => *c.by_node.entry(n.get()).or_default() += 1,
                    _ => c.unknown += 1,
                }
            }
        }
        off += len as u64;
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_just_written_is_cached_on_some_node() {
        let ps = numakit_sys::mm::page_size();
        let path = std::env::temp_dir().join(format!("numakit-pagecache-{}", std::process::id()));
        std::fs::write(&path, vec![1u8; 5 * ps + 10]).unwrap();
        let c = file_cache(&path).unwrap();
        assert_eq!(c.pages, 6);
        assert_eq!(c.cached, 6);
        assert_eq!(c.by_node.values().sum::<u64>() + c.unknown, 6);
        std::fs::write(&path, b"").unwrap();
        let c = file_cache(&path).unwrap();
        assert_eq!((c.pages, c.cached), (0, 0));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(file_cache(&path), Err(Error::Io { .. })));
    }
}
