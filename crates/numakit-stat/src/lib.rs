//! Where memory is, read from any root: the readers and samplers behind
//! `numakit stat`, the numastat-compatible interface, the audit and the
//! exporter.
//!
//! - [`numa_maps`], [`counters`] (vmstat, numastat), [`meminfo`]: the
//!   kernel's files, parsed without losing order or unknown keys, never
//!   panicking on bad input.
//! - [`system::SystemStat`]: per node, numastat counters, every meminfo
//!   field, hugepage pools of every size, the memory tier; the NUMA
//!   balancing, tiering and migration counters of `/proc/vmstat`.
//! - [`process`]: a process's memory per node by kind (hugetlb pages by
//!   page size, heap, stack, private anonymous, file, shared), its mappings
//!   with their policies, its threads and where they last ran; finding
//!   processes by number or pattern.
//! - [`cgroup`]: `memory.numa_stat` and the effective cpuset of a cgroup.
//! - [`sample::Rates`]: misses, migrations, promotions per second between
//!   two samples.
//!
//! Like every numakit library it reads only through a [`numakit_root::Root`]
//! (so it works on snapshots), and never prints or exits. A fact that
//! cannot be read is `None`.
//!
//! # Example
//! ```
//! use numakit_root::Root;
//! use numakit_stat::system::SystemStat;
//! let dir = std::env::temp_dir().join(format!("numakit-stat-doc-{}", std::process::id()));
//! let node = dir.join("sys/devices/system/node/node0");
//! std::fs::create_dir_all(&node).unwrap();
//! std::fs::write(node.join("numastat"), "numa_hit 10\nnuma_miss 2\n").unwrap();
//! std::fs::write(node.join("meminfo"), "Node 0 MemTotal:  1024 kB\n").unwrap();
//! let s = SystemStat::read(&Root::open(&dir).unwrap()).unwrap();
//! assert_eq!(s.nodes[0].numastat.as_ref().unwrap().get("numa_miss"), Some(2));
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```
#![deny(missing_docs)]

pub mod cgroup;
pub mod counters;
pub mod devices;
mod error;
pub mod meminfo;
pub mod numa_maps;
pub mod process;
pub mod sample;
pub mod system;

pub use error::{Error, Result};
