//! A directory root the kernel resolves for us: `openat2(RESOLVE_IN_ROOT)`
//! resolves every path, links included, as if the directory were `/`, in
//! one system call. Used when the kernel has `openat2` (Linux 5.6+); the
//! portable resolver (`dir.rs`) is the fallback and the recording path.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use rustix::fs::{Mode, OFlags, ResolveFlags, openat2};
use rustix::io::Errno;

use crate::dir::Dir;
use crate::fd;
use crate::source::{Source, Walk};

/// A directory root whose paths `openat2` resolves.
#[derive(Debug)]
pub(crate) struct FastDir {
    /// The directory, opened with `O_PATH`.
    fd: OwnedFd,
    /// The same directory for the portable resolver.
    dir: Dir,
}

fn rel(path: &str) -> &str {
    let r = path.trim_start_matches('/');
    if r.is_empty() { "." } else { r }
}

impl FastDir {
    /// Opens `base` (canonical) and checks that `openat2` works here; `None`
    /// where it does not.
    pub(crate) fn open(base: PathBuf) -> Option<FastDir> {
        let fd = rustix::fs::open(
            &base,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let me = FastDir {
            fd,
            dir: Dir::new(base),
        };
        me.open_at(".", OFlags::PATH | OFlags::DIRECTORY).ok()?;
        Some(me)
    }

    fn open_at(&self, path: &str, flags: OFlags) -> io::Result<OwnedFd> {
        Ok(openat2(
            &self.fd,
            rel(path),
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT,
        )?)
    }
}

impl Source for FastDir {
    fn walk(&self) -> &dyn Walk {
        &self.dir
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        // the files under a directory root are regular files
        let fd = self.open_at(path, OFlags::RDONLY | OFlags::NONBLOCK)?;
        fd::read_regular(&fd, true)
    }

    fn read_link(&self, path: &str) -> io::Result<String> {
        let p = path.trim_end_matches('/');
        let (parent, name) = match p.rsplit_once('/') {
            Some((a, b)) => (a, b),
            None => (".", p),
        };
        if name.is_empty() || name == "." || name == ".." {
            return Err(io::Error::from(Errno::INVAL));
        }
        let dir = self.open_at(parent, OFlags::PATH | OFlags::DIRECTORY)?;
        let t = rustix::fs::readlinkat(&dir, name, Vec::new())?;
        Ok(t.to_string_lossy().into_owned())
    }

    fn list(&self, path: &str) -> io::Result<Vec<String>> {
        let fd = self.open_at(path, OFlags::RDONLY | OFlags::DIRECTORY)?;
        let mut names = Vec::new();
        for e in rustix::fs::Dir::read_from(&fd)? {
            let e = e?;
            let n = e.file_name().to_string_lossy();
            if n != "." && n != ".." {
                names.push(n.into_owned());
            }
        }
        Ok(names)
    }

    /// The path the kernel reached, read back from `/proc/self/fd`.
    fn canonicalize(&self, path: &str) -> io::Result<String> {
        let fd = self.open_at(path, OFlags::PATH)?;
        let host = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
        let inside = host
            .strip_prefix(self.dir.base())
            .map_err(|_| io::Error::other("path left the root"))?;
        Ok(format!("/{}", inside.to_string_lossy()))
    }

    fn exists(&self, path: &str) -> bool {
        self.open_at(path, OFlags::PATH).is_ok()
    }

    fn is_dir(&self, path: &str) -> bool {
        self.open_at(path, OFlags::PATH | OFlags::DIRECTORY).is_ok()
    }
}
