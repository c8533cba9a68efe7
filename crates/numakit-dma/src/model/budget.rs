//! The model's host-memory budget. Modelled memory is lazy, so a machine of
//! 68 GiB costs nothing until it is written; what does cost host memory is
//! counted here, and a call that would take the model past
//! [`MachineConfig::model_memory`](crate::MachineConfig::model_memory) fails
//! with [`Error::ModelMemory`] before it allocates anything.

use super::ModelBackend;
use crate::addr::PAGE_SIZE;
use crate::error::{Error, Result};

/// A written page of model RAM: its bytes and its table entry.
const PAGE_COST: u64 = PAGE_SIZE + 64;
/// An allocation record (a scattered page recorded as an allocation of its
/// own, with its label).
const RECORD_COST: u64 = 192;
/// An IOMMU page-table entry, with its IOTLB entry.
const PTE_COST: u64 = 96;
/// A timeline event, with its text.
const EVENT_COST: u64 = 256;

impl ModelBackend {
    /// What the model holds now, by the costs above.
    fn host_bytes(&self) -> u64 {
        (self.hw.mem.resident_pages() as u64) * PAGE_COST
            + (self.hw.cpu.count() as u64) * RECORD_COST
            + self.hw.iommu.entries() * PTE_COST
            + (self.trace.len() as u64) * EVENT_COST
            + self.cfg.cache_host_bytes()
    }

    /// Whether `extra` more bytes fit the budget; `what` names the call.
    fn room(&self, extra: u64, what: impl FnOnce() -> String) -> Result<()> {
        if self.host_bytes().saturating_add(extra) <= self.cfg.model_memory {
            Ok(())
        } else {
            Err(Error::ModelMemory {
                what: what(),
                budget: self.cfg.model_memory,
            })
        }
    }

    /// Room for `pages` scattered pages recorded one by one (vmalloc, a
    /// DMA-BUF), named `label`.
    pub(crate) fn room_for_pages(&self, pages: u64, label: &str) -> Result<()> {
        self.room(pages.saturating_mul(RECORD_COST + EVENT_COST), || {
            format!("the {pages} scattered pages of {label}")
        })
    }

    /// Room for IOMMU page tables over `pages` pages in `runs` contiguous
    /// runs (each a line of the timeline).
    pub(crate) fn room_for_iommu(&self, pages: u64, runs: u64) -> Result<()> {
        if !self.hw.iommu.enabled() {
            return Ok(());
        }
        let extra = pages
            .saturating_mul(PTE_COST)
            .saturating_add(runs.saturating_mul(EVENT_COST));
        self.room(extra, || format!("IOMMU page tables over {pages} pages"))
    }

    /// Room for a step that writes `len` bytes: the bytes in flight and the
    /// pages they may fill.
    pub fn room_for_write(&self, len: u64) -> Result<()> {
        let pages = len.div_ceil(PAGE_SIZE) + 1;
        self.room(len.saturating_add(pages.saturating_mul(PAGE_COST)), || {
            format!("a write of {len} bytes")
        })
    }

    /// Room for a step that reads `len` bytes (the bytes in flight).
    pub fn room_for_read(&self, len: u64) -> Result<()> {
        self.room(len, || format!("a read of {len} bytes"))
    }
}
