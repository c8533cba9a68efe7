//! One error type for the command line: one line of what failed and why, an
//! optional hint, and the exit code; and the conversion of every library
//! error into it, so that commands pass errors on with `?`.

use std::fmt;

use numakit_placement::Error as PlacementError;

use crate::output::{self, OutputError};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the work ran and found problems.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: usage, input or system error.
pub const EXIT_ERROR: u8 = 2;

/// An error to show a user.
#[derive(Debug)]
pub struct CliError {
    /// What failed and why, one line, without the `numakit: ` prefix.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// The exit code.
    pub code: u8,
}

impl CliError {
    /// An error with exit code 2.
    pub fn new(message: impl fmt::Display) -> Self {
        CliError {
            message: message.to_string(),
            hint: None,
            code: EXIT_ERROR,
        }
    }
    /// Adds a hint line.
    pub fn hint(mut self, hint: impl fmt::Display) -> Self {
        self.hint = Some(hint.to_string());
        self
    }
    /// Sets the exit code.
    pub fn code(mut self, code: u8) -> Self {
        self.code = code;
        self
    }
    /// Prints the error on stderr and returns its exit code, which is the
    /// same whether or not stderr could be written.
    pub fn report(&self) -> u8 {
        let mut text = format!("numakit: {}\n", output::sanitize(&self.message));
        if let Some(h) = &self.hint {
            text.push_str(&format!("hint: {}\n", output::sanitize(h)));
        }
        output::eprint(&text);
        self.code
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Renders an error and its whole `source()` chain on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// Result type of the command modules.
pub type CliResult<T = u8> = Result<T, CliError>;

/// A placement error: its chain on one line, a hint where one helps, and
/// the exit status it asks for (127/126 for a command that cannot be run).
impl From<PlacementError> for CliError {
    fn from(e: PlacementError) -> Self {
        let hint = match &e {
            PlacementError::UnknownNode { .. } | PlacementError::OfflineNode { .. } => {
                Some("list the nodes with 'numakit topo'")
            }
            PlacementError::NodesNotAllowed { .. } | PlacementError::CpusNotAllowed { .. } => {
                Some("the process's cpuset (cgroup) limits it; see 'numakit show'")
            }
            PlacementError::UnknownDevice { .. } => Some("list the devices with 'numakit topo'"),
            PlacementError::TwoPolicies { .. } => Some(
                "give one of --membind, --interleave, --weighted-interleave, --preferred, --preferred-many, --localalloc",
            ),
            _ => None,
        };
        let code = e.exit_status();
        let mut c = CliError::new(chain(&e)).code(code);
        if let Some(h) = hint {
            c = c.hint(h);
        }
        c
    }
}

/// A benchmark error: placement errors keep their hints; the rest say
/// what to change.
impl From<numakit_bench::Error> for CliError {
    fn from(e: numakit_bench::Error) -> Self {
        use numakit_bench::Error as B;
        let e = match e {
            B::Placement(p) => return p.into(),
            e => e,
        };
        let hint = match &e {
            B::NoCpus { .. } | B::NoInitiators { .. } | B::NoTargets { .. } => {
                Some("list the nodes, their CPUs and memory with 'numakit topo'")
            }
            B::TooBig { .. } => Some("give a smaller --size, or pick other --targets"),
            B::TooManyThreads { .. } => {
                Some("give fewer --threads, or leave it out for one per CPU")
            }
            B::OneThread { .. } => Some("leave out --threads"),
            B::GpuNotBuilt { .. } => {
                Some("build numakit with --features cuda (the driver is loaded at run time)")
            }
            B::UnknownGpu { .. } => Some("leave out --gpus to measure every GPU"),
            _ => None,
        };
        let mut c = CliError::new(chain(&e));
        if let Some(h) = hint {
            c = c.hint(h);
        }
        c
    }
}

/// A device name `run --near` cannot read, in the words placement uses.
impl From<numakit_topo::locate::ParseDeviceError> for CliError {
    fn from(e: numakit_topo::locate::ParseDeviceError) -> Self {
        PlacementError::from(e).into()
    }
}

/// A root that does not open: the only root the command line opens from a
/// user's words is `--root`/`NUMAKIT_ROOT`, so the hint says what it takes.
impl From<numakit_root::RootError> for CliError {
    fn from(e: numakit_root::RootError) -> Self {
        CliError::new(chain(&e)).hint(
            "--root takes a directory holding sys/ and proc/, or a .tar.gz/.tar.bz2 made by 'numakit snapshot'",
        )
    }
}

/// A DMA-BUF error: its chain on one line, its hint, and its exit status
/// (1 for a frame or page check that failed).
impl From<numakit_dmabuf::Error> for CliError {
    fn from(e: numakit_dmabuf::Error) -> Self {
        if let numakit_dmabuf::Error::Placement(p) = e {
            return p.into();
        }
        let mut c = CliError::new(chain(&e)).code(e.exit_status());
        if let Some(h) = e.hint() {
            c = c.hint(h);
        }
        c
    }
}

/// Output that could not be rendered or written.
impl From<OutputError> for CliError {
    fn from(e: OutputError) -> Self {
        match e {
            OutputError::Json(e) => CliError::new(format!("cannot render JSON: {e}")),
            OutputError::Write(e) => CliError::new(format!("cannot write output: {e}")),
        }
    }
}

impl CliError {
    /// Puts `what` (`cannot bind 0000:41:00.0`) before the message.
    pub fn prefix(mut self, what: &str) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

/// An IOMMU/VFIO planning or binding error, with what to do about it.
impl From<numakit_vfio::Error> for CliError {
    fn from(e: numakit_vfio::Error) -> Self {
        use numakit_vfio::Error as E;
        let hint = match &e {
            E::NoIommu { hint, .. } => Some(hint.clone()),
            E::NoVfioPci => Some("modprobe vfio-pci (kernel option CONFIG_VFIO_PCI)".into()),
            E::UnknownDevice { .. } | E::UnknownGroup { .. } => {
                Some("list the devices and groups with 'numakit iommu'".into())
            }
            E::NoGroup { .. } => Some(
                "without an IOMMU group VFIO cannot take the device; see 'numakit iommu'".into(),
            ),
            E::BadState { path } => Some(format!("move {path} away if it is not numakit's")),
            E::Failed { .. } | E::Write { .. } | E::State { .. } => {
                Some("writing sysfs needs root; the kernel log (dmesg) may say more".into())
            }
            _ => None,
        };
        let mut c = CliError::new(chain(&e));
        if let Some(h) = hint {
            c = c.hint(h);
        }
        c
    }
}
