//! `numakit dmabuf pipeline`: camera → GPU → display in three processes
//! (this program, started again for each stage), zero-copy or copying; the
//! steps of the traced frames compared with the same pipeline on the DMA
//! model. `--model` runs only the model.
//!
//! `--json` prints schema `numakit.dmabuf-pipeline/1` (docs/dmabuf.md).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command};

use numakit_dmabuf::pipeline::model::{self, Mistake, ModelSource};
use numakit_dmabuf::pipeline::trace::{Event, traced_frames};
use numakit_dmabuf::pipeline::{
    Config, FrameSource, Launcher, ModelCheck, Report, Stage, Variant, check_against_model,
    run_stage, socket_dir, stage_stdio,
};
use serde::Serialize;

use super::{num, parse_frame_source, parse_size, print_line, size_error, size_text};
use crate::commands::common::open_root;
use crate::error::{CliError, CliResult};
use crate::output::{print, print_json};

/// `numakit dmabuf pipeline`.
#[derive(Debug, clap::Args)]
pub struct PipelineArgs {
    /// Frames from: heap[:NAME], udmabuf, or camera[:DEVICE] (a V4L2 capture device).
    #[arg(long, default_value = "heap")]
    source: String,
    /// zero-copy (buffers shared as DMA-BUFs) or copy (frames through the sockets).
    #[arg(long, default_value = "zero-copy", value_parser = ["zero-copy", "copy"])]
    variant: String,
    /// Bytes per frame (a camera takes its nearest size).
    #[arg(long, default_value = "1M")]
    size: String,
    /// Frames to run.
    #[arg(long, default_value_t = 60)]
    frames: u64,
    /// Buffers in flight.
    #[arg(long, default_value_t = 4)]
    buffers: u32,
    /// Put the buffers' pages on this NUMA node.
    #[arg(long, value_name = "N")]
    node: Option<u32>,
    /// The DRM device the inference stage imports into.
    #[arg(long, default_value = "/dev/dri/card0")]
    gpu: String,
    /// Seconds to wait for a stage or a frame.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Run the steps on the DMA model only (no devices needed).
    #[arg(long)]
    model: bool,
    /// Print the steps of the traced frames.
    #[arg(long)]
    trace: bool,
    /// Print JSON (schema numakit.dmabuf-pipeline/1).
    #[arg(long)]
    json: bool,
}

/// Starts stages as `numakit dmabuf stage NAME --config JSON`.
pub struct SelfLauncher {
    exe: PathBuf,
}

impl SelfLauncher {
    /// This program.
    pub fn new() -> CliResult<SelfLauncher> {
        let exe = std::env::current_exe().map_err(|e| {
            CliError::new(format!("cannot find this program to start the stages: {e}"))
        })?;
        Ok(SelfLauncher { exe })
    }
}

impl Launcher for SelfLauncher {
    fn launch(&self, stage: Stage, config_json: &str) -> std::io::Result<Child> {
        let (i, o, e) = stage_stdio();
        Command::new(&self.exe)
            .args(["dmabuf", "stage", stage.name(), "--config", config_json])
            .stdin(i)
            .stdout(o)
            .stderr(e)
            .spawn()
    }
}

fn config(a: &PipelineArgs, source: FrameSource, variant: Variant) -> CliResult<Config> {
    let size = parse_size(&a.size).map_err(|w| size_error("--size", w))?;
    let cfg = Config {
        source,
        variant,
        frame_bytes: size,
        frames: a.frames,
        buffers: a.buffers,
        gpu: a.gpu.clone(),
        node: a.node,
        dir: socket_dir(),
        trace_frames: traced_frames(a.frames, a.buffers),
        timeout_secs: a.timeout,
    };
    cfg.validate()?;
    Ok(cfg)
}

#[derive(Serialize)]
struct PipelineJson<'a> {
    schema: &'static str,
    #[serde(flatten)]
    report: &'a Report,
    model: Option<&'a ModelCheck>,
}

/// Runs `numakit dmabuf pipeline`.
pub fn run(root: Option<PathBuf>, a: PipelineArgs) -> CliResult<u8> {
    let root = open_root(root)?;
    let source = parse_frame_source(&a.source).map_err(CliError::new)?;
    let variant = if a.variant == "copy" {
        Variant::Copy
    } else {
        Variant::ZeroCopy
    };
    if a.model {
        return run_model(&a, &source);
    }
    super::alloc::placer(&root, a.node)?;
    let cfg = config(&a, source, variant)?;
    let report = numakit_dmabuf::pipeline::run(&cfg, &SelfLauncher::new()?)?;
    let check = match variant {
        Variant::ZeroCopy => Some(check_against_model(&report)?),
        Variant::Copy => None,
    };
    if a.json {
        print_json(&PipelineJson {
            schema: "numakit.dmabuf-pipeline/1",
            report: &report,
            model: check.as_ref(),
        })?;
    } else {
        print(&render(&report, check.as_ref(), a.trace))?;
    }
    let bad = report.same_buffers == Some(false)
        || report.same_pages == Some(false)
        || report.frames != cfg.frames
        || check
            .as_ref()
            .is_some_and(|c| !c.same_order || !c.findings.is_empty());
    Ok(if bad { 1 } else { 0 })
}

