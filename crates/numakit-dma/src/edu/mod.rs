//! A driver for QEMU's `edu` device (PCI `1234:11e8`), written once against
//! [`DmaBackend`] and [`DeviceIo`], so that the same code drives the real
//! device behind VFIO and a modelled one ([`EduModel`]) on the DMA model.
//!
//! The device (QEMU's `docs/specs/edu.rst`, `hw/misc/edu.c`) has one BAR of
//! registers, a 4 KiB internal buffer at device address `0x40000`, a DMA
//! engine that copies between that buffer and memory at a DMA address
//! (clamped to its 28-bit DMA mask), and one interrupt (MSI, or INTx) that
//! it raises when a transfer asked for one completes. A transfer outside the
//! internal buffer stops QEMU, so the driver refuses one before it starts;
//! QEMU up to 7.2 also stops on one that ends at the buffer's last byte
//! (its range check is off by one), so the driver keeps one byte clear.
//!
//! [`selftest`] is the proof that runs on both: round trips with every
//! completion mode, every byte checked, and DMA the IOMMU must block.

mod model;
mod selftest;

use std::time::{Duration, Instant};

pub use model::{EduModel, model_backend};
pub use selftest::{SelftestOptions, SelftestReport, Step, selftest};

use crate::addr::{DmaMask, Iova};
use crate::error::{Error, Result};
use crate::ids::DeviceId;
use crate::io::{DeviceIo, IrqMode, IrqWait, Reg};
use crate::typed::{Device, DmaBackend, StreamingMap};

/// The registers (BAR 0) and their bits.
pub mod regs {
    /// Identification: `0xRRrr00ed` (major, minor version, magic `0xed`).
    pub const ID: u64 = 0x00;
    /// Liveness check: reads back the bitwise inverse of what was written.
    pub const LIVENESS: u64 = 0x04;
    /// Interrupt status (which causes are pending).
    pub const IRQ_STATUS: u64 = 0x24;
    /// Raise an interrupt with these causes.
    pub const IRQ_RAISE: u64 = 0x60;
    /// Acknowledge (clear) these causes.
    pub const IRQ_ACK: u64 = 0x64;
    /// DMA source address.
    pub const DMA_SRC: u64 = 0x80;
    /// DMA destination address.
    pub const DMA_DST: u64 = 0x88;
    /// DMA byte count.
    pub const DMA_CNT: u64 = 0x90;
    /// DMA command.
    pub const DMA_CMD: u64 = 0x98;
    /// Command bit: start (reads 1 while the transfer runs).
    pub const CMD_RUN: u64 = 1;
    /// Command bit: from the internal buffer to memory (clear: memory to
    /// the buffer).
    pub const CMD_TO_MEMORY: u64 = 2;
    /// Command bit: raise an interrupt at the end.
    pub const CMD_IRQ: u64 = 4;
    /// The interrupt cause of a finished transfer.
    pub const IRQ_DMA: u32 = 0x100;
    /// The internal buffer's device address.
    pub const BUF_ADDR: u64 = 0x40000;
    /// The internal buffer's size.
    pub const BUF_SIZE: u32 = 4096;
    /// The most a transfer may reach into the buffer: QEMU up to 7.2 stops
    /// when a transfer ends at the buffer's end (`edu_check_range` wants the
    /// end strictly inside), so the last byte is never used.
    pub const BUF_USABLE: u32 = BUF_SIZE - 1;
    /// The magic byte of the ID register.
    pub const MAGIC: u32 = 0xed;
    /// PCI vendor and device IDs.
    pub const PCI_ID: (u16, u16) = (0x1234, 0x11e8);
    /// The device's DMA mask: 28 address bits.
    pub const DMA_BITS: u32 = 28;
}

/// How the driver learns that a transfer finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// By reading the command register until its run bit clears.
    Poll,
    /// By the interrupt that was enabled with [`Edu::use_interrupts`].
    Interrupt,
}

