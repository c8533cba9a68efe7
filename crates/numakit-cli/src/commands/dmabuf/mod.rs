//! `numakit dmabuf ...`: real DMA-BUFs. Allocate one on a node (`alloc`),
//! pass one to another process (`serve`, `recv`), list every buffer on the
//! system and who holds it (`list`), and run the camera → GPU → display
//! pipeline (`pipeline`); `numakit bench dmabuf` (module [`bench`])
//! measures it against copying.
//!
//! Exit status: 0 success; 1 the work ran and found a problem (a frame or
//! buffer that failed its check, pages not on their node, steps the DMA
//! model orders differently or finds fault with); 2 usage, input or system
//! error, including a kernel without what the command needs (the message
//! names the kernel options).

mod alloc;
pub mod bench;
mod list;
mod pass;
mod pipeline;

use std::path::PathBuf;

use numakit_dmabuf::alloc::Source;
use numakit_dmabuf::pipeline::FrameSource;
use numakit_types::ByteSize;

use crate::error::{CliError, CliResult};

/// DMA-BUF subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DmabufCommand {
    /// Allocate a DMA-BUF from a heap or udmabuf, on a node, and show where its pages are.
    Alloc(alloc::AllocArgs),
    /// Allocate a DMA-BUF, fill it, and pass it to processes that connect to SOCKET.
    Serve(pass::ServeArgs),
    /// Receive a DMA-BUF from SOCKET, check its contents and show where its pages are.
    Recv(pass::RecvArgs),
    /// List every DMA-BUF on the system, its size, exporter, name, and who holds it.
    List(list::ListArgs),
    /// Run the camera -> GPU -> display pipeline in three processes, zero-copy or copying.
    Pipeline(pipeline::PipelineArgs),
    /// One stage of a pipeline (started by `pipeline` and `bench dmabuf`).
    #[command(hide = true)]
    Stage {
        /// camera, inference or display.
        stage: String,
        /// The pipeline configuration (JSON).
        #[arg(long)]
        config: String,
    },
}

/// Runs a DMA-BUF subcommand.
pub fn run(root: Option<PathBuf>, cmd: DmabufCommand) -> CliResult<u8> {
    match cmd {
        DmabufCommand::Alloc(a) => alloc::run(root, a),
        DmabufCommand::Serve(a) => pass::serve(root, a),
        DmabufCommand::Recv(a) => pass::recv(root, a),
        DmabufCommand::List(a) => list::run(root, a),
        DmabufCommand::Pipeline(a) => pipeline::run(root, a),
        DmabufCommand::Stage { stage, config } => pipeline::stage(&stage, &config),
    }
}

/// Parses a size: bytes, or a number with K, M or G (KiB, MiB, GiB;
/// `1M`, `8MiB`, `4096`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (like 4096, 64K, 1M or 8MiB)"))?;
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (use K, M or G)")),
    };
    n.checked_mul(1 << shift)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("'{s}' is zero or too large"))
}

/// Where buffers come from: `--heap NAME` or `--udmabuf`.
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    /// Allocate from this DMA-BUF heap (/dev/dma_heap/NAME; default: system).
    #[arg(long, value_name = "NAME", conflicts_with = "udmabuf")]
    pub heap: Option<String>,
    /// Allocate from /dev/udmabuf, over a memfd whose pages are placed first.
    #[arg(long)]
    pub udmabuf: bool,
}

impl SourceArgs {
    /// The source asked for.
    pub fn source(&self) -> Source {
        if self.udmabuf {
            Source::Udmabuf
        } else {
            Source::Heap(self.heap.clone().unwrap_or_else(|| "system".into()))
        }
    }
}

/// A frame source: `heap[:NAME]`, `udmabuf` or `camera[:DEVICE]`.
pub fn parse_frame_source(s: &str) -> Result<FrameSource, String> {
    let (kind, arg) = match s.split_once(':') {
        Some((k, a)) => (k, Some(a.to_string())),
        None => (s, None),
    };
    match kind {
        "heap" => Ok(FrameSource::Heap(arg.unwrap_or_else(|| "system".into()))),
        "udmabuf" if arg.is_none() => Ok(FrameSource::Udmabuf),
        "camera" => Ok(FrameSource::Camera(
            arg.unwrap_or_else(|| "/dev/video0".into()),
        )),
        _ => Err(format!(
            "'{s}' is not a frame source: use heap[:NAME], udmabuf or camera[:DEVICE]"
        )),
    }
}

/// `1 MiB` for a size.
pub fn size_text(bytes: u64) -> String {
    ByteSize(bytes).to_string()
}

/// A CLI error from a size argument.
pub fn size_error(opt: &str, why: String) -> CliError {
    CliError::new(format!("{opt}: {why}"))
}

/// Frames per second and similar, printed with 3 significant digits.
pub fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The stage's one-line report on stdout.
fn print_line(line: &str) -> CliResult<u8> {
    crate::output::print(&format!("{line}\n"))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1T").unwrap_err().contains("unknown unit"));
        assert!(parse_size("x").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }

    #[test]
    fn frame_sources() {
        assert_eq!(
            parse_frame_source("heap"),
            Ok(FrameSource::Heap("system".into()))
        );
        assert_eq!(
            parse_frame_source("heap:cma"),
            Ok(FrameSource::Heap("cma".into()))
        );
        assert_eq!(parse_frame_source("udmabuf"), Ok(FrameSource::Udmabuf));
        assert_eq!(
            parse_frame_source("camera"),
            Ok(FrameSource::Camera("/dev/video0".into()))
        );
        assert!(parse_frame_source("gpu").is_err());
    }
}
