//! `numakit run`: set a memory policy and CPU binding, then exec a command;
//! with `--check`, say what would be done and whether the kernel accepts it.

mod check;

use std::ffi::OsString;
use std::path::PathBuf;

use numakit_placement::launcher::EnvVars;
use numakit_placement::{
    CpuBinding, Fallback, KernelSupport, LiveBackend, Mode, NearMemory, NearResolution, NearSpec,
    Plan, Policy, PolicyFlags, RunRequest, ShareRequest, resolve_near,
};
use numakit_root::Root;
use numakit_topo::{Machine, Parts};
use numakit_types::{CpuSet, NodeId};

use crate::commands::common::{LiveAction, open_root, parse_nodes, require_live};
use crate::error::{CliError, CliResult};

const RUN_HELP: &str = "\
NODES and CPUS use the kernel's list syntax (0-3,8) or 'all' (the allowed set).
DEVICE is cuda:N or rocm:N (the N-th GPU the worker's framework will see,
after CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER, ROCR_VISIBLE_DEVICES and
HIP_VISIBLE_DEVICES), gpu:UUID, auto (the GPU of the launcher's local rank:
LOCAL_RANK, SLURM_LOCALID, OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID,
PMI_LOCAL_RANK), gpu:N (GPUs in PCI order), a PCI address (0000:41:00.0),
net:IFACE, block:DEV, nvme:N or file:PATH (the disk holding a file). --near binds CPUs to the device's node (the
nearest node with CPUs when it has none; within the allowed CPUs) and memory to
that node, unless --cpunodebind/--physcpubind or a memory policy say otherwise.
--share gives this rank whole cores of its own: auto works the slice out from
the launcher's rank and local size.

The command is executed directly (no shell). Nothing is applied or run when a
request is invalid: an unknown or offline node, an empty set, two policies,
nodes or CPUs outside the process's cpuset, a device that does not exist, a
mode the kernel lacks. With --fallback, a binding the cpuset or the kernel
refuses steps down instead (preferred: memory bind becomes preferred; none:
memory and CPUs may be left unbound), with one warning line per step.

Exit status: the command's own; 2 for an invalid request or a failed system
call; 127 when the command is not found and 126 when it cannot be executed.
With --check: 0 when the binding would succeed, 1 when it would not.";

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
    /// Slices, memory target and fallback (boxed: they are rarely given).
    #[command(flatten)]
    pub gpu: Box<GpuArgs>,
    /// Resolve and validate, try the binding on a thread of numakit, print what would be done; run nothing.
    #[arg(long)]
    pub check: bool,
    /// With --check: print the result as JSON (schema numakit.run-check/1, docs/run-check-json.md).
    #[arg(long, requires = "check")]
    pub json: bool,
    /// Print what was applied on stderr.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// The command and its arguments.
    #[arg(
        required_unless_present = "check",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<OsString>,
}

/// The options for sharing a node and for refused bindings.
#[derive(Debug, clap::Args)]
pub struct GpuArgs {
    /// Run on an exclusive slice of the CPUs: auto (from the launcher's rank) or K/N.
    #[arg(long, value_name = "auto|K/N")]
    pub share: Option<String>,
    /// With --near: memory on the device's node, or on the GPU's own memory node.
    #[arg(long = "mem", value_name = "WHERE", value_parser = ["node", "gpu"], requires = "near")]
    pub mem: Option<String>,
    /// When the binding is refused, step down instead of failing (see below).
    #[arg(long, value_name = "LEVEL", value_parser = ["preferred", "none"])]
    pub fallback: Option<String>,
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
    req.balancing = a.balancing;
    req.home_node = a.home_node.map(NodeId);
    if let Some(f) = &a.gpu.fallback {
        req.fallback = f.parse::<Fallback>()?;
    }
    if let Some(w) = &a.gpu.mem {
        req.near_memory = w.parse::<NearMemory>()?;
    }
    Ok(req)
}

/// The parts of `--near` and `--share` that are read before the machine.
struct NearArgs {
    spec: Option<NearSpec>,
    share: Option<ShareRequest>,
}

