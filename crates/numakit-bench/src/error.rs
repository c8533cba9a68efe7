//! The benchmark error: what was refused or failed, with the values
//! involved. Variants other than [`Error::Placement`] with a system-call
//! cause and [`Error::Gpu`] come from checks made before anything is
//! allocated.

use numakit_types::{ByteSize, CpuSet, NodeId, NodeSet};

/// Result of a benchmark call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a benchmark was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A placement request that was refused or failed (unknown node, a node
    /// without memory, outside the cpuset, a system call).
    #[error(transparent)]
    Placement(#[from] numakit_placement::Error),
    /// A node without usable CPUs asked for as an initiator.
    #[error(
        "node {node} has no CPUs this process may use, so it cannot run the measuring threads (it can be a target)"
    )]
    NoCpus {
        /// The node.
        node: NodeId,
    },
    /// No node of the selection has usable CPUs.
    #[error("none of nodes {nodes} has CPUs this process may use: nothing can run the measurement")]
    NoInitiators {
        /// The nodes selected.
        nodes: NodeSet,
    },
    /// No node of the selection has usable memory.
    #[error("none of nodes {nodes} has memory this process may use: there is nothing to measure")]
    NoTargets {
        /// The nodes selected.
        nodes: NodeSet,
    },
    /// A size of zero.
    #[error("the buffer size is 0: it must be at least one page")]
    ZeroSize,
    /// Buffers that do not fit in a node's free memory.
    #[error("{need} of buffers do not fit on node {node}: it has {free} free")]
    TooBig {
        /// The target node.
        node: NodeId,
        /// What the benchmark would allocate there.
        need: ByteSize,
        /// The node's free memory.
        free: ByteSize,
    },
    /// Zero threads or repetitions.
    #[error("{what} must be at least 1")]
    Zero {
        /// `threads`, `repeat`.
        what: &'static str,
    },
    /// More threads than the initiator node has usable CPUs.
    #[error(
        "{threads} threads on node {node}, which has {} CPUs this process may use ({cpus}): one thread per CPU", cpus.len()
    )]
    TooManyThreads {
        /// The node.
        node: NodeId,
        /// Threads asked for.
        threads: usize,
        /// The node's usable CPUs.
        cpus: CpuSet,
    },
    /// A measurement that needs more CPUs on the initiator than it has.
    #[error("{what} needs at least {need} CPUs on node {node}; it has {have} this process may use")]
    TooFewCpus {
        /// What needs them.
        what: &'static str,
        /// The node.
        node: NodeId,
        /// CPUs needed.
        need: usize,
        /// CPUs usable.
        have: usize,
    },
    /// A streaming-store kernel on a CPU without streaming stores.
    #[error("{kernel} needs streaming stores, which numakit has only on x86-64")]
    NoStreamingStores {
        /// The kernel's name.
        kernel: &'static str,
    },
    /// The GPU measurement is not in this build, and the machine has GPUs.
    #[error("this numakit was built without GPU support, and the machine has NVIDIA GPUs ({gpus})")]
    GpuNotBuilt {
        /// The GPUs' PCI addresses.
        gpus: String,
    },
    /// A thread count for a measurement that runs one thread.
    #[error("{what} runs one thread per initiator; a thread count does not apply")]
    OneThread {
        /// The measurement.
        what: &'static str,
    },
    /// A measurement that needs two nodes where the selection has one.
    #[error("{what} needs {need}")]
    NeedsNodes {
        /// The measurement.
        what: &'static str,
        /// What it needs, in words.
        need: &'static str,
    },
    /// Explicit hugetlb pages the node's pool cannot give.
    #[error(
        "node {node} has {free} free 2 MiB hugetlb pages and the buffers need {need}: add pages to /sys/devices/system/node/node{node}/hugepages/hugepages-2048kB/nr_hugepages"
    )]
    NoHugetlb {
        /// The node.
        node: NodeId,
        /// Free pages.
        free: u64,
        /// Pages needed.
        need: u64,
    },
    /// A GPU that does not exist.
    #[error("no GPU {gpu}: the driver sees {count}")]
    UnknownGpu {
        /// The GPU asked for.
        gpu: usize,
        /// GPUs the driver sees.
        count: usize,
    },
    /// A GPU driver call that failed.
    #[error("the GPU driver failed: {0}")]
    Gpu(String),
    /// Measuring threads could not be started.
    #[error("cannot start {what}: {source}")]
    Thread {
        /// Which threads.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the error came from checking the request, before anything
    /// was allocated or measured.
    pub fn is_validation(&self) -> bool {
        match self {
            Error::Placement(e) => e.is_validation(),
            Error::Gpu(_) | Error::Thread { .. } => false,
            _ => true,
        }
    }
}
