//! `numakit bench ...`: latency and bandwidth matrices, loaded latency,
//! first touch, policies, interleave weights and GPU copies, measured on
//! the running system by `numakit_bench`, printed as text (methodology
//! first, warnings last), JSON (schema `numakit.bench/1`,
//! docs/bench-json.md) or an SVG picture.

use std::path::PathBuf;

use numakit_bench::gpu::{self, GpuStatus};
use numakit_bench::{
    BandwidthOptions, Bench, FirstTouchOptions, GpuOptions, HugeChoice, Kernel, LatencyOptions,
    LoadedOptions, NoProgress, Options, PolicyOptions, Progress, Report, WeightsOptions,
};
use numakit_placement::{KernelSupport, LiveBackend, Placer};
use numakit_root::Root;
use numakit_topo::{Machine, Parts};
use numakit_types::{ByteSize, NodeId};

use crate::commands::common::{LiveAction, open_root, parse_nodes, require_live};
use crate::error::{CliError, CliResult, EXIT_FINDINGS, EXIT_OK};
use crate::output;
use crate::progress::Bar;
use crate::render::{bench as text, svg};

const EXIT: &str = "Exit status: 0 measured; 1 measured, but a buffer was not on the node it was meant for (its figures are not that node's); 2 bad input (checked before anything is allocated) or a system error.";

/// Benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Idle latency matrix: ns per dependent load from each node's CPU to each node's memory.
    #[command(after_help = EXIT)]
    Latency(LatencyArgs),
    /// Bandwidth matrices: read, write, copy, triad (and streaming-store variants) in GB/s.
    #[command(after_help = EXIT)]
    Bandwidth(BandwidthArgs),
    /// Latency while the node's other CPUs inject more and more read traffic: a curve.
    #[command(after_help = EXIT)]
    LoadedLatency(LoadedArgs),
    /// Arrays first written on one node and used on another, against first touch by the workers.
    #[command(after_help = EXIT)]
    FirstTouch(FirstTouchArgs),
    /// Bind-local, bind-remote, interleave, preferred and weighted interleave compared.
    #[command(after_help = EXIT)]
    Policy(PolicyArgs),
    /// Weighted-interleave weights matching the measured bandwidth, as sysfs writes.
    #[command(after_help = EXIT)]
    Weights(WeightsArgs),
    /// Host-to-device and device-to-host copy bandwidth per GPU, from host memory on each node.
    #[command(
        after_help = "Without a GPU or a GPU driver it says so and exits 0, measuring nothing.\n\nExit status: 0 measured, or nothing to measure; 1 a buffer was misplaced; 2 bad input, a driver error, or GPUs present in a build without GPU support."
    )]
    Gpu(GpuArgs),
    /// The camera -> GPU -> display DMA-BUF pipeline zero-copy against copying: frames/s, CPU per frame, ratios.
    Dmabuf(super::dmabuf::bench::BenchArgs),
}

/// Huge pages for the buffers.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum HugeArg {
    /// hugetlb pages when the pools have enough, else transparent huge pages.
    Auto,
    /// Transparent huge pages.
    Thp,
    /// 2 MiB hugetlb pages (refused when a pool is too small).
    Hugetlb,
    /// Base pages only.
    None,
}

/// What every benchmark takes.
#[derive(Debug, clap::Args)]
pub struct CommonArgs {
    /// Print JSON (schema numakit.bench/1, see docs/bench-json.md).
    #[arg(long)]
    pub json: bool,
    /// Buffer size, e.g. 256M or 1G (default: sized from the last-level cache; see each benchmark).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub size: Option<ByteSize>,
    /// Threads per initiator node, one per CPU (default: all its CPUs).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Timed runs per figure, after one warm-up.
    #[arg(long, value_name = "N")]
    pub repeat: Option<u32>,
    /// Nodes to measure, e.g. 0-1 or all: those with CPUs initiate, those with memory are targets.
    #[arg(long, value_name = "NODES")]
    pub nodes: Option<String>,
    /// Initiator nodes (each must have CPUs this process may use).
    #[arg(long, value_name = "NODES")]
    pub initiators: Option<String>,
    /// Target nodes (each must have memory).
    #[arg(long, value_name = "NODES")]
    pub targets: Option<String>,
    /// Huge pages for the buffers.
    #[arg(long, value_enum, default_value = "auto")]
    pub huge: HugeArg,
    /// Also draw the result as an SVG picture (heatmap, curve or bars) in FILE.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

/// `bench latency`.
#[derive(Debug, clap::Args)]
pub struct LatencyArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Dependent loads per run (default: one pass over the buffer, 2^20 to 2^22).
    #[arg(long, value_name = "N")]
    loads: Option<u64>,
}

