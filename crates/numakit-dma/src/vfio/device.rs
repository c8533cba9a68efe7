//! One device opened through its VFIO group: its regions (BARs mapped on
//! first use, configuration space read and written through the device
//! file) and its interrupts as eventfds.

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use numakit_sys::event::EventFd;
use numakit_sys::vfio::{
    self, DeviceInfo as SysDeviceInfo, IrqIndex, IrqInfoFlags, RegionFlags, RegionInfo,
    RegionMapping,
};

use super::{VfioBackend, sys_error};
use crate::error::{Error, Result};
use crate::ids::DeviceId;
use crate::io::{DeviceIo, IrqMode, IrqWait, Reg};

/// The PCI command register and its bus-master bit.
const PCI_COMMAND: u64 = 0x04;
const PCI_COMMAND_MEMORY: u16 = 1 << 1;
const PCI_COMMAND_MASTER: u16 = 1 << 2;

/// Interrupts routed to an eventfd.
#[derive(Debug)]
struct Irq {
    mode: IrqMode,
    index: IrqIndex,
    event: EventFd,
    automasked: bool,
}

/// A device of a [`VfioBackend`]: registers and interrupts. DMA goes
/// through the backend; this is the device's other half, which a driver
/// reaches through [`DeviceIo`].
#[derive(Debug)]
pub struct VfioDevice {
    id: DeviceId,
    name: String,
    fd: OwnedFd,
    info: SysDeviceInfo,
    bars: Vec<Option<RegionMapping>>,
    irq: Option<Irq>,
}

impl VfioDevice {
    pub(super) fn new(id: DeviceId, name: String, fd: OwnedFd) -> Result<VfioDevice> {
        let info = vfio::device_get_info(fd.as_fd())
            .map_err(|e| sys_error(format!("cannot query device {name}"), e))?;
        Ok(VfioDevice {
            id,
            name,
            fd,
            info,
            bars: (0..6).map(|_| None).collect(),
            irq: None,
        })
    }

    /// The backend's number for the device.
    pub fn id(&self) -> DeviceId {
        self.id
    }

    /// The PCI address.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The number of regions VFIO reports (BARs, ROM, config space, ...).
    pub fn regions(&self) -> u32 {
        self.info.num_regions
    }

    /// What VFIO says about region `index` (BARs are 0-5, 7 is config space).
    pub fn region(&self, index: u32) -> Result<RegionInfo> {
        vfio::device_get_region_info(self.fd.as_fd(), index)
            .map_err(|e| sys_error(format!("device {}: region {index}", self.name), e))
    }

    /// Reads `buf.len()` bytes of configuration space at `offset`.
    pub fn config_read(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let r = self.region(vfio::region::CONFIG)?;
        let n = vfio::pread(self.fd.as_fd(), buf, r.offset + offset)
            .map_err(|e| sys_error(format!("device {}: config read", self.name), e))?;
        self.short(n, buf.len(), "config read")
    }

    /// Writes `buf` to configuration space at `offset`.
    pub fn config_write(&self, offset: u64, buf: &[u8]) -> Result<()> {
        let r = self.region(vfio::region::CONFIG)?;
        let n = vfio::pwrite(self.fd.as_fd(), buf, r.offset + offset)
            .map_err(|e| sys_error(format!("device {}: config write", self.name), e))?;
        self.short(n, buf.len(), "config write")
    }

    fn short(&self, got: usize, want: usize, what: &str) -> Result<()> {
        if got == want {
            return Ok(());
        }
        Err(Error::Device {
            device: self.name.clone(),
            what: format!("{what} moved {got} of {want} bytes"),
        })
    }

    /// Lets the device answer memory accesses and do DMA (the PCI command
    /// register's memory-space and bus-master bits), as a kernel driver's
    /// `pci_set_master` does.
    pub fn enable_bus_master(&self) -> Result<()> {
        let mut b = [0u8; 2];
        self.config_read(PCI_COMMAND, &mut b)?;
        let cmd = u16::from_le_bytes(b) | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
        self.config_write(PCI_COMMAND, &cmd.to_le_bytes())
    }

    /// `VFIO_DEVICE_RESET`.
    pub fn reset(&self) -> Result<()> {
        vfio::device_reset(self.fd.as_fd())
            .map_err(|e| sys_error(format!("cannot reset device {}", self.name), e))
    }

