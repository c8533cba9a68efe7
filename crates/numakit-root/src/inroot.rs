//! Fast reads under a directory root with `openat2(RESOLVE_IN_ROOT)`: the
//! kernel resolves every path, links included, as if the directory were `/`,
//! in one system call. Used when the kernel has `openat2` (Linux 5.6+); the
//! portable resolver in `lib.rs` is the fallback and the recording path.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags, openat2};
use rustix::io::Errno;

#[derive(Debug)]
pub(crate) struct InRoot {
    fd: OwnedFd,
}

fn rel(path: &str) -> &str {
    let r = path.trim_start_matches('/');
    if r.is_empty() { "." } else { r }
}

impl InRoot {
    /// Opens `base` and checks that `openat2` works here.
    pub(crate) fn open(base: &Path) -> Option<InRoot> {
        let fd = rustix::fs::open(
            base,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let me = InRoot { fd };
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

    pub(crate) fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        // the files under a directory root are regular files
        let fd = self.open_at(path, OFlags::RDONLY | OFlags::NONBLOCK)?;
        read_fd_guarded(&fd, true)
    }

    pub(crate) fn read_dir(&self, path: &str) -> io::Result<Vec<String>> {
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

    pub(crate) fn read_link(&self, path: &str) -> io::Result<String> {
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

    pub(crate) fn canonicalize(&self, path: &str, base: &Path) -> io::Result<String> {
        let fd = self.open_at(path, OFlags::PATH)?;
        let host = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
        let inside = host
            .strip_prefix(base)
            .map_err(|_| io::Error::other("path left the root"))?;
        Ok(format!("/{}", inside.to_string_lossy()))
    }

    pub(crate) fn exists(&self, path: &str) -> bool {
        self.open_at(path, OFlags::PATH).is_ok()
    }

    pub(crate) fn is_dir(&self, path: &str) -> bool {
        self.open_at(path, OFlags::PATH | OFlags::DIRECTORY).is_ok()
    }
}

/// Refuses a FIFO, socket or device node: a directory root is a copy of
/// `sys/` and `proc/`, whose files are regular, and reading one of those
/// (opened with `O_NONBLOCK`, so a FIFO does not block the open) could hang
/// or never end (`/dev/zero`). Directories pass, and give `EISDIR` on read.
fn refuse_special(fd: &OwnedFd) -> io::Result<()> {
    use rustix::fs::FileType;
    match FileType::from_raw_mode(rustix::fs::fstat(fd)?.st_mode) {
        FileType::RegularFile | FileType::Directory => Ok(()),
        _ => Err(io::Error::from(Errno::INVAL)),
    }
}

/// Reads a file under a directory root, given by its host path, whose links
/// are already resolved (the portable resolver's read), refusing special
/// files as [`InRoot::read`] does.
pub(crate) fn read_host(path: &Path) -> io::Result<Vec<u8>> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    read_fd_guarded(&fd, false)
}

/// [`read_fd`] for files that should be regular: a special file (a FIFO
/// reads as empty when opened with `O_NONBLOCK`, a device fills every read)
/// is refused. The type is asked only when the first read comes back empty
/// or full, so the attributes of a copied sysfs cost no extra call.
fn read_fd_guarded(fd: &OwnedFd, one_shot: bool) -> io::Result<Vec<u8>> {
    read_fd_with(fd, one_shot, Some(refuse_special))
}

/// Reads a whole file with plain `read` calls: sysfs files report a size of
/// 4096 whatever they hold, so asking for the size first only costs calls.
///
/// With `one_shot`, a short read is taken as the end of the file. That holds
/// for regular files and for sysfs attributes (which hand over their whole
/// value in one read), not for procfs files longer than a page, whose reads
/// stop at record boundaries.
pub(crate) fn read_fd(fd: &OwnedFd, one_shot: bool) -> io::Result<Vec<u8>> {
    read_fd_with(fd, one_shot, None)
}

fn read_fd_with(
    fd: &OwnedFd,
    one_shot: bool,
    guard: Option<fn(&OwnedFd) -> io::Result<()>>,
) -> io::Result<Vec<u8>> {
    thread_local! {
        // one zeroed buffer per thread, reused for every read
        static BUF: std::cell::RefCell<Box<[u8]>> = std::cell::RefCell::new(vec![0u8; 4096].into_boxed_slice());
    }
    BUF.with(|b| {
        let mut buf = b.borrow_mut();
        let mut v = Vec::new();
        loop {
            let n = rustix::io::retry_on_intr(|| rustix::io::read(fd, &mut buf[..]))?;
            if v.is_empty()
                && (n == 0 || n == buf.len())
                && let Some(check) = guard
            {
                check(fd)?;
            }
            if n == 0 {
                return Ok(v);
            }
            v.extend_from_slice(&buf[..n]);
            if one_shot && n < buf.len() {
                // skip the extra call that would only return 0
                return Ok(v);
            }
            if v.len() as u64 > crate::MAX_SNAPSHOT_BYTES {
                return Err(io::Error::other("file too large"));
            }
        }
    })
}

/// `realpath` on the live system in three calls (open with `O_PATH`, read the
/// `/proc/self/fd` link, close) instead of one `readlink` per component;
/// falls back to the C library's way when `/proc` is not there.
pub(crate) fn canonicalize_live(path: &str) -> io::Result<String> {
    let fd = rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())?;
    match std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())) {
        Ok(p) => Ok(p.to_string_lossy().into_owned()),
        Err(_) => Ok(std::fs::canonicalize(path)?.to_string_lossy().into_owned()),
    }
}
