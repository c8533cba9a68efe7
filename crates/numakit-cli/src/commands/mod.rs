//! One module per subcommand.

pub mod common;
pub mod dma;
pub mod migrate;
pub mod numactl;
pub mod pages;
pub mod run;
pub mod show;
pub mod snapshot;
pub mod topo;
