//! The two traits a root backend implements: [`Source`], what a `Root` reads
//! through (whole paths, links resolved inside the root), and [`Walk`], the
//! same files one resolved path at a time, which the portable resolver
//! (`resolve.rs`) and recording (`record.rs`) read through.

use std::io;
use std::panic::{RefUnwindSafe, UnwindSafe};

use crate::resolve;

/// A root backend: the files of one machine, read by absolute paths inside
/// the root (`/sys/devices/system/node`), every link resolved inside the
/// root.
///
/// Every reading method defaults to the portable resolver over the
/// backend's [`Walk`]; a backend whose paths the kernel resolves (the live
/// system, `openat2`) overrides them all.
///
/// A `Root` is shared between threads and may be read under `catch_unwind`
/// (the fixture tests do): hence the supertraits, which keep `Root` `Send`,
/// `Sync`, `UnwindSafe` and `RefUnwindSafe`.
pub(crate) trait Source: Send + Sync + UnwindSafe + RefUnwindSafe {
    /// The same files seen one resolved path at a time. A recording root
    /// reads through this, so that every link on the way is seen.
    fn walk(&self) -> &dyn Walk;

    /// Whether this is the running system.
    fn is_live(&self) -> bool {
        false
    }

    /// Reads a whole file.
    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        resolve::read(self.walk(), path)
    }

    /// Reads a file in pieces, handing each to `each` as it arrives. The
    /// kernel writes a long procfs file a page per `read`, so a caller can
    /// work on one piece while the next is written. By default one piece:
    /// the whole file.
    fn read_pieces(&self, path: &str, each: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        each(&self.read(path)?);
        Ok(())
    }

    /// The target of the link `path`, as written in the link.
    fn read_link(&self, path: &str) -> io::Result<String> {
        resolve::read_link(self.walk(), path)
    }

    /// The names in the directory `path`, in no particular order.
    fn list(&self, path: &str) -> io::Result<Vec<String>> {
        resolve::list(self.walk(), path)
    }

    /// `path` with every link resolved; it exists.
    fn canonicalize(&self, path: &str) -> io::Result<String> {
        resolve::canonicalize(self.walk(), path)
    }

    /// Whether `path` exists, links followed.
    fn exists(&self, path: &str) -> bool {
        resolve::exists(self.walk(), path)
    }

    /// Whether `path` is a directory, links followed.
    fn is_dir(&self, path: &str) -> bool {
        resolve::is_dir(self.walk(), path)
    }
}

/// What a path holds, a link in its last component not followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// A directory.
    Dir,
    /// A symbolic link and its target.
    Symlink(String),
    /// Anything else: a regular file, or a special file a read refuses.
    File,
}

/// A backend as the portable resolver sees it. Every path given is absolute
/// and already resolved up to its last component: no link on the way.
pub(crate) trait Walk: Send + Sync {
    /// What `path` is, a link not followed; `None` if nothing is there.
    fn lstat(&self, path: &str) -> io::Result<Option<Node>>;

    /// Reads the file `path` (resolved: not a link).
    fn read_file(&self, path: &str) -> io::Result<Vec<u8>>;

    /// The target of the link `path`.
    fn read_link_at(&self, path: &str) -> io::Result<String>;

    /// The names in the directory `path` (resolved: not a link), unsorted.
    fn list_dir(&self, path: &str) -> io::Result<Vec<String>>;
}