fn near_args(a: &RunArgs) -> CliResult<NearArgs> {
    let spec = a
        .near
        .as_deref()
        .map(str::parse::<NearSpec>)
        .transpose()
        .map_err(numakit_placement::Error::from)?;
    let share = a
        .gpu
        .share
        .as_deref()
        .map(str::parse::<ShareRequest>)
        .transpose()?;
    if share.is_some() && spec.is_none() && a.cpunodebind.is_none() && a.physcpubind.is_none() {
        return Err(CliError::new(
            "--share needs CPUs to share: give --near, --cpunodebind or --physcpubind",
        ));
    }
    if share == Some(ShareRequest::Auto) && spec.is_none() {
        return Err(CliError::new("--share auto works with --near")
            .hint("give --share K/N with --cpunodebind or --physcpubind"));
    }
    Ok(NearArgs { spec, share })
}

/// What a run would do: how `--near` resolved, and the checked plan.
pub struct Outcome {
    /// How `--near` and `--share` resolved.
    pub near: Option<NearResolution>,
    /// The plan.
    pub plan: Plan,
}

/// Resolves and validates everything the arguments ask for (applies nothing).
fn plan_run(
    a: &RunArgs,
    near: &NearArgs,
    m: &Machine,
    root: &Root,
    env: &EnvVars,
) -> CliResult<Outcome> {
    let mut req = request(a, m)?;
    let resolved = match &near.spec {
        Some(s) => Some(resolve_near(s, near.share, m, Some(root), env)?),
        None => None,
    };
    if let Some(r) = &resolved {
        req.near_device = Some(r.device.clone());
        req.share = r.share.as_ref().map(|s| s.share);
    } else if let Some(ShareRequest::Slice(s)) = near.share {
        req.share = Some(s);
    }
    let kernel = KernelSupport::from_machine(m);
    let plan = req.validate_with_root(m, &kernel, Some(root))?;
    Ok(Outcome {
        near: resolved,
        plan,
    })
}

/// Runs `numakit run`.
pub fn run(root: Option<PathBuf>, args: RunArgs) -> CliResult<u8> {
    let root = open_root(root)?;
    if !args.check {
        require_live(&root, LiveAction::RunCommand)?;
    }
    let near = near_args(&args)?;
    // Only what validation needs: nodes (CPU lists, memory, states), the
    // allowed sets and, for --near and --share, the CPUs, caches and PCI
    // devices. Reading all of it would cost more than the rest of `run`.
    let wide = near.spec.is_some() || near.share.is_some();
    let parts = Parts {
        cpus: wide,
        pci: near.spec.is_some(),
        allowed: true,
        ..Parts::NODES
    };
    let machine = Machine::discover_parts(&root, parts);
    let env = EnvVars::from_process();
    if args.check {
        return check::run(&args, &near, &machine, &root, &env);
    }
    let out = plan_run(&args, &near, &machine, &root, &env)?;
    let warn = |w: &str| {
        crate::output::eprint(&format!(
            "numakit run: warning: {}\n",
            crate::output::sanitize(w)
        ));
    };
    for w in out.near.iter().flat_map(|n| &n.warnings) {
        warn(w);
    }
    for s in &out.plan.steps {
        warn(&s.to_string());
    }
    for s in out.plan.apply_stepping(&LiveBackend)? {
        warn(&s.to_string());
    }
    if args.verbose {
        let how = out.near.iter().flat_map(|n| {
            std::iter::once(n.how.clone())
                .chain(n.notes().iter().cloned())
                .chain(n.share.iter().map(|s| s.how.clone()))
        });
        for l in how.chain(out.plan.describe()) {
            crate::output::eprint(&format!("numakit run: {}\n", crate::output::sanitize(&l)));
        }
    }
    let (program, rest) = args.command.split_first().ok_or_else(|| {
        CliError::new("no command given").hint("numakit run [OPTIONS] -- COMMAND [ARGS...]")
    })?;
    Err(numakit_placement::exec(program, rest).into())
}