fn run_model(a: &PipelineArgs, source: &FrameSource) -> CliResult<u8> {
    let s = match source {
        FrameSource::Camera(_) => ModelSource::Camera,
        _ => ModelSource::Cpu,
    };
    let frames = traced_frames(a.frames, a.buffers);
    let r = model::run(s, a.frames, a.buffers, &frames, Mistake::None)?;
    if a.json {
        print_json(&r)?;
    } else {
        let mut s = trace_text(&r.trace);
        let _ = writeln!(s, "DMA model: {} findings", r.findings.len());
        for f in &r.findings {
            let _ = writeln!(s, "  {}: {}", f.rule, f.message);
        }
        print(&s)?;
    }
    Ok(if r.findings.is_empty() { 0 } else { 1 })
}

/// `frame 0: camera device-write, camera begin-read, ...` one line per
/// stage and phase.
pub fn trace_text(t: &[Event]) -> String {
    let mut s = String::new();
    let mut cur: Option<(u64, u8)> = None;
    for e in t {
        if cur != Some((e.seq, e.phase)) {
            if cur.is_some() {
                s.push('\n');
            }
            let _ = write!(s, "frame {} buffer {} {}:", e.seq, e.index, e.stage.name());
            cur = Some((e.seq, e.phase));
        }
        let _ = write!(s, " {}", e.step);
    }
    if cur.is_some() {
        s.push('\n');
    }
    s
}

fn render(r: &Report, check: Option<&ModelCheck>, trace: bool) -> String {
    let mut s = String::new();
    let c = &r.config;
    let dev = |st: Stage| {
        r.stages
            .iter()
            .find(|(x, _)| *x == st)
            .and_then(|(_, x)| x.device.clone())
            .unwrap_or_else(|| "?".into())
    };
    let fmt = r
        .stages
        .iter()
        .find_map(|(_, x)| x.format)
        .filter(|f| f.width > 0);
    let shape = fmt
        .map(|f| format!(", {}x{}", f.width, f.height))
        .unwrap_or_default();
    let variant = match c.variant {
        Variant::ZeroCopy => format!("zero-copy, {} buffers", c.buffers),
        Variant::Copy => "copying through sockets".into(),
    };
    let _ = writeln!(
        s,
        "pipeline: {} ({}{shape}) -> inference ({}) -> display; {variant}",
        c.source.describe(),
        dev(Stage::Camera),
        if c.variant == Variant::ZeroCopy {
            c.gpu.clone()
        } else {
            "CPU".into()
        }
    );
    let _ = writeln!(
        s,
        "frames: {} checked by the display; {} measured: {} frames/s, CPU {} ms per frame",
        r.frames,
        r.measured,
        num(r.fps),
        num(r.cpu_ms_per_frame)
    );
    let _ = writeln!(
        s,
        "copies: {} per frame; {} through sockets per frame",
        num(r.copies_per_frame),
        size_text(r.socket_bytes_per_frame as u64)
    );
    if let Some(b) = r.same_buffers {
        let _ = writeln!(s, "buffers: {}", views_text(r, b));
    }
    if let Some(m) = check {
        let _ = writeln!(
            s,
            "steps of frames {:?}: {} the DMA model's; the model's checker found {}",
            c.trace_frames,
            if m.same_order {
                "the same as"
            } else {
                "DIFFERENT from"
            },
            m.findings.len()
        );
    }
    if trace {
        s.push_str(&trace_text(&r.trace));
    }
    s
}

fn views_text(r: &Report, same_ino: bool) -> String {
    let cam = r
        .stages
        .iter()
        .find(|(x, _)| *x == Stage::Camera)
        .map(|(_, x)| x);
    let inodes: Vec<String> = cam.map_or(Vec::new(), |c| {
        c.buffers.iter().map(|b| b.inode.to_string()).collect()
    });
    let pages = match r.same_pages {
        Some(true) => "the same physical pages in every process".to_string(),
        Some(false) => "DIFFERENT physical pages".to_string(),
        None => "physical pages not compared (frame numbers hidden)".to_string(),
    };
    let mut nodes = std::collections::BTreeMap::<u32, u64>::new();
    for b in cam.map_or(&[][..], |c| &c.buffers[..]) {
        for (n, c) in b
            .frames
            .as_ref()
            .map(|f| f.by_node.clone())
            .unwrap_or_default()
        {
            *nodes.entry(n).or_default() += c;
        }
    }
    let nodes: Vec<String> = nodes
        .iter()
        .map(|(n, c)| format!("node {n}: {c} pages"))
        .collect();
    format!(
        "DMA-BUFs {}: {} in all three processes; {pages}{}",
        inodes.join(", "),
        if same_ino {
            "the same inodes"
        } else {
            "NOT the same inodes"
        },
        if nodes.is_empty() {
            String::new()
        } else {
            format!("; {}", nodes.join(", "))
        }
    )
}

/// Runs one stage (`numakit dmabuf stage`): its report on stdout.
pub fn stage(name: &str, config: &str) -> CliResult<u8> {
    let stage = Stage::parse(name).ok_or_else(|| {
        CliError::new(format!(
            "'{name}' is not a stage: camera, inference or display"
        ))
    })?;
    let line = run_stage(stage, config)?;
    print_line(&line)
}
