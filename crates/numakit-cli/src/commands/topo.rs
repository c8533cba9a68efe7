//! `numakit topo`: the machine as a tree, JSON, a device matrix, or
//! `numactl --hardware` text.

use std::path::PathBuf;

use numakit_topo::{Machine, Parts};

use crate::commands::common::open_root;
use crate::error::CliResult;
use crate::output;
use crate::render;

/// Arguments of `numakit topo`.
#[derive(Debug, clap::Args)]
pub struct TopoArgs {
    /// Print the whole model as JSON (schema `numakit.topology/1`, see docs/topology-json.md).
    #[arg(long, conflicts_with_all = ["hardware", "matrix"])]
    pub json: bool,
    /// Print exactly what `numactl --hardware` (numactl 2.0.19) prints.
    #[arg(long, conflicts_with = "matrix")]
    pub hardware: bool,
    /// Print the device-to-device matrix (like `nvidia-smi topo -m`, for every vendor).
    #[arg(long)]
    pub matrix: bool,
    /// In the tree, also show bridges, caches and every CPU.
    #[arg(long, short)]
    pub verbose: bool,
}

/// Runs `numakit topo`.
pub fn run(root: Option<PathBuf>, args: TopoArgs) -> CliResult<u8> {
    let root = open_root(root)?;
    if args.hardware {
        let m = Machine::discover_parts(&root, Parts::NODES);
        output::print(&render::hardware::numactl_hardware(
            &m,
            render::hardware::CpuLists::Each,
        ))?;
        // as numactl does on a kernel without NUMA
        return Ok(u8::from(!render::hardware::numa_available(&m)));
    }
    let m = Machine::discover(&root);
    if args.json {
        output::print_json(&m)?;
    } else if args.matrix {
        output::print(&render::matrix::render(&m))?;
    } else {
        output::print(&render::tree::render(
            &m,
            args.verbose,
            output::color_stdout(),
        ))?;
    }
    Ok(0)
}