/// Which way a transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toward {
    /// Memory to the internal buffer (the device reads memory).
    Device,
    /// The internal buffer to memory (the device writes memory).
    Memory,
}

/// One DMA transfer: `len` bytes between memory at `iova` and the internal
/// buffer at byte `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// The direction.
    pub toward: Toward,
    /// The memory side, as the device addresses it.
    pub iova: Iova,
    /// The offset in the internal buffer.
    pub at: u32,
    /// The byte count.
    pub len: u32,
}

/// What the identification register says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct EduId {
    /// The major version.
    pub major: u8,
    /// The minor version.
    pub minor: u8,
}

/// The driver, holding the device's registers and interrupts.
#[derive(Debug)]
pub struct Edu<D> {
    io: D,
    dev: DeviceId,
    name: String,
    irq: Option<IrqMode>,
    timeout: Duration,
}

impl<D> Edu<D> {
    /// Checks the identification and liveness registers and sets the
    /// device's 28-bit DMA mask.
    pub fn probe<B: DmaBackend>(dma: &mut B, dev: DeviceId, mut io: D) -> Result<(Edu<D>, EduId)>
    where
        D: DeviceIo<B>,
    {
        let name = dma.device_info(dev)?.name;
        let id = io.read32(dma, Reg::bar0(regs::ID))?;
        if id & 0xff != regs::MAGIC {
            return Err(Error::Device {
                device: name,
                what: format!("identification register reads {id:#010x}, not an edu device"),
            });
        }
        let probe = 0x1234_5678u32;
        io.write32(dma, Reg::bar0(regs::LIVENESS), probe)?;
        let back = io.read32(dma, Reg::bar0(regs::LIVENESS))?;
        if back != !probe {
            return Err(Error::Device {
                device: name,
                what: format!("liveness check failed: wrote {probe:#x}, read {back:#x}"),
            });
        }
        dma.set_mask(dev, DmaMask::bits(regs::DMA_BITS))?;
        let edu = Edu {
            io,
            dev,
            name,
            irq: None,
            timeout: Duration::from_secs(10),
        };
        let v = EduId {
            major: (id >> 24) as u8,
            minor: (id >> 16) as u8,
        };
        Ok((edu, v))
    }

    /// The device.
    pub fn device(&self) -> DeviceId {
        self.dev
    }

    /// Routes the device's interrupt in `mode` (`None`: no interrupt; only
    /// polled completion works).
    pub fn use_interrupts<B: DmaBackend>(&mut self, mode: Option<IrqMode>) -> Result<()>
    where
        D: DeviceIo<B>,
    {
        match mode {
            Some(m) => self.io.enable_irq(m)?,
            None => self.io.disable_irq()?,
        }
        self.irq = mode;
        Ok(())
    }

    /// Copies a device-owned mapping into the internal buffer at `at`.
    pub fn load<B: DmaBackend>(
        &mut self,
        dma: &mut B,
        map: &StreamingMap<Device, B::CpuAddr>,
        at: u32,
        how: Completion,
    ) -> Result<()>
    where
        D: DeviceIo<B>,
    {
        let len = self.fits(map.len())?;
        let t = Transfer {
            toward: Toward::Device,
            iova: map.dma_addr(),
            at,
            len,
        };
        self.transfer(dma, t, how)
    }

    /// Copies the internal buffer from `at` into a device-owned mapping.
    pub fn store<B: DmaBackend>(
        &mut self,
        dma: &mut B,
        map: &StreamingMap<Device, B::CpuAddr>,
        at: u32,
        how: Completion,
    ) -> Result<()>
    where
        D: DeviceIo<B>,
    {
        let len = self.fits(map.len())?;
        let t = Transfer {
            toward: Toward::Memory,
            iova: map.dma_addr(),
            at,
            len,
        };
        self.transfer(dma, t, how)
    }

