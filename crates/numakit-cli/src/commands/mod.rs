//! One module per `numakit` subcommand, and what they share
//! ([`common`]). The argv[0] compatibility interfaces live in
//! [`crate::compat`].

pub mod common;
pub mod dma;
pub mod iommu;
pub mod migrate;
pub mod pages;
pub mod run;
pub mod show;
pub mod snapshot;
pub mod topo;
pub mod vfio;
