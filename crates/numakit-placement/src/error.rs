//! The placement error: what failed, with the values involved, in plain words.

use std::ffi::OsString;

use numakit_sys::Errno;
use numakit_topo::locate::{LocateError, ParseDeviceError};
use numakit_types::{CpuSet, NodeId, NodeSet};

use numakit_topo::gpu::GpuError;
use numakit_topo::gpu::spec::ParseNearError;

/// Result of a placement call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a placement request was refused or failed.
///
/// Variants produced by validation mean that nothing was applied. Messages
/// are one line and say what was expected; a kernel error behind one is its
/// [`source`](std::error::Error::source).
///
/// This is where libnuma's `numa_error` and `numa_warn` went: nothing is
/// printed and nothing exits (`numa_exit_on_error`, `numa_exit_on_warn`);
/// every call returns its error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[doc(alias = "numa_error")]
#[doc(alias = "numa_warn")]
#[doc(alias = "numa_exit_on_error")]
#[doc(alias = "numa_exit_on_warn")]
pub enum Error {
    /// A node the machine does not have.
    #[error("node {node} does not exist: this machine has nodes {known}")]
    UnknownNode {
        /// The node asked for.
        node: NodeId,
        /// The nodes the machine has.
        known: NodeSet,
    },
    /// No persistent huge page pool of this size on the node (or system).
    #[error("{place} has no {size} huge page pool (sizes: {sizes})")]
    NoHugePagePool {
        /// `node 1` or `the system`.
        place: String,
        /// The size asked for, in the kernel's words (`2048kB`).
        size: String,
        /// The sizes there are.
        sizes: String,
    },
    /// Writing a huge page count failed.
    #[error("cannot set {path} to {count}: {source}")]
    HugePageWrite {
        /// The sysfs file.
        path: String,
        /// The count written.
        count: u64,
        /// Why.
        source: std::io::Error,
    },
    /// A node that exists but is offline.
    #[error("node {node} is offline")]
    OfflineNode {
        /// The node asked for.
        node: NodeId,
    },
    /// An empty node set where at least one node is needed.
    #[error("{what} needs at least one node, and the set is empty")]
    EmptyNodes {
        /// What needed nodes (`--membind`, `interleave policy`).
        what: String,
    },
    /// Nodes outside the process's allowed memory nodes (cpuset/cgroup).
    #[error("node(s) {nodes} are outside this process's allowed memory nodes ({allowed})")]
    NodesNotAllowed {
        /// The nodes outside.
        nodes: NodeSet,
        /// `Mems_allowed`.
        allowed: NodeSet,
    },
    /// A node without memory as the target of a memory policy.
    #[error("node {node} has no memory")]
    NodeWithoutMemory {
        /// The node.
        node: NodeId,
    },
    /// A CPU the machine does not have.
    #[error("CPU {cpu} does not exist: this machine has CPUs {known}")]
    UnknownCpu {
        /// The CPU asked for.
        cpu: u32,
        /// The CPUs the machine has.
        known: CpuSet,
    },
    /// An empty CPU set.
    #[error("{what} needs at least one CPU, and the set is empty")]
    EmptyCpus {
        /// What needed CPUs.
        what: String,
    },
    /// CPUs outside the process's allowed CPUs (cpuset/cgroup).
    #[error("CPU(s) {cpus} are outside this process's allowed CPUs ({allowed})")]
    CpusNotAllowed {
        /// The CPUs outside.
        cpus: CpuSet,
        /// `Cpus_allowed`.
        allowed: CpuSet,
    },
    /// Nodes none of whose CPUs this process may use (or without CPUs).
    #[error("node(s) {nodes} have no CPUs this process may use")]
    NoCpusOnNodes {
        /// The nodes.
        nodes: NodeSet,
    },
    /// Two memory policies in one request.
    #[error("two memory policies given ({first} and {second}); choose one")]
    TwoPolicies {
        /// The first.
        first: String,
        /// The second.
        second: String,
    },
    /// Two CPU bindings in one request.
    #[error("two CPU bindings given ({first} and {second}); choose one")]
    TwoCpuBindings {
        /// The first.
        first: String,
        /// The second.
        second: String,
    },
    /// A policy whose mode takes a different number of nodes.
    #[error("{mode} takes {expected}, got {nodes}")]
    BadNodeCount {
        /// The mode.
        mode: String,
        /// What it takes (`exactly one node`, `no nodes`).
        expected: &'static str,
        /// What was given.
        nodes: NodeSet,
    },
    /// A flag that does not go with the mode.
    #[error("{flag} does not go with {mode}: {why}")]
    BadFlag {
        /// The flag.
        flag: &'static str,
        /// The mode.
        mode: String,
        /// Why.
        why: &'static str,
    },
    /// A feature the running kernel lacks.
    #[error("this kernel ({kernel}) has no {feature} (needs Linux {needs} or later)")]
    Unsupported {
        /// The feature (`weighted interleave`).
        feature: &'static str,
        /// The first kernel with it.
        needs: &'static str,
        /// The running kernel's release, or `unknown`.
        kernel: String,
    },
    /// A device string that is not one of the accepted forms.
    #[error(
        "cannot read device '{spec}': expected gpu:N, nic:N, a PCI address (0000:41:00.0), net:IFACE, block:DEV, nvme:N or file:PATH"
    )]
    BadDeviceSpec {
        /// The string.
        spec: String,
    },
    /// A device that does not exist.
    #[error("no device {spec} on this machine{known}")]
    UnknownDevice {
        /// The device as written.
        spec: String,
        /// `: it has ...` listing what exists, or empty.
        known: String,
    },
    /// A device whose NUMA node the firmware does not tell.
    #[error("device {device} has no NUMA node (its numa_node is -1 or missing)")]
    DeviceWithoutNode {
        /// The device's PCI address.
        device: String,
    },
    /// `file:PATH` whose block device cannot be found.
    #[error("cannot find the device holding {path}: {why}")]
    DeviceOfFile {
        /// The path as given.
        path: String,
        /// Why.
        why: String,
    },
    /// `--home-node` for a command to be exec'd.
    #[error(
        "a home node applies to memory ranges (set_mempolicy_home_node), which exec discards; it cannot be set for a command"
    )]
    HomeNodeNeedsRange,
    /// A home node that is not in the policy's nodes, or a policy mode
    /// without home nodes.
    #[error("home node {node} needs a bind or preferred-many policy that includes it")]
    BadHomeNode {
        /// The node.
        node: NodeId,
    },
    /// An action on a root that is not the running system.
    #[error("cannot {action}: the machine was read from {root}, not the running system")]
    NotLive {
        /// The action.
        action: &'static str,
        /// The root's label.
        root: String,
    },
    /// A process that does not exist (or vanished).
    #[error("no process {pid} (it may have exited)")]
    NoSuchProcess {
        /// The pid.
        pid: i32,
    },
    /// The kernel said no for lack of privilege.
    #[error(
        "{action}: permission denied; this needs CAP_SYS_NICE (or the same user), and a container's seccomp profile may block it"
    )]
    PermissionDenied {
        /// What was attempted.
        action: String,
    },
    /// An action that needs root (a system-wide setting).
    #[error("{action} needs root")]
    NeedsRoot {
        /// What was attempted.
        action: String,
    },
    /// A node the kernel keeps no weighted-interleave weight for.
    #[error(
        "the kernel has no weighted-interleave weight for node {node} (only nodes with memory have one)"
    )]
    NoWeight {
        /// The node.
        node: NodeId,
    },
    /// A weighted-interleave weight outside 1 to 255.
    #[error("weight {weight} for node {node} is out of range: the kernel takes 1 to 255")]
    BadWeight {
        /// The node.
        node: NodeId,
        /// The weight asked for.
        weight: u32,
    },
    /// A range that is empty, unaligned or reversed.
    #[error("bad memory range {range}: {why}")]
    BadRange {
        /// The range as given.
        range: String,
        /// Why.
        why: &'static str,
    },
    /// A text that could not be read (maps file, address).
    #[error("cannot read {what} {text:?}: {why}")]
    Parse {
        /// What was read.
        what: &'static str,
        /// The text.
        text: String,
        /// Why.
        why: String,
    },
    /// A file that could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A system call failed in a way not named above.
    #[error("{call} failed: {errno}{hint}")]
    Syscall {
        /// The call and its main argument (`set_mempolicy(bind 0-1)`).
        call: String,
        /// The errno.
        errno: Errno,
        /// `: meaning`, or empty.
        hint: String,
    },
    /// A length that no mapping can have: rounded up to whole pages it
    /// passes the end of the address space.
    #[error("cannot allocate {len} bytes: that is more than an address space holds")]
    TooLarge {
        /// The length asked for.
        len: usize,
    },
    /// `mmap` refused a mapping.
    #[error("cannot map {len} bytes: {why}")]
    Map {
        /// The length, rounded to whole pages.
        len: usize,
        /// What ran out and what to do.
        why: &'static str,
        /// The kernel's error.
        #[source]
        errno: Errno,
    },
    /// Policies differ within a range whose one policy was asked for.
    #[error(
        "memory range {range} has more than one policy ({first} at its start, {other} at {at:#x}): ask for each mapping on its own"
    )]
    MixedPolicies {
        /// The range.
        range: String,
        /// The policy at its start.
        first: String,
        /// Another policy in it.
        other: String,
        /// Where that one applies.
        at: u64,
    },
    /// A type whose values cannot live in node-local memory as asked.
    #[error("{what}: {why}")]
    BadElementType {
        /// The type.
        what: &'static str,
        /// Why.
        why: &'static str,
    },
    /// A `--near` name that is none of the forms it takes.
    #[error(transparent)]
    BadNear(#[from] ParseNearError),
    /// A GPU name that names no GPU here.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// A launcher variable that is set but cannot be used.
    #[error("{name}='{value}' cannot be used: {why}")]
    BadLauncherVariable {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// Why.
        why: &'static str,
    },
    /// `auto` or `--share auto` without a launcher rank.
    #[error(
        "{what} needs the launcher's local rank, and none of LOCAL_RANK, SLURM_LOCALID, OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID, PMI_LOCAL_RANK is set"
    )]
    NoLauncherRank {
        /// What needed it.
        what: &'static str,
    },
    /// `--share auto` with a rank but no local size.
    #[error(
        "--share auto needs the number of local ranks, and the launcher that set {from} did not say it"
    )]
    NoLocalSize {
        /// The rank variable.
        from: &'static str,
    },
    /// A `--share` that is not `auto` or `K/N` with `K < N`.
    #[error(
        "cannot read share '{share}': expected auto or K/N with 0 <= K < N (1/4: the second of four slices)"
    )]
    BadShare {
        /// As given.
        share: String,
    },
    /// More slices than whole cores.
    #[error("cannot give {count} ranks whole cores of their own: CPUs {cpus} are {cores} cores")]
    TooManySlices {
        /// Slices asked for.
        count: u32,
        /// Cores there are.
        cores: usize,
        /// The CPUs split.
        cpus: CpuSet,
    },
    /// An option value that is not one of its choices.
    #[error("{option} {value:?}: expected {expected}")]
    BadChoice {
        /// The option.
        option: &'static str,
        /// The value.
        value: String,
        /// The choices.
        expected: &'static str,
    },
    /// `--mem gpu` for a device with no GPU memory node.
    #[error(
        "{device} has no GPU memory node (only coherent GPUs such as Grace Hopper expose their memory as one)"
    )]
    NoGpuMemoryNode {
        /// The device.
        device: String,
    },
    /// A device's node without CPUs, and no node with CPUs known to be near.
    #[error("node {node} has no CPUs, and no distances tell which node with CPUs is nearest")]
    NoCpuNodeNear {
        /// The node.
        node: NodeId,
    },
    /// A binding still refused after stepping down.
    #[error("{steps}; that was refused too: {last}")]
    SteppedDown {
        /// The steps taken, `; `-joined.
        steps: String,
        /// The last refusal.
        last: Box<Error>,
    },
    /// The command could not be executed.
    #[error("cannot run {program:?}: {why}")]
    Exec {
        /// The program.
        program: OsString,
        /// `command not found`, `permission denied`, ...
        why: String,
        /// The status a shell would give (127 not found, 126 not executable).
        status: u8,
        /// The kernel's error, when exec got that far.
        errno: Option<Errno>,
    },
}

