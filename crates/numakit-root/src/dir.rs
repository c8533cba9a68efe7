//! A directory root read through the portable resolver: a copy of `sys/` and
//! `proc/` on a kernel without `openat2`, and the way every directory root
//! (the live `/` included) is read while recording.

use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::fd;
use crate::source::{Node, Source, Walk};

/// A directory on the host, read as `/`; links are resolved by
/// [`crate::resolve`], one component at a time.
#[derive(Debug)]
pub(crate) struct Dir {
    base: PathBuf,
}

impl Dir {
    /// The directory `base` (canonical: no link on the way) as a root.
    pub(crate) fn new(base: PathBuf) -> Dir {
        Dir { base }
    }

    /// The directory this root is.
    pub(crate) fn base(&self) -> &Path {
        &self.base
    }

    /// The host path of `p`, a path inside the root.
    fn host(&self, p: &str) -> PathBuf {
        self.base.join(p.trim_start_matches('/'))
    }
}

impl Source for Dir {
    fn walk(&self) -> &dyn Walk {
        self
    }
}

impl Walk for Dir {
    fn lstat(&self, p: &str) -> io::Result<Option<Node>> {
        let hp = self.host(p);
        match std::fs::symlink_metadata(&hp) {
            Ok(m) if m.file_type().is_symlink() => Ok(Some(Node::Symlink(
                std::fs::read_link(&hp)?.to_string_lossy().into_owned(),
            ))),
            Ok(m) if m.is_dir() => Ok(Some(Node::Dir)),
            Ok(_) => Ok(Some(Node::File)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Refuses special files as [`crate::fast_dir::FastDir`] does.
    fn read_file(&self, p: &str) -> io::Result<Vec<u8>> {
        let fd = rustix::fs::open(
            self.host(p),
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        fd::read_regular(&fd, false)
    }

    fn read_link_at(&self, p: &str) -> io::Result<String> {
        Ok(std::fs::read_link(self.host(p))?
            .to_string_lossy()
            .into_owned())
    }

    fn list_dir(&self, p: &str) -> io::Result<Vec<String>> {
        list_host_dir(&self.host(p))
    }
}

/// The names in the host directory `p`, unsorted.
pub(crate) fn list_host_dir(p: &Path) -> io::Result<Vec<String>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(p)? {
        v.push(e?.file_name().to_string_lossy().into_owned());
    }
    Ok(v)
}
