//! The live system, `/`: the kernel resolves every path; a file is opened
//! and read in as few system calls as the file allows.

use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::dir::{self, Dir};
use crate::fd;
use crate::source::{Source, Walk};

/// The running system.
#[derive(Debug)]
pub(crate) struct Live {
    /// `/` for the portable resolver (recording).
    dir: Dir,
}

impl Live {
    pub(crate) fn new() -> Live {
        Live {
            dir: Dir::new(PathBuf::from("/")),
        }
    }
}

impl Source for Live {
    fn walk(&self) -> &dyn Walk {
        &self.dir
    }

    fn is_live(&self) -> bool {
        true
    }

    /// A sysfs attribute hands over its whole value in one `read`; procfs
    /// files longer than a page do not, so only `/sys/` reads stop short.
    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        let f = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
        fd::read(&f, path.starts_with("/sys/"))
    }

    fn read_pieces(&self, path: &str, each: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        let f = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
        fd::read_pieces(&f, each)
    }

    fn read_link(&self, path: &str) -> io::Result<String> {
        Ok(std::fs::read_link(path)?.to_string_lossy().into_owned())
    }

    fn list(&self, path: &str) -> io::Result<Vec<String>> {
        dir::list_host_dir(Path::new(path))
    }

    /// `realpath` in three calls (open with `O_PATH`, read the
    /// `/proc/self/fd` link, close) instead of one `readlink` per component;
    /// falls back to the C library's way when `/proc` is not there.
    fn canonicalize(&self, path: &str) -> io::Result<String> {
        let fd = rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())?;
        match std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())) {
            Ok(p) => Ok(p.to_string_lossy().into_owned()),
            Err(_) => Ok(std::fs::canonicalize(path)?.to_string_lossy().into_owned()),
        }
    }

    fn exists(&self, path: &str) -> bool {
        Path::new(path).exists()
    }

    fn is_dir(&self, path: &str) -> bool {
        Path::new(path).is_dir()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Node;

    #[test]
    fn reads_the_running_system() {
        let live = Live::new();
        // this process's number as its /proc sees it
        let pid = std::fs::read_link("/proc/self")
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(live.is_live());
        let status = live.read("/proc/self/status").unwrap();
        assert!(status.starts_with(b"Name:"));
        assert_eq!(live.read_link("/proc/self").unwrap(), pid);
        assert_eq!(
            live.canonicalize("/proc/self").unwrap(),
            format!("/proc/{pid}")
        );
        assert!(live.list("/proc").unwrap().contains(&pid));
        assert!(live.exists("/proc/self/status") && !live.is_dir("/proc/self/status"));
        assert!(live.is_dir("/proc/self"));
        assert!(!live.exists("/proc/self/no such file"));
        assert!(live.read("/proc/self/no such file").is_err());
        // its walk is the directory `/`, read portably (for recording)
        assert_eq!(
            live.walk().lstat("/proc/self").unwrap(),
            Some(Node::Symlink(pid))
        );
    }
}