impl From<numakit_types::RangeError> for Error {
    fn from(e: numakit_types::RangeError) -> Error {
        use numakit_types::RangeError as R;
        let range = match &e {
            R::Empty { start } => format!("{start:#x}+0"),
            R::Reversed { start, end } => format!("{start:x}-{end:x}"),
            R::Overflow { start, len } => format!("{start:#x}+{len:#x}"),
            R::Syntax { text } => text.clone(),
        };
        Error::BadRange {
            range,
            why: e.reason(),
        }
    }
}

impl From<ParseDeviceError> for Error {
    fn from(e: ParseDeviceError) -> Error {
        Error::BadDeviceSpec {
            spec: e.spec().to_string(),
        }
    }
}

impl From<LocateError> for Error {
    fn from(e: LocateError) -> Error {
        match e {
            LocateError::Unknown { spec, known } => Error::UnknownDevice { spec, known },
            LocateError::WithoutNode { device } => Error::DeviceWithoutNode {
                device: device.to_string(),
            },
            LocateError::File { path, why } => Error::DeviceOfFile {
                path: path.display().to_string(),
                why,
            },
        }
    }
}

impl Error {
    /// Whether the error came from validation, before any system call
    /// (nothing was applied).
    pub fn is_validation(&self) -> bool {
        if let Error::SteppedDown { last, .. } = self {
            return last.is_validation();
        }
        !matches!(
            self,
            Error::Syscall { .. }
                | Error::Exec { .. }
                | Error::Io { .. }
                | Error::PermissionDenied { .. }
                | Error::NeedsRoot { .. }
                | Error::NoSuchProcess { .. }
        )
    }

