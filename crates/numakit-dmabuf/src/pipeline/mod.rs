//! Camera → GPU → display in three processes, with one set of buffers
//! shared as DMA-BUFs (zero-copy) or with every frame copied through Unix
//! sockets (for comparison), and the same steps run on the DMA model.
//!
//! Zero-copy: the camera stage produces each frame in a buffer (a V4L2
//! camera fills it, or the stage fills a heap buffer), checksums it inside a
//! read access, and sends the frame's number and checksum; the buffer's
//! descriptor goes with its first frame. The inference stage imports each
//! buffer into the DRM device (PRIME), maps it, puts the GPU's read fence
//! on it, reads and checks the frame inside a read access, signals the
//! fence and passes the frame on. The display stage maps the buffer, checks
//! the frame and hands the buffer back to the camera, which waits for the
//! buffer's fences (a sync file) before the device writes it again.
//!
//! Copying: the same stages, and the same work per frame (the producer
//! fills or receives every byte, each consumer checks the checksum), but
//! the bytes travel through the sockets: two copies per hop.
//!
//! A pipeline runs its stages as separate processes started by a
//! [`Launcher`]; [`run_stage`] is what each of them runs.

mod copying;
pub mod model;
mod stages;
pub mod trace;

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::pages::Frames;
use crate::pass::FrameFormat;
use trace::Event;

/// Where frames come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "from")]
pub enum FrameSource {
    /// A DMA-BUF heap's buffers, filled by the camera stage's CPU.
    Heap(String),
    /// udmabuf buffers, filled by the camera stage's CPU.
    Udmabuf,
    /// A V4L2 capture device's own buffers (`VIDIOC_EXPBUF`).
    Camera(String),
}

impl FrameSource {
    /// `heap system`, `udmabuf`, `camera /dev/video0`.
    pub fn describe(&self) -> String {
        match self {
            FrameSource::Heap(h) => format!("heap {h}"),
            FrameSource::Udmabuf => "udmabuf".into(),
            FrameSource::Camera(c) => format!("camera {c}"),
        }
    }
}

/// Zero-copy or copying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// Buffers shared as DMA-BUFs.
    ZeroCopy,
    /// Frames copied through the sockets.
    Copy,
}

/// A pipeline stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Produces frames.
    Camera,
    /// Imports them into the GPU and reads them.
    Inference,
    /// Checks them and hands the buffers back.
    Display,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 3] = [Stage::Camera, Stage::Inference, Stage::Display];

    /// `camera`, `inference`, `display`.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Camera => "camera",
            Stage::Inference => "inference",
            Stage::Display => "display",
        }
    }

    /// The stage named `s`.
    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// A pipeline to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Frame source.
    pub source: FrameSource,
    /// Zero-copy or copying.
    pub variant: Variant,
    /// Bytes per frame wanted (a camera takes its nearest size).
    pub frame_bytes: u64,
    /// Frames to run.
    pub frames: u64,
    /// Buffers in flight.
    pub buffers: u32,
    /// The DRM device the inference stage imports into (zero-copy).
    pub gpu: String,
    /// Node for the buffers' pages.
    pub node: Option<u32>,
    /// Directory for the sockets.
    pub dir: PathBuf,
    /// Frames whose steps are recorded.
    pub trace_frames: Vec<u64>,
    /// Seconds to wait for a peer or a frame.
    pub timeout_secs: u64,
}

