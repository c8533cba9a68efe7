//! `numakit dma ...`: the model of the kernel DMA API and its checker.
//!
//! `numakit dma simulate FILE` runs a scenario (format and rule list in
//! `docs/dma-model.md`) and prints the timeline of CPU, cache, IOMMU, swiotlb
//! and device events, then the findings. Exit status: 0 no findings, 1
//! findings or DMA faults, 2 the file cannot be read or is not a valid
//! scenario (the message gives `FILE:LINE:COLUMN`).
//!
//! `--json` prints one document, schema `numakit.dma-simulate/1`:
//! `{schema, file, machine, events[], findings[], faults[], summary}`,
//! described field by field in `docs/dma-model.md`.

use std::fmt::Write as _;

use numakit_dma::scenario::{self, Report};

use crate::error::{CliError, CliResult, EXIT_FINDINGS, EXIT_OK};
use crate::output::{print, print_json, sanitize};

mod selftest;

/// DMA subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DmaCommand {
    /// Run a DMA scenario file: print the timeline and the checker's findings.
    ///
    /// Exit status: 0 no findings, 1 findings or DMA faults, 2 unreadable or
    /// invalid scenario.
    Simulate {
        /// The scenario file (see docs/dma-model.md for the format).
        file: std::path::PathBuf,
        /// Print JSON (schema numakit.dma-simulate/1) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Drive a QEMU edu device through VFIO (or the model's, with --model):
    /// DMA round trips with MSI, INTx and polling, and DMA the IOMMU must block.
    ///
    /// Exit status: 0 every step passed, 1 a step failed, 2 the device
    /// cannot be used.
    Selftest(selftest::SelftestArgs),
}

/// Runs a DMA subcommand.
pub fn run(root: Option<std::path::PathBuf>, cmd: DmaCommand) -> CliResult<u8> {
    match cmd {
        DmaCommand::Simulate { file, json } => simulate(&file, json),
        DmaCommand::Selftest(a) => selftest::run(root, a),
    }
}

/// The largest scenario file read (1 MiB); the shipped ones are a few KiB.
pub const MAX_SCENARIO_BYTES: u64 = 1 << 20;

fn simulate(file: &std::path::Path, json: bool) -> CliResult<u8> {
    let shown = file.display().to_string();
    let text = read_scenario(file, &shown)?;
    let mut report = scenario::run_str(&text).map_err(|e| {
        CliError::new(format!("{shown}:{e}"))
            .hint("the scenario format is described in docs/dma-model.md")
    })?;
    report.file = Some(shown);
    if json {
        print_json(&report)?;
    } else {
        print(&render(&report)).map_err(|e| CliError::new(format!("cannot write output: {e}")))?;
    }
    Ok(if report.findings.is_empty() && report.faults.is_empty() {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    })
}

/// Reads a scenario: a regular file (not a device, FIFO or directory, which
/// could stream without end or block), of at most [`MAX_SCENARIO_BYTES`],
/// in UTF-8. The file is opened once and checked through its descriptor.
fn read_scenario(file: &std::path::Path, shown: &str) -> CliResult<String> {
    use rustix::fs::{Mode, OFlags};
    use std::io::Read;
    let cannot = |why: String| CliError::new(format!("cannot read {shown}: {why}"));
    let refuse = |why: String| {
        cannot(why).hint("a scenario is a text file; the format is described in docs/dma-model.md")
    };
    // O_NONBLOCK: opening a FIFO must not wait for a writer
    let fd = rustix::fs::open(
        file,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| cannot(std::io::Error::from(e).to_string()))?;
    let f = std::fs::File::from(fd);
    let meta = f.metadata().map_err(|e| cannot(e.to_string()))?;
    if !meta.is_file() {
        return Err(refuse("it is not a regular file".into()));
    }
    let too_large = || {
        refuse(format!(
            "it is larger than {} KiB, the most a scenario may be",
            MAX_SCENARIO_BYTES >> 10
        ))
    };
    if meta.len() > MAX_SCENARIO_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.take(MAX_SCENARIO_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| cannot(e.to_string()))?;
    if bytes.len() as u64 > MAX_SCENARIO_BYTES {
        // it grew while read
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|_| cannot("stream did not contain valid UTF-8".into()))
}

/// The text report: machine, timeline, findings, result.
fn render(r: &Report) -> String {
    let mut s = String::new();
    let m = &r.machine;
    let swiotlb = if m.swiotlb_bytes == 0 {
        "off".to_string()
    } else {
        numakit_types::ByteSize(m.swiotlb_bytes).to_string()
    };
    let _ = writeln!(
        s,
        "machine: {}, {}-byte cache lines, IOMMU {}, swiotlb {}, speculation {}, maintenance {}{}",
        enum_name(&m.coherence),
        m.line_size,
        enum_name(&m.iommu),
        swiotlb,
        m.speculation,
        enum_name(&m.maintenance),
        if m.checker { "" } else { ", checker off" }
    );
    for d in &m.devices {
        let _ = writeln!(
            s,
            "device:  {} (DMA mask {}, coherent mask {}{}, IOMMU group {})",
            d.name,
            d.dma_mask,
            d.coherent_mask,
            if d.untrusted { ", untrusted" } else { "" },
            d.iommu_group
        );
    }
    let _ = writeln!(s, "\ntimeline:");
    for e in &r.events {
        let _ = writeln!(s, "{}", sanitize(&e.to_string()));
    }
    if !r.faults.is_empty() {
        let _ = writeln!(s, "\nfaults: {}", r.faults.len());
        for f in &r.faults {
            let _ = writeln!(s, "  {}", sanitize(&f.to_string()));
        }
    }
    let _ = writeln!(s, "\nfindings: {}", r.findings.len());
    for f in &r.findings {
        let _ = writeln!(s, "  {}", sanitize(&f.to_string()));
        if let Some(fault) = &f.fault {
            let _ = writeln!(s, "      {}", sanitize(&fault.to_string()));
        }
    }
    if r.findings.is_empty() {
        let _ = writeln!(s, "\nresult: no findings");
    } else {
        let by: Vec<String> = r
            .summary
            .by_rule
            .iter()
            .map(|(k, v)| format!("{k} x{v}"))
            .collect();
        let _ = writeln!(
            s,
            "\nresult: {} finding(s): {}",
            r.findings.len(),
            by.join(", ")
        );
    }
    s
}

fn enum_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
