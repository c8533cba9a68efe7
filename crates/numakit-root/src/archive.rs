//! Reading a snapshot tarball (`.tar.gz`, `.tar.bz2`, `.tar`) into a
//! [`Tree`], within the bounds of `limits.rs`: the unpacked stream, each
//! file, what is held in all, and each path's length and depth.

use std::io::{Read, Seek};
use std::path::Path;
use std::sync::Arc;

use crate::RootError;
use crate::limits::{
    MAX_FILE_BYTES, MAX_HELD_BYTES, MAX_PATH_BYTES, MAX_PATH_DEPTH, MAX_SNAPSHOT_BYTES,
};
use crate::resolve::join_abs;
use crate::tree::{Entry, Tree};

/// The bounds one load works within.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The unpacked tar stream.
    pub stream: u64,
    /// What is held in memory: contents and paths.
    pub held: u64,
}

impl Limits {
    /// The bounds of `limits.rs`.
    pub(crate) const DEFAULT: Limits = Limits {
        stream: MAX_SNAPSHOT_BYTES,
        held: MAX_HELD_BYTES,
    };
}

pub(crate) fn load(path: &Path) -> Result<Tree, RootError> {
    load_limited(path, Limits::DEFAULT)
}

/// The decompressing reader for the tarball at `path`, by its first bytes
/// (or a `.tar` name for an uncompressed one).
fn open_stream(path: &Path) -> Result<Box<dyn Read>, RootError> {
    let io = |e| RootError::Io {
        path: path.into(),
        source: e,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut head = [0u8; 3];
    let n = file.read(&mut head).map_err(io)?;
    let promised = if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        Some(("gzip", head[..2] == [0x1f, 0x8b]))
    } else if name.ends_with(".tar.bz2") || name.ends_with(".tbz2") {
        Some(("bzip2", head == *b"BZh"))
    } else {
        None
    };
    if let Some((format, false)) = promised {
        let start = match n {
            0 => "it is empty".to_string(),
            _ => format!("it starts with bytes {:02x?}", &head[..n]),
        };
        return Err(RootError::NotCompressed {
            path: path.into(),
            format,
            start,
        });
    }
    if n < 3 {
        return Err(RootError::NotARoot(path.into()));
    }
    file.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
    let file = std::io::BufReader::new(file);
    Ok(if head[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(file))
    } else if head == *b"BZh" {
        Box::new(bzip2::read::BzDecoder::new(file))
    } else if name.ends_with(".tar") {
        Box::new(file)
    } else {
        return Err(RootError::NotARoot(path.into()));
    })
}

/// [`load`] within `limits`.
pub(crate) fn load_limited(path: &Path, limits: Limits) -> Result<Tree, RootError> {
    let bad = |reason: String| RootError::BadSnapshot {
        path: path.into(),
        reason,
    };
    // The tar reader keeps long names and PAX records in memory whole, and
    // they are not file contents: bound the unpacked stream itself.
    let mut ar = tar::Archive::new(open_stream(path)?.take(limits.stream));
    let mut raw = Raw::default();
    for ent in ar.entries().map_err(|e| bad(e.to_string()))? {
        let ent = ent.map_err(|e| bad(e.to_string()))?;
        raw.add(ent, limits).map_err(bad)?;
    }
    if raw.entries.is_empty() {
        return Err(bad("it holds no files".into()));
    }
    raw.into_tree(limits).map_err(bad)
}

/// The entries read so far, before the top folder is known.
#[derive(Default)]
struct Raw {
    entries: Vec<(Vec<String>, Entry)>,
    hardlinks: Vec<(Vec<String>, Vec<String>)>,
    /// Bytes held: contents and paths.
    held: u64,
}