impl Config {
    /// Checks the numbers before anything starts.
    pub fn validate(&self) -> Result<()> {
        if self.frames == 0 {
            return Err(Error::Invalid("a pipeline needs at least one frame".into()));
        }
        if !(1..=32).contains(&self.buffers) {
            return Err(Error::Invalid(format!(
                "{} buffers: use 1 to 32",
                self.buffers
            )));
        }
        if self.frame_bytes < 4096 || self.frame_bytes > 64 << 20 {
            return Err(Error::Invalid(format!(
                "{} bytes per frame: use 4 KiB to 64 MiB",
                self.frame_bytes
            )));
        }
        if self.timeout_secs == 0 {
            return Err(Error::Invalid("the timeout must be at least 1 s".into()));
        }
        Ok(())
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// Frames before the measured part (buffer set-up happens in them).
    pub fn warmup(&self) -> u64 {
        (self.buffers as u64).min(self.frames / 4)
    }
}

/// What one buffer looked like from one stage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BufferView {
    /// Index.
    pub index: u32,
    /// Inode of the DMA-BUF as this process sees it.
    pub inode: u64,
    /// Size.
    pub size: u64,
    /// Physical pages (fingerprint, nodes).
    pub frames: Option<FramesView>,
}

/// The part of [`Frames`] stages report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FramesView {
    /// Fingerprint of the frame list (`None` when not every frame is known).
    pub fingerprint: Option<String>,
    /// First frame number.
    pub first_pfn: Option<u64>,
    /// Pages per node.
    pub by_node: std::collections::BTreeMap<u32, u64>,
    /// Pages whose frame was hidden.
    pub hidden: u64,
}

impl From<Frames> for FramesView {
    fn from(f: Frames) -> FramesView {
        FramesView {
            fingerprint: f.fingerprint,
            first_pfn: f.first_pfn,
            by_node: f.by_node,
            hidden: f.hidden,
        }
    }
}

/// What a stage did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageReport {
    /// Process id.
    pub pid: u32,
    /// Frames handled.
    pub frames: u64,
    /// Frames whose checksum this stage checked and found right.
    pub checked: u64,
    /// Frame copies this stage made (through a socket, either way).
    pub copies: u64,
    /// Bytes this stage sent through sockets.
    pub socket_bytes: u64,
    /// CPU time (user + system) over the measured frames, nanoseconds.
    pub cpu_ns: u64,
    /// Monotonic clock when the measured frames started (camera) or ended
    /// (display), nanoseconds.
    pub clock_ns: u64,
    /// Driver or heap that made the buffers (`vivid`, `system`) or that
    /// imported them (`vgem`).
    pub device: Option<String>,
    /// The frame layout.
    pub format: Option<FrameFormat>,
    /// Buffers as this process saw them.
    pub buffers: Vec<BufferView>,
    /// Recorded steps.
    pub trace: Vec<Event>,
}

/// Starts a stage process: runs [`run_stage`] with the stage and the
/// configuration as JSON, with stdout piped (its report).
pub trait Launcher {
    /// Starts `stage` with `config_json`.
    fn launch(&self, stage: Stage, config_json: &str) -> std::io::Result<Child>;
}

/// Runs one stage in this process and returns its report as one line of
/// JSON (what the launcher's process prints on stdout).
pub fn run_stage(stage: Stage, config_json: &str) -> Result<String> {
    let cfg: Config = serde_json::from_str(config_json)
        .map_err(|e| Error::Invalid(format!("bad stage configuration: {e}")))?;
    cfg.validate()?;
    let report = match (cfg.variant, stage) {
        (Variant::ZeroCopy, Stage::Camera) => stages::camera(&cfg)?,
        (Variant::ZeroCopy, Stage::Inference) => stages::inference(&cfg)?,
        (Variant::ZeroCopy, Stage::Display) => stages::display(&cfg)?,
        (Variant::Copy, Stage::Camera) => copying::camera(&cfg)?,
        (Variant::Copy, Stage::Inference) => copying::inference(&cfg)?,
        (Variant::Copy, Stage::Display) => copying::display(&cfg)?,
    };
    serde_json::to_string(&report).map_err(|e| Error::Invalid(format!("stage report: {e}")))
}

