//! Reading a whole file from an open descriptor, shared by the backends that
//! open files: one buffer per thread, one `read` per sysfs attribute, and the
//! guard that refuses special files under directory roots.

use std::io;
use std::os::fd::OwnedFd;

use rustix::io::Errno;

/// Reads a whole file with plain `read` calls: sysfs files report a size of
/// 4096 whatever they hold, so asking for the size first only costs calls.
///
/// With `one_shot`, a short read is taken as the end of the file. That holds
/// for regular files and for sysfs attributes (which hand over their whole
/// value in one read), not for procfs files longer than a page, whose reads
/// stop at record boundaries.
pub(crate) fn read(fd: &OwnedFd, one_shot: bool) -> io::Result<Vec<u8>> {
    read_with(fd, one_shot, None)
}

/// [`read`] for files that should be regular: a special file (a FIFO
/// reads as empty when opened with `O_NONBLOCK`, a device fills every read)
/// is refused. The type is asked only when the first read comes back empty
/// or full, so the attributes of a copied sysfs cost no extra call.
pub(crate) fn read_regular(fd: &OwnedFd, one_shot: bool) -> io::Result<Vec<u8>> {
    read_with(fd, one_shot, Some(refuse_special))
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

fn read_with(
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
