//! A directory root the kernel resolves for us: `openat2(RESOLVE_IN_ROOT)`
//! resolves every path, links included, as if the directory were `/`, in
//! one system call. Used when the kernel has `openat2` (Linux 5.6+); the
//! same directory read through the portable resolver (`dir.rs`) is the
//! fallback, and the way a recording reads it.

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

/// How many times an open the kernel asks to retry is tried again.
const OPEN_TRIES: u32 = 16;

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

    /// `openat2` inside the root. The kernel answers `EAGAIN` when a rename
    /// anywhere on the system raced with a `..` of the path (a link such
    /// as `../../devices/...`), and says to try again: a few tries, so that
    /// a machine busy renaming never makes a fact unknown, and a bound, so
    /// that a path under constant attack still gives an answer.
    fn open_at(&self, path: &str, flags: OFlags) -> io::Result<OwnedFd> {
        let mut tries = 0;
        loop {
            match openat2(
                &self.fd,
                rel(path),
                flags | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::IN_ROOT,
            ) {
                Err(rustix::io::Errno::AGAIN) if tries < OPEN_TRIES => tries += 1,
                r => return Ok(r?),
            }
        }
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
        crate::dir::list_fd(fd)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Node;
    use crate::tests::{mkfifo, sample, tmp};

    /// The sample directory as a `FastDir`, or `None` where the kernel has
    /// no `openat2`.
    fn open(name: &str) -> Option<(PathBuf, FastDir)> {
        let d = tmp(name);
        sample(&d);
        match FastDir::open(std::fs::canonicalize(&d).unwrap()) {
            Some(f) => Some((d, f)),
            None => {
                eprintln!("no openat2 here: {name} skipped");
                std::fs::remove_dir_all(&d).unwrap();
                None
            }
        }
    }

    #[test]
    fn the_kernel_resolves_links_inside_the_directory() {
        let Some((d, f)) = open("fast-links") else {
            return;
        };
        let dev = "/sys/devices/pci0000:00/0000:00:01.0";
        assert_eq!(
            f.read("/sys/bus/pci/devices/0000:00:01.0/numa_node")
                .unwrap(),
            b"1\n"
        );
        assert_eq!(f.read("/sys/abs/0000:00:01.0/numa_node").unwrap(), b"1\n");
        assert_eq!(f.canonicalize("/sys/abs/0000:00:01.0").unwrap(), dev);
        assert_eq!(f.canonicalize("/").unwrap(), "/");
        assert_eq!(f.read_link("/sys/abs").unwrap(), "/sys/devices/pci0000:00");
        assert_eq!(
            Errno::from_io_error(&f.read_link("/sys/abs/..").unwrap_err()),
            Some(Errno::INVAL)
        );
        let mut names = f.list("/sys/abs").unwrap();
        names.sort();
        assert_eq!(names, vec!["0000:00:01.0"]);
        assert!(f.exists("/sys/abs") && f.is_dir("/sys/abs"));
        assert!(!f.exists("/sys/dangling") && !f.is_dir("/sys/dangling"));
        assert!(f.read("/sys/loop").is_err());
        assert!(!f.is_live());
        // its walk is the same directory, read portably (for recording)
        assert_eq!(
            f.walk().lstat("/sys/abs").unwrap(),
            Some(Node::Symlink("/sys/devices/pci0000:00".into()))
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn refuses_a_fifo() {
        let Some((d, f)) = open("fast-fifo") else {
            return;
        };
        mkfifo(&d.join("sys/fifo"));
        assert!(f.exists("/sys/fifo"));
        assert_eq!(
            Errno::from_io_error(&f.read("/sys/fifo").unwrap_err()),
            Some(Errno::INVAL)
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
