//! Recording the paths a reader touched, for snapshots.

use std::collections::BTreeMap;
use std::sync::Arc;

/// One recorded path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordedEntry {
    /// A regular file and the bytes read from it.
    File(Arc<[u8]>),
    /// A symbolic link and its target.
    Symlink(String),
    /// A directory that was listed or tested.
    Dir,
}

/// Everything read through a recording root: absolute path to entry.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// Path to what was found there.
    pub entries: BTreeMap<String, RecordedEntry>,
}

#[derive(Debug, Default)]
pub(crate) struct Recorder {
    entries: BTreeMap<String, RecordedEntry>,
}

impl Recorder {
    pub(crate) fn file(&mut self, path: &str, data: &[u8]) {
        self.entries
            .insert(path.to_string(), RecordedEntry::File(data.into()));
    }
    pub(crate) fn link(&mut self, path: &str, target: &str) {
        self.entries
            .insert(path.to_string(), RecordedEntry::Symlink(target.to_string()));
    }
    pub(crate) fn dir(&mut self, path: &str) {
        self.entries
            .entry(path.to_string())
            .or_insert(RecordedEntry::Dir);
    }
    /// A directory listing: the children found, typed, recorded only where
    /// nothing more precise is known about them (a placeholder file is empty).
    pub(crate) fn listing(&mut self, path: &str, kids: Vec<(String, RecordedEntry)>) {
        self.dir(path);
        for (name, e) in kids {
            let p = if path == "/" {
                format!("/{name}")
            } else {
                format!("{path}/{name}")
            };
            self.entries.entry(p).or_insert(e);
        }
    }
    /// A path whose existence was tested: a directory, or a placeholder file.
    pub(crate) fn exists(&mut self, path: &str, is_dir: bool) {
        if is_dir {
            self.dir(path);
        } else {
            self.entries
                .entry(path.to_string())
                .or_insert_with(|| RecordedEntry::File(Arc::from(&b""[..])));
        }
    }
    pub(crate) fn snapshot(&self) -> Recorded {
        Recorded {
            entries: self.entries.clone(),
        }
    }
}
