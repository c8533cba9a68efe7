//! One module per `numakit` subcommand, and what they share
//! ([`common`]). The argv[0] compatibility interfaces live in
//! [`crate::compat`].

pub mod bench;
pub mod common;
pub mod completions;
pub mod dma;
pub mod dmabuf;
pub mod doctor;
pub mod exporter;
pub mod hugepages;
pub mod iommu;
pub mod migrate;
pub mod nfd;
pub mod pages;
pub mod run;
pub mod show;
pub mod snapshot;
pub mod stat;
pub mod topo;
pub mod vfio;
