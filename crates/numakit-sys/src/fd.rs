//! Facts about file descriptors and waiting on them: `fstat`, `fstatfs`,
//! `lseek(SEEK_END)`, `poll`, and the CPU time of this process
//! (`getrusage`).
//!
//! # References
//! - [`fstat(2)`](https://man7.org/linux/man-pages/man2/fstat.2.html),
//!   [`fstatfs(2)`](https://man7.org/linux/man-pages/man2/fstatfs.2.html),
//!   [`lseek(2)`](https://man7.org/linux/man-pages/man2/lseek.2.html),
//!   [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html),
//!   [`getrusage(2)`](https://man7.org/linux/man-pages/man2/getrusage.2.html)

use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use bitflags::bitflags;

use crate::{Errno, Result};

/// `O_NONBLOCK`, for `OpenOptionsExt::custom_flags`.
pub const O_NONBLOCK: i32 = libc::O_NONBLOCK;

/// What `fstat` and `fstatfs` say about a descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`: a DMA-BUF's inode number is unique system-wide.
    pub ino: u64,
    /// `st_size`.
    pub size: i64,
    /// `st_mode & S_IFMT`.
    pub kind: u32,
    /// `f_type` of the file system (`DMA_BUF_MAGIC` for a DMA-BUF).
    pub fs_type: i64,
}

/// `fstat` and `fstatfs` of `fd`.
pub fn file_id(fd: BorrowedFd<'_>) -> Result<FileId> {
    // SAFETY: all-zero is a valid `struct stat`/`struct statfs`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a writable `struct stat`.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(Errno::last());
    }
    // SAFETY: as above.
    let mut sf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `sf` is a writable `struct statfs`.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut sf) } != 0 {
        return Err(Errno::last());
    }
    Ok(FileId {
        dev: st.st_dev,
        ino: st.st_ino,
        size: st.st_size,
        kind: st.st_mode & libc::S_IFMT,
        fs_type: sf.f_type,
    })
}

/// `lseek(fd, 0, SEEK_END)`: the size of a DMA-BUF (its only supported
/// seek) or of a regular file.
pub fn size_by_seek(fd: BorrowedFd<'_>) -> Result<u64> {
    // SAFETY: plain system call on an open descriptor.
    let r = unsafe { libc::lseek(fd.as_raw_fd(), 0, libc::SEEK_END) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r as u64)
    }
}

bitflags! {
    /// `poll` events.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct PollFlags: i16 {
        /// `POLLIN`: readable (a sync file: its fence signalled).
        const IN = libc::POLLIN;
        /// `POLLOUT`.
        const OUT = libc::POLLOUT;
        /// `POLLERR`.
        const ERR = libc::POLLERR;
        /// `POLLHUP`.
        const HUP = libc::POLLHUP;
    }
}

/// `poll` on one descriptor: the events that happened, or empty after
/// `timeout` (`None`: wait forever). Retries on `EINTR` with the whole
/// timeout.
pub fn poll_one(
    fd: BorrowedFd<'_>,
    events: PollFlags,
    timeout: Option<Duration>,
) -> Result<PollFlags> {
    let ms = match timeout {
        None => -1,
        Some(t) => i32::try_from(t.as_millis()).unwrap_or(i32::MAX),
    };
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: events.bits(),
        revents: 0,
    };
    loop {
        // SAFETY: one valid `pollfd`.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r >= 0 {
            return Ok(PollFlags::from_bits_retain(p.revents));
        }
        let e = Errno::last();
        if e != Errno::EINTR {
            return Err(e);
        }
    }
}

/// User and system CPU time of this process (`getrusage(RUSAGE_SELF)`),
/// every thread included.
pub fn cpu_time_self() -> Result<(Duration, Duration)> {
    // SAFETY: all-zero is a valid `struct rusage`.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a writable `struct rusage`.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Err(Errno::last());
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ok((tv(ru.ru_utime), tv(ru.ru_stime)))
}

/// `clock_gettime(CLOCK_MONOTONIC)` in nanoseconds: the same clock in
/// every process of the machine, so stages can time a pipeline together.
pub fn monotonic_ns() -> u64 {
    // SAFETY: all-zero is a valid `timespec`.
    let mut t: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `t` is a writable `timespec`; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_file_and_its_size() {
        let f = std::fs::File::open("/proc/self/exe").unwrap();
        let id = file_id(f.as_fd()).unwrap();
        assert_eq!(id.kind, libc::S_IFREG);
        assert_eq!(size_by_seek(f.as_fd()).unwrap(), id.size as u64);
        assert_ne!(id.fs_type, crate::dmabuf::DMA_BUF_MAGIC);
    }

    #[test]
    fn poll_values_and_timeout() {
        assert_eq!(PollFlags::IN.bits(), 1);
        assert_eq!(PollFlags::OUT.bits(), 4);
        let (r, _w) = std::io::pipe().unwrap();
        let got = poll_one(r.as_fd(), PollFlags::IN, Some(Duration::from_millis(1))).unwrap();
        assert!(got.is_empty());
        assert!(cpu_time_self().is_ok());
        let a = monotonic_ns();
        assert!(monotonic_ns() >= a && a > 0);
    }
}
