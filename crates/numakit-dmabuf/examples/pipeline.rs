//! The camera → GPU → display pipeline as a program of its own: this
//! example starts itself three times, once per stage, and prints what the
//! pipeline measured. With a V4L2 camera (vivid) and vgem loaded:
//!
//! ```sh
//! cargo run -p numakit-dmabuf --example pipeline -- camera:/dev/video0 zero-copy
//! cargo run -p numakit-dmabuf --example pipeline -- heap copy
//! ```
//!
//! Arguments: the frame source (`heap`, `udmabuf`, `camera:DEVICE`) and
//! the variant (`zero-copy`, `copy`). Exit status 0 when every frame was
//! checked and, zero-copy, every process held the same buffers.

use std::process::{Child, Command};

use numakit_dmabuf::pipeline::trace::traced_frames;
use numakit_dmabuf::pipeline::{
    Config, FrameSource, Launcher, Stage, Variant, check_against_model, run, run_stage, socket_dir,
    stage_stdio,
};

/// Starts this program again as `pipeline stage NAME CONFIG`.
struct Myself;

impl Launcher for Myself {
    fn launch(&self, stage: Stage, config_json: &str) -> std::io::Result<Child> {
        let (i, o, e) = stage_stdio();
        Command::new(std::env::current_exe()?)
            .args(["stage", stage.name(), config_json])
            .stdin(i)
            .stdout(o)
            .stderr(e)
            .spawn()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("stage") {
        // one stage: its report on stdout, its error on stderr
        let stage = args.get(1).and_then(|s| Stage::parse(s));
        let out = stage.ok_or(()).and_then(|s| {
            run_stage(s, args.get(2).map_or("", |c| c)).map_err(|e| eprintln!("{e}"))
        });
        match out {
            Ok(line) => println!("{line}"),
            Err(()) => std::process::exit(2),
        }
        return;
    }
    let source = match args.first().map(String::as_str).unwrap_or("heap") {
        "udmabuf" => FrameSource::Udmabuf,
        s if s.starts_with("camera") => {
            FrameSource::Camera(s.strip_prefix("camera:").unwrap_or("/dev/video0").into())
        }
        _ => FrameSource::Heap("system".into()),
    };
    let variant = match args.get(1).map(String::as_str) {
        Some("copy") => Variant::Copy,
        _ => Variant::ZeroCopy,
    };
    let cfg = Config {
        source,
        variant,
        frame_bytes: 1 << 20,
        frames: 16,
        buffers: 4,
        gpu: "/dev/dri/card0".into(),
        node: None,
        dir: socket_dir(),
        trace_frames: traced_frames(16, 4),
        timeout_secs: 10,
    };
    match run(&cfg, &Myself) {
        Ok(r) => {
            println!(
                "{} frames checked, {:.1} frames/s, {:.2} ms CPU per frame, {} copies per frame",
                r.frames, r.fps, r.cpu_ms_per_frame, r.copies_per_frame
            );
            if let Some(same) = r.same_buffers {
                println!(
                    "same buffers in all three processes: {same}; same physical pages: {:?}",
                    r.same_pages
                );
                if let Ok(m) = check_against_model(&r) {
                    println!(
                        "steps as on the DMA model: {}; model findings: {}",
                        m.same_order,
                        m.findings.len()
                    );
                }
            }
            let good = r.frames == cfg.frames && r.same_buffers != Some(false);
            std::process::exit(if good { 0 } else { 1 });
        }
        Err(e) => {
            eprintln!("pipeline: {e}");
            std::process::exit(2);
        }
    }
}
