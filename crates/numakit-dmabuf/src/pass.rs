//! Passing DMA-BUFs between processes over Unix sockets: a [`Channel`]
//! sends a fixed 128-byte [`Message`] with at most one DMA-BUF descriptor
//! attached (`SCM_RIGHTS`), so the buffer's name, size and frame format
//! travel with the descriptor; frames copied through the socket follow
//! their message as bytes.
//!
//! Everything received is checked before it is used: the header's magic,
//! version, kind and flags; a descriptor where the message announces one
//! and none where it does not; that the descriptor is a DMA-BUF; that its
//! size is the size announced. A message that fails is an error, and any
//! descriptor that came with it is closed.
//!
//! Wire format (little-endian):
//!
//! | offset | field |
//! |---|---|
//! | 0 | magic `NKDB` |
//! | 4 | version (u16, 1) |
//! | 6 | kind (u16: 1 buffer, 2 frame, 3 release, 4 end) |
//! | 8 | index (u32) |
//! | 12 | flags (u32: 1 a descriptor is attached, 2 payload bytes follow) |
//! | 16 | sequence (u64) |
//! | 24 | buffer size (u64) |
//! | 32 | frame bytes (u64) |
//! | 40 | checksum (u64) |
//! | 48 | fourcc, width, height, stride (4 × u32) |
//! | 64 | name length (u8), name (31 bytes) |
//! | 96 | zero |

use std::io::Read as _;
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use numakit_sys::Errno;
use numakit_sys::scm::{recv_with_fds, send_with_fds};
use serde::{Deserialize, Serialize};

use crate::buffer::DmaBuf;
use crate::error::{Error, Result};

/// Bytes of a message header.
pub const HEADER: usize = 128;
const MAGIC: &[u8; 4] = b"NKDB";
const VERSION: u16 = 1;
const FLAG_FD: u32 = 1;
const FLAG_PAYLOAD: u32 = 2;

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A buffer, with its descriptor.
    Buffer,
    /// A frame in buffer `index` (or in the payload).
    Frame,
    /// Buffer `index` may be reused.
    Release,
    /// No more messages.
    End,
}

/// A frame layout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameFormat {
    /// V4L2 fourcc (`XR24`), 0 for raw bytes.
    pub fourcc: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes per line.
    pub stride: u32,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// Kind.
    pub kind: Kind,
    /// Buffer index.
    pub index: u32,
    /// Frame number.
    pub seq: u64,
    /// Buffer size (a `Buffer` message: the size its descriptor must have).
    pub size: u64,
    /// Bytes of frame data.
    pub bytes: u64,
    /// Checksum of the frame's bytes.
    pub checksum: u64,
    /// Frame layout.
    pub format: FrameFormat,
    /// The buffer's name.
    pub name: String,
}

/// What follows a message's header on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    /// Nothing.
    Nothing,
    /// A descriptor, with the header's first byte.
    Descriptor,
    /// `bytes` bytes of frame data.
    Payload,
}

impl Attached {
    fn flags(self) -> u32 {
        match self {
            Attached::Nothing => 0,
            Attached::Descriptor => FLAG_FD,
            Attached::Payload => FLAG_PAYLOAD,
        }
    }
}

impl Message {
    /// The 128-byte wire form of the header, announcing what follows it.
    pub fn wire(&self, attached: Attached) -> Result<[u8; HEADER]> {
        self.encode(attached.flags())
    }

    /// A message of `kind` with everything else zero.
    pub fn new(kind: Kind) -> Message {
        Message {
            kind,
            index: 0,
            seq: 0,
            size: 0,
            bytes: 0,
            checksum: 0,
            format: FrameFormat::default(),
            name: String::new(),
        }
    }

