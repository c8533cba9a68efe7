//! The DMA-BUF error: what failed, why, with the values involved.

use std::io;

use numakit_sys::Errno;
use numakit_types::NodeId;

use crate::support::Missing;

/// Result of a DMA-BUF call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a DMA-BUF operation failed. Messages are one line; [`Error::hint`]
/// says what to do where there is something to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A device node or kernel feature is missing.
    #[error("{0}")]
    Missing(Box<Missing>),
    /// No heap of that name.
    #[error("there is no DMA-BUF heap '{name}': this system has {}", list_or_none(.available))]
    UnknownHeap {
        /// The heap asked for.
        name: String,
        /// The heaps under `/dev/dma_heap`.
        available: Vec<String>,
    },
    /// A system call or ioctl failed.
    #[error("{what}: {}", errno_text(*.errno))]
    Os {
        /// What was being done.
        what: String,
        /// The errno.
        errno: Errno,
    },
    /// A descriptor that is not a DMA-BUF where one was expected.
    #[error("{what} is not a DMA-BUF")]
    NotDmaBuf {
        /// Which descriptor (`the descriptor received from the peer`).
        what: String,
    },
    /// A buffer whose size is not the size announced or needed.
    #[error("{what} is {actual} bytes, expected {expected}")]
    WrongSize {
        /// Which buffer.
        what: String,
        /// The size announced or needed.
        expected: u64,
        /// The size it has.
        actual: u64,
    },
    /// A bad request (size, name, node, format).
    #[error("{0}")]
    Invalid(String),
    /// A node request the machine refuses (unknown, offline, no memory).
    #[error(transparent)]
    Placement(#[from] numakit_placement::Error),
    /// Pages that are not on the node they were placed on.
    #[error("{what}: {misplaced} of {pages} pages are not on node {node} ({detail})")]
    Misplaced {
        /// Which buffer.
        what: String,
        /// The node asked for.
        node: NodeId,
        /// Pages looked at.
        pages: u64,
        /// Pages elsewhere or unknown.
        misplaced: u64,
        /// Where they are.
        detail: String,
    },
    /// The peer sent something that is not this protocol.
    #[error("bad message from {peer}: {why}")]
    Protocol {
        /// Who sent it.
        peer: String,
        /// What was wrong.
        why: String,
    },
    /// The peer closed the connection in the middle of a message.
    #[error("{peer} closed the connection {when}")]
    PeerClosed {
        /// Who.
        peer: String,
        /// When (`after 12 of 128 bytes of a message`).
        when: String,
    },
    /// Nothing arrived in time.
    #[error("{what}: nothing after {secs} s")]
    Timeout {
        /// What was awaited (`a frame from /dev/video0`).
        what: String,
        /// Seconds waited.
        secs: u64,
    },
    /// A frame whose bytes do not match its checksum.
    #[error(
        "frame {seq} in buffer {index} failed its check at {stage}: checksum {got:#018x}, expected {expected:#018x}"
    )]
    FrameMismatch {
        /// The stage that checked.
        stage: String,
        /// Frame number.
        seq: u64,
        /// Buffer index.
        index: u32,
        /// The checksum announced.
        expected: u64,
        /// The checksum of the bytes.
        got: u64,
    },
    /// A pipeline stage (a process of its own) failed.
    #[error("the {stage} stage failed: {why}")]
    StageFailed {
        /// The stage.
        stage: &'static str,
        /// Its own error message.
        why: String,
        /// Its exit status (1: it found a problem).
        status: u8,
        /// Its hint.
        hint: Option<String>,
    },
    /// Reading a file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being read.
        what: String,
        /// The cause.
        source: io::Error,
    },
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// An errno in words, with its name.
pub fn errno_text(e: Errno) -> String {
    let words = match e {
        Errno::EACCES | Errno::EPERM => "permission denied",
        Errno::ENOENT => "no such file or device",
        Errno::ENOMEM => "out of memory",
        Errno::EINVAL => "the kernel refused the arguments",
        Errno::ENOTTY => "the device does not support this request",
        Errno::EBUSY => "the device or buffer is busy",
        Errno::EBADF => "bad file descriptor",
        Errno::EPIPE | Errno::ECONNRESET => "the peer went away",
        Errno::ECONNREFUSED => "nobody is listening",
        Errno::EMFILE => "too many open files",
        Errno::ENODEV => "no such device",
        Errno::ETIMEDOUT => "timed out",
        _ => return e.to_string(),
    };
    format!("{words} ({})", e.name().unwrap_or("?"))
}

impl Error {
    /// An OS error while doing `what`.
    pub fn os(what: impl Into<String>, errno: Errno) -> Error {
        Error::Os {
            what: what.into(),
            errno,
        }
    }

    /// An I/O error while doing `what`.
    pub fn io(what: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Missing(m) => Some(m.hint()),
            Error::UnknownHeap { .. } => Some("list the heaps: ls /dev/dma_heap".into()),
            Error::StageFailed { hint, .. } => hint.clone(),
            Error::Os { errno, .. } if *errno == Errno::EACCES || *errno == Errno::EPERM => {
                Some("run as root or get access to the device node".into())
            }
            Error::Os { errno, .. } if *errno == Errno::ENOMEM => {
                Some("ask for less, or a node with free memory ('numakit topo')".into())
            }
            _ => None,
        }
    }

    /// The exit status a command ends with: 1 when the work ran and found a
    /// problem (a frame that failed its check, pages not on their node), 2
    /// otherwise.
    pub fn exit_status(&self) -> u8 {
        match self {
            Error::FrameMismatch { .. } | Error::Misplaced { .. } => 1,
            Error::StageFailed { status: 1, .. } => 1,
            Error::Placement(p) => p.exit_status(),
            _ => 2,
        }
    }
}

impl From<Missing> for Error {
    fn from(m: Missing) -> Error {
        Error::Missing(Box::new(m))
    }
}
