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
    /// already is keeps the names it has.
    pub(crate) fn insert(&mut self, comps: &[String], e: Entry) {
        // make parents
        for i in 0..comps.len() {
            let parent = join_abs(&comps[..i]);
            let child = comps[i].clone();
            match self
                .entries
                .entry(parent)
                .or_insert_with(|| Entry::Dir(BTreeSet::new()))
            {
                Entry::Dir(c) => {
                    c.insert(child);
                }
                other => {
                    // a file or link where a folder is needed: the later entry wins
                    *other = Entry::Dir(BTreeSet::from([child]));
                }
            }
        }
        let p = join_abs(comps);
        match (self.entries.get_mut(&p), e) {
            (Some(Entry::Dir(_)), Entry::Dir(_)) => {}
            (_, e) => {
                self.entries.insert(p, e);
            }
        }
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
