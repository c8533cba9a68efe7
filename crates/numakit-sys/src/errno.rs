//! `Errno`: the error of a failed system call.

use std::fmt;

/// The error number of a failed system call (`errno`).
///
/// Carries no prose: it prints its symbolic name and number, and callers map
/// it to meaning where the call is made.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub(crate) i32);

macro_rules! errnos {
    ($($name:ident),* $(,)?) => {
        impl Errno {
            $(
                #[doc = concat!("`", stringify!($name), "`.")]
                pub const $name: Errno = Errno(libc::$name);
            )*

            /// The symbolic name (`EINVAL`), when it is one of the named consts.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $(libc::$name => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

#[rustfmt::skip]
errnos!(
    EPERM, ENOENT, ESRCH, EINTR, EIO, E2BIG, EBADF, EAGAIN, ENOMEM, EACCES, EFAULT, EBUSY, EEXIST,
    EXDEV, ENODEV, EINVAL, ENOSPC, ENOSYS, EOPNOTSUPP, ENOEXEC,
    ENOTTY, ENXIO, EPIPE, EMFILE, ENOTSOCK, ECONNREFUSED, ECONNRESET, ETIMEDOUT, EMSGSIZE,
);

impl Errno {
    /// The errno of the last failed call on this thread.
    pub fn last() -> Errno {
        Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }

    /// Builds an errno from its number.
    pub const fn from_raw(n: i32) -> Errno {
        Errno(n)
    }

    /// The number.
    pub const fn raw(self) -> i32 {
        self.0
    }

    /// The same error as a `std::io::Error`.
    pub fn to_io(self) -> std::io::Error {
        std::io::Error::from_raw_os_error(self.0)
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "Errno({n})"),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} (errno {})", self.0),
            None => write!(f, "errno {}", self.0),
        }
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for std::io::Error {
    fn from(e: Errno) -> Self {
        e.to_io()
    }
}
