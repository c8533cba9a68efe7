//! Where numactl stops, and what it prints then: each [`Fail`] splits its
//! text between stderr and stdout as numactl does, and exits 1.

use std::io::Write;

use super::USAGE;
use crate::error::chain;
use crate::output::sanitize;

/// Where numactl stops. Every one exits 1.
#[derive(Debug)]
pub(super) enum Fail {
    /// `usage()`.
    Usage,
    /// `usage_msg()`: `numactl: MSG` on stderr, a line end on stdout, usage.
    UsageMsg(String),
    /// A specification libnuma refused: its warning, `<SPEC> is invalid` on
    /// stdout, usage.
    Invalid {
        /// The specification as given, byte for byte.
        spec: Vec<u8>,
        /// libnuma's warning (formatted, with its line ends), if it prints one.
        warning: Option<Vec<u8>>,
    },
    /// `complain()`: `numactl: MSG` on stderr, a line end on stdout; the
    /// message holds the user's bytes as given.
    Complain(Vec<u8>),
    /// A getopt complaint (already formatted), then usage.
    Getopt(Vec<u8>),
    /// What a failed call prints in C (`perror` lines, each with its line
    /// end), as is, on stderr.
    Perror(String),
    /// Anything numakit refuses or fails at: `numactl: MSG`.
    Error(String),
}

impl Fail {
    /// Prints what numactl prints here, stderr first (unbuffered there),
    /// and returns the exit status.
    pub(super) fn report(self) -> u8 {
        let mut out = Vec::new();
        let mut err = Vec::new();
        match self {
            Fail::Usage => err.extend_from_slice(USAGE.as_bytes()),
            Fail::UsageMsg(m) => {
                err.extend_from_slice(format!("numactl: {m}").as_bytes());
                out.push(b'\n');
                err.extend_from_slice(USAGE.as_bytes());
            }
            Fail::Invalid { spec, warning } => {
                if let Some(w) = warning {
                    err.extend_from_slice(&w);
                }
                out.push(b'<');
                out.extend_from_slice(&spec);
                out.extend_from_slice(b"> is invalid\n");
                err.extend_from_slice(USAGE.as_bytes());
            }
            Fail::Complain(m) => {
                err.extend_from_slice(b"numactl: ");
                err.extend_from_slice(&m);
                out.push(b'\n');
            }
            Fail::Getopt(m) => {
                err.extend_from_slice(&m);
                err.extend_from_slice(USAGE.as_bytes());
            }
            Fail::Perror(m) => err.extend_from_slice(m.as_bytes()),
            Fail::Error(m) => {
                err.extend_from_slice(format!("numactl: {}\n", sanitize(&m)).as_bytes());
            }
        }
        let _ = std::io::stderr().write_all(&err);
        let mut o = std::io::stdout();
        let _ = o.write_all(&out).and_then(|_| o.flush());
        1
    }
}

/// What placement refuses or fails at: `numactl: ` and its chain.
impl From<numakit_placement::Error> for Fail {
    fn from(e: numakit_placement::Error) -> Fail {
        Fail::Error(chain(&e))
    }
}
