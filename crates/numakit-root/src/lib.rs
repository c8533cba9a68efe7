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

mod archive;
mod inroot;
mod record;
mod snapshot;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustix::io::Errno;

pub use archive::MAX_SNAPSHOT_BYTES;
pub use record::{Recorded, RecordedEntry};
pub use snapshot::write_snapshot;

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
    /// The tarball could not be read.
    #[error("cannot read snapshot '{}': {reason}", .path.display())]
    BadSnapshot {
        /// The tarball.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// What a path in the root is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    File(Arc<[u8]>),
    Dir(BTreeSet<String>),
    Symlink(String),
}

/// An in-memory tree read from a tarball: path (absolute, normalised) to entry.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    pub(crate) entries: BTreeMap<String, Entry>,
}

#[derive(Debug)]
enum Kind {
    Live,
    Dir(PathBuf),
    /// A directory the kernel resolves for us (`openat2` with `RESOLVE_IN_ROOT`).
    FastDir(PathBuf, inroot::InRoot),
    Tree(Arc<Tree>),
}

/// A filesystem root to read a machine from. Cheap to clone.
#[derive(Clone)]
pub struct Root {
    kind: Arc<Kind>,
    label: String,
    recorder: Option<Arc<Mutex<record::Recorder>>>,
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

const MAX_LINKS: usize = 40;

impl Root {
    /// The live system, `/`.
    pub fn live() -> Root {
        Root {
            kind: Arc::new(Kind::Live),
            label: "/".into(),
            recorder: None,
            listings: Arc::default(),
        }
    }

