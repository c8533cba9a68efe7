//! Passing file descriptors over Unix sockets: `sendmsg`/`recvmsg` with an
//! `SCM_RIGHTS` control message.
//!
//! The receiver asks for `MSG_CMSG_CLOEXEC`, so no passed descriptor leaks
//! into a program it starts. Descriptors beyond what the receiver made room
//! for are closed by the kernel and reported as [`Received::truncated`].
//!
//! # References
//! - [`unix(7)`](https://man7.org/linux/man-pages/man7/unix.7.html) ("Ancillary messages")
//! - [`cmsg(3)`](https://man7.org/linux/man-pages/man3/cmsg.3.html)

use std::ffi::c_void;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::{Errno, Result};

/// The most descriptors one message carries here.
pub const MAX_FDS: usize = 8;

/// Control buffer room for `MAX_FDS` descriptors, aligned for `cmsghdr`.
#[repr(C, align(8))]
struct CmsgBuf([u8; 64]);

const fn space(n: usize) -> usize {
    // CMSG_SPACE(n * sizeof(int)) on 64-bit Linux: a 16-byte header plus
    // the data rounded up to 8 bytes.
    16 + (n * 4).div_ceil(8) * 8
}

/// `sendmsg(sock, {data}, SCM_RIGHTS fds, MSG_NOSIGNAL)`: sends `data` (at
/// least one byte) with the descriptors attached; returns the bytes sent
/// (a stream socket may take fewer than `data.len()`; the descriptors
/// travel with the first byte).
///
/// # Errors
/// `EINVAL` for no data or more than [`MAX_FDS`] descriptors, `EPIPE` or
/// `ECONNRESET` when the peer is gone (no `SIGPIPE`), `EBADF` for a closed
/// descriptor.
pub fn send_with_fds(sock: BorrowedFd<'_>, data: &[u8], fds: &[BorrowedFd<'_>]) -> Result<usize> {
    if data.is_empty() || fds.len() > MAX_FDS {
        return Err(Errno::EINVAL);
    }
    let mut cbuf = CmsgBuf([0; 64]);
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut c_void,
        iov_len: data.len(),
    };
    // SAFETY: all-zero is a valid `msghdr`.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !raw.is_empty() {
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        msg.msg_controllen = space(raw.len());
        // SAFETY: the control buffer is 8-aligned and holds CMSG_SPACE of
        // the descriptors (space() <= 64 for MAX_FDS), so CMSG_FIRSTHDR is
        // a writable header and CMSG_DATA has room for `raw`.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN((raw.len() * 4) as u32) as usize;
            std::ptr::copy_nonoverlapping(
                raw.as_ptr(),
                libc::CMSG_DATA(c).cast::<RawFd>(),
                raw.len(),
            );
        }
    }
    loop {
        // SAFETY: `msg` points at `iov` (reading `data`) and the control
        // buffer, all alive for the call; the kernel only reads them.
        let r = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = Errno::last();
        if e != Errno::EINTR {
            return Err(e);
        }
    }
}

/// What [`recv_with_fds`] got.
#[derive(Debug)]
pub struct Received {
    /// Bytes read into the buffer (0: the peer closed the connection).
    pub len: usize,
    /// The descriptors that came with them (close-on-exec).
    pub fds: Vec<OwnedFd>,
    /// More descriptors were sent than asked for; the rest were closed
    /// (by the kernel, `MSG_CTRUNC`, or here).
    pub truncated: bool,
}