    fn bar(&mut self, bar: u8) -> Result<&mut RegionMapping> {
        let i = bar as usize;
        if i >= self.bars.len() {
            return Err(self.bad(format!("there is no BAR {bar}")));
        }
        if self.bars[i].is_none() {
            let r = self.region(bar as u32)?;
            if r.size == 0 || !r.flags.contains(RegionFlags::MMAP) {
                return Err(self.bad(format!("BAR {bar} cannot be mapped ({} bytes)", r.size)));
            }
            let m = RegionMapping::map(self.fd.as_fd(), r.offset, r.size as usize)
                .map_err(|e| sys_error(format!("device {}: cannot map BAR {bar}", self.name), e))?;
            self.bars[i] = Some(m);
        }
        Ok(self.bars[i].as_mut().expect("mapped above"))
    }

    fn bad(&self, what: String) -> Error {
        Error::Device {
            device: self.name.clone(),
            what,
        }
    }

    fn reg_err(&self, reg: Reg, e: numakit_sys::Errno) -> Error {
        self.bad(format!(
            "register {:#x} of BAR {} is outside it or unaligned ({e})",
            reg.offset, reg.bar
        ))
    }
}

impl DeviceIo<VfioBackend> for VfioDevice {
    fn read32(&mut self, _dma: &mut VfioBackend, reg: Reg) -> Result<u32> {
        let r = self.bar(reg.bar)?.read32(reg.offset);
        r.map_err(|e| self.reg_err(reg, e))
    }

    fn write32(&mut self, _dma: &mut VfioBackend, reg: Reg, value: u32) -> Result<()> {
        let r = self.bar(reg.bar)?.write32(reg.offset, value);
        r.map_err(|e| self.reg_err(reg, e))
    }

    fn read64(&mut self, _dma: &mut VfioBackend, reg: Reg) -> Result<u64> {
        let r = self.bar(reg.bar)?.read64(reg.offset);
        r.map_err(|e| self.reg_err(reg, e))
    }

    fn write64(&mut self, _dma: &mut VfioBackend, reg: Reg, value: u64) -> Result<()> {
        let r = self.bar(reg.bar)?.write64(reg.offset, value);
        r.map_err(|e| self.reg_err(reg, e))
    }

    fn enable_irq(&mut self, mode: IrqMode) -> Result<()> {
        self.disable_irq()?;
        let index = match mode {
            IrqMode::Msi => IrqIndex::Msi,
            IrqMode::Intx => IrqIndex::Intx,
        };
        let what = |s: &str| format!("device {}: {mode} {s}", self.name);
        let info = vfio::device_get_irq_info(self.fd.as_fd(), index)
            .map_err(|e| sys_error(what("interrupt query"), e))?;
        if info.count == 0 || !info.flags.contains(IrqInfoFlags::EVENTFD) {
            return Err(self.bad(format!(
                "it has no {mode} interrupt that can signal an eventfd"
            )));
        }
        let event = EventFd::new().map_err(|e| sys_error(what("eventfd"), e))?;
        vfio::device_set_irq_eventfds(self.fd.as_fd(), index, 0, &[event.as_fd()])
            .map_err(|e| sys_error(what("routing to an eventfd"), e))?;
        self.irq = Some(Irq {
            mode,
            index,
            event,
            automasked: info.flags.contains(IrqInfoFlags::AUTOMASKED),
        });
        Ok(())
    }

    fn disable_irq(&mut self) -> Result<()> {
        if let Some(irq) = self.irq.take() {
            vfio::device_set_irq_eventfds(self.fd.as_fd(), irq.index, 0, &[]).map_err(|e| {
                sys_error(format!("device {}: disabling {}", self.name, irq.mode), e)
            })?;
        }
        Ok(())
    }

    fn wait_irq(&mut self, _dma: &mut VfioBackend, timeout: Duration) -> Result<IrqWait> {
        let Some(irq) = &self.irq else {
            return Err(self.bad("no interrupt is enabled to wait for".into()));
        };
        match irq.event.wait(timeout) {
            Ok(Some(n)) => Ok(IrqWait::Fired(n)),
            Ok(None) => Ok(IrqWait::TimedOut),
            Err(e) => Err(sys_error(
                format!("device {}: waiting for {}", self.name, irq.mode),
                e,
            )),
        }
    }

    fn rearm_irq(&mut self) -> Result<()> {
        match &self.irq {
            Some(irq) if irq.automasked => vfio::device_unmask_irq(self.fd.as_fd(), irq.index, 0)
                .map_err(|e| sys_error(format!("device {}: unmasking INTx", self.name), e)),
            _ => Ok(()),
        }
    }
}

impl Drop for VfioDevice {
    fn drop(&mut self) {
        let _ = self
            .irq
            .take()
            .map(|irq| vfio::device_set_irq_eventfds(self.fd.as_fd(), irq.index, 0, &[]));
    }
}
