//! Safe NUMA placement for Rust: a libnuma without `unsafe` for its users.
//!
//! This crate owns placement: memory [`Policy`]s (mode, nodes, flags) for a
//! thread, a process or a memory range; CPU binding; node-local,
//! interleaved and weighted allocations that unmap on drop ([`Mapping`]);
//! first-touch initialisation from threads pinned to the node that will use
//! each part ([`Placer::first_touch`]); where each page of a range lives
//! ([`Placer::page_counts`], one batched `move_pages` query per chunk); and
//! migration of ranges and whole processes; and the system-wide
//! weighted-interleave node weights ([`weights`]). Typed node-local memory
//! is [`NodeVec<T>`]; address ranges are [`AddrRange`]s everywhere.
//!
//! The whole of libnuma's API has a place here or in `numakit-topo` (the
//! machine's questions): `docs/libnuma.md` maps each libnuma name to its
//! numakit path, and rustdoc finds each item by its libnuma name.
//!
//! Every request is checked against the machine model
//! ([`numakit_topo::Machine`]: nodes, CPUs, devices, and the CPUs and nodes
//! this process may use) **before** any system call: an unknown or offline
//! node, an empty set, a node or CPU outside the cpuset, a device that does
//! not exist or a mode the kernel lacks is an [`Error`] and nothing is
//! applied. System calls go through a [`Backend`]: [`LiveBackend`] for the
//! kernel, [`RecordingBackend`] to test planning without one. Actions refuse
//! a root that is not the running system.
//!
//! [`RunRequest`] → [`Plan`] → [`Plan::apply_to_current_process`] →
//! [`exec`] is what `numakit run` and the numactl-compatible interface use.
//!
//! For GPU workers, [`near`] names the device the way the worker's framework
//! will (`cuda:N`, `rocm:N`, a UUID, or the launcher's rank via
//! [`launcher`]), [`slice`](mod@slice) gives each rank whole cores of its own, and
//! [`fallback`] steps a binding the cpuset or the kernel refuses down, when
//! asked to; [`near::bind_near`] does it all for the calling thread.
//!
//! # Example
//! ```
//! use numakit_placement::{Placer, Policy};
//! let placer = Placer::live().unwrap();
//! // 1 MiB bound to node 0, touched, then asked where its pages are.
//! let mut buf = placer.allocate(1 << 20, &Policy::on_node(0.into())).unwrap();
//! buf.as_mut_slice().fill(1);
//! let counts = placer.mapping_page_counts(&buf).unwrap();
//! assert_eq!(counts.on_node(0.into()), buf.len() as u64 / numakit_placement::page_size() as u64);
//! ```
#![deny(missing_docs)]

mod alloc;
mod area;
mod backend;
mod error;
pub mod fallback;
pub mod hugepages;
pub mod launcher;
mod mapping;
pub mod maps;
pub mod near;
mod nodevec;
pub mod pagecache;
mod pages;
mod placer;
mod plan;
mod policy;
mod process;
pub mod slice;
pub mod weights;

pub use area::{NodeBinding, PageMove, Strictness, police_memory};
pub use backend::{Backend, Call, LiveBackend, RecordingBackend};
pub use error::{Error, Result};
pub use fallback::{Fallback, Step};
pub use mapping::{AllocOptions, HugePages, Mapping, TouchPart};
pub use near::{NearMemory, NearResolution, ShareRequest, resolve_near};
pub use nodevec::NodeVec;
pub use pages::{MigrateOutcome, PageCounts, PageLocation, QUERY_CHUNK};
pub use placer::{CurrentPolicy, Placer, current_policy, interleave_next_node};
pub use plan::{
    CpuBinding, Plan, RunRequest, SharedCpus, check_nodes, check_policy, exec, require_live,
    resolve_cpus,
};
pub use policy::{KernelSupport, Mode, Policy, PolicyFlags, mode_name, parse_version};
pub use process::{CpuLocation, affinity, available, last_cpu_location, mems_allowed};
pub use slice::{Share, cpu_slices};

/// What `--near` takes: a device, a GPU by framework number or UUID, or
/// `auto`: see [`numakit_topo::gpu`].
pub use numakit_topo::gpu::NearSpec;
/// Devices by name (`gpu:0`, `net:eth0`, ...), resolved to their node by
/// the machine model: see [`numakit_topo::locate`].
pub use numakit_topo::locate::{DeviceSpec, ResolvedDevice};

pub use numakit_sys::Errno;
pub use numakit_sys::mempolicy::MbindFlags;
pub use numakit_sys::mm::page_size;
pub use numakit_types::{AddrRange, RangeError};
