//! The timeline: what the CPU, the caches, the IOMMU, swiotlb and the
//! devices did, in order.

use std::fmt;

/// Who did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventSource {
    /// The CPU (driver code): loads, stores, allocations.
    Cpu,
    /// The DMA API itself: map, unmap, sync.
    Dma,
    /// The CPU cache: maintenance, evictions, speculative fills.
    Cache,
    /// The IOMMU: page tables, IOTLB, faults, flushes.
    Iommu,
    /// swiotlb: bounce buffers and copies.
    Swiotlb,
    /// A device's memory accesses.
    Device,
    /// A DMA engine: descriptors, completions, interrupts.
    Engine,
    /// DMA-BUF: export, attach, fences, CPU access.
    Dmabuf,
}

impl EventSource {
    /// The name used in the timeline.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Dma => "dma",
            Self::Cache => "cache",
            Self::Iommu => "iommu",
            Self::Swiotlb => "swiotlb",
            Self::Device => "device",
            Self::Engine => "engine",
            Self::Dmabuf => "dmabuf",
        }
    }
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    /// Position in the timeline, from 1.
    pub seq: u64,
    /// The scenario line that caused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Who did it.
    pub source: EventSource,
    /// A short stable word for what happened (`map`, `clean`, `fault`...).
    pub kind: &'static str,
    /// The device involved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// What happened, for people.
    pub text: String,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{l:>4} ")?,
            None => f.write_str("     ")?,
        }
        write!(f, "{:<8}", self.source.as_str())?;
        if let Some(d) = &self.device {
            write!(f, "{d}: ")?;
        }
        f.write_str(&self.text)
    }
}
