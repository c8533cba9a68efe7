//! `--near` for GPU workers: the device a worker's framework will use (by
//! `cuda:N`, `rocm:N`, UUID, or the launcher's rank), the CPU node to run
//! on, and which slice of it this rank gets.
//!
//! [`resolve_near`] turns a [`NearSpec`] into a [`NearResolution`]; its
//! device goes into [`RunRequest::near_device`](crate::RunRequest) and its
//! share into [`RunRequest::share`](crate::RunRequest), which
//! [`RunRequest::validate`](crate::RunRequest::validate) turns into CPUs and
//! a memory policy. [`bind_near`] does all of it for the calling thread.
//!
//! # The node to run on
//!
//! A device's node may hold no CPUs: a GPU memory node (Grace Hopper), a
//! CXL or HBM node. CPUs then come from the nearest node that has CPUs (by
//! SLIT distance, the lower id on a tie), and the plan says so; memory still
//! goes to the device's node, or to the GPU's own memory node with
//! [`NearMemory::Gpu`].
//!
//! # `auto` and `--share auto`
//!
//! `auto` takes the launcher's local rank ([`crate::launcher`]) as an index
//! into the GPUs the framework would list (CUDA when the machine has NVIDIA
//! GPUs, ROCm for AMD ones): rank `i` gets GPU `i`. When only one GPU is
//! listed (the launcher gave each rank its own `CUDA_VISIBLE_DEVICES`), every
//! rank takes that one.
//!
//! `--share auto` gives this rank an exclusive slice of its node's CPUs
//! ([`crate::slice`]). With `auto` and a list every rank shares, numakit
//! works out every local rank's GPU, and the ranks whose GPUs sit on this
//! rank's node split that node: rank 2 of ranks 2 and 3 on node 1 gets
//! slice 0 of 2. Otherwise the local rank and size are the slice: `K/N`.

use std::fmt;
use std::str::FromStr;

use numakit_root::Root;
use numakit_topo::Machine;
use numakit_topo::gpu::{Framework, GpuChoice, GpuSpec, NearSpec, Visible, order, spec};
use numakit_topo::locate::{DeviceSpec, ResolvedDevice};
use numakit_topo::pci::NodeSource;
use numakit_types::NodeId;
use serde::Serialize;

use crate::backend::LiveBackend;
use crate::fallback::{Fallback, Step};
use crate::launcher::{EnvVars, LocalRank, local_rank};
use crate::slice::Share;
use crate::{Error, KernelSupport, Plan, Result, RunRequest};

/// Where memory goes with `--near`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NearMemory {
    /// The device's NUMA node (`--mem node`, the default).
    #[default]
    Node,
    /// The GPU's own memory node, on coherent systems (`--mem gpu`).
    Gpu,
}

impl FromStr for NearMemory {
    type Err = Error;
    fn from_str(s: &str) -> Result<NearMemory> {
        match s {
            "node" => Ok(NearMemory::Node),
            "gpu" => Ok(NearMemory::Gpu),
            _ => Err(Error::BadChoice {
                option: "--mem",
                value: s.to_string(),
                expected: "node or gpu",
            }),
        }
    }
}

/// `--share`: a fixed slice, or one worked out from the launcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareRequest {
    /// `--share auto`.
    Auto,
    /// `--share K/N`.
    Slice(Share),
}

impl FromStr for ShareRequest {
    type Err = Error;
    fn from_str(s: &str) -> Result<ShareRequest> {
        if s == "auto" {
            return Ok(ShareRequest::Auto);
        }
        s.parse().map(ShareRequest::Slice)
    }
}

/// The slice this rank gets, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShareChoice {
    /// The slice.
    pub share: Share,
    /// One line saying how it was worked out.
    pub how: String,
}

/// What `--near` resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NearResolution {
    /// The device and its node.
    pub device: ResolvedDevice,
    /// Where the device's node came from.
    pub node_source: NodeSource,
    /// How the name became this device, one line.
    pub how: String,
    /// The GPU choice, when the name was a GPU's.
    pub gpu: Option<GpuChoice>,
    /// The launcher's rank, when `auto` or `--share auto` used it.
    pub rank: Option<LocalRank>,
    /// This rank's slice, with `--share`.
    pub share: Option<ShareChoice>,
    /// What may make the choice differ from the framework's.
    pub warnings: Vec<String>,
}

impl NearResolution {
    /// How the framework's list was derived where that is not obvious
    /// (entries the framework ignores, orders assumed).
    pub fn notes(&self) -> &[String] {
        self.gpu
            .as_ref()
            .and_then(|g| g.visible.as_ref())
            .map_or(&[], |v| &v.notes)
    }
}

