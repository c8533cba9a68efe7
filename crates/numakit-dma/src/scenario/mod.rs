//! Scenario files: a machine and a driver's steps in a small text format,
//! run on the model into a timeline and the checker's findings.
//!
//! The format is described in `docs/dma-model.md`; in short, one command per
//! line, `#` starts a comment, the machine comes first:
//!
//! ```text
//! machine noncoherent line=64
//! iommu strict
//! device nic mask=32
//!
//! alloc rx 2048
//! map rxm nic rx from-device
//! mapping-error rxm
//! device-write nic rxm "hello"
//! sync-for-cpu rxm
//! expect rx "hello"
//! unmap rxm
//! ```
//!
//! # Example
//! ```
//! let text = "machine noncoherent\ndevice nic\nalloc rx 64\nmap m nic rx to-device\n\
//!             mapping-error m\ndevice-write nic m \"oops\"\nunmap m\n";
//! let report = numakit_dma::scenario::run_str(text).unwrap();
//! assert_eq!(report.findings[0].rule.id(), "device-write-todevice");
//! let err = numakit_dma::scenario::parse("machine coherent\nmap m\n").unwrap_err();
//! assert_eq!((err.line, err.column), (2, 6));
//! ```

use std::collections::BTreeMap;

mod parse;
mod run;

pub use parse::{MAX_DATA, Scenario, ScenarioError, Step, parse, parse_number};
pub use run::run;

use crate::iommu::Fault;
use crate::model::ModelBackend;
use crate::types::{Coherence, IommuMode, Maintenance, Speculation};
use crate::{DmaMask, Event, Finding};

/// The schema id of a [`Report`] in JSON.
pub const SCHEMA: &str = "numakit.dma-simulate/1";

/// Parses and runs a scenario.
pub fn run_str(text: &str) -> Result<Report, ScenarioError> {
    run(&parse(text)?)
}

/// What a scenario run produced. Serialised as the JSON document of
/// `numakit dma simulate --json` (schema `numakit.dma-simulate/1`, described
/// in `docs/dma-model.md`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The scenario file, when the caller sets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The machine.
    pub machine: MachineSummary,
    /// The timeline.
    pub events: Vec<Event>,
    /// The checker's findings and failed expectations, in order.
    pub findings: Vec<Finding>,
    /// DMA faults.
    pub faults: Vec<Fault>,
    /// Counts.
    pub summary: Summary,
}

/// The machine a scenario ran on.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MachineSummary {
    /// Coherent or not.
    pub coherence: Coherence,
    /// Cache line size.
    pub line_size: u32,
    /// IOMMU mode.
    pub iommu: IommuMode,
    /// swiotlb pool size (0: off).
    pub swiotlb_bytes: u64,
    /// Speculative fills: `always`, `off` or `SEED:PERCENT`.
    pub speculation: String,
    /// Cache maintenance policy.
    pub maintenance: Maintenance,
    /// Whether the checker ran.
    pub checker: bool,
    /// The devices.
    pub devices: Vec<DeviceSummary>,
}

/// A device of the machine.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceSummary {
    /// Its name.
    pub name: String,
    /// Streaming mask.
    pub dma_mask: DmaMask,
    /// Coherent mask.
    pub coherent_mask: DmaMask,
    /// Untrusted or not.
    pub untrusted: bool,
    /// IOMMU group.
    pub iommu_group: u32,
}

impl MachineSummary {
    pub(crate) fn new(m: &ModelBackend) -> Self {
        let c = m.config();
        Self {
            coherence: c.coherence,
            line_size: c.line_size,
            iommu: c.iommu,
            swiotlb_bytes: c.swiotlb_bytes,
            speculation: match c.speculation {
                Speculation::Off => "off".into(),
                Speculation::Always => "always".into(),
                Speculation::Seeded { seed, percent } => format!("{seed}:{percent}"),
            },
            maintenance: c.maintenance,
            checker: c.checker,
            devices: m
                .devices
                .iter()
                .map(|d| DeviceSummary {
                    name: d.cfg.name.clone(),
                    dma_mask: d.cfg.dma_mask,
                    coherent_mask: d.cfg.coherent_mask,
                    untrusted: d.cfg.untrusted,
                    iommu_group: d.group,
                })
                .collect(),
        }
    }
}

/// Counts of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// Steps run.
    pub steps: usize,
    /// Events in the timeline.
    pub events: usize,
    /// Findings.
    pub findings: usize,
    /// Faults.
    pub faults: usize,
    /// Findings per rule id.
    pub by_rule: BTreeMap<String, usize>,
}

impl Summary {
    pub(crate) fn new(
        steps: usize,
        events: &[Event],
        findings: &[Finding],
        faults: &[Fault],
    ) -> Self {
        let mut by_rule = BTreeMap::new();
        for f in findings {
            *by_rule.entry(f.rule.id().to_string()).or_insert(0) += 1;
        }
        Self {
            steps,
            events: events.len(),
            findings: findings.len(),
            faults: faults.len(),
            by_rule,
        }
    }
}
