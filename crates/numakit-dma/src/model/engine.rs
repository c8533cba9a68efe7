//! The DMA engine at work: the driver points it at a descriptor ring and
//! rings the doorbell; the engine fetches each descriptor, copies, writes
//! the status back and interrupts, every access a device access like any
//! other (through the IOMMU, seen by the checker).

use std::panic::Location;

use super::ModelBackend;
use crate::addr::Iova;
use crate::engine::{Completion, DESCRIPTOR_SIZE, Descriptor, Engine, MAX_TRANSFER};
use crate::error::{Error, Result};
use crate::ids::DeviceId;
use crate::trace::{EventSource, Site};

impl ModelBackend {
    /// Points the engine of `dev` at a descriptor ring of `entries`
    /// descriptors at DMA address `ring` (normally coherent memory).
    pub fn engine_configure(&mut self, dev: DeviceId, ring: Iova, entries: u32) -> Result<()> {
        if self.hw.devices.get(dev).is_none() {
            return Err(Error::NoDevice(dev.0));
        }
        let e = Engine::new(ring, entries);
        let entries = e.entries;
        self.engines.configure(dev, e);
        self.ev(EventSource::Engine, "configure", Some(dev), || {
            format!("descriptor ring at {ring}, {entries} entries")
        });
        Ok(())
    }

    /// Installs the interrupt handler of the engine of `dev`. Without one,
    /// completions queue up for [`engine_take_interrupts`](Self::engine_take_interrupts).
    pub fn engine_on_interrupt(
        &mut self,
        dev: DeviceId,
        handler: impl FnMut(Completion) + Send + 'static,
    ) -> Result<()> {
        if self.engines.set_handler(dev, Box::new(handler)) {
            Ok(())
        } else {
            Err(Error::NoEngine(self.dev_name(dev)))
        }
    }

    /// Completions signalled by interrupt and not yet taken.
    pub fn engine_take_interrupts(&mut self, dev: DeviceId) -> Vec<Completion> {
        self.engines.take_pending(dev)
    }

    /// How many interrupts the engine of `dev` raised.
    pub fn engine_interrupts(&self, dev: DeviceId) -> u64 {
        self.engines.irqs(dev)
    }

    /// The driver writes the tail register: the engine processes descriptors
    /// from its head up to `tail` (exclusive, modulo the ring size). Returns
    /// how many it processed. Every access goes through the IOMMU and the
    /// checker like any device access.
    #[track_caller]
    pub fn engine_doorbell(&mut self, dev: DeviceId, tail: u32) -> Result<u32> {
        let site = Location::caller();
        let (entries, mut head) = match self.engines.get(dev) {
            Some(e) => (e.entries, e.head),
            None => return Err(Error::NoEngine(self.dev_name(dev))),
        };
        let tail = tail % entries;
        self.ev(EventSource::Engine, "doorbell", Some(dev), || {
            format!("doorbell: tail {tail}, head {head}")
        });
        let mut n = 0;
        while head != tail {
            if !self.run_descriptor(dev, head, site) {
                break;
            }
            head = (head + 1) % entries;
            n += 1;
            if let Some(e) = self.engines.get_mut(dev) {
                e.head = head;
            }
        }
        Ok(n)
    }

    /// Runs descriptor `index`; false when the engine halts because the
    /// descriptor cannot be read.
    fn run_descriptor(&mut self, dev: DeviceId, index: u32, site: Site) -> bool {
        let at = self
            .engines
            .get(dev)
            .expect("a configured engine")
            .slot(index);
        let mut raw = [0u8; DESCRIPTOR_SIZE as usize];
        if let Err(e) = self.device_read_at(dev, at, &mut raw, site) {
            self.ev(EventSource::Engine, "halt", Some(dev), || {
                format!("descriptor {index} unreadable ({e}): engine halted")
            });
            return false;
        }
        let d = Descriptor::decode(&raw);
        let status = if self.copy(dev, d, site) {
            Descriptor::DONE
        } else {
            Descriptor::ERROR
        };
        self.ev(EventSource::Engine, "descriptor", Some(dev), || {
            format!(
                "descriptor {index}: copy {} bytes {} -> {}: {}",
                d.len,
                d.src,
                d.dst,
                if status == Descriptor::DONE {
                    "done"
                } else {
                    "error"
                }
            )
        });
        let status_at = at.unchecked_add(Descriptor::STATUS_OFFSET);
        // A status the device cannot write back is a fault the checker and
        // the fault list already hold; the engine goes on.
        let _ = self.device_write_at(dev, status_at, &status.to_le_bytes(), site);
        if d.flags & Descriptor::IRQ != 0 {
            self.ev(EventSource::Engine, "interrupt", Some(dev), || {
                format!("interrupt: descriptor {index} complete")
            });
            let c = Completion {
                device: dev,
                index,
                status,
            };
            if let Some(e) = self.engines.get_mut(dev) {
                e.interrupt(c);
            }
        }
        true
    }

    /// The copy a descriptor asks for; false when it is too long or faults.
    fn copy(&mut self, dev: DeviceId, d: Descriptor, site: Site) -> bool {
        if u64::from(d.len) > MAX_TRANSFER {
            return false;
        }
        if d.len == 0 {
            return true;
        }
        let mut buf = vec![0u8; d.len as usize];
        self.device_read_at(dev, d.src, &mut buf, site).is_ok()
            && self.device_write_at(dev, d.dst, &buf, site).is_ok()
    }
}
