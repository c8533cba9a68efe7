//! One module per `numakit` subcommand, and what they share
//! ([`common`]). The argv[0] compatibility interfaces live in
//! [`crate::compat`].

pub mod common;
pub mod completions;
pub mod dma;
pub mod hugepages;
pub mod migrate;
pub mod nfd;
pub mod pages;
pub mod run;
pub mod show;
pub mod snapshot;
pub mod topo;
