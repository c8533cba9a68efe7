//! The one root every numakit reader reads the machine through.
//!
//! A [`Root`] is the live system (`/`), a directory holding a copy of `sys/`
//! and `proc/` (as `hwloc-gather-topology` or `numakit snapshot` write them),
//! or such a snapshot packed as `.tar.gz`/`.tar.bz2`, read into memory.
//!
//! Paths are always absolute paths *inside* the root (`/sys/devices/system/node`).
//! Symbolic links are resolved inside the root too: an absolute link target in
//! a snapshot never escapes to the host, and a dangling link is simply an
//! error for that one read, which callers turn into an unknown fact.
//!
//! A root can record every path read through it ([`Root::start_recording`]);
//! that is how `numakit snapshot` collects exactly the files the model needs,
//! so that a snapshot replays to the same model as the live run.
//!
//! # Example
//! ```
//! use numakit_root::Root;
//! let dir = std::env::temp_dir().join(format!("numakit-root-doc-{}", std::process::id()));
//! std::fs::create_dir_all(dir.join("sys/devices/system/node/node0")).unwrap();
//! std::fs::write(dir.join("sys/devices/system/node/node0/cpulist"), "0-3\n").unwrap();
//! let root = Root::open(&dir).unwrap();
//! assert!(!root.is_live());
//! assert_eq!(root.read_trim("/sys/devices/system/node/node0/cpulist").as_deref(), Some("0-3"));
//! assert_eq!(root.read_dir("/sys/devices/system/node").unwrap(), vec!["node0".to_string()]);
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```
#![deny(missing_docs)]

// One backend per file, each behind the `Source` trait (source.rs): the live
// `/` (live.rs), a directory through `openat2` (fast_dir.rs) or through the
// portable resolver (dir.rs, resolve.rs), a snapshot tarball read into a
// tree (archive.rs, tree.rs). Recording wraps any of them (record.rs).
mod archive;
mod dir;
mod fast_dir;
mod fd;
mod limits;
mod live;
mod record;
mod resolve;
mod snapshot;
mod source;
mod tree;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use limits::{
    MAX_FILE_BYTES, MAX_HELD_BYTES, MAX_PATH_BYTES, MAX_PATH_DEPTH, MAX_SNAPSHOT_BYTES,
};
pub use record::{Recorded, RecordedEntry};
pub use snapshot::{Existing, write_snapshot};

use dir::Dir;
use fast_dir::FastDir;
use live::Live;
use record::Recording;
use source::Source;

/// Why a root could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    /// The path does not exist.
    #[error("root '{}' does not exist", .0.display())]
    NotFound(PathBuf),
    /// The path exists but is neither a directory nor a snapshot tarball.
    #[error("root '{}' is neither a directory nor a .tar.gz/.tar.bz2 snapshot", .0.display())]
    NotARoot(PathBuf),
    /// The path could not be inspected.
    #[error("cannot open root '{}': {source}", .path.display())]
    Io {
        /// The root path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The directory or tarball holds neither `sys/` nor `proc/`.
    #[error("root '{}' holds neither sys/ nor proc/: it is no copy of a machine", .0.display())]
    NoMachine(PathBuf),
    /// A file named as a compressed snapshot (`.tar.gz`, `.tgz`,
    /// `.tar.bz2`, `.tbz2`) whose contents are not in that format.
    #[error(
        "snapshot '{}' is named like a {format} tarball but does not start as {format} data does ({start}): it is damaged or not a snapshot; take it again with 'numakit snapshot'",
        .path.display()
    )]
    NotCompressed {
        /// The file.
        path: PathBuf,
        /// The format its name promises (`gzip`, `bzip2`).
        format: &'static str,
        /// What it starts with instead (`empty`, `bytes 50 4b 03`).
        start: String,
    },
    /// The tarball could not be read.
    #[error("cannot read snapshot '{}': {reason}", .path.display())]
    BadSnapshot {
        /// The tarball.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// A filesystem root to read a machine from. Cheap to clone.
#[derive(Clone)]
pub struct Root {
    /// What every read goes through: the backend, or while recording the
    /// [`Recording`] that wraps it.
    source: Arc<dyn Source>,
    label: String,
    /// While recording, the same [`Recording`] as `source`.
    recording: Option<Arc<Recording>>,
    /// Directory listings already made: a later read of a name the listing
    /// lacks is answered "not found" without a system call. Not used while
    /// recording.
    listings: Arc<Mutex<HashMap<String, Arc<Vec<String>>>>>,
}

impl fmt::Debug for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Root({})", self.label)
    }
}

impl Root {
    fn with(source: Arc<dyn Source>, label: String) -> Root {
        Root {
            source,
            label,
            recording: None,
            listings: Arc::default(),
        }
    }

    /// The live system, `/`.
    pub fn live() -> Root {
        Root::with(Arc::new(Live::new()), "/".into())
    }

    /// Opens `path`: `/` is the live system; a directory is a copied tree; a
    /// `.tar.gz`, `.tgz`, `.tar.bz2` or `.tbz2` file is a snapshot read into
    /// memory. A snapshot whose entries sit under one top-level folder (as
    /// `hwloc-gather-topology` writes them) is rooted at that folder.
    #[doc(alias = "hwloc_topology_set_fsroot")]
    pub fn open(path: impl AsRef<Path>) -> Result<Root, RootError> {
        let path = path.as_ref();
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(RootError::NotFound(path.into()));
            }
            Err(e) => {
                return Err(RootError::Io {
                    path: path.into(),
                    source: e,
                });
            }
        };
        let label = path.display().to_string();
        if meta.is_dir() {
            let canon = std::fs::canonicalize(path).map_err(|e| RootError::Io {
                path: path.into(),
                source: e,
            })?;
            if canon == Path::new("/") {
                return Ok(Root::with(Arc::new(Live::new()), label));
            }
            let source: Arc<dyn Source> = match FastDir::open(canon.clone()) {
                Some(fast) => Arc::new(fast),
                None => Arc::new(Dir::new(canon)),
            };
            return Root::checked(source, path, label);
        }
        if meta.is_file() {
            let tree = archive::load(path)?;
            return Root::checked(Arc::new(tree), path, label);
        }
        Err(RootError::NotARoot(path.into()))
    }

    /// `source` as a root if it holds a machine: its top can be listed and
    /// holds `sys/` or `proc/`, each listable where present. An unreadable
    /// or empty copy is refused, never read as a machine with every fact
    /// unknown.
    fn checked(source: Arc<dyn Source>, path: &Path, label: String) -> Result<Root, RootError> {
        let io = |e| RootError::Io {
            path: path.into(),
            source: e,
        };
        let top = source.list("/").map_err(io)?;
        let mut found = false;
        for d in ["sys", "proc"] {
            if top.iter().any(|n| n == d) && source.is_dir(&format!("/{d}")) {
                source.list(&format!("/{d}")).map_err(io)?;
                found = true;
            }
        }
        if !found {
            return Err(RootError::NoMachine(path.into()));
        }
        Ok(Root::with(source, label))
    }

    /// Opens `path` if given, else the live system.
    pub fn open_or_live(path: Option<&Path>) -> Result<Root, RootError> {
        match path {
            Some(p) => Root::open(p),
            None => Ok(Root::live()),
        }
    }

    /// Whether this root is the running system, where actions (setting a
    /// policy, binding a device) make sense.
    pub fn is_live(&self) -> bool {
        self.source.is_live()
    }

    /// How the root was named when opened.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Starts recording every path read through clones of the returned root.
    /// On the live system the recording root resolves links itself, so that
    /// every link on the way is recorded too.
    pub fn start_recording(&self) -> Root {
        // a recording root records its backend afresh, not the old recording
        let inner = match &self.recording {
            Some(r) => r.inner().clone(),
            None => self.source.clone(),
        };
        let rec = Arc::new(Recording::new(inner));
        Root {
            source: rec.clone(),
            label: self.label.clone(),
            recording: Some(rec),
            listings: Arc::default(),
        }
    }

    /// What was recorded so far (empty if this root is not recording).
    pub fn recorded(&self) -> Recorded {
        match &self.recording {
            Some(r) => r.recorded(),
            None => Recorded::default(),
        }
    }

    /// Whether a listing of `path`'s folder, made earlier, lacks its name.
    fn known_absent(&self, path: &str) -> bool {
        if self.recording.is_some() {
            return false;
        }
        let Some((parent, name)) = path.rsplit_once('/') else {
            return false;
        };
        if name.is_empty() || name == "." || name == ".." {
            return false;
        }
        match self.listings.lock() {
            Ok(l) => l
                .get(parent)
                .is_some_and(|names| names.binary_search_by(|n| n.as_str().cmp(name)).is_err()),
            Err(_) => false,
        }
    }

    /// Reads a whole file.
    pub fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        if self.known_absent(path) {
            return Err(io::ErrorKind::NotFound.into());
        }
        self.source.read(path)
    }

    /// Reads a file in pieces, handing each to `each` as it arrives: on the
    /// running system a long procfs file comes a page at a time, so the
    /// caller can work on one piece while the kernel writes the next; from
    /// a snapshot the whole file is one piece.
    pub fn read_pieces(&self, path: &str, each: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        if self.known_absent(path) {
            return Err(io::ErrorKind::NotFound.into());
        }
        self.source.read_pieces(path, each)
    }

    /// Reads a file as text (invalid UTF-8 is replaced).
    pub fn read_to_string(&self, path: &str) -> io::Result<String> {
        let b = self.read(path)?;
        Ok(match String::from_utf8(b) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// Reads a file and trims surrounding whitespace; `None` if it cannot be
    /// read for any reason (missing, unreadable, a dangling link, a directory).
    /// Trailing NUL bytes are trimmed too: some snapshot tools (and some
    /// sysfs attributes) leave them after the newline.
    pub fn read_trim(&self, path: &str) -> Option<String> {
        self.read_to_string(path).ok().map(|s| {
            s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
                .to_string()
        })
    }

    /// Reads a file holding one number (decimal, or hex with `0x`), trimmed;
    /// `None` if missing or not a number.
    pub fn read_u64(&self, path: &str) -> Option<u64> {
        let s = self.read_trim(path)?;
        numakit_types::parse_u64(&s)
    }

    /// Reads a file holding one signed decimal number.
    pub fn read_i64(&self, path: &str) -> Option<i64> {
        self.read_trim(path)?.parse().ok()
    }

    /// The target of a symbolic link, as written in the link.
    pub fn read_link(&self, path: &str) -> io::Result<String> {
        if self.known_absent(path) {
            return Err(io::ErrorKind::NotFound.into());
        }
        self.source.read_link(path)
    }

    /// The last path component of a link's target (`../../bus/pci/drivers/nvme` → `nvme`).
    pub fn link_name(&self, path: &str) -> Option<String> {
        let t = self.read_link(path).ok()?;
        t.trim_end_matches('/')
            .rsplit('/')
            .next()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// Resolves every link in `path`, inside the root. The result is an
    /// absolute path in the root; it exists.
    pub fn canonicalize(&self, path: &str) -> io::Result<String> {
        self.source.canonicalize(path)
    }

    /// The names in a directory, sorted.
    pub fn read_dir(&self, path: &str) -> io::Result<Vec<String>> {
        if self.recording.is_none() {
            if self.known_absent(path) {
                return Err(io::ErrorKind::NotFound.into());
            }
            if let Some(names) = self.listings.lock().ok().and_then(|l| l.get(path).cloned()) {
                return Ok(names.to_vec());
            }
        }
        let mut names = self.source.list(path)?;
        names.sort();
        if self.recording.is_none()
            && let Ok(mut l) = self.listings.lock()
        {
            l.insert(
                path.trim_end_matches('/').to_string(),
                Arc::new(names.clone()),
            );
        }
        Ok(names)
    }

    /// Whether `path` exists (following links).
    pub fn exists(&self, path: &str) -> bool {
        if self.known_absent(path) {
            return false;
        }
        self.source.exists(path)
    }

    /// Whether `path` is a directory (following links).
    pub fn is_dir(&self, path: &str) -> bool {
        if self.known_absent(path) {
            return false;
        }
        self.source.is_dir(path)
    }
}

#[cfg(test)]
mod tests;
