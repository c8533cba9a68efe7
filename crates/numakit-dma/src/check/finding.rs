//! What the checker reports: a [`Finding`] names the rule broken, says what
//! happened in one sentence and carries what is known of the device, the
//! buffer, the addresses and where the call and the mapping were made.
//! Findings are built in one way: [`Finding::new`] and chained setters.

use std::fmt;

use crate::addr::{Iova, PhysAddr};
use crate::check::rules::Rule;
use crate::fault::Fault;
use crate::trace::Origin;

/// What the checker found: the rule, what broke it and where. Made only
/// by the model (the checker, and `ModelBackend::expectation_failed` for a
/// driver's own expectations), so a finding always comes from one place.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// The rule broken.
    pub rule: Rule,
    /// What happened, in one sentence.
    pub message: String,
    /// The device involved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The buffer involved (its allocation label).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buffer: Option<String>,
    /// The DMA address involved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dma_addr: Option<Iova>,
    /// The CPU physical address involved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phys_addr: Option<PhysAddr>,
    /// The size of the access or call, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The cache line involved, for rules about lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_line: Option<PhysAddr>,
    /// Where the offending call was made.
    pub at: Origin,
    /// Where the mapping involved was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapped_at: Option<Origin>,
    /// The fault the IOMMU raised for this access, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
}

impl Finding {
    /// A finding of `rule` at `at`, saying `message`; the setters below add
    /// what else is known.
    pub(crate) fn new(rule: Rule, at: Origin, message: String) -> Self {
        Self {
            rule,
            message,
            device: None,
            buffer: None,
            dma_addr: None,
            phys_addr: None,
            size: None,
            cache_line: None,
            at,
            mapped_at: None,
            fault: None,
        }
    }
    /// The device involved.
    pub(crate) fn device(mut self, name: impl Into<String>) -> Self {
        self.device = Some(name.into());
        self
    }
    /// The buffer involved.
    pub(crate) fn buffer(mut self, label: impl Into<String>) -> Self {
        self.buffer = Some(label.into());
        self
    }
    /// The buffer involved, if known.
    pub(crate) fn maybe_buffer(mut self, label: Option<String>) -> Self {
        self.buffer = label;
        self
    }
    /// The DMA address involved.
    pub(crate) fn dma(mut self, a: Iova) -> Self {
        self.dma_addr = Some(a);
        self
    }
    /// The CPU physical address involved.
    pub(crate) fn phys(mut self, a: PhysAddr) -> Self {
        self.phys_addr = Some(a);
        self
    }
    /// The CPU physical address involved, if known.
    pub(crate) fn maybe_phys(mut self, a: Option<PhysAddr>) -> Self {
        self.phys_addr = a;
        self
    }
    /// The size of the access or call.
    pub(crate) fn size(mut self, bytes: u64) -> Self {
        self.size = Some(bytes);
        self
    }
    /// The size of the call, if it had one.
    pub(crate) fn maybe_size(mut self, bytes: Option<u64>) -> Self {
        self.size = bytes;
        self
    }
    /// The cache line involved.
    pub(crate) fn cache_line(mut self, line: PhysAddr) -> Self {
        self.cache_line = Some(line);
        self
    }
    /// Where the mapping involved was made.
    pub(crate) fn mapped_at(mut self, o: Origin) -> Self {
        self.mapped_at = Some(o);
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: [{}] {}", self.at, self.rule, self.message)?;
        let mut sep = " (";
        let mut field =
            |f: &mut fmt::Formatter<'_>, k: &str, v: &dyn fmt::Display| -> fmt::Result {
                let r = write!(f, "{sep}{k} {v}");
                sep = ", ";
                r
            };
        if let Some(d) = &self.device {
            field(f, "device", d)?;
        }
        if let Some(b) = &self.buffer {
            field(f, "buffer", b)?;
        }
        if let Some(a) = &self.dma_addr {
            field(f, "dma", a)?;
        }
        if let Some(p) = &self.phys_addr {
            field(f, "phys", p)?;
        }
        if let Some(s) = &self.size {
            field(f, "size", s)?;
        }
        if let Some(l) = &self.cache_line {
            field(f, "cache line", l)?;
        }
        if let Some(m) = &self.mapped_at {
            field(f, "mapped at", m)?;
        }
        if sep == ", " {
            f.write_str(")")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_what_is_known_in_order() {
        let f = Finding::new(
            Rule::DoubleUnmap,
            Origin::Scenario { scenario_line: 7 },
            "unmapped twice".into(),
        )
        .device("nic")
        .buffer("rx")
        .dma(Iova::new(0x1000))
        .size(64)
        .mapped_at(Origin::Scenario { scenario_line: 3 });
        assert_eq!(
            f.to_string(),
            "line 7: [double-unmap] unmapped twice (device nic, buffer rx, dma 0x1000, size 64, mapped at line 3)"
        );
        let bare = Finding::new(
            Rule::ExpectMismatch,
            Origin::Scenario { scenario_line: 1 },
            "x".into(),
        );
        assert_eq!(bare.to_string(), "line 1: [expect-mismatch] x");
    }
}
