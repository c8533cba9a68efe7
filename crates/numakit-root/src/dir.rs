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
