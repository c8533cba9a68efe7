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

fn simulate(file: &std::path::Path, json: bool) -> CliResult<u8> {
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::new(format!("cannot read {shown}: {e}")))?;
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
