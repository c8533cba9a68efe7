//! The scenario runner's steps for what devices do: reads and writes through
//! their mappings, the IOMMU, descriptor engines.

use super::{Ran, Runner, status_name};
use crate::engine::{DESCRIPTOR_SIZE, Descriptor, Status};
use crate::scenario::ast::{Name, Op};
use crate::scenario::objects::Ring;
use crate::trace::EventSource;

impl Runner {
    /// Devices: DMA reads and writes, removal, the IOMMU's flush, notes.
    pub(super) fn device_step(&mut self, op: &Op) -> Ran {
        match op {
            Op::DeviceRead { dev, at, len } => {
                let d = self.dev(dev)?;
                let dma = self.objs.dma_of(at)?;
                let mut b = vec![0u8; *len as usize];
                // A refused access is a fault in the report, not an error of
                // the scenario.
                let _ = self.m.device_read(d, dma, &mut b);
            }
            Op::DeviceWrite { dev, at, data } => {
                let d = self.dev(dev)?;
                let dma = self.objs.dma_of(at)?;
                let _ = self.m.device_write(d, dma, &data.bytes());
            }
            Op::DeviceExpect { dev, at, data } => {
                let d = self.dev(dev)?;
                let dma = self.objs.dma_of(at)?;
                let data = data.bytes();
                let mut b = vec![0u8; data.len()];
                if self.m.device_read(d, dma, &mut b).is_ok() && b[..] != data[..] {
                    self.expect_failed(format!("{} read at {dma}", dev.text), &data, &b);
                }
            }
            Op::IommuFlush => self.m.iommu_flush(),
            Op::RemoveDevice { dev } => {
                let d = self.dev(dev)?;
                self.m.remove_device(d);
            }
            Op::Note { text } => {
                let t = text.clone();
                self.m.note(EventSource::Cpu, "note", None, || t);
            }
            _ => unreachable!("device_step is given device steps"),
        }
        Ok(())
    }

    /// The DMA engine: its ring, descriptors, doorbell, status and
    /// interrupts.
    pub(super) fn engine_step(&mut self, op: &Op) -> Ran {
        match op {
            Op::Engine { dev, ring, entries } => {
                let d = self.dev(dev)?;
                let r = self.objs.ring(ring)?;
                if u64::from(*entries) * DESCRIPTOR_SIZE > r.len {
                    return Err(self.err(
                        ring.col,
                        format!(
                            "{entries} descriptors of {DESCRIPTOR_SIZE} bytes do not fit in {} ({} bytes)",
                            ring.text, r.len
                        ),
                    ));
                }
                self.m
                    .engine_configure(d, r.dma, *entries)
                    .map_err(|e| self.failed(dev.col, e))?;
            }
            Op::Desc {
                ring,
                index,
                src,
                dst,
                len,
                irq,
            } => {
                let Ring { cpu, len: rlen, .. } = self.objs.ring(ring)?;
                let off = u64::from(*index) * DESCRIPTOR_SIZE;
                if off + DESCRIPTOR_SIZE > rlen {
                    return Err(self.err(
                        ring.col,
                        format!("descriptor {index} is outside {}", ring.text),
                    ));
                }
                let d = Descriptor::new(self.objs.dma_of(src)?, self.objs.dma_of(dst)?, *len, *irq);
                self.m.cpu_write(cpu.unchecked_add(off), &d.encode());
                let rname = &ring.text;
                self.m.note(EventSource::Cpu, "descriptor", None, || {
                    format!(
                        "CPU writes descriptor {index} in {rname}: copy {len} bytes {} -> {}{}",
                        d.src,
                        d.dst,
                        if *irq { ", interrupt" } else { "" }
                    )
                });
            }
            Op::Doorbell { dev, tail } => {
                let d = self.dev(dev)?;
                self.m
                    .engine_doorbell(d, *tail)
                    .map_err(|e| self.failed(dev.col, e))?;
            }
            Op::ExpectStatus {
                ring,
                index,
                status,
            } => self.expect_status(ring, *index, *status)?,
            Op::ExpectIrqs { dev, count } => {
                let d = self.dev(dev)?;
                let got = self.m.engine_interrupts(d);
                self.m.engine_take_interrupts(d);
                if got != *count {
                    self.m.expectation_failed(format!(
                        "{} raised {got} interrupt(s), expected {count}",
                        dev.text
                    ));
                }
            }
            _ => unreachable!("engine_step is given DMA engine steps"),
        }
        Ok(())
    }

    pub(super) fn expect_status(&mut self, ring: &Name, index: u32, status: Status) -> Ran {
        let Ring { cpu, len: rlen, .. } = self.objs.ring(ring)?;
        let off = u64::from(index) * DESCRIPTOR_SIZE + Descriptor::STATUS_OFFSET;
        if off + 4 > rlen {
            return Err(self.err(
                ring.col,
                format!("descriptor {index} is outside {}", ring.text),
            ));
        }
        let mut b = [0u8; 4];
        self.m.cpu_read(cpu.unchecked_add(off), &mut b);
        let got = u32::from_le_bytes(b);
        self.m.note(EventSource::Cpu, "poll", None, || {
            format!("CPU polls descriptor {index} status: {}", status_name(got))
        });
        if got != status.word() {
            self.m.expectation_failed(format!(
                "descriptor {index} of {} has status {}, expected {}",
                ring.text,
                status_name(got),
                status.name()
            ));
        }
        Ok(())
    }
}
