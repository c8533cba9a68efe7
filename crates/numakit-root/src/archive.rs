//! Reading a snapshot tarball (`.tar.gz`, `.tar.bz2`, `.tar`) into a
//! [`Tree`], within a bound on its unpacked size.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::RootError;
use crate::resolve::join_abs;
use crate::tree::{Entry, Tree};

/// The most bytes a snapshot may hold once unpacked (1 GiB), file contents
/// and tar headers (GNU long names, PAX records) together: a bound so that a
/// hostile tarball cannot exhaust memory.
pub const MAX_SNAPSHOT_BYTES: u64 = 1 << 30;

pub(crate) fn load(path: &Path) -> Result<Tree, RootError> {
    load_limited(path, MAX_SNAPSHOT_BYTES)
}

/// [`load`] with `limit` in place of [`MAX_SNAPSHOT_BYTES`].
pub(crate) fn load_limited(path: &Path, limit: u64) -> Result<Tree, RootError> {
    let bad = |reason: String| RootError::BadSnapshot {
        path: path.into(),
        reason,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let file = std::fs::File::open(path).map_err(|e| RootError::Io {
        path: path.into(),
        source: e,
    })?;
    let mut head = [0u8; 3];
    {
        let mut f = &file;
        let n = f.read(&mut head).map_err(|e| RootError::Io {
            path: path.into(),
            source: e,
        })?;
        if n < 3 {
            return Err(RootError::NotARoot(path.into()));
        }
    }
    use std::io::Seek;
    let mut file = file;
    file.seek(std::io::SeekFrom::Start(0))
        .map_err(|e| RootError::Io {
            path: path.into(),
            source: e,
        })?;
    let reader: Box<dyn Read> = if head[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
    } else if head == *b"BZh" {
        Box::new(bzip2::read::BzDecoder::new(std::io::BufReader::new(file)))
    } else if name.ends_with(".tar") {
        Box::new(std::io::BufReader::new(file))
    } else {
        return Err(RootError::NotARoot(path.into()));
    };
    // The tar reader keeps long names and PAX records in memory whole, and
    // they are not file contents: bound the unpacked stream itself.
    let mut ar = tar::Archive::new(reader.take(limit));
    let mut raw: Vec<(Vec<String>, Entry)> = Vec::new();
    let mut hardlinks: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    let mut total: u64 = 0;
    for ent in ar.entries().map_err(|e| bad(e.to_string()))? {
        let mut ent = ent.map_err(|e| bad(e.to_string()))?;
        let p = ent
            .path()
            .map_err(|e| bad(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let comps = normalise(&p);
        let et = ent.header().entry_type();
        if et.is_dir() {
            raw.push((comps, Entry::Dir(BTreeSet::new())));
        } else if et.is_symlink() {
            let t = ent
                .link_name()
                .map_err(|e| bad(e.to_string()))?
                .map(|l| l.to_string_lossy().into_owned());
            raw.push((comps, Entry::Symlink(t.unwrap_or_default())));
        } else if et.is_hard_link() {
            let t = ent
                .link_name()
                .map_err(|e| bad(e.to_string()))?
                .map(|l| l.to_string_lossy().into_owned());
            hardlinks.push((comps, normalise(&t.unwrap_or_default())));
        } else if et.is_file() {
            let size = ent.header().size().unwrap_or(0);
            total = total.saturating_add(size);
            if total > limit {
                return Err(bad(format!("holds more than {} MiB of files", limit >> 20)));
            }
            let mut data = Vec::with_capacity(size.min(1 << 20) as usize);
            ent.read_to_end(&mut data).map_err(|e| bad(e.to_string()))?;
            raw.push((comps, Entry::File(data.into())));
        }
        // device nodes, fifos: skipped
    }
    if raw.is_empty() {
        return Err(bad("it holds no files".into()));
    }
    // Root at the single top-level folder unless sys/ or proc/ sit at the top.
    let at_top = raw.iter().any(|(c, _)| {
        matches!(
            c.first().map(String::as_str),
            Some("sys" | "proc" | "dev" | "run")
        )
    });
    let strip = if at_top {
        0
    } else {
        let first = raw[0].0.first().cloned();
        if first.is_some() && raw.iter().all(|(c, _)| c.first() == first.as_ref()) {
            1
        } else {
            0
        }
    };
    let mut tree = Tree::default();
    for (comps, e) in raw {
        if comps.len() <= strip {
            continue;
        }
        tree.insert(&comps[strip..], e);
    }
    for (comps, target) in hardlinks {
        if comps.len() <= strip || target.len() <= strip {
            continue;
        }
        let tp = join_abs(&target[strip..]);
        if let Some(Entry::File(d)) = tree.get(&tp) {
            let d: Arc<[u8]> = d.clone();
            tree.insert(&comps[strip..], Entry::File(d));
        }
    }
    Ok(tree)
}

fn normalise(p: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c.to_string()),
        }
    }
    out
}
