//! `numakit bench dmabuf`: the camera → GPU → display pipeline zero-copy
//! and copying, for each frame size and source, with the same work per
//! frame in both (the producer fills or receives every byte, each consumer
//! checks the checksum); frames per second and CPU time per frame, and the
//! ratios. It measures; `scripts/bench-dmabuf.sh` runs it in the VM.
//!
//! `--json` prints schema `numakit.bench-dmabuf/1` (docs/dmabuf.md).

use std::fmt::Write as _;
use std::path::PathBuf;

use numakit_dmabuf::pipeline::trace::traced_frames;
use numakit_dmabuf::pipeline::{Config, FrameSource, Report, Variant, run, socket_dir};
use serde::Serialize;

use super::pipeline::SelfLauncher;
use super::{num, parse_frame_source, parse_size, size_error, size_text};
use crate::commands::common::open_root;
use crate::error::{CliError, CliResult};
use crate::output::{print, print_json};

/// `numakit bench dmabuf`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Frame sizes, comma separated.
    #[arg(long, default_value = "1M,8M")]
    sizes: String,
    /// Frame sources, comma separated: heap[:NAME], udmabuf, camera[:DEVICE].
    #[arg(long, default_value = "heap,camera")]
    sources: String,
    /// Frames per run (the first few, while buffers are set up, are not measured).
    #[arg(long, default_value_t = 100)]
    frames: u64,
    /// Buffers in flight (zero-copy).
    #[arg(long, default_value_t = 4)]
    buffers: u32,
    /// Put the buffers' pages on this NUMA node.
    #[arg(long, value_name = "N")]
    node: Option<u32>,
    /// The DRM device the inference stage imports into.
    #[arg(long, default_value = "/dev/dri/card0")]
    gpu: String,
    /// Seconds to wait for a stage or a frame.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Print JSON (schema numakit.bench-dmabuf/1).
    #[arg(long)]
    json: bool,
}

/// One run's numbers.
#[derive(Debug, Serialize)]
struct Numbers {
    frames: u64,
    measured: u64,
    fps: f64,
    cpu_ms_per_frame: f64,
    copies_per_frame: f64,
    socket_bytes_per_frame: f64,
    same_pages: Option<bool>,
}

impl From<&Report> for Numbers {
    fn from(r: &Report) -> Numbers {
        Numbers {
            frames: r.frames,
            measured: r.measured,
            fps: r.fps,
            cpu_ms_per_frame: r.cpu_ms_per_frame,
            copies_per_frame: r.copies_per_frame,
            socket_bytes_per_frame: r.socket_bytes_per_frame,
            same_pages: r.same_pages,
        }
    }
}

/// Zero-copy against copying for one source and size.
#[derive(Debug, Serialize)]
struct Pair {
    source: String,
    frame_bytes: u64,
    zero_copy: Numbers,
    copy: Numbers,
    /// Zero-copy frames/s over copying frames/s.
    fps_ratio: f64,
    /// Zero-copy CPU per frame over copying CPU per frame.
    cpu_ratio: f64,
}

#[derive(Debug, Serialize)]
struct BenchReport {
    schema: &'static str,
    pairs: Vec<Pair>,
}

/// Runs `numakit bench dmabuf`.
pub fn run_bench(root: Option<PathBuf>, a: BenchArgs) -> CliResult<u8> {
    let root = open_root(root)?;
    super::alloc::placer(&root, a.node)?;
    let sizes = a
        .sizes
        .split(',')
        .map(|s| parse_size(s).map_err(|w| size_error("--sizes", w)))
        .collect::<CliResult<Vec<u64>>>()?;
    let sources = a
        .sources
        .split(',')
        .map(|s| parse_frame_source(s).map_err(CliError::new))
        .collect::<CliResult<Vec<FrameSource>>>()?;
    let launcher = SelfLauncher::new()?;
    let mut pairs = Vec::new();
    for src in &sources {
        for &size in &sizes {
            let mut runs = Vec::new();
            for v in [Variant::ZeroCopy, Variant::Copy] {
                let cfg = Config {
                    source: src.clone(),
                    variant: v,
                    frame_bytes: size,
                    frames: a.frames,
                    buffers: a.buffers,
                    gpu: a.gpu.clone(),
                    node: a.node,
                    dir: socket_dir(),
                    trace_frames: traced_frames(0, a.buffers),
                    timeout_secs: a.timeout,
                };
                runs.push(run(&cfg, &launcher)?);
            }
            pairs.push(pair(src, size, &runs[0], &runs[1]));
        }
    }
    let report = BenchReport {
        schema: "numakit.bench-dmabuf/1",
        pairs,
    };
    if a.json {
        print_json(&report)?;
    } else {
        print(&render(&report))?;
    }
    Ok(0)
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

fn pair(src: &FrameSource, size: u64, z: &Report, c: &Report) -> Pair {
    Pair {
        source: src.describe(),
        frame_bytes: z
            .stages
            .iter()
            .find_map(|(_, s)| s.format)
            .filter(|f| f.width > 0)
            .map_or(size & !7, |f| f.stride as u64 * f.height as u64),
        zero_copy: z.into(),
        copy: c.into(),
        fps_ratio: ratio(z.fps, c.fps),
        cpu_ratio: ratio(z.cpu_ms_per_frame, c.cpu_ms_per_frame),
    }
}

fn render(r: &BenchReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<22} {:>9}  {:<10} {:>9} {:>13} {:>7} {:>11}",
        "source", "frame", "variant", "frames/s", "CPU ms/frame", "copies", "socket B/f"
    );
    for p in &r.pairs {
        for (name, n) in [("zero-copy", &p.zero_copy), ("copy", &p.copy)] {
            let _ = writeln!(
                s,
                "{:<22} {:>9}  {:<10} {:>9} {:>13} {:>7} {:>11}",
                p.source,
                size_text(p.frame_bytes),
                name,
                num(n.fps),
                num(n.cpu_ms_per_frame),
                num(n.copies_per_frame),
                n.socket_bytes_per_frame.round()
            );
        }
        let _ = writeln!(
            s,
            "{:<22} {:>9}  {:<10} {:>8}x {:>12}x",
            p.source,
            size_text(p.frame_bytes),
            "ratio",
            num(p.fps_ratio),
            num(p.cpu_ratio)
        );
    }
    s
}