    fn encode(&self, flags: u32) -> Result<[u8; HEADER]> {
        let name = self.name.as_bytes();
        if name.len() > 31 {
            return Err(Error::Invalid(format!(
                "buffer name '{}' is over 31 bytes",
                self.name
            )));
        }
        let mut h = [0u8; HEADER];
        h[0..4].copy_from_slice(MAGIC);
        h[4..6].copy_from_slice(&VERSION.to_le_bytes());
        h[6..8].copy_from_slice(&(self.kind as u16 + 1).to_le_bytes());
        h[8..12].copy_from_slice(&self.index.to_le_bytes());
        h[12..16].copy_from_slice(&flags.to_le_bytes());
        for (at, v) in [
            (16, self.seq),
            (24, self.size),
            (32, self.bytes),
            (40, self.checksum),
        ] {
            h[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        let f = self.format;
        for (at, v) in [
            (48, f.fourcc),
            (52, f.width),
            (56, f.height),
            (60, f.stride),
        ] {
            h[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        h[64] = name.len() as u8;
        h[65..65 + name.len()].copy_from_slice(name);
        Ok(h)
    }

    fn decode(h: &[u8; HEADER]) -> std::result::Result<(Message, u32), String> {
        let u16_at = |at: usize| u16::from_le_bytes([h[at], h[at + 1]]);
        let u32_at = |at: usize| u32::from_le_bytes(h[at..at + 4].try_into().unwrap_or_default());
        let u64_at = |at: usize| u64::from_le_bytes(h[at..at + 8].try_into().unwrap_or_default());
        if &h[0..4] != MAGIC {
            return Err("not a numakit DMA-BUF message (bad magic)".into());
        }
        if u16_at(4) != VERSION {
            return Err(format!(
                "protocol version {}, expected {VERSION}",
                u16_at(4)
            ));
        }
        let kind = match u16_at(6) {
            1 => Kind::Buffer,
            2 => Kind::Frame,
            3 => Kind::Release,
            4 => Kind::End,
            k => return Err(format!("unknown message kind {k}")),
        };
        let flags = u32_at(12);
        if flags & !(FLAG_FD | FLAG_PAYLOAD) != 0 {
            return Err(format!("unknown flags {flags:#x}"));
        }
        let nlen = h[64] as usize;
        if nlen > 31 || h[96..].iter().any(|&b| b != 0) {
            return Err("corrupt name or reserved bytes".into());
        }
        let name = std::str::from_utf8(&h[65..65 + nlen])
            .map_err(|_| "the buffer name is not UTF-8".to_string())?
            .to_string();
        let msg = Message {
            kind,
            index: u32_at(8),
            seq: u64_at(16),
            size: u64_at(24),
            bytes: u64_at(32),
            checksum: u64_at(40),
            format: FrameFormat {
                fourcc: u32_at(48),
                width: u32_at(52),
                height: u32_at(56),
                stride: u32_at(60),
            },
            name,
        };
        Ok((msg, flags))
    }
}

/// A received message, with its buffer when one came.
#[derive(Debug)]
pub struct Received {
    /// The message.
    pub msg: Message,
    /// The buffer (`Buffer` messages).
    pub buf: Option<DmaBuf>,
    /// Payload bytes that follow (read them with
    /// [`Channel::recv_payload`]).
    pub payload: bool,
}

/// One end of a connection to a peer process.
#[derive(Debug)]
pub struct Channel {
    sock: UnixStream,
    peer: String,
    sent: std::cell::Cell<u64>,
}

impl Channel {
    /// Wraps a connected socket; `peer` names the other side in errors.
    pub fn new(sock: UnixStream, peer: impl Into<String>) -> Channel {
        Channel {
            sock,
            peer: peer.into(),
            sent: std::cell::Cell::new(0),
        }
    }

    /// Connects to `path`, retrying while it does not exist or nobody
    /// listens yet, for up to `wait`.
    pub fn connect(path: &Path, peer: &str, wait: Duration) -> Result<Channel> {
        let start = Instant::now();
        loop {
            match UnixStream::connect(path) {
                Ok(s) => return Ok(Channel::new(s, peer)),
                Err(e)
                    if start.elapsed() < wait
                        && matches!(
                            e.kind(),
                            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                        ) =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(Error::io(
                        format!("connecting to {peer} at {}", path.display()),
                        e,
                    ));
                }
            }
        }
    }

    /// Accepts one connection on `listener`, waiting up to `wait`.
    pub fn accept(listener: &UnixListener, peer: &str, wait: Duration) -> Result<Channel> {
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("preparing the socket", e))?;
        let start = Instant::now();
        loop {
            match listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false)
                        .map_err(|e| Error::io("preparing the socket", e))?;
                    return Ok(Channel::new(s, peer));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if start.elapsed() >= wait {
                        return Err(Error::Timeout {
                            what: format!("waiting for {peer} to connect"),
                            secs: wait.as_secs(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(Error::io(format!("accepting {peer}"), e)),
            }
        }
    }

    /// The peer's name.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Gives up on a receive after `timeout` (`None`: wait forever).
    pub fn set_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        self.sock
            .set_read_timeout(timeout)
            .map_err(|e| Error::io("setting a socket timeout", e))
    }

    /// Sends `msg`, with `buf`'s descriptor attached when given.
    pub fn send(&self, msg: &Message, buf: Option<&DmaBuf>) -> Result<()> {
        let flags = if buf.is_some() { FLAG_FD } else { 0 };
        let h = msg.encode(flags)?;
        let fds: Vec<_> = buf.iter().map(|b| b.as_fd()).collect();
        let mut sent =
            send_with_fds(self.sock.as_fd(), &h, &fds).map_err(|e| self.send_error(e))?;
        while sent < HEADER {
            sent += send_with_fds(self.sock.as_fd(), &h[sent..], &[])
                .map_err(|e| self.send_error(e))?;
        }
        self.sent.set(self.sent.get() + HEADER as u64);
        Ok(())
    }

    /// Sends `msg` followed by `payload` (its `bytes` must be the payload's
    /// length).
    pub fn send_payload(&self, msg: &Message, payload: &[u8]) -> Result<()> {
        if msg.bytes != payload.len() as u64 {
            return Err(Error::Invalid(
                "payload length differs from the message's".into(),
            ));
        }
        let h = msg.encode(FLAG_PAYLOAD)?;
        self.write_all(&h)?;
        self.write_all(payload)
    }

    /// Writes raw bytes (a payload sent from elsewhere, such as a mapped
    /// buffer through [`numakit_sys::dmabuf::CpuAccess::write_to`]).
    pub fn write_all(&self, bytes: &[u8]) -> Result<()> {
        let mut done = 0;
        while done < bytes.len() {
            done += send_with_fds(self.sock.as_fd(), &bytes[done..], &[])
                .map_err(|e| self.send_error(e))?;
        }
        self.note_sent(bytes.len() as u64);
        Ok(())
    }

    /// Counts bytes sent on this socket by other means (the kernel copying
    /// from a mapping).
    pub fn note_sent(&self, bytes: u64) {
        self.sent.set(self.sent.get() + bytes);
    }

    /// Bytes sent so far (headers and payloads).
    pub fn sent(&self) -> u64 {
        self.sent.get()
    }

    /// Whether a message is waiting (without blocking).
    pub fn ready(&self) -> Result<bool> {
        let got = numakit_sys::fd::poll_one(
            self.sock.as_fd(),
            numakit_sys::fd::PollFlags::IN,
            Some(Duration::ZERO),
        )
        .map_err(|e| Error::os(format!("polling {}", self.peer), e))?;
        Ok(!got.is_empty())
    }

    /// The socket, for payloads written by the kernel from a mapping.
    pub fn socket(&self) -> &UnixStream {
        &self.sock
    }

    /// Sends a header announcing a payload of `msg.bytes`, to be written
    /// next with [`Channel::write_all`] or from a mapping.
    pub fn send_payload_header(&self, msg: &Message) -> Result<()> {
        self.write_all(&msg.encode(FLAG_PAYLOAD)?)
    }

    fn send_error(&self, e: Errno) -> Error {
        match e {
            Errno::EPIPE | Errno::ECONNRESET => Error::PeerClosed {
                peer: self.peer.clone(),
                when: "while a message was being sent".into(),
            },
            e => Error::os(format!("sending to {}", self.peer), e),
        }
    }

    /// Receives one message; `None` when the peer closed the connection
    /// cleanly between messages.
    pub fn recv(&self) -> Result<Option<Received>> {
        let mut h = [0u8; HEADER];
        let first = recv_with_fds(self.sock.as_fd(), &mut h, 1).map_err(|e| self.recv_error(e))?;
        if first.len == 0 {
            return Ok(None);
        }
        let mut fds = first.fds;
        let mut got = first.len;
        while got < HEADER {
            let r = recv_with_fds(self.sock.as_fd(), &mut h[got..], 1)
                .map_err(|e| self.recv_error(e))?;
            if r.len == 0 {
                return Err(Error::PeerClosed {
                    peer: self.peer.clone(),
                    when: format!("after {got} of {HEADER} bytes of a message"),
                });
            }
            got += r.len;
            fds.extend(r.fds);
        }
        if first.truncated || fds.len() > 1 {
            return Err(self.bad("more than one descriptor came with a message".into()));
        }
        let (msg, flags) = Message::decode(&h).map_err(|w| self.bad(w))?;
        let buf = match (flags & FLAG_FD != 0, fds.pop()) {
            (true, Some(fd)) => Some(self.check_buffer(fd, &msg)?),
            (true, None) => return Err(self.bad("a descriptor was announced but none came".into())),
            (false, Some(_)) => {
                return Err(self.bad("a descriptor came that was not announced".into()));
            }
            (false, None) => None,
        };
        Ok(Some(Received {
            msg,
            buf,
            payload: flags & FLAG_PAYLOAD != 0,
        }))
    }

    fn check_buffer(&self, fd: std::os::fd::OwnedFd, msg: &Message) -> Result<DmaBuf> {
        let what = format!("the descriptor received from {}", self.peer);
        let buf = DmaBuf::from_fd(fd, &what)?;
        if buf.size() != msg.size {
            return Err(Error::WrongSize {
                what: format!("buffer {} '{}' from {}", msg.index, msg.name, self.peer),
                expected: msg.size,
                actual: buf.size(),
            });
        }
        Ok(buf)
    }

    /// Reads a message's payload into `out` (resized to `len`).
    pub fn recv_payload(&self, out: &mut Vec<u8>, len: u64) -> Result<()> {
        let len = usize::try_from(len).map_err(|_| self.bad("payload too large".into()))?;
        out.resize(len, 0);
        (&self.sock).read_exact(out).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => Error::PeerClosed {
                peer: self.peer.clone(),
                when: format!("in the middle of a {len}-byte frame"),
            },
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Error::Timeout {
                what: format!("waiting for a frame from {}", self.peer),
                secs: 0,
            },
            _ => Error::io(format!("receiving from {}", self.peer), e),
        })
    }

    fn recv_error(&self, e: Errno) -> Error {
        match e {
            Errno::EAGAIN => Error::Timeout {
                what: format!("waiting for {}", self.peer),
                secs: self
                    .sock
                    .read_timeout()
                    .ok()
                    .flatten()
                    .map_or(0, |d| d.as_secs()),
            },
            Errno::ECONNRESET => Error::PeerClosed {
                peer: self.peer.clone(),
                when: "abruptly".into(),
            },
            e => Error::os(format!("receiving from {}", self.peer), e),
        }
    }

    fn bad(&self, why: String) -> Error {
        Error::Protocol {
            peer: self.peer.clone(),
            why,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Message {
        Message {
            kind: Kind::Frame,
            index: 3,
            seq: 42,
            size: 1 << 20,
            bytes: 921_600,
            checksum: 0xdead_beef,
            format: FrameFormat {
                fourcc: u32::from_le_bytes(*b"XR24"),
                width: 640,
                height: 360,
                stride: 2560,
            },
            name: "cam-3".into(),
        }
    }

    #[test]
    fn round_trip() {
        let m = sample();
        let h = m.encode(FLAG_FD).unwrap();
        assert_eq!(Message::decode(&h).unwrap(), (m, FLAG_FD));
    }

    #[test]
    fn garbage_is_refused() {
        let mut h = sample().encode(0).unwrap();
        h[0] = b'X';
        assert!(Message::decode(&h).unwrap_err().contains("magic"));
        let mut h = sample().encode(0).unwrap();
        h[6] = 9;
        assert!(Message::decode(&h).unwrap_err().contains("kind 9"));
        let mut h = sample().encode(0).unwrap();
        h[12] = 0x80;
        assert!(Message::decode(&h).unwrap_err().contains("flags"));
        let mut h = sample().encode(0).unwrap();
        h[64] = 200;
        assert!(Message::decode(&h).is_err());
        let mut long = sample();
        long.name = "x".repeat(32);
        assert!(long.encode(0).is_err());
    }
}