/// `bench bandwidth`.
#[derive(Debug, clap::Args)]
pub struct BandwidthArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Kernels, comma separated: read, write, copy, triad, write-nt, copy-nt, triad-nt (default: all).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_kernel)]
    kernel: Option<Vec<Kernel>>,
}

/// `bench loaded-latency`.
#[derive(Debug, clap::Args)]
pub struct LoadedArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Injector delays (spin iterations per 4 KiB read), comma separated, light to heavy.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    delays: Option<Vec<u64>>,
    /// Dependent loads per chase run (default 2^19).
    #[arg(long, value_name = "N")]
    loads: Option<u64>,
}

/// `bench first-touch`.
#[derive(Debug, clap::Args)]
pub struct FirstTouchArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The node whose single thread writes the arrays first (default: the first node with CPUs).
    #[arg(long, value_name = "NODE")]
    init_node: Option<u32>,
    /// The workers' node (default: another node with CPUs).
    #[arg(long, value_name = "NODE")]
    work_node: Option<u32>,
}

/// `bench policy`.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    #[command(flatten)]
    common: CommonArgs,
}

/// `bench weights`.
#[derive(Debug, clap::Args)]
pub struct WeightsArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The kernel measured (default read).
    #[arg(long, value_name = "KERNEL", value_parser = parse_kernel)]
    kernel: Option<Kernel>,
    /// Write the weights to /sys/kernel/mm/mempolicy/weighted_interleave (root only, Linux 6.9+).
    #[arg(long)]
    apply: bool,
}

/// `bench gpu`.
#[derive(Debug, clap::Args)]
pub struct GpuArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// GPUs by driver ordinal, comma separated (default: all).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    gpus: Option<Vec<usize>>,
}

fn parse_size(s: &str) -> Result<ByteSize, String> {
    s.parse::<ByteSize>()
        .map_err(|e| format!("{} (e.g. 64M, 1G, 4096)", e.reason()))
}

fn parse_kernel(s: &str) -> Result<Kernel, String> {
    Kernel::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Kernel::ALL.iter().map(|k| k.name()).collect();
        format!("no kernel {s:?}: use {}", names.join(", "))
    })
}

/// Turns the common arguments into library options.
fn options(c: &CommonArgs, m: &Machine) -> CliResult<Options> {
    let nodes =
        |opt: &str, s: &Option<String>| s.as_deref().map(|s| parse_nodes(opt, s, m)).transpose();
    Ok(Options {
        nodes: nodes("--nodes", &c.nodes)?,
        initiators: nodes("--initiators", &c.initiators)?,
        targets: nodes("--targets", &c.targets)?,
        size: c.size.map(|s| s.bytes()),
        threads: c.threads,
        repeat: c.repeat,
        huge: match c.huge {
            HugeArg::Auto => HugeChoice::Auto,
            HugeArg::Thp => HugeChoice::Transparent,
            HugeArg::Hugetlb => HugeChoice::Hugetlb,
            HugeArg::None => HugeChoice::None,
        },
    })
}

/// What a run needs: the root, the placer over the whole machine, and the
/// progress bar.
struct Ctx {
    root: Root,
    placer: Placer,
    bar: Option<Bar>,
}

impl Ctx {
    fn open(root: Option<PathBuf>) -> CliResult<Ctx> {
        let root = open_root(root)?;
        require_live(&root, LiveAction::Measure)?;
        let m = Machine::discover_parts(&root, Parts::ALL);
        let k = KernelSupport::from_machine(&m);
        Ok(Ctx {
            root,
            placer: Placer::with_backend(m, k, LiveBackend),
            bar: Bar::on_terminal(),
        })
    }

    fn bench(&self) -> CliResult<Bench<'_>> {
        let progress: &dyn Progress = match &self.bar {
            Some(b) => b,
            None => &NoProgress,
        };
        Ok(Bench::new(&self.placer, &self.root, progress)?)
    }

    fn machine(&self) -> &Machine {
        self.placer.machine()
    }
}

/// Runs a benchmark.
pub fn run(root: Option<PathBuf>, cmd: BenchCommand) -> CliResult<u8> {
    match cmd {
        // the DMA-BUF pipeline is `dmabuf`'s: real devices, not memory kernels
        BenchCommand::Dmabuf(a) => super::dmabuf::bench::run_bench(root, a),
        memory => run_memory(root, memory),
    }
}

