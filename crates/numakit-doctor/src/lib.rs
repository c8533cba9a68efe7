//! Findings about memory locality, each with a severity, the evidence in
//! numbers and the command or setting that fixes it.
//!
//! - [`audit::audit`]: one process: memory on nodes its threads do not run
//!   on, devices on another node than the one it is bound to, AutoNUMA
//!   moving the pages of a pinned process.
//! - [`checks::doctor`]: the system: devices without a firmware NUMA node,
//!   device CPUs outside the cpuset, degraded PCIe links, Resizable BAR
//!   off, the IOMMU mode, mempolicy modes the kernel lacks, memory tiers
//!   and demotion, transparent huge pages, huge pages on GPU nodes, AutoNUMA
//!   while processes pin themselves.
//!
//! Every check reads the machine model and the stat readers only, so it
//! runs on snapshots; a fact that is unknown makes no finding.
//!
//! # Example
//! ```
//! use numakit_doctor::{Finding, Severity};
//! let f = Finding::new("example", Severity::Warning, "something is off")
//!     .evidence("a = 1")
//!     .fix("do this");
//! assert!(f.severity.counts());
//! ```
#![deny(missing_docs)]

pub mod audit;
pub mod checks;

use serde::Serialize;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; not a problem by itself.
    Info,
    /// Costs performance or correctness.
    Warning,
}

impl Severity {
    /// Whether it makes `doctor` and `--audit` exit 1.
    pub fn counts(self) -> bool {
        self >= Severity::Warning
    }
    /// Its name in text.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check that made it (`device-without-node`).
    pub check: &'static str,
    /// How much it matters.
    pub severity: Severity,
    /// What is wrong, in plain words with the numbers.
    pub message: String,
    /// The facts behind it.
    pub evidence: Vec<String>,
    /// What fixes it.
    pub fix: Option<String>,
}

impl Finding {
    /// A finding without evidence or fix.
    pub fn new(check: &'static str, severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            check,
            severity,
            message: message.into(),
            evidence: Vec::new(),
            fix: None,
        }
    }
    /// Adds a fact.
    pub fn evidence(mut self, e: impl Into<String>) -> Finding {
        self.evidence.push(e.into());
        self
    }
    /// Sets the fix.
    pub fn fix(mut self, f: impl Into<String>) -> Finding {
        self.fix = Some(f.into());
        self
    }
}

/// Bytes in a short human unit (`1.2 GiB`).
pub fn human(bytes: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}