    fn fits(&self, len: usize) -> Result<u32> {
        u32::try_from(len)
            .ok()
            .filter(|l| *l <= regs::BUF_USABLE)
            .ok_or_else(|| {
                self.bad(format!(
                    "a {len}-byte transfer does not fit the device's buffer ({} usable bytes)",
                    regs::BUF_USABLE
                ))
            })
    }

    fn bad(&self, what: String) -> Error {
        Error::Device {
            device: self.name.clone(),
            what,
        }
    }

    /// Runs one transfer at any IOVA, mapped or not: how the IOMMU's
    /// protection is shown. The typed [`load`](Self::load) and
    /// [`store`](Self::store) are what a driver normally uses.
    pub fn transfer<B: DmaBackend>(
        &mut self,
        dma: &mut B,
        t: Transfer,
        how: Completion,
    ) -> Result<()>
    where
        D: DeviceIo<B>,
    {
        if t.len == 0 || t.at.checked_add(t.len).is_none_or(|e| e > regs::BUF_USABLE) {
            return Err(self.bad(format!(
                "a transfer of {} bytes at {} leaves the device's buffer ({} usable bytes)",
                t.len,
                t.at,
                regs::BUF_USABLE
            )));
        }
        if how == Completion::Interrupt && self.irq.is_none() {
            return Err(
                self.bad("interrupt completion asked for, but no interrupt is enabled".into())
            );
        }
        let inner = regs::BUF_ADDR + t.at as u64;
        let (src, dst, dir) = match t.toward {
            Toward::Device => (t.iova.raw(), inner, 0),
            Toward::Memory => (inner, t.iova.raw(), regs::CMD_TO_MEMORY),
        };
        self.io.write64(dma, Reg::bar0(regs::DMA_SRC), src)?;
        self.io.write64(dma, Reg::bar0(regs::DMA_DST), dst)?;
        self.io
            .write64(dma, Reg::bar0(regs::DMA_CNT), t.len as u64)?;
        let irq = if how == Completion::Interrupt {
            regs::CMD_IRQ
        } else {
            0
        };
        self.io
            .write64(dma, Reg::bar0(regs::DMA_CMD), regs::CMD_RUN | dir | irq)?;
        match how {
            Completion::Poll => self.poll_done(dma),
            Completion::Interrupt => self.irq_done(dma),
        }
    }

    fn poll_done<B: DmaBackend>(&mut self, dma: &mut B) -> Result<()>
    where
        D: DeviceIo<B>,
    {
        let start = Instant::now();
        loop {
            let cmd = self.io.read64(dma, Reg::bar0(regs::DMA_CMD))?;
            if cmd & regs::CMD_RUN == 0 {
                return Ok(());
            }
            if start.elapsed() > self.timeout {
                return Err(self.timed_out("the polled DMA transfer"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn irq_done<B: DmaBackend>(&mut self, dma: &mut B) -> Result<()>
    where
        D: DeviceIo<B>,
    {
        let mode = self.irq.unwrap_or(IrqMode::Msi);
        if self.io.wait_irq(dma, self.timeout)? == IrqWait::TimedOut {
            return Err(self.timed_out(&format!("the {mode} interrupt of a DMA transfer")));
        }
        let status = self.io.read32(dma, Reg::bar0(regs::IRQ_STATUS))?;
        if status & regs::IRQ_DMA == 0 {
            return Err(self.bad(format!(
                "{mode} interrupt without the DMA cause (status {status:#x})"
            )));
        }
        self.io.write32(dma, Reg::bar0(regs::IRQ_ACK), status)?;
        self.io.rearm_irq()?;
        let cmd = self.io.read64(dma, Reg::bar0(regs::DMA_CMD))?;
        if cmd & regs::CMD_RUN != 0 {
            return Err(self.bad("interrupt before the transfer finished".into()));
        }
        Ok(())
    }

    fn timed_out(&self, what: &str) -> Error {
        Error::Timeout {
            device: self.name.clone(),
            what: what.into(),
            ms: self.timeout.as_millis() as u64,
        }
    }

    /// The registers and interrupts back.
    pub fn into_io(self) -> D {
        self.io
    }
}
