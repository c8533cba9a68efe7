//! The in-memory tree a snapshot tarball is read into (`archive.rs` builds
//! it), as a root read through the portable resolver.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::Arc;

use rustix::io::Errno;

use crate::resolve::join_abs;
use crate::source::{Node, Source, Walk};

/// What a path in the tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    File(Arc<[u8]>),
    Dir(BTreeSet<String>),
    Symlink(String),
}

/// An in-memory tree: path (absolute, normalised) to entry. Every parent of
/// an entry is a directory that names it; `/` always is there.
#[derive(Debug)]
pub(crate) struct Tree {
    entries: BTreeMap<String, Entry>,
}

impl Default for Tree {
    fn default() -> Tree {
        Tree {
            entries: BTreeMap::from([("/".to_string(), Entry::Dir(BTreeSet::new()))]),
        }
    }
}

impl Tree {
    /// The entry at the absolute path `p`, links not followed.
    pub(crate) fn get(&self, p: &str) -> Option<&Entry> {
        self.entries.get(p)
    }

    /// Puts `e` at the path made of `comps`, making its parents directories.
    /// A file or link where a directory is needed, or an entry already at
    /// the path, gives way to the later entry; a directory put where one
    /// already is keeps the names it has. Returns the bytes of the paths and
    /// names it added.
    ///
    /// Linear in the length of the path: only the parents that are missing
    /// are visited, each once, and every path is a prefix of one string.
    pub(crate) fn insert(&mut self, comps: &[String], e: Entry) -> usize {
        if comps.is_empty() {
            // the top itself is always a directory
            return 0;
        }
        let full = join_abs(comps);
        // `prefix(k)`: the path of the first k components ("/" for none)
        let mut ends = Vec::with_capacity(comps.len() + 1);
        ends.push(1);
        let mut at = 0;
        for c in comps {
            at += 1 + c.len();
            ends.push(at);
        }
        let prefix = |k: usize| &full[..ends[k]];
        // the deepest parent there is; a file or link there becomes a folder
        let mut k = comps.len() - 1;
        loop {
            match self.entries.get_mut(prefix(k)) {
                Some(Entry::Dir(_)) => break,
                Some(other) => {
                    *other = Entry::Dir(BTreeSet::new());
                    break;
                }
                None if k == 0 => {
                    self.entries.insert("/".into(), Entry::Dir(BTreeSet::new()));
                    break;
                }
                None => k -= 1,
            }
        }
        let mut added = 0;
        for j in k..comps.len() {
            if let Some(Entry::Dir(names)) = self.entries.get_mut(prefix(j))
                && names.insert(comps[j].clone())
            {
                added += comps[j].len();
            }
            if j + 1 < comps.len() {
                self.entries
                    .insert(prefix(j + 1).to_string(), Entry::Dir(BTreeSet::new()));
                added += ends[j + 1];
            }
        }
        match (self.entries.get_mut(&full), e) {
            (Some(Entry::Dir(_)), Entry::Dir(_)) => {}
            (old, e) => {
                if old.is_none() {
                    added += full.len();
                }
                self.entries.insert(full, e);
            }
        }
        added
    }
}

impl Source for Tree {
    fn walk(&self) -> &dyn Walk {
        self
    }
}

impl Walk for Tree {
    fn lstat(&self, p: &str) -> io::Result<Option<Node>> {
        Ok(self.entries.get(p).map(|e| match e {
            Entry::File(_) => Node::File,
            Entry::Dir(_) => Node::Dir,
            Entry::Symlink(t) => Node::Symlink(t.clone()),
        }))
    }

    fn read_file(&self, p: &str) -> io::Result<Vec<u8>> {
        match self.entries.get(p) {
            Some(Entry::File(d)) => Ok(d.to_vec()),
            Some(Entry::Dir(_)) => Err(io::Error::from(Errno::ISDIR)),
            _ => Err(io::ErrorKind::NotFound.into()),
        }
    }

    fn read_link_at(&self, p: &str) -> io::Result<String> {
        match self.entries.get(p) {
            Some(Entry::Symlink(t)) => Ok(t.clone()),
            Some(_) => Err(io::Error::from(Errno::INVAL)),
            None => Err(io::ErrorKind::NotFound.into()),
        }
    }

