//! What a scenario run produced: the machine it ran on, the timeline, the
//! findings and faults, and counts; serialised as the JSON document of
//! `numakit dma simulate --json`.

use std::collections::BTreeMap;

use crate::addr::DmaMask;
use crate::check::finding::Finding;
use crate::config::{Coherence, IommuMode, Maintenance, Speculation};
use crate::fault::Fault;
use crate::model::ModelBackend;
use crate::trace::Event;

/// The schema id of a [`Report`] in JSON.
pub const SCHEMA: &str = "numakit.dma-simulate/1";

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
    /// The line size of a larger system cache, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_line: Option<u32>,
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
    /// What the hardware drives, when less than the streaming mask.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hw_mask: Option<DmaMask>,
    /// Untrusted or not.
    pub untrusted: bool,
    /// IOMMU group.
    pub iommu_group: u32,
}

impl MachineSummary {
    /// The machine `m` simulates, as it is now.
    pub fn of(m: &ModelBackend) -> Self {
        let c = m.config();
        Self {
            coherence: c.coherence,
            line_size: c.line_size,
            system_line: (c.system_line != 0).then_some(c.system_line),
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
                .devices()
                .filter_map(|id| {
                    let d = m.device_config(id)?;
                    Some(DeviceSummary {
                        name: d.name.clone(),
                        dma_mask: d.dma_mask,
                        coherent_mask: d.coherent_mask,
                        hw_mask: (d.hw_mask < d.dma_mask).then_some(d.hw_mask),
                        untrusted: d.untrusted,
                        iommu_group: m.iommu_group(id)?,
                    })
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
    /// The counts of a run of `steps` steps.
    pub fn new(steps: usize, events: &[Event], findings: &[Finding], faults: &[Fault]) -> Self {
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
