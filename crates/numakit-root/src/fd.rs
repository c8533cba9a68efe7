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
///
/// For the live system's files, which the kernel makes: up to 1 GiB (the
/// maps of a process with millions of mappings run to hundreds of MiB).
pub(crate) fn read(fd: &OwnedFd, one_shot: bool) -> io::Result<Vec<u8>> {
    read_with(fd, one_shot, None, 1 << 30)
}

/// [`read`] for files that should be regular: a special file (a FIFO
/// reads as empty when opened with `O_NONBLOCK`, a device fills every read)
/// is refused. The type is asked only when the first read comes back empty
/// or full, so the attributes of a copied sysfs cost no extra call.
/// A copy can hold anything: a file larger than
/// [`crate::limits::MAX_FILE_BYTES`], more than sysfs or procfs ever hold, is
/// refused.
pub(crate) fn read_regular(fd: &OwnedFd, one_shot: bool) -> io::Result<Vec<u8>> {
    read_with(
        fd,
        one_shot,
        Some(refuse_special),
        crate::limits::MAX_FILE_BYTES,
    )
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
    limit: u64,
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
            if v.len() as u64 > limit {
                return Err(io::Error::from(Errno::FBIG));
            }
        }
    })
}

/// Reads a file with plain `read` calls into a buffer of its own, handing
/// each piece to `each` as it arrives, up to 1 GiB in all (as [`read`]).
pub(crate) fn read_pieces(fd: &OwnedFd, each: &mut dyn FnMut(&[u8])) -> io::Result<()> {
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        let n = rustix::io::retry_on_intr(|| rustix::io::read(fd, &mut buf[..]))?;
        if n == 0 {
            return Ok(());
        }
        total += n as u64;
        if total > 1 << 30 {
            return Err(io::Error::from(Errno::FBIG));
        }
        each(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{mkfifo, tmp};
    use rustix::fs::{Mode, OFlags};

    fn open(p: &std::path::Path) -> OwnedFd {
        rustix::fs::open(
            p,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap()
    }

    #[test]
    fn reads_whole_files_of_any_length() {
        let d = tmp("fd-lengths");
        for len in [0, 1, 4095, 4096, 4097, 3 * 4096 + 7] {
            let p = d.join(format!("f{len}"));
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            std::fs::write(&p, &data).unwrap();
            for one_shot in [false, true] {
                assert_eq!(read(&open(&p), one_shot).unwrap(), data, "{len} {one_shot}");
                assert_eq!(
                    read_regular(&open(&p), one_shot).unwrap(),
                    data,
                    "{len} {one_shot}"
                );
            }
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_guard_refuses_special_files_only() {
        let d = tmp("fd-special");
        let fifo = d.join("fifo");
        mkfifo(&fifo);
        assert_eq!(
            Errno::from_io_error(&read_regular(&open(&fifo), true).unwrap_err()),
            Some(Errno::INVAL)
        );
        // unguarded, a FIFO without a writer reads as empty
        assert_eq!(read(&open(&fifo), true).unwrap(), b"");
        // a directory passes the guard and fails the read
        assert_eq!(
            Errno::from_io_error(&read_regular(&open(&d), false).unwrap_err()),
            Some(Errno::ISDIR)
        );
        if std::path::Path::new("/dev/zero").exists() {
            let zero = open(std::path::Path::new("/dev/zero"));
            assert!(read_regular(&zero, false).is_err());
        }
        std::fs::remove_dir_all(&d).unwrap();
    }
}
