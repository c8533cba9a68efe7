//! `numakit topo`: the machine as a tree, JSON, a device matrix, or
//! `numactl --hardware` text.

use std::path::PathBuf;

use numakit_topo::{Machine, Parts};

use crate::commands::common::open_root;
use crate::error::CliResult;
use crate::output;
use crate::render;

/// The formats of `numakit topo --of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The tree (the default).
    Tree,
    /// The whole model as JSON (same as `--json`).
    Json,
    /// The device matrix (same as `--matrix`).
    Matrix,
    /// What `numactl --hardware` prints (same as `--hardware`).
    Hardware,
    /// hwloc's v2 XML, loadable by `lstopo --input` and `HWLOC_XMLFILE` (docs/exports.md).
    HwlocXml,
    /// A Kubernetes NodeResourceTopology object, YAML (docs/exports.md).
    Nrt,
    /// The NodeResourceTopology object as JSON.
    NrtJson,
    /// A picture of the machine (SVG).
    Svg,
}

/// Arguments of `numakit topo`.
#[derive(Debug, clap::Args)]
pub struct TopoArgs {
    /// Print the whole model as JSON (schema `numakit.topology/1`, see docs/topology-json.md).
    #[arg(long, conflicts_with_all = ["hardware", "matrix", "of"])]
    pub json: bool,
    /// Print the machine in another format: hwloc-xml, nrt (Kubernetes
    /// NodeResourceTopology, YAML), nrt-json, svg, or tree/json/matrix/hardware.
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with_all = ["hardware", "matrix"])]
    pub of: Option<Format>,
    /// Write a picture of the machine (SVG) to FILE ('-' for stdout).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["json", "hardware", "matrix", "of"])]
    pub svg: Option<PathBuf>,
    /// The Kubernetes node name of the NodeResourceTopology object
    /// (default: the root's host name).
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
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
    let format = match (args.of, args.json, args.matrix, args.hardware) {
        (Some(f), ..) => f,
        (None, true, ..) => Format::Json,
        (None, _, true, _) => Format::Matrix,
        (None, _, _, true) => Format::Hardware,
        _ => Format::Tree,
    };
    if let Some(file) = &args.svg {
        let m = Machine::discover(&root);
        return write_file_or_stdout(file, &numakit_export::svg::render(&m));
    }
    if format == Format::Hardware {
        let m = Machine::discover_parts(&root, Parts::NODES);
        output::print(&render::hardware::numactl_hardware(
            &m,
            render::hardware::CpuLists::Each,
        ))?;
        // as numactl does on a kernel without NUMA
        return Ok(u8::from(!render::hardware::numa_available(&m)));
    }
    let m = Machine::discover(&root);
    match format {
        Format::Json => output::print_json(&m)?,
        Format::Matrix => output::print(&render::matrix::render(&m))?,
        Format::HwlocXml => output::print(&numakit_export::hwloc_xml::render(&m))?,
        Format::Nrt | Format::NrtJson => {
            let name = args
                .node_name
                .clone()
                .or_else(|| root.read_trim("/proc/sys/kernel/hostname"))
                .unwrap_or_else(|| "unknown".into());
            let obj = numakit_export::nrt::object(&m, &name);
            match format {
                Format::Nrt => output::print(&numakit_export::nrt::to_yaml(&obj))?,
                _ => output::print_json(&obj)?,
            }
        }
        Format::Svg => output::print(&numakit_export::svg::render(&m))?,
        Format::Tree | Format::Hardware => output::print(&render::tree::render(
            &m,
            args.verbose,
            output::color_stdout(),
        ))?,
    }
    Ok(0)
}

/// Writes `text` to `file`, or to stdout for `-`.
fn write_file_or_stdout(file: &std::path::Path, text: &str) -> CliResult<u8> {
    if file.as_os_str() == "-" {
        output::print(text)?;
        return Ok(0);
    }
    std::fs::write(file, text).map_err(|e| {
        crate::error::CliError::new(format_args!("cannot write {}: {e}", file.display()))
    })?;
    Ok(0)
}
