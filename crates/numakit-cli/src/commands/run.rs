//! `numakit run`: set a memory policy and CPU binding, then exec a command.

use std::ffi::OsString;
use std::path::PathBuf;

use numakit_placement::{
    CpuBinding, DeviceSpec, KernelSupport, Mode, Policy, PolicyFlags, RunRequest,
};
use numakit_topo::{Machine, Parts};
use numakit_types::{CpuSet, NodeId};

use crate::commands::common::{LiveAction, open_root, parse_nodes, require_live};
use crate::error::{CliError, CliResult};

const RUN_HELP: &str = "\
NODES and CPUS use the kernel's list syntax (0-3,8) or 'all' (the allowed set).
DEVICE is gpu:N (GPUs in PCI order), a PCI address (0000:41:00.0), net:IFACE,
block:DEV or nvme:N; --near binds CPUs to the device's node (within the
allowed CPUs) and memory to that node, unless --cpunodebind/--physcpubind or a
memory policy say otherwise.

The command is executed directly (no shell). Nothing is applied or run when a
request is invalid: an unknown or offline node, an empty set, two policies,
nodes or CPUs outside the process's cpuset, a device that does not exist, a
mode the kernel lacks.

Exit status: the command's own; 2 for an invalid request or a failed system
call; 127 when the command is not found and 126 when it cannot be executed.";

/// Arguments of `numakit run`.
#[derive(Debug, clap::Args)]
#[command(after_help = RUN_HELP)]
pub struct RunArgs {
    /// Allocate memory only from NODES (MPOL_BIND).
    #[arg(long, short = 'm', value_name = "NODES")]
    pub membind: Option<String>,
    /// Interleave memory page by page over NODES.
    #[arg(long, short = 'i', value_name = "NODES")]
    pub interleave: Option<String>,
    /// Interleave by the kernel's node weights over NODES (Linux 6.9).
    #[arg(long, short = 'w', value_name = "NODES")]
    pub weighted_interleave: Option<String>,
    /// Prefer memory from NODE, fall back to others.
    #[arg(long, short = 'p', value_name = "NODE")]
    pub preferred: Option<String>,
    /// Prefer memory from any of NODES (Linux 5.15).
    #[arg(long, short = 'P', value_name = "NODES")]
    pub preferred_many: Option<String>,
    /// Allocate on the node of the CPU that runs (MPOL_LOCAL).
    #[arg(long, short = 'l')]
    pub localalloc: bool,
    /// Run on the CPUs of NODES.
    #[arg(long, short = 'N', value_name = "NODES")]
    pub cpunodebind: Option<String>,
    /// Run on CPUS.
    #[arg(long, short = 'C', value_name = "CPUS")]
    pub physcpubind: Option<String>,
    /// Let automatic NUMA balancing move pages within a --membind policy.
    #[arg(long, short = 'b')]
    pub balancing: bool,
    /// Home node for a bind/preferred-many policy (kernel: ranges only; refused for commands).
    #[arg(long, value_name = "NODE")]
    pub home_node: Option<u32>,
    /// Run near DEVICE: its node's CPUs and memory.
    #[arg(long, value_name = "DEVICE")]
    pub near: Option<String>,
    /// Print what was applied on stderr.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// The command and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<OsString>,
}

fn parse_cpus(opt: &str, s: &str, m: &Machine) -> CliResult<CpuSet> {
    if s == "all" {
        return Ok(m.allowed.cpus.clone().unwrap_or_default());
    }
    CpuSet::parse_list(s).map_err(|e| {
        CliError::new(format!("{opt} {s:?}: {}", e.reason()))
            .hint("CPUs are a list like 0, 0-3 or 0,2-3, or 'all'")
    })
}

/// Builds the request from the arguments (checks nothing against the machine).
pub fn request(a: &RunArgs, m: &Machine) -> CliResult<RunRequest> {
    let mut req = RunRequest::default();
    let policies: [(&str, &Option<String>, Mode); 5] = [
        ("--membind", &a.membind, Mode::Bind),
        ("--interleave", &a.interleave, Mode::Interleave),
        (
            "--weighted-interleave",
            &a.weighted_interleave,
            Mode::WeightedInterleave,
        ),
        ("--preferred", &a.preferred, Mode::Preferred),
        ("--preferred-many", &a.preferred_many, Mode::PreferredMany),
    ];
    for (opt, v, mode) in policies {
        if let Some(s) = v {
            let nodes = parse_nodes(opt, s, m)?;
            req.set_memory(Policy::new(mode, nodes, PolicyFlags::empty()))?;
        }
    }
    if a.localalloc {
        req.set_memory(Policy::local())?;
    }
    if let Some(s) = &a.cpunodebind {
        req.set_cpus(CpuBinding::Nodes(parse_nodes("--cpunodebind", s, m)?))?;
    }
    if let Some(s) = &a.physcpubind {
        req.set_cpus(CpuBinding::Cpus(parse_cpus("--physcpubind", s, m)?))?;
    }
    if let Some(d) = &a.near {
        req.near = Some(d.parse::<DeviceSpec>()?);
    }
    req.balancing = a.balancing;
    req.home_node = a.home_node.map(NodeId);
    Ok(req)
}

/// Runs `numakit run`.
pub fn run(root: Option<PathBuf>, args: RunArgs) -> CliResult<u8> {
    let root = open_root(root)?;
    require_live(&root, LiveAction::RunCommand)?;
    // Only what validation needs: nodes (CPU lists, memory, states), the
    // allowed sets and, for --near, the PCI devices. Reading every CPU's
    // caches and topology would cost more than the rest of `run`.
    let near = args.near.is_some();
    let parts = Parts {
        cpus: near,
        pci: near,
        allowed: true,
        ..Parts::NODES
    };
    let machine = Machine::discover_parts(&root, parts);
    let kernel = KernelSupport::from_machine(&machine);
    let req = request(&args, &machine)?;
    let plan = req.validate_with_root(&machine, &kernel, Some(&root))?;
    plan.apply_to_current_process(&root)?;
    if args.verbose {
        for l in plan.describe() {
            crate::output::eprint(&format!("numakit run: {}\n", crate::output::sanitize(&l)));
        }
    }
    let (program, rest) = args.command.split_first().ok_or_else(|| {
        CliError::new("no command given").hint("numakit run [OPTIONS] -- COMMAND [ARGS...]")
    })?;
    Err(numakit_placement::exec(program, rest).into())
}
