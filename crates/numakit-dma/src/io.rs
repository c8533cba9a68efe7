//! A device's registers and interrupts as its driver sees them: the
//! [`DeviceIo`] trait, which a device behind VFIO
//! ([`VfioDevice`](crate::vfio::VfioDevice)) and a modelled device
//! ([`EduModel`](crate::edu::EduModel)) both implement, so that one driver
//! runs on either.

use std::time::Duration;

use crate::error::Result;
use crate::typed::DmaBackend;

/// A register: a BAR and a byte offset into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reg {
    /// The BAR (0-5).
    pub bar: u8,
    /// The byte offset.
    pub offset: u64,
}

impl Reg {
    /// The register at `offset` in BAR 0.
    pub const fn bar0(offset: u64) -> Reg {
        Reg { bar: 0, offset }
    }
}

/// How the device signals the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IrqMode {
    /// Message-signalled interrupts (one vector).
    Msi,
    /// The legacy level-triggered line: after each interrupt the driver
    /// acknowledges the device, then [`DeviceIo::rearm_irq`] unmasks it.
    Intx,
}

impl std::fmt::Display for IrqMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IrqMode::Msi => "MSI",
            IrqMode::Intx => "INTx",
        })
    }
}

/// What a wait for an interrupt saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqWait {
    /// This many interrupts arrived since the last wait.
    Fired(u64),
    /// None arrived in time.
    TimedOut,
}

/// Register access and interrupts of one device, for a driver written
/// against the [`DmaBackend`] `B`. Every call gets the backend, so that a
/// modelled device can do its DMA through it; a real device ignores it.
pub trait DeviceIo<B: DmaBackend> {
    /// A 32-bit register read.
    fn read32(&mut self, dma: &mut B, reg: Reg) -> Result<u32>;
    /// A 32-bit register write.
    fn write32(&mut self, dma: &mut B, reg: Reg, value: u32) -> Result<()>;
    /// A 64-bit register read.
    fn read64(&mut self, dma: &mut B, reg: Reg) -> Result<u64>;
    /// A 64-bit register write.
    fn write64(&mut self, dma: &mut B, reg: Reg, value: u64) -> Result<()>;
    /// Routes the device's interrupts to the driver in `mode`.
    fn enable_irq(&mut self, mode: IrqMode) -> Result<()>;
    /// Stops routing interrupts (completion is then found by polling).
    fn disable_irq(&mut self) -> Result<()>;
    /// Waits up to `timeout` for interrupts.
    fn wait_irq(&mut self, dma: &mut B, timeout: Duration) -> Result<IrqWait>;
    /// Re-enables a level-triggered line after the device was acknowledged
    /// (nothing to do for MSI).
    fn rearm_irq(&mut self) -> Result<()>;
}

/// A DMA access the IOMMU blocked, wherever it was reported: the model's
/// fault record or the kernel's log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObservedFault {
    /// The device, as the report names it.
    pub device: String,
    /// The faulting address.
    pub iova: crate::addr::Iova,
    /// Read or write.
    pub access: crate::direction::Access,
    /// Why, in the reporter's words.
    pub reason: String,
}

impl std::fmt::Display for ObservedFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the IOMMU blocked a DMA {} by {} at IOVA {}: {}",
            self.access, self.device, self.iova, self.reason
        )
    }
}

/// Where a backend's DMA faults are reported: the model's record, or the
/// kernel log for VFIO.
pub trait FaultLog<B> {
    /// Forgets the faults reported so far.
    fn mark(&mut self, dma: &B) -> Result<()>;
    /// The faults of device `device` reported since the mark, waiting up to
    /// `wait` for the first (a kernel logs them from an interrupt handler).
    fn since_mark(&mut self, dma: &B, device: &str, wait: Duration) -> Result<Vec<ObservedFault>>;
}

/// The model's faults as a [`FaultLog`].
#[derive(Debug, Default)]
pub struct ModelFaults {
    seen: usize,
}

impl FaultLog<crate::model::ModelBackend> for ModelFaults {
    fn mark(&mut self, dma: &crate::model::ModelBackend) -> Result<()> {
        self.seen = dma.faults().len();
        Ok(())
    }

    fn since_mark(
        &mut self,
        dma: &crate::model::ModelBackend,
        device: &str,
        _wait: Duration,
    ) -> Result<Vec<ObservedFault>> {
        let new = dma.faults()[self.seen.min(dma.faults().len())..]
            .iter()
            .filter(|f| f.device == device)
            .map(|f| ObservedFault {
                device: f.device.clone(),
                iova: f.iova,
                access: f.access,
                reason: f.reason.to_string(),
            })
            .collect();
        self.seen = dma.faults().len();
        Ok(new)
    }
}