/// The result of a pipeline run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The configuration.
    pub config: Config,
    /// Frames through all three stages, checked by the display.
    pub frames: u64,
    /// Frames measured (after the warm-up).
    pub measured: u64,
    /// Seconds for the measured frames.
    pub seconds: f64,
    /// Measured frames per second.
    pub fps: f64,
    /// CPU time of the three processes per measured frame, milliseconds.
    pub cpu_ms_per_frame: f64,
    /// Frame copies per frame, all stages together.
    pub copies_per_frame: f64,
    /// Bytes through sockets per frame, all stages together.
    pub socket_bytes_per_frame: f64,
    /// Zero-copy: every stage saw the same inode for each buffer.
    pub same_buffers: Option<bool>,
    /// Zero-copy: every stage mapped the same physical pages for each
    /// buffer (`None` when the frames were hidden or not compared).
    pub same_pages: Option<bool>,
    /// The stages' reports.
    pub stages: Vec<(Stage, StageReport)>,
    /// The merged steps of the traced frames.
    pub trace: Vec<Event>,
}

/// Runs the pipeline: starts the three stages, waits for them, and puts
/// their reports together. The first stage that fails is the error (the
/// others are stopped).
pub fn run(cfg: &Config, launcher: &dyn Launcher) -> Result<Report> {
    cfg.validate()?;
    std::fs::create_dir_all(&cfg.dir)
        .map_err(|e| Error::io(format!("creating {}", cfg.dir.display()), e))?;
    let json = serde_json::to_string(cfg).map_err(|e| Error::Invalid(e.to_string()))?;
    let mut children = Vec::new();
    for stage in Stage::ALL {
        match launcher.launch(stage, &json) {
            Ok(c) => children.push((stage, c)),
            Err(e) => {
                stop_all(&mut children);
                return Err(Error::io(format!("starting the {} stage", stage.name()), e));
            }
        }
    }
    let outcome = collect(children);
    let _ = std::fs::remove_dir_all(&cfg.dir);
    let reports = outcome?;
    Ok(summarize(cfg, reports))
}

fn stop_all(children: &mut [(Stage, Child)]) {
    for (_, c) in children.iter_mut() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// A stage process and the threads reading its output.
struct Running {
    stage: Stage,
    child: Child,
    out: std::thread::JoinHandle<Vec<u8>>,
    err: std::thread::JoinHandle<Vec<u8>>,
    status: Option<std::process::ExitStatus>,
    /// Stopped by the pipeline after another stage failed.
    killed: bool,
}

fn reader(p: Option<impl std::io::Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(mut p) = p {
            let _ = p.read_to_end(&mut v);
        }
        v
    })
}