/// The memory benchmarks, on the machine the root describes.
fn run_memory(root: Option<PathBuf>, cmd: BenchCommand) -> CliResult<u8> {
    let ctx = Ctx::open(root)?;
    let m = ctx.machine();
    match cmd {
        BenchCommand::Latency(a) => {
            let o = LatencyOptions {
                common: options(&a.common, m)?,
                loads: a.loads,
            };
            let r = ctx.bench()?.latency(&o)?;
            finish(&a.common, &r, text::latency(&r, color()), || {
                svg::latency(&r)
            })
        }
        BenchCommand::Bandwidth(a) => {
            let o = BandwidthOptions {
                common: options(&a.common, m)?,
                kernels: a.kernel.clone(),
            };
            let r = ctx.bench()?.bandwidth(&o)?;
            finish(&a.common, &r, text::bandwidth(&r, color()), || {
                svg::bandwidth(&r)
            })
        }
        BenchCommand::LoadedLatency(a) => {
            let o = LoadedOptions {
                common: options(&a.common, m)?,
                delays: a.delays.clone(),
                loads: a.loads,
            };
            let r = ctx.bench()?.loaded_latency(&o)?;
            finish(&a.common, &r, text::loaded(&r, color()), || svg::loaded(&r))
        }
        BenchCommand::FirstTouch(a) => {
            let o = FirstTouchOptions {
                common: options(&a.common, m)?,
                init_node: a.init_node.map(NodeId),
                work_node: a.work_node.map(NodeId),
            };
            let r = ctx.bench()?.first_touch(&o)?;
            finish(&a.common, &r, text::first_touch(&r, color()), || {
                svg::first_touch(&r)
            })
        }
        BenchCommand::Policy(a) => {
            let o = PolicyOptions {
                common: options(&a.common, m)?,
            };
            let r = ctx.bench()?.policy(&o)?;
            finish(&a.common, &r, text::policy(&r, color()), || svg::policy(&r))
        }
        BenchCommand::Weights(a) => weights(&ctx, &a),
        BenchCommand::Gpu(a) => gpu(&ctx, &a),
        BenchCommand::Dmabuf(_) => unreachable!("run gives bench dmabuf to the dmabuf command"),
    }
}

fn color() -> bool {
    output::color_stdout()
}

/// Prints the report (JSON or text), draws the SVG, and picks the exit
/// status: 1 when a buffer was misplaced.
fn finish<T: serde::Serialize>(
    c: &CommonArgs,
    r: &Report<T>,
    text: String,
    svg: impl FnOnce() -> String,
) -> CliResult<u8> {
    if let Some(path) = &c.svg {
        std::fs::write(path, svg())
            .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))?;
    }
    if c.json {
        output::print_json(r)?;
    } else {
        output::print(&text)?;
    }
    Ok(if r.misplaced() {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}

fn weights(ctx: &Ctx, a: &WeightsArgs) -> CliResult<u8> {
    let m = ctx.machine();
    let o = WeightsOptions {
        common: options(&a.common, m)?,
        kernel: a.kernel,
    };
    if a.apply {
        // refuse before measuring: no root, no kernel support, bad nodes
        let plan = numakit_bench::weights::plan(m, &o)?;
        let ones: Vec<(NodeId, u32)> = plan.targets.iter().map(|t| (*t, 1)).collect();
        numakit_placement::weights::plan_weights(m, ctx.placer.kernel(), &ones)?;
        if !numakit_placement::weights::is_root() {
            return Err(numakit_placement::Error::NeedsRoot {
                action: "--apply (the weights are system-wide)".into(),
            }
            .into());
        }
    }
    let r = ctx.bench()?.weights(&o)?;
    let mut out = text::weights(&r, color());
    if a.apply && !r.misplaced() {
        numakit_placement::weights::apply_weights(&ctx.root, &r.result.writes)?;
        out.push_str("applied: the weights above are set\n");
    } else if a.apply {
        out.push_str("not applied: a buffer was not where it was meant to be, so the figures are not the nodes'\n");
    }
    finish(&a.common, &r, out, || svg::weights(&r))
}

fn gpu(ctx: &Ctx, a: &GpuArgs) -> CliResult<u8> {
    let o = GpuOptions {
        common: options(&a.common, ctx.machine())?,
        gpus: a.gpus.clone(),
    };
    let driver = gpu::system_driver();
    let r = ctx.bench()?.gpu(&o, driver.as_ref())?;
    if r.result.status != GpuStatus::Measured {
        if a.common.json {
            output::print_json(&r)?;
        } else {
            output::print(&text::gpu(&r, color()))?;
        }
        return Ok(EXIT_OK);
    }
    finish(&a.common, &r, text::gpu(&r, color()), || svg::gpu(&r))
}