    /// The exit status a command should end with for this error: the
    /// shell's 127/126 for exec failures, else 2.
    pub fn exit_status(&self) -> u8 {
        match self {
            Error::Exec { status, .. } => *status,
            _ => 2,
        }
    }

    /// Maps an errno of `call` to a plain error. `pid` names the process
    /// for `ESRCH`.
    pub(crate) fn from_errno(call: String, errno: Errno, pid: Option<i32>) -> Error {
        match errno {
            Errno::ESRCH => Error::NoSuchProcess {
                pid: pid.unwrap_or(0),
            },
            Errno::EPERM => Error::PermissionDenied { action: call },
            _ => {
                let hint = match errno {
                    Errno::EINVAL => ": the kernel refused the mode, flags or nodes",
                    Errno::EFAULT => ": part of the range is not mapped",
                    Errno::ENOMEM => {
                        ": the kernel could not allocate memory (on the nodes asked for, or for its own records)"
                    }
                    Errno::EIO => ": some pages could not be moved to obey the policy",
                    Errno::ENODEV => ": a target node is not online",
                    Errno::EACCES => ": a target node is outside the process's cpuset",
                    Errno::ENOSYS => ": the kernel does not have this system call",
                    _ => "",
                };
                Error::Syscall {
                    call,
                    errno,
                    hint: hint.to_string(),
                }
            }
        }
    }
}