    fn list_dir(&self, p: &str) -> io::Result<Vec<String>> {
        match self.entries.get(p) {
            Some(Entry::Dir(names)) => Ok(names.iter().cloned().collect()),
            Some(_) => Err(io::Error::from(Errno::NOTDIR)),
            None => Err(io::ErrorKind::NotFound.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::resolve;

    fn comps(p: &str) -> Vec<String> {
        p.split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The tree of `tests::sample`, built in memory.
    fn sample() -> Tree {
        let mut t = Tree::default();
        let put = |t: &mut Tree, p: &str, e: Entry| t.insert(&comps(p), e);
        put(
            &mut t,
            "/sys/devices/pci0000:00/0000:00:01.0/numa_node",
            Entry::File(Arc::from(&b"1\n"[..])),
        );
        put(
            &mut t,
            "/sys/bus/pci/devices/0000:00:01.0",
            Entry::Symlink("../../../devices/pci0000:00/0000:00:01.0".into()),
        );
        put(
            &mut t,
            "/sys/abs",
            Entry::Symlink("/sys/devices/pci0000:00".into()),
        );
        put(&mut t, "/sys/up", Entry::Symlink("/../../..".into()));
        put(
            &mut t,
            "/sys/dangling",
            Entry::Symlink("nowhere/at/all".into()),
        );
        put(&mut t, "/sys/loop", Entry::Symlink("loop".into()));
        t
    }

    fn errno(e: io::Error) -> Option<Errno> {
        Errno::from_io_error(&e)
    }

    #[test]
    fn links_resolve_inside_the_tree() {
        let t = sample();
        let dev = "/sys/devices/pci0000:00/0000:00:01.0";
        assert_eq!(
            t.read("/sys/bus/pci/devices/0000:00:01.0/numa_node")
                .unwrap(),
            b"1\n"
        );
        // an absolute target is absolute in the tree, `..` stops at its top
        assert_eq!(t.read("/sys/abs/0000:00:01.0/numa_node").unwrap(), b"1\n");
        assert_eq!(
            t.canonicalize("/sys/up/sys/abs").unwrap(),
            "/sys/devices/pci0000:00"
        );
        assert_eq!(
            t.canonicalize("/sys/bus/pci/devices/0000:00:01.0").unwrap(),
            dev
        );
        assert_eq!(
            t.canonicalize("/sys/abs/./0000:00:01.0/..").unwrap(),
            "/sys/devices/pci0000:00"
        );
        assert_eq!(t.canonicalize("/").unwrap(), "/");
        assert!(t.exists("/sys/abs") && t.is_dir("/sys/abs"));
        assert!(t.exists(&format!("{dev}/numa_node")));
        assert!(!t.is_dir(&format!("{dev}/numa_node")));
        assert_eq!(
            t.list("/sys/bus/pci/devices/0000:00:01.0").unwrap(),
            vec!["numa_node"]
        );
        assert_eq!(
            t.read_link("/sys/bus/pci/devices/0000:00:01.0").unwrap(),
            "../../../devices/pci0000:00/0000:00:01.0"
        );
    }

    #[test]
    fn bad_links_and_wrong_kinds_give_the_kernels_errors() {
        let t = sample();
        let dev = "/sys/devices/pci0000:00/0000:00:01.0";
        assert_eq!(
            t.read("/sys/dangling").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert!(!t.exists("/sys/dangling"));
        assert_eq!(
            t.canonicalize("/sys/dangling").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(errno(t.read("/sys/loop").unwrap_err()), Some(Errno::LOOP));
        assert!(!t.exists("/sys/loop"));
        assert_eq!(errno(t.read(dev).unwrap_err()), Some(Errno::ISDIR));
        assert_eq!(errno(t.read_link(dev).unwrap_err()), Some(Errno::INVAL));
        assert_eq!(
            errno(t.list(&format!("{dev}/numa_node")).unwrap_err()),
            Some(Errno::NOTDIR)
        );
        assert_eq!(t.read("/nope").unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(
            t.read_link("/nope").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(t.list("/nope").unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn the_resolver_reports_each_link_it_follows() {
        let t = sample();
        let mut seen = Vec::new();
        let p = resolve(&t, "/sys/abs/0000:00:01.0/numa_node", true, |p, to| {
            seen.push((p.to_string(), to.to_string()))
        })
        .unwrap();
        assert_eq!(p, "/sys/devices/pci0000:00/0000:00:01.0/numa_node");
        assert_eq!(
            seen,
            vec![("/sys/abs".into(), "/sys/devices/pci0000:00".into())]
        );
        // a link in the last component is left alone unless asked
        let mut n = 0;
        assert_eq!(
            resolve(&t, "/sys/abs", false, |_, _| n += 1).unwrap(),
            "/sys/abs"
        );
        assert_eq!(n, 0);
    }

    #[test]
    fn insert_makes_parents_and_the_later_entry_wins() {
        let mut t = Tree::default();
        t.insert(&comps("/a/b"), Entry::File(Arc::from(&b"x"[..])));
        assert_eq!(t.list("/").unwrap(), vec!["a"]);
        assert_eq!(t.list("/a").unwrap(), vec!["b"]);
        // a file where a folder is needed gives way
        t.insert(&comps("/a/b/c"), Entry::File(Arc::from(&b"y"[..])));
        assert_eq!(t.list("/a/b").unwrap(), vec!["c"]);
        // a folder put again keeps its names
        t.insert(&comps("/a/b"), Entry::Dir(BTreeSet::new()));
        assert_eq!(t.list("/a/b").unwrap(), vec!["c"]);
        // anything else put again replaces what is there
        t.insert(&comps("/a/b/c"), Entry::Symlink("/a".into()));
        assert_eq!(t.read_link("/a/b/c").unwrap(), "/a");
        assert_eq!(t.get("/a/b/c"), Some(&Entry::Symlink("/a".into())));
        assert!(!t.is_live());
    }
}
