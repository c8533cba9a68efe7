//! Memory benchmarks between NUMA nodes, measured openly and checked.
//!
//! This crate owns the measurements of `numakit bench`: idle latency
//! ([`Bench::latency`]) and STREAM-style bandwidth ([`Bench::bandwidth`])
//! matrices from each initiator node (threads pinned to its CPUs) to each
//! target node (buffers bound there), latency under load
//! ([`Bench::loaded_latency`]), the cost of first touch on the wrong node
//! ([`Bench::first_touch`]), memory policies compared
//! ([`Bench::policy`]), weighted-interleave weights from measured
//! bandwidth ([`Bench::weights`]) and, with the `cuda` feature, GPU copy
//! bandwidth from host memory on each node ([`Bench::gpu`]).
//!
//! Every request is checked against the machine before anything is
//! allocated (the `plan_*` functions, which tests run on fixture
//! machines); every buffer is checked with `move_pages` after it is
//! placed and before it is timed; and every report carries its
//! methodology and the warnings that say when a figure cannot be trusted
//! (busy machine, small buffer, misplaced pages, frequency scaling). The
//! library never prints: progress goes to a [`Progress`].
//!
//! # Example
//! ```
//! use numakit_bench::{Bench, LatencyOptions, NoProgress, Options};
//! use numakit_placement::Placer;
//! let placer = Placer::live().unwrap();
//! let root = numakit_root::Root::live();
//! let bench = Bench::new(&placer, &root, &NoProgress).unwrap();
//! let o = LatencyOptions {
//!     common: Options { size: Some(1 << 20), repeat: Some(1), nodes: Some("0".parse().unwrap()), ..Default::default() },
//!     loads: Some(10_000),
//! };
//! let r = bench.latency(&o).unwrap();
//! let ns = r.result.matrix.get(0, 0).unwrap().ns.median;
//! assert!(ns > 0.0);
//! ```
#![deny(missing_docs)]

pub mod bandwidth;
pub mod buffer;
pub mod chase;
mod error;
pub mod first_touch;
pub mod gpu;
pub mod kernels;
pub mod latency;
pub mod loaded;
pub mod matrix;
pub mod options;
pub mod policy;
pub mod probe;
mod progress;
pub mod report;
mod stats;
pub mod team;
pub mod weights;

use numakit_placement::Placer;
use numakit_root::Root;

pub use bandwidth::{BandwidthOptions, BandwidthResult};
pub use error::{Error, Result};
pub use first_touch::{FirstTouchOptions, FirstTouchResult};
pub use gpu::{GpuOptions, GpuResult};
pub use kernels::Kernel;
pub use latency::{LatencyOptions, LatencyResult};
pub use loaded::{LoadedOptions, LoadedResult};
pub use matrix::{Cell, Matrix};
pub use options::{HugeChoice, Options};
pub use policy::{PolicyOptions, PolicyResult};
pub use progress::{NoProgress, Progress};
pub use report::{Methodology, Report, SCHEMA, Warning, WarningKind};
pub use stats::Stats;
pub use weights::{WeightsOptions, WeightsResult};

/// Runs benchmarks on the running system.
pub struct Bench<'a> {
    placer: &'a Placer,
    root: &'a Root,
    progress: &'a dyn Progress,
}

impl std::fmt::Debug for Bench<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bench")
            .field("root", &self.root.label())
            .finish()
    }
}

impl<'a> Bench<'a> {
    /// A bench over the machine of `placer`; `root` is where the probes
    /// read (`/proc/stat`, cpufreq, smaps) and must be the running system.
    pub fn new(
        placer: &'a Placer,
        root: &'a Root,
        progress: &'a dyn Progress,
    ) -> Result<Bench<'a>> {
        numakit_placement::require_live(root, "measure memory")?;
        Ok(Bench {
            placer,
            root,
            progress,
        })
    }

    /// The machine model.
    pub fn machine(&self) -> &numakit_topo::Machine {
        self.placer.machine()
    }
}