    /// Opens `path`: `/` is the live system; a directory is a copied tree; a
    /// `.tar.gz`, `.tgz`, `.tar.bz2` or `.tbz2` file is a snapshot read into
    /// memory. A snapshot whose entries sit under one top-level folder (as
    /// `hwloc-gather-topology` writes them) is rooted at that folder.
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
            let kind = if canon == Path::new("/") {
                Kind::Live
            } else {
                match inroot::InRoot::open(&canon) {
                    Some(fast) => Kind::FastDir(canon, fast),
                    None => Kind::Dir(canon),
                }
            };
            return Ok(Root {
                kind: Arc::new(kind),
                label,
                recorder: None,
                listings: Arc::default(),
            });
        }
        if meta.is_file() {
            let tree = archive::load(path)?;
            return Ok(Root {
                kind: Arc::new(Kind::Tree(Arc::new(tree))),
                label,
                recorder: None,
                listings: Arc::default(),
            });
        }
        Err(RootError::NotARoot(path.into()))
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
        matches!(*self.kind, Kind::Live)
    }

    /// How the root was named when opened.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Starts recording every path read through clones of the returned root.
    /// On the live system the recording root resolves links itself, so that
    /// every link on the way is recorded too.
    pub fn start_recording(&self) -> Root {
        // the portable resolver sees, and records, every link on the way
        let kind = match &*self.kind {
            Kind::Live => Arc::new(Kind::Dir(PathBuf::from("/"))),
            Kind::FastDir(base, _) => Arc::new(Kind::Dir(base.clone())),
            _ => self.kind.clone(),
        };
        Root {
            kind,
            label: self.label.clone(),
            recorder: Some(Arc::new(Mutex::new(record::Recorder::default()))),
            listings: Arc::default(),
        }
    }

    /// What was recorded so far (empty if this root is not recording).
    pub fn recorded(&self) -> Recorded {
        match &self.recorder {
            Some(r) => r.lock().map(|r| r.snapshot()).unwrap_or_default(),
            None => Recorded::default(),
        }
    }

    /// Whether a listing of `path`'s folder, made earlier, lacks its name.
    fn known_absent(&self, path: &str) -> bool {
        if self.recorder.is_some() {
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

    fn record(&self, f: impl FnOnce(&mut record::Recorder)) {
        if let Some(r) = &self.recorder
            && let Ok(mut g) = r.lock()
        {
            f(&mut g);
        }
    }

    /// Reads a whole file.
    pub fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        if self.known_absent(path) {
            return Err(io::ErrorKind::NotFound.into());
        }
        match &*self.kind {
            Kind::Live => inroot::read_fd(
                &rustix::fs::open(
                    path,
                    rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                    rustix::fs::Mode::empty(),
                )?,
                path.starts_with("/sys/"),
            ),
            Kind::FastDir(_, f) => f.read(path),
            Kind::Dir(base) => {
                let p = self.resolve(path, true)?;
                let data = inroot::read_host(&host_path(base, &p))?;
                self.record(|r| r.file(&p, &data));
                Ok(data)
            }
            Kind::Tree(t) => {
                let p = self.resolve(path, true)?;
                match t.entries.get(&p) {
                    Some(Entry::File(d)) => {
                        self.record(|r| r.file(&p, d));
                        Ok(d.to_vec())
                    }
                    Some(Entry::Dir(_)) => Err(io::Error::from(Errno::ISDIR)),
                    _ => Err(io::ErrorKind::NotFound.into()),
                }
            }
        }
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
        let (p, target) = match &*self.kind {
            Kind::Live => return Ok(std::fs::read_link(path)?.to_string_lossy().into_owned()),
            Kind::FastDir(_, f) => return f.read_link(path),
            Kind::Dir(base) => {
                let p = self.resolve(path, false)?;
                let t = std::fs::read_link(host_path(base, &p))?
                    .to_string_lossy()
                    .into_owned();
                (p, t)
            }
            Kind::Tree(t) => {
                let p = self.resolve(path, false)?;
                match t.entries.get(&p) {
                    Some(Entry::Symlink(s)) => (p, s.clone()),
                    Some(_) => return Err(io::Error::from(Errno::INVAL)),
                    None => return Err(io::ErrorKind::NotFound.into()),
                }
            }
        };
        self.record(|r| r.link(&p, &target));
        Ok(target)
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
        match &*self.kind {
            Kind::Live => inroot::canonicalize_live(path),
            Kind::FastDir(base, f) => f.canonicalize(path, base),
            _ => {
                let p = self.resolve(path, true)?;
                if !self.lexists(&p)? {
                    return Err(io::ErrorKind::NotFound.into());
                }
                Ok(p)
            }
        }
    }

    /// The names in a directory, sorted.
    pub fn read_dir(&self, path: &str) -> io::Result<Vec<String>> {
        if self.recorder.is_none() {
            if self.known_absent(path) {
                return Err(io::ErrorKind::NotFound.into());
            }
            if let Some(names) = self.listings.lock().ok().and_then(|l| l.get(path).cloned()) {
                return Ok(names.to_vec());
            }
        }
        let names = self.list(path)?;
        if self.recorder.is_none()
            && let Ok(mut l) = self.listings.lock()
        {
            l.insert(
                path.trim_end_matches('/').to_string(),
                Arc::new(names.clone()),
            );
        }
        Ok(names)
    }

    fn list(&self, path: &str) -> io::Result<Vec<String>> {
        let mut names = match &*self.kind {
            Kind::Live => list_host_dir(Path::new(path))?,
            Kind::FastDir(_, f) => f.read_dir(path)?,
            Kind::Dir(base) => {
                let p = self.resolve(path, true)?;
                let v = list_host_dir(&host_path(base, &p))?;
                if self.recorder.is_some() {
                    let kids: Vec<(String, RecordedEntry)> = v
                        .iter()
                        .filter_map(|name| {
                            let hp = host_path(base, &format!("{p}/{name}"));
                            let m = std::fs::symlink_metadata(&hp).ok()?;
                            let e = if m.file_type().is_symlink() {
                                RecordedEntry::Symlink(
                                    std::fs::read_link(&hp).ok()?.to_string_lossy().into_owned(),
                                )
                            } else if m.is_dir() {
                                RecordedEntry::Dir
                            } else {
                                RecordedEntry::File(Arc::from(&b""[..]))
                            };
                            Some((name.clone(), e))
                        })
                        .collect();
                    self.record(|r| r.listing(&p, kids));
                }
                v
            }
            Kind::Tree(t) => {
                let p = self.resolve(path, true)?;
                match t.entries.get(&p) {
                    Some(Entry::Dir(c)) => {
                        if self.recorder.is_some() {
                            let kids = c
                                .iter()
                                .filter_map(|name| {
                                    let e = match t
                                        .entries
                                        .get(&format!("{}/{name}", p.trim_end_matches('/')))?
                                    {
                                        Entry::Dir(_) => RecordedEntry::Dir,
                                        Entry::Symlink(l) => RecordedEntry::Symlink(l.clone()),
                                        Entry::File(_) => RecordedEntry::File(Arc::from(&b""[..])),
                                    };
                                    Some((name.clone(), e))
                                })
                                .collect();
                            self.record(|r| r.listing(&p, kids));
                        }
                        c.iter().cloned().collect()
                    }
                    Some(_) => return Err(io::Error::from(Errno::NOTDIR)),
                    None => return Err(io::ErrorKind::NotFound.into()),
                }
            }
        };
        names.sort();
        Ok(names)
    }

    /// Whether `path` exists (following links).
    pub fn exists(&self, path: &str) -> bool {
        if self.known_absent(path) {
            return false;
        }
        match &*self.kind {
            Kind::Live => Path::new(path).exists(),
            Kind::FastDir(_, f) => f.exists(path),
            _ => match self.resolve(path, true) {
                Ok(p) if self.lexists(&p).unwrap_or(false) => {
                    if self.recorder.is_some() {
                        let is_dir = match &*self.kind {
                            Kind::Dir(base) | Kind::FastDir(base, _) => {
                                host_path(base, &p).is_dir()
                            }
                            Kind::Tree(t) => matches!(t.entries.get(&p), Some(Entry::Dir(_))),
                            Kind::Live => false,
                        };
                        self.record(|r| r.exists(&p, is_dir));
                    }
                    true
                }
                _ => false,
            },
        }
    }

    /// Whether `path` is a directory (following links).
    pub fn is_dir(&self, path: &str) -> bool {
        if self.known_absent(path) {
            return false;
        }
        let p = match &*self.kind {
            Kind::Live => return Path::new(path).is_dir(),
            Kind::FastDir(_, f) => return f.is_dir(path),
            _ => match self.resolve(path, true) {
                Ok(p) => p,
                Err(_) => return false,
            },
        };
        let ok = match &*self.kind {
            Kind::Dir(base) | Kind::FastDir(base, _) => host_path(base, &p).is_dir(),
            Kind::Tree(t) => matches!(t.entries.get(&p), Some(Entry::Dir(_))),
            Kind::Live => false,
        };
        if ok {
            self.record(|r| r.dir(&p));
        }
        ok
    }

    fn lexists(&self, p: &str) -> io::Result<bool> {
        Ok(match &*self.kind {
            Kind::Live => std::fs::symlink_metadata(p).is_ok(),
            Kind::Dir(base) | Kind::FastDir(base, _) => {
                std::fs::symlink_metadata(host_path(base, p)).is_ok()
            }
            Kind::Tree(t) => t.entries.contains_key(p),
        })
    }

    fn link_at(&self, p: &str) -> io::Result<Option<String>> {
        match &*self.kind {
            Kind::Live => unreachable_live(),
            Kind::Dir(base) | Kind::FastDir(base, _) => {
                let hp = host_path(base, p);
                match std::fs::symlink_metadata(&hp) {
                    Ok(m) if m.file_type().is_symlink() => Ok(Some(
                        std::fs::read_link(&hp)?.to_string_lossy().into_owned(),
                    )),
                    Ok(_) => Ok(None),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e),
                }
            }
            Kind::Tree(t) => Ok(match t.entries.get(p) {
                Some(Entry::Symlink(s)) => Some(s.clone()),
                _ => None,
            }),
        }
    }

    /// Resolves `path` inside the root. With `follow_last`, a link in the
    /// last component is followed too.
    fn resolve(&self, path: &str, follow_last: bool) -> io::Result<String> {
        let mut done: Vec<String> = Vec::new();
        let mut todo: Vec<String> = path
            .split('/')
            .rev()
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        let mut links = 0;
        while let Some(c) = todo.pop() {
            match c.as_str() {
                "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            done.push(c);
            let is_last = todo.is_empty();
            if is_last && !follow_last {
                break;
            }
            let cur = join_abs(&done);
            if let Some(target) = self.link_at(&cur)? {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::from(Errno::LOOP));
                }
                self.record(|r| r.link(&cur, &target));
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                todo.extend(
                    target
                        .split('/')
                        .rev()
                        .filter(|c| !c.is_empty())
                        .map(str::to_string),
                );
            }
        }
        Ok(join_abs(&done))
    }
}

fn unreachable_live() -> io::Result<Option<String>> {
    Err(io::Error::other(
        "link resolution is done by the kernel on the live root",
    ))
}

fn join_abs(parts: &[String]) -> String {
    if parts.is_empty() {
        return "/".into();
    }
    let mut s = String::new();
    for p in parts {
        s.push('/');
        s.push_str(p);
    }
    s
}

fn host_path(base: &Path, p: &str) -> PathBuf {
    base.join(p.trim_start_matches('/'))
}

fn list_host_dir(p: &Path) -> io::Result<Vec<String>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(p)? {
        v.push(e?.file_name().to_string_lossy().into_owned());
    }
    Ok(v)
}

#[cfg(test)]
mod tests;
