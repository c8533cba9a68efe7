//! The `edu` device on the DMA model: its registers, its 4 KiB buffer and
//! its DMA engine, which reaches memory through the model's IOMMU with the
//! device's 28-bit mask, as QEMU's device does through the emulated one.
//! Time does not pass in the model: a transfer completes when it is
//! started, and its interrupt is pending from then on.

use std::time::Duration;

use super::regs;
use crate::addr::{DmaMask, Iova};
use crate::config::{DeviceConfig, IommuMode};
use crate::error::{Error, Result};
use crate::ids::DeviceId;
use crate::io::{DeviceIo, IrqMode, IrqWait, Reg};
use crate::model::ModelBackend;

/// A model with one `edu` device named `name` behind a strict IOMMU.
pub fn model_backend(name: &str) -> Result<(ModelBackend, EduModel)> {
    let m = ModelBackend::builder()
        .iommu(IommuMode::Strict)
        .device(DeviceConfig::new(name).hw_mask(DmaMask::bits(regs::DMA_BITS)))
        .build()?;
    let dev = m.device_id(name).ok_or(Error::NoDevice(0))?;
    Ok((m, EduModel::new(dev)))
}

/// The modelled `edu` device.
#[derive(Debug)]
pub struct EduModel {
    dev: DeviceId,
    buf: Vec<u8>,
    liveness: u32,
    src: u64,
    dst: u64,
    cnt: u64,
    cmd: u64,
    irq_status: u32,
    irq: Option<IrqMode>,
    pending: u64,
}

impl EduModel {
    /// The device `dev` of a model.
    pub fn new(dev: DeviceId) -> EduModel {
        EduModel {
            dev,
            buf: vec![0; regs::BUF_SIZE as usize],
            liveness: 0,
            src: 0,
            dst: 0,
            cnt: 0,
            cmd: 0,
            irq_status: 0,
            irq: None,
            pending: 0,
        }
    }

    /// The device.
    pub fn device(&self) -> DeviceId {
        self.dev
    }

    fn bad(&self, dma: &ModelBackend, what: String) -> Error {
        let device = dma
            .device_config(self.dev)
            .map_or_else(|| "edu".to_string(), |c| c.name.clone());
        Error::Device { device, what }
    }

    /// The offset of `[addr, addr + cnt)` in the internal buffer; QEMU stops
    /// on anything else, so the model refuses it.
    fn inner(&self, dma: &ModelBackend, addr: u64) -> Result<usize> {
        let end = addr.checked_add(self.cnt);
        let top = regs::BUF_ADDR + regs::BUF_SIZE as u64;
        if addr < regs::BUF_ADDR || end.is_none_or(|e| e > top) {
            return Err(self.bad(
                dma,
                format!(
                    "DMA range {addr:#x}+{:#x} is outside the internal buffer (QEMU would stop)",
                    self.cnt
                ),
            ));
        }
        Ok((addr - regs::BUF_ADDR) as usize)
    }

    /// Runs the programmed transfer. A transfer the IOMMU refuses moves no
    /// byte; the fault is recorded by the model, as the kernel logs it.
    fn run(&mut self, dma: &mut ModelBackend) -> Result<()> {
        let mask = DmaMask::bits(regs::DMA_BITS).raw();
        let r = if self.cmd & regs::CMD_TO_MEMORY == 0 {
            let at = self.inner(dma, self.dst)?;
            let mut data = vec![0u8; self.cnt as usize];
            let r = dma.device_read(self.dev, Iova::new(self.src & mask), &mut data);
            if r.is_ok() {
                self.buf[at..at + data.len()].copy_from_slice(&data);
            }
            r
        } else {
            let at = self.inner(dma, self.src)?;
            let data = self.buf[at..at + self.cnt as usize].to_vec();
            dma.device_write(self.dev, Iova::new(self.dst & mask), &data)
        };
        match r {
            Ok(()) | Err(Error::Fault(_)) => {}
            Err(e) => return Err(e),
        }
        self.cmd &= !regs::CMD_RUN;
        if self.cmd & regs::CMD_IRQ != 0 {
            self.raise(regs::IRQ_DMA);
        }
        Ok(())
    }

    fn raise(&mut self, cause: u32) {
        self.irq_status |= cause;
        if self.irq.is_some() {
            self.pending += 1;
        }
    }
}

impl DeviceIo<ModelBackend> for EduModel {
    fn read32(&mut self, _dma: &mut ModelBackend, reg: Reg) -> Result<u32> {
        Ok(match reg.offset {
            regs::ID => 0x0100_0000 | regs::MAGIC,
            regs::LIVENESS => self.liveness,
            regs::IRQ_STATUS => self.irq_status,
            o if o >= regs::DMA_SRC => self.read64(_dma, reg)? as u32,
            _ => u32::MAX,
        })
    }

    fn write32(&mut self, dma: &mut ModelBackend, reg: Reg, value: u32) -> Result<()> {
        match reg.offset {
            regs::LIVENESS => self.liveness = !value,
            regs::IRQ_RAISE => self.raise(value),
            regs::IRQ_ACK => self.irq_status &= !value,
            o if o >= regs::DMA_SRC => self.write64(dma, reg, value as u64)?,
            _ => {}
        }
        Ok(())
    }

    fn read64(&mut self, _dma: &mut ModelBackend, reg: Reg) -> Result<u64> {
        Ok(match reg.offset {
            regs::DMA_SRC => self.src,
            regs::DMA_DST => self.dst,
            regs::DMA_CNT => self.cnt,
            regs::DMA_CMD => self.cmd,
            _ => u64::MAX,
        })
    }

    fn write64(&mut self, dma: &mut ModelBackend, reg: Reg, value: u64) -> Result<()> {
        if self.cmd & regs::CMD_RUN != 0 {
            return Ok(());
        }
        match reg.offset {
            regs::DMA_SRC => self.src = value,
            regs::DMA_DST => self.dst = value,
            regs::DMA_CNT => self.cnt = value,
            regs::DMA_CMD if value & regs::CMD_RUN != 0 => {
                self.cmd = value;
                self.run(dma)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn enable_irq(&mut self, mode: IrqMode) -> Result<()> {
        self.irq = Some(mode);
        self.pending = 0;
        Ok(())
    }

    fn disable_irq(&mut self) -> Result<()> {
        self.irq = None;
        self.pending = 0;
        Ok(())
    }

    fn wait_irq(&mut self, _dma: &mut ModelBackend, _timeout: Duration) -> Result<IrqWait> {
        if self.irq.is_none() || self.pending == 0 {
            return Ok(IrqWait::TimedOut);
        }
        let n = std::mem::take(&mut self.pending);
        Ok(IrqWait::Fired(n))
    }

    fn rearm_irq(&mut self) -> Result<()> {
        Ok(())
    }
}
