//! A directory root read through the portable resolver: a copy of `sys/` and
//! `proc/` on a kernel without `openat2`, and the way every directory root
//! (the live `/` included) is read while recording.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::fd;
use crate::source::{Node, Source, Walk};

/// A directory on the host, read as `/`; links are resolved by
/// [`crate::resolve`], one component at a time.
///
/// Every path it is given is already resolved, so it opens each one
/// refusing any link on the way, at the moment of opening
/// (`openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` from the directory's
/// descriptor, or `O_NOFOLLOW` one component at a time where the kernel
/// lacks `openat2`): a file swapped for a link after the resolver looked at
/// it is refused, never followed out of the root.
#[derive(Debug)]
pub(crate) struct Dir {
    base: PathBuf,
    /// The directory, opened once with `O_PATH`; `None` if that failed
    /// (every read then fails the same way).
    fd: Option<OwnedFd>,
}

impl Dir {
    /// The directory `base` (canonical: no link on the way) as a root.
    pub(crate) fn new(base: PathBuf) -> Dir {
        let fd = rustix::fs::open(
            &base,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok();
        Dir { base, fd }
    }

    /// The directory this root is.
    pub(crate) fn base(&self) -> &Path {
        &self.base
    }

    /// Opens the resolved path `p` with `flags`, refusing every link on the
    /// way and in the last component (`ELOOP`).
    fn open(&self, p: &str, flags: OFlags) -> io::Result<OwnedFd> {
        let base = self.fd.as_ref().ok_or(Errno::BADF)?;
        let rel = match p.trim_start_matches('/') {
            "" => ".",
            r => r,
        };
        let flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        let how = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(base, rel, flags, Mode::empty(), how) {
            Err(Errno::NOSYS) => open_nofollow(base, rel, flags),
            r => Ok(r?),
        }
    }

    /// The directory holding the resolved path `p`, opened without
    /// following links, and the last component's name.
    fn parent<'p>(&self, p: &'p str) -> io::Result<(OwnedFd, &'p str)> {
        let (parent, name) = p.trim_end_matches('/').rsplit_once('/').unwrap_or(("", p));
        if name.is_empty() || name == "." || name == ".." {
            return Err(Errno::INVAL.into());
        }
        Ok((self.open(parent, OFlags::PATH | OFlags::DIRECTORY)?, name))
    }
}

/// `openat` one component at a time, each with `O_NOFOLLOW`: the fallback
/// for kernels before 5.6. `rel` is resolved (no `..`).
fn open_nofollow(base: &OwnedFd, rel: &str, flags: OFlags) -> io::Result<OwnedFd> {
    let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut cur = rustix::fs::openat(base, ".", dir_flags, Mode::empty())?;
    let mut comps = rel
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .peekable();
    while let Some(c) = comps.next() {
        if c == ".." {
            return Err(Errno::INVAL.into());
        }
        let f = if comps.peek().is_some() {
            dir_flags
        } else {
            flags
        };
        cur = rustix::fs::openat(&cur, c, f, Mode::empty())?;
    }
    Ok(cur)
}

impl Source for Dir {
    fn walk(&self) -> &dyn Walk {
        self
    }
}

impl Walk for Dir {
    fn lstat(&self, p: &str) -> io::Result<Option<Node>> {
        if p.trim_matches('/').is_empty() {
            return Ok(self.fd.as_ref().map(|_| Node::Dir));
        }
        let (dir, name) = match self.parent(p) {
            Ok(x) => x,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let st = match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(Some(match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => Node::Symlink(
                rustix::fs::readlinkat(&dir, name, Vec::new())?
                    .to_string_lossy()
                    .into_owned(),
            ),
            FileType::Directory => Node::Dir,
            _ => Node::File,
        }))
    }

