//! Event counters for interrupts (`eventfd`) and the kernel log
//! (`/dev/kmsg`), read without blocking or with a timeout.
//!
//! # References
//! - [`eventfd(2)`](https://man7.org/linux/man-pages/man2/eventfd.2.html)
//! - [`/dev/kmsg`](https://docs.kernel.org/admin-guide/abi-testing.html#abi-dev-kmsg)

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use crate::fd::{PollFlags, poll_one};
use crate::{Errno, Result};

/// A non-blocking eventfd: VFIO adds one to it per interrupt.
#[derive(Debug)]
pub struct EventFd(OwnedFd);

impl EventFd {
    /// `eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)`.
    pub fn new() -> Result<EventFd> {
        // SAFETY: eventfd takes no memory.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(Errno::last());
        }
        // SAFETY: `fd` is a new descriptor nobody else owns.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Reads and resets the counter: `Some(n)` events since the last read,
    /// `None` when there were none.
    pub fn take(&self) -> Result<Option<u64>> {
        let mut v = 0u64;
        // SAFETY: `v` is 8 writable bytes, what an eventfd read writes.
        let r = unsafe {
            libc::read(
                self.0.as_raw_fd(),
                (&mut v as *mut u64).cast::<libc::c_void>(),
                8,
            )
        };
        match r {
            8 => Ok(Some(v)),
            _ if Errno::last() == Errno::EAGAIN => Ok(None),
            _ => Err(Errno::last()),
        }
    }

    /// Adds `n` to the counter (what VFIO does on an interrupt).
    pub fn signal(&self, n: u64) -> Result<()> {
        // SAFETY: `n` is 8 readable bytes, what an eventfd write reads.
        let r = unsafe {
            libc::write(
                self.0.as_raw_fd(),
                (&n as *const u64).cast::<libc::c_void>(),
                8,
            )
        };
        if r == 8 { Ok(()) } else { Err(Errno::last()) }
    }

    /// Waits up to `timeout` for events, then takes them: `None` on timeout.
    pub fn wait(&self, timeout: Duration) -> Result<Option<u64>> {
        if poll_readable(self.0.as_fd(), timeout)? {
            self.take()
        } else {
            Ok(None)
        }
    }
}

impl AsFd for EventFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// `poll` for `POLLIN` on one descriptor: true when it became readable
/// within `timeout`. An interrupted wait is retried.
pub fn poll_readable(fd: BorrowedFd<'_>, timeout: Duration) -> Result<bool> {
    poll_one(fd, PollFlags::IN, Some(timeout)).map(|r| r.contains(PollFlags::IN))
}

/// Opens a kernel log device (`/dev/kmsg`) for non-blocking reads: each
/// `read` returns one record, `EAGAIN` at the end, `EPIPE` when records
/// were overwritten before they were read.
pub fn open_kmsg(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventfd_counts() {
        let e = EventFd::new().unwrap();
        assert_eq!(e.take().unwrap(), None);
        e.signal(2).unwrap();
        e.signal(1).unwrap();
        assert_eq!(e.wait(Duration::from_millis(100)).unwrap(), Some(3));
        assert_eq!(e.wait(Duration::from_millis(1)).unwrap(), None);
    }
}
