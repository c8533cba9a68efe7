//! Plain values shared by every numakit crate.
//!
//! This crate owns the kernel's vocabulary: NUMA node and CPU numbers
//! ([`NodeId`], [`CpuId`]), sets of them ([`NodeSet`], [`CpuSet`]) with the
//! kernel's list (`0-3,8-11`) and mask (`ff,ffffffff`) syntaxes, PCI
//! addresses ([`PciAddress`]), byte sizes ([`ByteSize`]) and numbers as
//! sysfs attributes write them ([`parse_u64`]), and address ranges of a
//! process ([`AddrRange`]).
//!
//! `NodeSet` and `CpuSet` are different types: passing one where the other is
//! expected does not compile.
//!
//! # Example
//! ```
//! use numakit_types::{CpuSet, NodeSet};
//! let cpus: CpuSet = "0-3,8-11".parse().unwrap();
//! assert_eq!(cpus.len(), 8);
//! assert_eq!(cpus.to_string(), "0-3,8-11");
//! let nodes = NodeSet::parse_mask("00000000,00000005").unwrap();
//! assert_eq!(nodes.to_string(), "0,2");
//! ```
#![deny(missing_docs)]

mod bitmask;
mod ids;
mod num;
mod pci;
mod range;
mod set;
mod size;

pub use ids::{CpuId, MAX_CPUS, MAX_NODES, NodeId};
pub use num::{parse_u64, strtoul};
pub use pci::{PciAddress, PciAddressError};
pub use range::{AddrRange, RangeError};
pub use set::{CpuSet, IdSet, NodeSet, SetKind, SetParseError};
pub use size::{ByteSize, SizeParseError};