    /// Refuses special files as [`crate::fast_dir::FastDir`] does.
    fn read_file(&self, p: &str) -> io::Result<Vec<u8>> {
        let fd = self.open(p, OFlags::RDONLY | OFlags::NONBLOCK)?;
        fd::read_regular(&fd, false)
    }

    fn read_link_at(&self, p: &str) -> io::Result<String> {
        let (dir, name) = self.parent(p)?;
        Ok(rustix::fs::readlinkat(&dir, name, Vec::new())?
            .to_string_lossy()
            .into_owned())
    }

    fn list_dir(&self, p: &str) -> io::Result<Vec<String>> {
        let fd = self.open(p, OFlags::RDONLY | OFlags::DIRECTORY)?;
        list_fd(fd)
    }
}

/// The names in the directory open at `fd`, unsorted, without `.` and
/// `..`. The listing takes `fd` (`Dir::read_from` would query its flags and
/// open `.` again: three more system calls per listing).
pub(crate) fn list_fd(fd: OwnedFd) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for e in rustix::fs::Dir::new(fd)? {
        let e = e?;
        let n = e.file_name().to_string_lossy();
        if n != "." && n != ".." {
            names.push(n.into_owned());
        }
    }
    Ok(names)
}

/// The names in the host directory `p`, unsorted.
pub(crate) fn list_host_dir(p: &Path) -> io::Result<Vec<String>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(p)? {
        v.push(e?.file_name().to_string_lossy().into_owned());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{mkfifo, sample, tmp};
    use rustix::io::Errno;

    #[test]
    fn links_resolve_inside_the_directory() {
        let d = tmp("dir-links");
        sample(&d);
        let dir = Dir::new(std::fs::canonicalize(&d).unwrap());
        let dev = "/sys/devices/pci0000:00/0000:00:01.0";
        assert_eq!(
            dir.read("/sys/bus/pci/devices/0000:00:01.0/numa_node")
                .unwrap(),
            b"1\n"
        );
        // `/sys/abs` points at `/sys/devices/...` of the root, not the host's
        assert_eq!(dir.read("/sys/abs/0000:00:01.0/numa_node").unwrap(), b"1\n");
        assert_eq!(dir.canonicalize("/sys/abs/0000:00:01.0").unwrap(), dev);
        assert_eq!(
            dir.lstat("/sys/abs").unwrap(),
            Some(Node::Symlink("/sys/devices/pci0000:00".into()))
        );
        assert_eq!(dir.lstat(dev).unwrap(), Some(Node::Dir));
        assert_eq!(
            dir.lstat(&format!("{dev}/numa_node")).unwrap(),
            Some(Node::File)
        );
        assert_eq!(dir.lstat("/sys/none").unwrap(), None);
        assert!(dir.is_dir("/sys/abs") && !dir.is_dir("/sys/dangling"));
        assert!(!dir.exists("/sys/dangling"));
        assert_eq!(
            Errno::from_io_error(&dir.read("/sys/loop").unwrap_err()),
            Some(Errno::LOOP)
        );
        assert_eq!(
            Errno::from_io_error(&dir.read(dev).unwrap_err()),
            Some(Errno::ISDIR)
        );
        let mut names = dir.list("/sys").unwrap();
        names.sort();
        assert_eq!(names, vec!["abs", "bus", "dangling", "devices", "loop"]);
        assert!(!dir.is_live());
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// A FIFO is refused at once: opened without blocking, and its empty
    /// first read makes the reader look at the file type.
    #[test]
    fn refuses_a_fifo() {
        let d = tmp("dir-fifo");
        sample(&d);
        mkfifo(&d.join("sys/fifo"));
        let dir = Dir::new(std::fs::canonicalize(&d).unwrap());
        assert_eq!(dir.lstat("/sys/fifo").unwrap(), Some(Node::File));
        assert!(dir.exists("/sys/fifo"));
        assert_eq!(
            Errno::from_io_error(&dir.read("/sys/fifo").unwrap_err()),
            Some(Errno::INVAL)
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