/// `recvmsg(sock, {buf}, room for max_fds, MSG_CMSG_CLOEXEC)`.
///
/// # Errors
/// `EINVAL` for an empty buffer or `max_fds` over [`MAX_FDS`], what
/// `recvmsg` returns (`ECONNRESET`, `EAGAIN` after a receive timeout).
pub fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8], max_fds: usize) -> Result<Received> {
    if buf.is_empty() || max_fds > MAX_FDS {
        return Err(Errno::EINVAL);
    }
    let mut cbuf = CmsgBuf([0; 64]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: all-zero is a valid `msghdr`.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if max_fds > 0 {
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        msg.msg_controllen = space(max_fds);
    }
    let n = loop {
        // SAFETY: `msg` points at `iov` (writing into `buf`) and the
        // control buffer of `msg_controllen` bytes, alive for the call.
        let r = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if r >= 0 {
            break r as usize;
        }
        let e = Errno::last();
        if e != Errno::EINTR {
            return Err(e);
        }
    };
    // The control buffer is rounded up to 8 bytes, so the kernel may fit
    // one descriptor more than asked for: close it and say so.
    let mut fds = take_fds(&msg);
    let extra = fds.len() > max_fds;
    fds.truncate(max_fds);
    Ok(Received {
        len: n,
        fds,
        truncated: extra || msg.msg_flags & libc::MSG_CTRUNC != 0,
    })
}

/// Every descriptor of every `SCM_RIGHTS` message in `msg`'s control data.
fn take_fds(msg: &libc::msghdr) -> Vec<OwnedFd> {
    let mut out = Vec::new();
    if msg.msg_control.is_null() {
        return out;
    }
    // SAFETY: `msg` was filled by recvmsg: msg_controllen covers complete
    // headers the CMSG_* macros walk; each SCM_RIGHTS message's data is
    // `cmsg_len - CMSG_LEN(0)` bytes of fresh descriptors now owned by us.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let bytes = (*c).cmsg_len - libc::CMSG_LEN(0) as usize;
                let data = libc::CMSG_DATA(c).cast::<RawFd>();
                for i in 0..bytes / 4 {
                    let fd = std::ptr::read_unaligned(data.add(i));
                    out.push(OwnedFd::from_raw_fd(fd));
                }
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn cmsg_space_matches_libc() {
        for n in 0..=MAX_FDS {
            // SAFETY: CMSG_SPACE is a pure computation.
            assert_eq!(space(n), unsafe { libc::CMSG_SPACE((n * 4) as u32) }
                as usize);
        }
        assert!(space(MAX_FDS) <= 64);
        assert_eq!(libc::SCM_RIGHTS as u32, linux_raw_sys::net::SCM_RIGHTS);
    }

    #[test]
    fn a_file_travels_with_its_bytes() {
        let (a, b) = UnixStream::pair().unwrap();
        let mut f = tempfile();
        f.write_all(b"hello").unwrap();
        assert_eq!(send_with_fds(a.as_fd(), b"x", &[f.as_fd()]).unwrap(), 1);
        let mut buf = [0u8; 4];
        let r = recv_with_fds(b.as_fd(), &mut buf, 2).unwrap();
        assert_eq!((r.len, r.fds.len(), r.truncated), (1, 1, false));
        let mut g = std::fs::File::from(r.fds.into_iter().next().unwrap());
        g.rewind().unwrap();
        let mut s = String::new();
        g.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
    }

    #[test]
    fn too_many_fds_are_truncated_and_closed() {
        let (a, b) = UnixStream::pair().unwrap();
        let f = tempfile();
        send_with_fds(a.as_fd(), b"y", &[f.as_fd(), f.as_fd(), f.as_fd()]).unwrap();
        let mut buf = [0u8; 1];
        let r = recv_with_fds(b.as_fd(), &mut buf, 1).unwrap();
        assert!(r.truncated);
        assert!(r.fds.len() <= 1);
        drop(a);
        let r = recv_with_fds(b.as_fd(), &mut buf, 1).unwrap();
        assert_eq!(r.len, 0, "EOF after the peer closed");
    }

    #[test]
    fn bad_arguments() {
        let (a, _b) = UnixStream::pair().unwrap();
        assert_eq!(
            send_with_fds(a.as_fd(), b"", &[]).unwrap_err(),
            Errno::EINVAL
        );
        let mut buf = [0u8; 1];
        assert_eq!(
            recv_with_fds(a.as_fd(), &mut buf, 99).unwrap_err(),
            Errno::EINVAL
        );
    }

    fn tempfile() -> std::fs::File {
        let fd =
            crate::memfd::memfd_create(c"scm-test", crate::memfd::MemfdFlags::CLOEXEC).unwrap();
        std::fs::File::from(fd)
    }
}