/// Waits for every stage. When one fails the others are stopped, and its
/// own error (the first line of its stderr) is the pipeline's.
fn collect(children: Vec<(Stage, Child)>) -> Result<Vec<(Stage, StageReport)>> {
    let mut run: Vec<Running> = children
        .into_iter()
        .map(|(stage, mut child)| Running {
            stage,
            out: reader(child.stdout.take()),
            err: reader(child.stderr.take()),
            child,
            status: None,
            killed: false,
        })
        .collect();
    let mut failed_at: Option<std::time::Instant> = None;
    while run.iter().any(|r| r.status.is_none()) {
        for r in run.iter_mut().filter(|r| r.status.is_none()) {
            if let Ok(Some(st)) = r.child.try_wait() {
                r.status = Some(st);
                if !st.success() {
                    failed_at.get_or_insert_with(std::time::Instant::now);
                }
            }
        }
        // the others get a moment to fail on their own (and say why), then
        // they are stopped
        if failed_at.is_some_and(|t| t.elapsed() > Duration::from_millis(300)) {
            for r in run.iter_mut().filter(|r| r.status.is_none()) {
                let _ = r.child.kill();
                r.status = r.child.wait().ok();
                r.killed = true;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for r in run {
        let out = r.out.join().unwrap_or_default();
        let err = r.err.join().unwrap_or_default();
        if r.status.is_some_and(|s| s.success()) {
            let text = String::from_utf8_lossy(&out);
            let rep: StageReport = serde_json::from_str(text.trim()).map_err(|e| {
                Error::Invalid(format!("the {} stage's report: {e}", r.stage.name()))
            })?;
            reports.push((r.stage, rep));
        } else if !r.killed {
            errors.push(stage_error(r.stage, r.status, &err));
        }
    }
    if errors.is_empty() {
        return if reports.len() == Stage::ALL.len() {
            Ok(reports)
        } else {
            Err(Error::Invalid(
                "a stage was stopped without an error".into(),
            ))
        };
    }
    // the cause, not its echo: a stage that failed because another went away
    let echo = |e: &Error| matches!(e, Error::StageFailed { why, .. } if why.contains("closed the connection"));
    let i = errors.iter().position(|e| !echo(e)).unwrap_or(0);
    Err(errors.swap_remove(i))
}

fn stage_error(stage: Stage, status: Option<std::process::ExitStatus>, stderr: &[u8]) -> Error {
    let err = String::from_utf8_lossy(stderr);
    let line = err
        .lines()
        .find(|l| !l.starts_with("hint:"))
        .unwrap_or("")
        .trim();
    let line = line.strip_prefix("numakit: ").unwrap_or(line);
    let why = match (line.is_empty(), status) {
        (false, _) => line.to_string(),
        (true, Some(st)) => format!("it ended with {st}"),
        (true, None) => "it did not end".into(),
    };
    Error::StageFailed {
        stage: stage.name(),
        why,
        status: if status.and_then(|s| s.code()) == Some(1) {
            1
        } else {
            2
        },
        hint: err
            .lines()
            .find_map(|l| l.strip_prefix("hint: "))
            .map(str::to_string),
    }
}

fn summarize(cfg: &Config, stages: Vec<(Stage, StageReport)>) -> Report {
    let get = |s: Stage| stages.iter().find(|(x, _)| *x == s).map(|(_, r)| r);
    let frames = get(Stage::Display).map_or(0, |r| r.checked);
    let measured = frames.saturating_sub(cfg.warmup());
    let start = get(Stage::Camera).map_or(0, |r| r.clock_ns);
    let end = get(Stage::Display).map_or(0, |r| r.clock_ns);
    let seconds = end.saturating_sub(start) as f64 / 1e9;
    let per = |v: u64| {
        if measured > 0 {
            v as f64 / measured as f64
        } else {
            0.0
        }
    };
    let cpu: u64 = stages.iter().map(|(_, r)| r.cpu_ns).sum();
    let copies: u64 = stages.iter().map(|(_, r)| r.copies).sum();
    let sock: u64 = stages.iter().map(|(_, r)| r.socket_bytes).sum();
    let (same_buffers, same_pages) = compare_views(cfg, &stages);
    let trace = trace::merge(stages.iter().flat_map(|(_, r)| r.trace.clone()).collect());
    Report {
        config: cfg.clone(),
        frames,
        measured,
        seconds,
        fps: if seconds > 0.0 {
            measured as f64 / seconds
        } else {
            0.0
        },
        cpu_ms_per_frame: per(cpu) / 1e6,
        copies_per_frame: if frames > 0 {
            copies as f64 / frames as f64
        } else {
            0.0
        },
        socket_bytes_per_frame: if frames > 0 {
            sock as f64 / frames as f64
        } else {
            0.0
        },
        same_buffers,
        same_pages,
        stages,
        trace,
    }
}

/// Zero-copy: whether each buffer index had one inode, and one frame
/// fingerprint, in every stage.
fn compare_views(cfg: &Config, stages: &[(Stage, StageReport)]) -> (Option<bool>, Option<bool>) {
    if cfg.variant != Variant::ZeroCopy {
        return (None, None);
    }
    let cam = match stages.iter().find(|(s, _)| *s == Stage::Camera) {
        Some((_, r)) => &r.buffers,
        None => return (None, None),
    };
    let mut same_ino = true;
    let (mut mismatch, mut unknown) = (false, false);
    let fp = |v: &BufferView| v.frames.as_ref().and_then(|f| f.fingerprint.clone());
    for b in cam {
        for (_, r) in stages {
            let Some(o) = r.buffers.iter().find(|x| x.index == b.index) else {
                continue;
            };
            same_ino &= o.inode == b.inode;
            match (fp(b), fp(o)) {
                (Some(x), Some(y)) => mismatch |= x != y,
                _ => unknown = true,
            }
        }
    }
    let pages = if mismatch {
        Some(false)
    } else if unknown || cam.is_empty() {
        None
    } else {
        Some(true)
    };
    (Some(same_ino), pages)
}

/// The real pipeline's steps against the same pipeline on the DMA model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelCheck {
    /// The model took the same steps in the same order for the traced
    /// frames.
    pub same_order: bool,
    /// The model's steps.
    pub model_trace: Vec<Event>,
    /// What the model's checker found.
    pub findings: Vec<numakit_dma::Finding>,
}

/// Runs the report's pipeline on the DMA model and compares the steps.
pub fn check_against_model(report: &Report) -> Result<ModelCheck> {
    let cfg = &report.config;
    let source = match cfg.source {
        FrameSource::Camera(_) => model::ModelSource::Camera,
        _ => model::ModelSource::Cpu,
    };
    let frames = cfg.trace_frames.iter().max().map_or(1, |m| m + 1);
    let run = model::run(
        source,
        frames,
        cfg.buffers,
        &cfg.trace_frames,
        model::Mistake::None,
    )?;
    Ok(ModelCheck {
        same_order: model::same_order(&report.trace, &run.trace),
        model_trace: run.trace,
        findings: run.findings,
    })
}

/// A fresh directory name for a run's sockets, under the temporary
/// directory.
pub fn socket_dir() -> PathBuf {
    let t = numakit_sys::fd::monotonic_ns();
    std::env::temp_dir().join(format!("numakit-dmabuf-{}-{t}", std::process::id()))
}

/// Standard streams for a stage process: report on stdout, errors on
/// stderr, both captured.
pub fn stage_stdio() -> (Stdio, Stdio, Stdio) {
    (Stdio::null(), Stdio::piped(), Stdio::piped())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config {
            source: FrameSource::Heap("system".into()),
            variant: Variant::ZeroCopy,
            frame_bytes: 1 << 20,
            frames: 10,
            buffers: 4,
            gpu: "/dev/dri/card0".into(),
            node: None,
            dir: "/tmp/x".into(),
            trace_frames: vec![0, 4],
            timeout_secs: 5,
        }
    }

    #[test]
    fn validation() {
        assert!(cfg().validate().is_ok());
        let mut c = cfg();
        c.frames = 0;
        assert!(c.validate().is_err());
        let mut c = cfg();
        c.buffers = 0;
        assert!(c.validate().unwrap_err().to_string().contains("1 to 32"));
        let mut c = cfg();
        c.frame_bytes = 100;
        assert!(c.validate().is_err());
        assert_eq!(cfg().warmup(), 2);
    }

    #[test]
    fn config_round_trips_through_json() {
        let c = cfg();
        let j = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Config>(&j).unwrap(), c);
        assert!(
            j.contains(r#""source":{"kind":"heap","from":"system"}"#),
            "{j}"
        );
    }

    #[test]
    fn views_compared() {
        let v = |ino, fp: &str| BufferView {
            index: 0,
            inode: ino,
            size: 4096,
            frames: Some(FramesView {
                fingerprint: Some(fp.into()),
                ..Default::default()
            }),
        };
        let rep = |b: BufferView| StageReport {
            buffers: vec![b],
            ..Default::default()
        };
        let same = vec![
            (Stage::Camera, rep(v(5, "a"))),
            (Stage::Display, rep(v(5, "a"))),
        ];
        assert_eq!(compare_views(&cfg(), &same), (Some(true), Some(true)));
        let other = vec![
            (Stage::Camera, rep(v(5, "a"))),
            (Stage::Display, rep(v(6, "b"))),
        ];
        assert_eq!(compare_views(&cfg(), &other), (Some(false), Some(false)));
    }
}
