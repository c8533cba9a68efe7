//! The error type of the readers.

use std::io;

/// Why something could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A line that does not have the kernel's format.
    #[error("cannot read {what} {text:?}: {why}")]
    Parse {
        /// What was being read.
        what: &'static str,
        /// The text (cut to 200 characters).
        text: String,
        /// What was expected.
        why: &'static str,
    },
    /// The process does not exist (or exited while it was read).
    #[error("no process {pid}")]
    NoSuchProcess {
        /// The process.
        pid: i32,
    },
    /// The process belongs to another user.
    #[error("cannot read {file} of process {pid}: permission denied")]
    PermissionDenied {
        /// The process.
        pid: i32,
        /// The file (`numa_maps`).
        file: &'static str,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path inside the root.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// The cgroup does not exist.
    #[error("no cgroup {path}")]
    NoSuchCgroup {
        /// The path as given.
        path: String,
    },
    /// The root has no NUMA node folder.
    #[error("no /sys/devices/system/node in this root")]
    NoNodes,
}

/// Result of the readers.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The error for reading `file` of process `pid` failing with `e`.
    pub fn process_file(pid: i32, file: &'static str, e: io::Error) -> Error {
        match e.kind() {
            io::ErrorKind::NotFound => Error::NoSuchProcess { pid },
            io::ErrorKind::PermissionDenied => Error::PermissionDenied { pid, file },
            // ESRCH: the process exited between open and read
            _ if e.raw_os_error() == Some(3) => Error::NoSuchProcess { pid },
            _ => Error::Read {
                path: format!("/proc/{pid}/{file}"),
                source: e,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_file_errors_say_what_happened() {
        let e = |k: io::ErrorKind| Error::process_file(42, "numa_maps", io::Error::from(k));
        assert_eq!(e(io::ErrorKind::NotFound).to_string(), "no process 42");
        assert_eq!(
            e(io::ErrorKind::PermissionDenied).to_string(),
            "cannot read numa_maps of process 42: permission denied"
        );
        // ESRCH: the process exited between open and read
        let gone = Error::process_file(42, "numa_maps", io::Error::from_raw_os_error(3));
        assert!(matches!(gone, Error::NoSuchProcess { pid: 42 }));
        assert!(matches!(e(io::ErrorKind::InvalidData), Error::Read { .. }));
    }
}