impl Raw {
    /// Reads one tar entry; refuses a path or target out of bounds, a file
    /// larger than any sysfs or procfs file, or more held than `limits`.
    fn add<R: Read>(&mut self, mut ent: tar::Entry<'_, R>, limits: Limits) -> Result<(), String> {
        let comps = components(&ent.path_bytes())?;
        let et = ent.header().entry_type();
        let target = || -> Result<String, String> {
            let t = ent.link_name_bytes().unwrap_or_default();
            if t.len() > MAX_PATH_BYTES {
                return Err(format!(
                    "a link target is longer than {MAX_PATH_BYTES} bytes"
                ));
            }
            Ok(String::from_utf8_lossy(&t).into_owned())
        };
        let entry = if et.is_dir() {
            Entry::Dir(Default::default())
        } else if et.is_symlink() {
            let t = target()?;
            components(t.as_bytes())?;
            Entry::Symlink(t)
        } else if et.is_hard_link() {
            let t = components(target()?.as_bytes())?;
            self.hold(&comps, 0, limits)?;
            self.hardlinks.push((comps, t));
            return Ok(());
        } else if et.is_file() {
            let size = ent.header().size().map_err(|e| e.to_string())?;
            if size > MAX_FILE_BYTES {
                return Err(format!(
                    "'{}' holds {} MiB; no sysfs or procfs file is larger than {} MiB",
                    comps.join("/"),
                    size >> 20,
                    MAX_FILE_BYTES >> 20
                ));
            }
            self.hold(&comps, size, limits)?;
            let mut data = Vec::with_capacity(size as usize);
            (&mut ent)
                .take(size)
                .read_to_end(&mut data)
                .map_err(|e| e.to_string())?;
            Entry::File(data.into())
        } else {
            // device nodes, fifos: skipped
            return Ok(());
        };
        self.hold(&comps, 0, limits)?;
        self.entries.push((comps, entry));
        Ok(())
    }

    /// Counts `size` bytes of contents and the path `comps` against the
    /// bound on what is held.
    fn hold(&mut self, comps: &[String], size: u64, limits: Limits) -> Result<(), String> {
        let path: usize = comps.iter().map(|c| c.len() + 1).sum();
        self.held = self.held.saturating_add(size + path as u64);
        if self.held > limits.held {
            return Err(format!(
                "holds more than {} MiB of files and paths",
                limits.held >> 20
            ));
        }
        Ok(())
    }

    /// The tree, rooted at the single top-level folder unless `sys/` or
    /// `proc/` sit at the top.
    fn into_tree(self, limits: Limits) -> Result<Tree, String> {
        let Raw {
            entries, hardlinks, ..
        } = self;
        let at_top = entries.iter().any(|(c, _)| {
            matches!(
                c.first().map(String::as_str),
                Some("sys" | "proc" | "dev" | "run")
            )
        });
        let first = entries[0].0.first().cloned();
        let strip = usize::from(
            !at_top && first.is_some() && entries.iter().all(|(c, _)| c.first() == first.as_ref()),
        );
        let mut tree = Tree::default();
        let mut held = 0u64;
        for (comps, e) in entries {
            if comps.len() > strip {
                held += tree.insert(&comps[strip..], e) as u64;
            }
        }
        for (comps, target) in hardlinks {
            if comps.len() <= strip || target.len() <= strip {
                continue;
            }
            if let Some(Entry::File(d)) = tree.get(&join_abs(&target[strip..])) {
                let d: Arc<[u8]> = d.clone();
                held += tree.insert(&comps[strip..], Entry::File(d)) as u64;
            }
        }
        // the directories made for the entries' parents are held too
        if held > limits.held {
            return Err(format!(
                "holds more than {} MiB of paths",
                limits.held >> 20
            ));
        }
        Ok(tree)
    }
}

/// The components of a path in a tarball, `.` and `..` applied (`..` stops
/// at the top); refuses a path longer than `PATH_MAX` or deeper than
/// [`MAX_PATH_DEPTH`].
fn components(p: &[u8]) -> Result<Vec<String>, String> {
    if p.len() > MAX_PATH_BYTES {
        return Err(format!("a path is longer than {MAX_PATH_BYTES} bytes"));
    }
    let mut out: Vec<String> = Vec::new();
    for c in p.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c => out.push(String::from_utf8_lossy(c).into_owned()),
        }
        if out.len() > MAX_PATH_DEPTH {
            return Err(format!("a path is deeper than {MAX_PATH_DEPTH} folders"));
        }
    }
    Ok(out)
}