/// The node whose CPUs serve `node`: itself when it has CPUs, else the
/// nearest node with CPUs (lower id on a tie); `None` when no node has
/// CPUs or the distances are unknown.
/// (`Machine::cpu_node_near`).
pub fn cpu_node(m: &Machine, node: NodeId) -> Option<NodeId> {
    m.cpu_node_near(node)
}

fn need_rank(rank: &Option<LocalRank>, what: &'static str) -> Result<LocalRank> {
    rank.clone().ok_or(Error::NoLauncherRank { what })
}

/// Resolves `spec` (and `share`) on `m` in the environment `env`.
pub fn resolve_near(
    spec: &NearSpec,
    share: Option<ShareRequest>,
    m: &Machine,
    root: Option<&Root>,
    env: &EnvVars,
) -> Result<NearResolution> {
    let uses_rank = matches!(spec, NearSpec::Auto) || share == Some(ShareRequest::Auto);
    let rank = if uses_rank { local_rank(env)? } else { None };
    let gpu = match spec {
        NearSpec::Device(_) => None,
        NearSpec::Gpu(GpuSpec::Cuda(n)) => {
            let v = visible_for(m, Framework::Cuda, env, root);
            Some(spec::pick(v, *n as usize, format!("cuda:{n}"))?)
        }
        NearSpec::Gpu(g) => Some(g.resolve(m, &env.gpu())?),
        NearSpec::Auto => Some(auto_gpu(m, env, root, &need_rank(&rank, "--near auto")?)?),
    };
    let dspec = match (&gpu, spec) {
        (None, NearSpec::Device(d)) => d.clone(),
        (Some(g), _) => DeviceSpec::Pci(g.address),
        (None, _) => {
            return Err(Error::NoLauncherRank {
                what: "--near auto",
            });
        }
    };
    let device = dspec.resolve(m, root)?;
    let node_source = m
        .pci_device(device.address)
        .map_or(NodeSource::Unknown, |d| d.numa_node_source);
    let how = gpu
        .as_ref()
        .map_or_else(|| format!("{spec} = {}", device.address), |g| g.how.clone());
    let share = match share {
        None => None,
        Some(ShareRequest::Slice(s)) => Some(ShareChoice {
            share: s,
            how: format!("slice {} of {} (--share {s})", s.index, s.count),
        }),
        Some(ShareRequest::Auto) => {
            let r = need_rank(&rank, "--share auto")?;
            let v = match spec {
                NearSpec::Auto => spec::framework_of(m)
                    .ok()
                    .map(|fw| visible_for(m, fw, env, root)),
                _ => None,
            };
            Some(auto_share(m, v, &device, &r)?)
        }
    };
    let warnings = gpu
        .as_ref()
        .map(|g| g.warnings().to_vec())
        .unwrap_or_default();
    Ok(NearResolution {
        device,
        node_source,
        how,
        gpu,
        rank,
        share,
        warnings,
    })
}

/// The GPU of local rank `r`: GPU `r` of the framework's list, or its only
/// GPU.
/// The GPUs `fw` would list: from the CUDA driver itself when built with
/// the `cuda` feature and reading the running system (falling back, with a
/// note, when there is no driver), else worked out from the machine.
fn visible_for(m: &Machine, fw: Framework, env: &EnvVars, root: Option<&Root>) -> Visible {
    #[cfg(feature = "cuda")]
    if fw == Framework::Cuda && root.is_some_and(Root::is_live) {
        match numakit_sys::cuda::visible_pci_bus_ids() {
            Ok(ids) => return order::from_driver(fw, &env.gpu(), &ids),
            Err(e) => {
                let mut v = order::visible(m, fw, &env.gpu());
                v.notes
                    .push(format!("{e}: numakit worked CUDA's list out itself"));
                return v;
            }
        }
    }
    let _ = root;
    order::visible(m, fw, &env.gpu())
}

fn auto_gpu(m: &Machine, env: &EnvVars, root: Option<&Root>, r: &LocalRank) -> Result<GpuChoice> {
    let fw = spec::framework_of(m)?;
    let v = visible_for(m, fw, env, root);
    let one = v.devices.len() == 1;
    let ordinal = if one { 0 } else { r.rank as usize };
    let mut c = spec::pick(v, ordinal, format!("{fw}:{ordinal}"))?;
    c.how = if one && r.rank > 0 {
        format!("auto: {r}, the only GPU {fw} would list: {}", c.how)
    } else {
        format!("auto: {r}: {}", c.how)
    };
    c.spec = format!("auto ({})", c.spec);
    Ok(c)
}

