//! One module per subcommand.

pub mod dma;
pub mod snapshot;
pub mod topo;
