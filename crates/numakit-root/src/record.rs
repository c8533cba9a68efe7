//! Recording the paths a reader touched, for snapshots: [`Recording`] wraps
//! any backend and reads it through the portable resolver, so that every
//! link on the way is recorded with the file, listing or test it led to.
//! No backend knows about recording.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

use crate::resolve::{self, child};
use crate::source::{Node, Source, Walk};

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

/// What was recorded so far. A read or a link found replaces what an earlier
/// listing or test noted; those never replace anything.
#[derive(Debug, Default)]
struct Log {
    entries: BTreeMap<String, RecordedEntry>,
}

impl Log {
    fn file(&mut self, path: &str, data: &[u8]) {
        self.entries
            .insert(path.to_string(), RecordedEntry::File(data.into()));
    }
    fn link(&mut self, path: &str, target: &str) {
        self.entries
            .insert(path.to_string(), RecordedEntry::Symlink(target.to_string()));
    }
    fn dir(&mut self, path: &str) {
        self.entries
            .entry(path.to_string())
            .or_insert(RecordedEntry::Dir);
    }
    /// A directory listing: the children found, typed, recorded only where
    /// nothing more precise is known about them (a placeholder file is empty).
    fn listing(&mut self, path: &str, kids: Vec<(String, RecordedEntry)>) {
        self.dir(path);
        for (name, e) in kids {
            self.entries.entry(child(path, &name)).or_insert(e);
        }
    }
    /// A path whose existence was tested: a directory, or a placeholder file.
    fn exists(&mut self, path: &str, is_dir: bool) {
        if is_dir {
            self.dir(path);
        } else {
            self.entries
                .entry(path.to_string())
                .or_insert_with(|| RecordedEntry::File(Arc::from(&b""[..])));
        }
    }
}

/// A backend that records every path read through it. It reads the backend
/// it wraps through that backend's [`Walk`] with the portable resolver,
/// whatever the backend's own way is: the kernel's resolution (the live
/// system, `openat2`) would hide the links on the way.
pub(crate) struct Recording {
    inner: Arc<dyn Source>,
    log: Mutex<Log>,
}

impl Recording {
    /// Starts recording reads of `inner`.
    pub(crate) fn new(inner: Arc<dyn Source>) -> Recording {
        Recording {
            inner,
            log: Mutex::default(),
        }
    }

    /// The backend recorded.
    pub(crate) fn inner(&self) -> &Arc<dyn Source> {
        &self.inner
    }

    /// What was recorded so far.
    pub(crate) fn recorded(&self) -> Recorded {
        self.log
            .lock()
            .map(|l| Recorded {
                entries: l.entries.clone(),
            })
            .unwrap_or_default()
    }

    fn note(&self, f: impl FnOnce(&mut Log)) {
        if let Ok(mut l) = self.log.lock() {
            f(&mut l);
        }
    }

    /// Resolves `path` in the wrapped backend, recording every link followed.
    fn resolve(&self, path: &str, follow_last: bool) -> io::Result<String> {
        resolve::resolve(self.inner.walk(), path, follow_last, |p, t| {
            self.note(|l| l.link(p, t))
        })
    }
}

impl Source for Recording {
    /// The wrapped backend's, unrecorded: a recording is never wrapped
    /// again (`Root::start_recording` wraps the backend afresh).
    fn walk(&self) -> &dyn Walk {
        self.inner.walk()
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        let p = self.resolve(path, true)?;
        let data = self.walk().read_file(&p)?;
        self.note(|l| l.file(&p, &data));
        Ok(data)
    }

    fn read_link(&self, path: &str) -> io::Result<String> {
        let p = self.resolve(path, false)?;
        let target = self.walk().read_link_at(&p)?;
        self.note(|l| l.link(&p, &target));
        Ok(target)
    }

    /// Records the listing with each child typed (a link with its target),
    /// so that a snapshot replays the same listing.
    fn list(&self, path: &str) -> io::Result<Vec<String>> {
        let w = self.walk();
        let p = self.resolve(path, true)?;
        let names = w.list_dir(&p)?;
        let kids = names
            .iter()
            .filter_map(|name| {
                let e = match w.lstat(&child(&p, name)).ok()?? {
                    Node::Dir => RecordedEntry::Dir,
                    Node::Symlink(t) => RecordedEntry::Symlink(t),
                    Node::File => RecordedEntry::File(Arc::from(&b""[..])),
                };
                Some((name.clone(), e))
            })
            .collect();
        self.note(|l| l.listing(&p, kids));
        Ok(names)
    }

    fn canonicalize(&self, path: &str) -> io::Result<String> {
        let p = self.resolve(path, true)?;
        if !resolve::lexists(self.walk(), &p) {
            return Err(io::ErrorKind::NotFound.into());
        }
        Ok(p)
    }

    fn exists(&self, path: &str) -> bool {
        let Ok(p) = self.resolve(path, true) else {
            return false;
        };
        match self.walk().lstat(&p) {
            Ok(Some(n)) => {
                self.note(|l| l.exists(&p, n == Node::Dir));
                true
            }
            _ => false,
        }
    }