/// `--share auto` (see the module documentation). `shared` is the GPU list
/// every rank picks from, with `--near auto`.
fn auto_share(
    m: &Machine,
    shared: Option<Visible>,
    device: &ResolvedDevice,
    r: &LocalRank,
) -> Result<ShareChoice> {
    let size = r.size.ok_or(Error::NoLocalSize { from: r.from })?;
    let mine = cpu_node(m, device.node).unwrap_or(device.node);
    if let Some(v) = shared.filter(|v| v.devices.len() > 1) {
        let on_mine: Vec<u32> = (0..size)
            .filter(|&k| {
                spec::pick(v.clone(), k as usize, String::new())
                    .ok()
                    .and_then(|c| m.pci_device(c.address)?.numa_node)
                    .and_then(|n| cpu_node(m, n))
                    == Some(mine)
            })
            .collect();
        if let Some(index) = on_mine.iter().position(|&k| k == r.rank) {
            let share = Share {
                index: index as u32,
                count: on_mine.len() as u32,
            };
            let ranks: Vec<String> = on_mine.iter().map(u32::to_string).collect();
            let who = match ranks.as_slice() {
                [one] => {
                    format!("local rank {one} of {size} is the only one with a GPU on node {mine}")
                }
                _ => format!(
                    "local ranks {} of {size} use GPUs on node {mine}",
                    ranks.join(",")
                ),
            };
            let how = format!(
                "slice {index} of {} of node {mine}'s CPUs: {who}",
                share.count
            );
            return Ok(ShareChoice { share, how });
        }
    }
    let share = Share {
        index: r.rank,
        count: size,
    };
    Ok(ShareChoice {
        share,
        how: format!("slice {} of {size}: {r}", r.rank),
    })
}

impl fmt::Display for ShareChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.how)
    }
}

/// What to bind near, for [`bind_near`] and [`NearRequest::plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NearRequest {
    /// The device, GPU or `auto`.
    pub spec: NearSpec,
    /// A CPU slice for this rank, if any.
    pub share: Option<ShareRequest>,
    /// Where memory goes.
    pub memory: NearMemory,
    /// How far a refused binding may step down.
    pub fallback: Fallback,
}

impl NearRequest {
    /// A request for `spec`: the device's node for CPUs and memory, no
    /// slice, no stepping down.
    pub fn new(spec: NearSpec) -> NearRequest {
        NearRequest {
            spec,
            share: None,
            memory: NearMemory::Node,
            fallback: Fallback::Strict,
        }
    }

    /// Resolves and validates the request on `m` in `env` (nothing is
    /// applied).
    pub fn plan(
        &self,
        m: &Machine,
        root: Option<&Root>,
        env: &EnvVars,
        kernel: &KernelSupport,
    ) -> Result<(NearResolution, Plan)> {
        let res = resolve_near(&self.spec, self.share, m, root, env)?;
        let req = RunRequest {
            near_device: Some(res.device.clone()),
            share: res.share.as_ref().map(|s| s.share),
            near_memory: self.memory,
            fallback: self.fallback,
            ..Default::default()
        };
        let plan = req.validate_with_root(m, kernel, root)?;
        Ok((res, plan))
    }
}

/// What [`bind_near`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NearBinding {
    /// How the device and slice were found.
    pub resolution: NearResolution,
    /// What was applied.
    pub plan: Plan,
    /// Bindings the kernel refused and that were stepped down.
    pub steps: Vec<Step>,
}

/// Binds the calling thread near a device, as `numakit run --near` binds a
/// command: reads the running machine and this process's environment
/// (launcher rank, `CUDA_VISIBLE_DEVICES`...), then sets the thread's CPU
/// affinity and memory policy, which threads it starts afterwards inherit.
/// Call it before starting worker threads or allocating the memory that
/// should be near the device.
///
/// # Example
/// ```no_run
/// use numakit_placement::near::{NearRequest, bind_near};
/// let b = bind_near(&NearRequest::new("cuda:0".parse().unwrap())).unwrap();
/// eprintln!("{}: CPUs {:?}", b.resolution.how, b.plan.cpus);
/// ```
pub fn bind_near(req: &NearRequest) -> Result<NearBinding> {
    let root = Root::live();
    let m = Machine::discover(&root);
    let kernel = KernelSupport::from_machine(&m);
    let (resolution, plan) = req.plan(&m, Some(&root), &EnvVars::from_process(), &kernel)?;
    let steps = plan.apply_stepping(&LiveBackend)?;
    Ok(NearBinding {
        resolution,
        plan,
        steps,
    })
}