    fn is_dir(&self, path: &str) -> bool {
        let Ok(p) = self.resolve(path, true) else {
            return false;
        };
        let ok = resolve::is_dir_at(self.walk(), &p);
        if ok {
            self.note(|l| l.dir(&p));
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dir::Dir;
    use crate::fast_dir::FastDir;
    use crate::tests::{sample, tmp};

    /// Backends by name.
    type Named = Vec<(&'static str, Arc<dyn Source>)>;

    /// The sample machine behind each backend that can hold it: a directory
    /// read portably, the same through `openat2` where the kernel has it,
    /// and packed into a tarball read into a tree.
    fn backends(name: &str) -> (std::path::PathBuf, Named) {
        let d = tmp(name);
        let top = d.join("m");
        std::fs::create_dir_all(&top).unwrap();
        sample(&top);
        let top = std::fs::canonicalize(&top).unwrap();
        let tarball = d.join("m.tar");
        {
            let mut b = tar::Builder::new(std::fs::File::create(&tarball).unwrap());
            b.follow_symlinks(false);
            b.append_dir_all(".", &top).unwrap();
            b.finish().unwrap();
        }
        let mut v: Named = vec![
            ("dir", Arc::new(Dir::new(top.clone()))),
            ("tree", Arc::new(crate::archive::load(&tarball).unwrap())),
        ];
        if let Some(f) = FastDir::open(top) {
            v.push(("fast_dir", Arc::new(f)));
        }
        (d, v)
    }

    fn record(src: Arc<dyn Source>) -> Recorded {
        let r = Recording::new(src);
        let dev = "/sys/devices/pci0000:00/0000:00:01.0";
        assert!(r.exists(&format!("{dev}/numa_node")));
        assert!(matches!(
            r.recorded().entries.get(&format!("{dev}/numa_node")),
            Some(RecordedEntry::File(d)) if d.is_empty()
        ));
        assert_eq!(
            r.read("/sys/bus/pci/devices/0000:00:01.0/numa_node")
                .unwrap(),
            b"1\n"
        );
        assert_eq!(r.read_link("/sys/abs").unwrap(), "/sys/devices/pci0000:00");
        let mut names = r.list("/sys").unwrap();
        names.sort();
        assert_eq!(names, vec!["abs", "bus", "dangling", "devices", "loop"]);
        assert!(r.is_dir("/sys/bus/pci"));
        assert!(!r.is_dir("/sys/dangling"));
        assert!(r.read("/sys/dangling").is_err());
        assert_eq!(r.canonicalize("/sys/abs/0000:00:01.0").unwrap(), dev);
        assert!(!r.is_live());
        r.recorded()
    }

    /// Recording wraps any backend: the same reads give the same record,
    /// with every link on the way, whichever backend holds the files.
    #[test]
    fn records_reads_listings_links_and_tests_through_any_backend() {
        let (d, sources) = backends("record-any");
        let dev = "/sys/devices/pci0000:00/0000:00:01.0";
        let expected: BTreeMap<String, RecordedEntry> = [
            ("/sys", RecordedEntry::Dir),
            (
                "/sys/abs",
                RecordedEntry::Symlink("/sys/devices/pci0000:00".into()),
            ),
            ("/sys/bus", RecordedEntry::Dir),
            ("/sys/bus/pci", RecordedEntry::Dir),
            (
                "/sys/bus/pci/devices/0000:00:01.0",
                RecordedEntry::Symlink("../../../devices/pci0000:00/0000:00:01.0".into()),
            ),
            (
                "/sys/dangling",
                RecordedEntry::Symlink("nowhere/at/all".into()),
            ),
            ("/sys/devices", RecordedEntry::Dir),
            ("/sys/loop", RecordedEntry::Symlink("loop".into())),
            (
                "/sys/devices/pci0000:00/0000:00:01.0/numa_node",
                RecordedEntry::File(Arc::from(&b"1\n"[..])),
            ),
        ]
        .into_iter()
        .map(|(p, e)| (p.to_string(), e))
        .collect();
        for (name, src) in sources {
            let got = record(src);
            assert_eq!(got.entries, expected, "{name}");
            assert!(
                !got.entries.contains_key(dev),
                "{name}: canonicalize records links only"
            );
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// The record of a listing types each child, so that a snapshot lists
    /// the same; a read later replaces a child's placeholder.
    #[test]
    fn a_listing_types_its_children() {
        let (d, sources) = backends("record-list");
        for (name, src) in sources {
            let r = Recording::new(src);
            r.list("/sys/devices/pci0000:00/0000:00:01.0").unwrap();
            r.list("/sys/bus/pci/devices").unwrap();
            let file = "/sys/devices/pci0000:00/0000:00:01.0/numa_node";
            let got = r.recorded().entries;
            assert_eq!(
                got.get(file),
                Some(&RecordedEntry::File(Arc::from(&b""[..]))),
                "{name}"
            );
            assert!(
                matches!(
                    got.get("/sys/bus/pci/devices/0000:00:01.0"),
                    Some(RecordedEntry::Symlink(_))
                ),
                "{name}"
            );
            r.read(file).unwrap();
            assert_eq!(
                r.recorded().entries.get(file),
                Some(&RecordedEntry::File(Arc::from(&b"1\n"[..]))),
                "{name}"
            );
        }
        std::fs::remove_dir_all(&d).unwrap();
    }
}
