//! A DMA engine device: it fetches descriptors `(source, destination,
//! length)` from a ring in coherent memory, copies, writes a status word back
//! into the descriptor and raises an interrupt when asked to.

use std::panic::Location;

use crate::event::EventSource;
use crate::model::ModelBackend;
use crate::{DeviceId, Error, Iova, Result};

/// The size of a descriptor in the ring.
pub const DESCRIPTOR_SIZE: u64 = 32;

/// A descriptor as it lies in memory, little-endian:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | source DMA address |
/// | 8 | 8 | destination DMA address |
/// | 16 | 4 | length in bytes |
/// | 20 | 4 | flags ([`Descriptor::IRQ`]) |
/// | 24 | 4 | status, written by the engine |
/// | 28 | 4 | reserved |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    /// Where the engine reads.
    pub src: Iova,
    /// Where the engine writes.
    pub dst: Iova,
    /// How many bytes.
    pub len: u32,
    /// Flags.
    pub flags: u32,
    /// Status.
    pub status: u32,
}

impl Descriptor {
    /// Flag: raise an interrupt when this descriptor completes.
    pub const IRQ: u32 = 1;
    /// Status: not processed yet.
    pub const PENDING: u32 = 0;
    /// Status: copied.
    pub const DONE: u32 = 1;
    /// Status: a DMA access faulted.
    pub const ERROR: u32 = 2;
    /// Offset of the status word in a descriptor.
    pub const STATUS_OFFSET: u64 = 24;

    /// A pending descriptor.
    pub fn new(src: Iova, dst: Iova, len: u32, irq: bool) -> Self {
        Self {
            src,
            dst,
            len,
            flags: if irq { Self::IRQ } else { 0 },
            status: Self::PENDING,
        }
    }

    /// The bytes of the descriptor in memory.
    pub fn encode(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[0..8].copy_from_slice(&self.src.raw().to_le_bytes());
        b[8..16].copy_from_slice(&self.dst.raw().to_le_bytes());
        b[16..20].copy_from_slice(&self.len.to_le_bytes());
        b[20..24].copy_from_slice(&self.flags.to_le_bytes());
        b[24..28].copy_from_slice(&self.status.to_le_bytes());
        b
    }

    /// A descriptor from its bytes.
    pub fn decode(b: &[u8; 32]) -> Self {
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        Self {
            src: Iova::new(u64_at(0)),
            dst: Iova::new(u64_at(8)),
            len: u32_at(16),
            flags: u32_at(20),
            status: u32_at(24),
        }
    }
}

/// A completed descriptor, as delivered to the interrupt handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    /// The engine.
    pub device: DeviceId,
    /// The descriptor's index in the ring.
    pub index: u32,
    /// [`Descriptor::DONE`] or [`Descriptor::ERROR`].
    pub status: u32,
}

type Handler = Box<dyn FnMut(Completion) + Send>;

pub(crate) struct Engine {
    ring: Iova,
    entries: u32,
    head: u32,
    handler: Option<Handler>,
    pending: Vec<Completion>,
    irqs: u64,
}

impl ModelBackend {
    /// Points the engine of `dev` at a descriptor ring of `entries`
    /// descriptors at DMA address `ring` (normally coherent memory).
    pub fn engine_configure(&mut self, dev: DeviceId, ring: Iova, entries: u32) -> Result<()> {
        if self.devices.get(dev.0 as usize).is_none() {
            return Err(Error::NoDevice(dev.0));
        }
        let entries = entries.max(1);
        self.engines.insert(
            dev.0,
            Engine {
                ring,
                entries,
                head: 0,
                handler: None,
                pending: Vec::new(),
                irqs: 0,
            },
        );
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
        let name = self.dev_name(dev);
        let e = self.engines.get_mut(&dev.0).ok_or(Error::NoEngine(name))?;
        e.handler = Some(Box::new(handler));
        Ok(())
    }

    /// Completions signalled by interrupt and not yet taken.
    pub fn engine_take_interrupts(&mut self, dev: DeviceId) -> Vec<Completion> {
        self.engines
            .get_mut(&dev.0)
            .map(|e| std::mem::take(&mut e.pending))
            .unwrap_or_default()
    }

    /// How many interrupts the engine of `dev` raised.
    pub fn engine_interrupts(&self, dev: DeviceId) -> u64 {
        self.engines.get(&dev.0).map_or(0, |e| e.irqs)
    }

    /// The driver writes the tail register: the engine processes descriptors
    /// from its head up to `tail` (exclusive, modulo the ring size). Returns
    /// how many it processed. Every access goes through the IOMMU and the
    /// checker like any device access.
    #[track_caller]
    pub fn engine_doorbell(&mut self, dev: DeviceId, tail: u32) -> Result<u32> {
        let site = Location::caller();
        let name = self.dev_name(dev);
        let (ring, entries, mut head) = {
            let e = self.engines.get(&dev.0).ok_or(Error::NoEngine(name))?;
            (e.ring, e.entries, e.head)
        };
        let tail = tail % entries;
        self.ev(EventSource::Engine, "doorbell", Some(dev), || {
            format!("doorbell: tail {tail}, head {head}")
        });
        let mut n = 0;
        while head != tail {
            let at = Iova::new(ring.raw() + u64::from(head) * DESCRIPTOR_SIZE);
            let mut raw = [0u8; 32];
            if let Err(e) = self.device_read_at(dev, at, &mut raw, site) {
                self.ev(EventSource::Engine, "halt", Some(dev), || {
                    format!("descriptor {head} unreadable ({e}): engine halted")
                });
                break;
            }
            let d = Descriptor::decode(&raw);
            let mut status = Descriptor::DONE;
            if u64::from(d.len) > crate::scenario::MAX_DATA {
                status = Descriptor::ERROR;
            } else if d.len > 0 {
                let mut buf = vec![0u8; d.len as usize];
                let ok = self.device_read_at(dev, d.src, &mut buf, site).is_ok()
                    && self.device_write_at(dev, d.dst, &buf, site).is_ok();
                if !ok {
                    status = Descriptor::ERROR;
                }
            }
            let idx = head;
            self.ev(EventSource::Engine, "descriptor", Some(dev), || {
                format!(
                    "descriptor {idx}: copy {} bytes {} -> {}: {}",
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
            let _ = self.device_write_at(
                dev,
                Iova::new(at.raw() + Descriptor::STATUS_OFFSET),
                &status.to_le_bytes(),
                site,
            );
            if d.flags & Descriptor::IRQ != 0 {
                let c = Completion {
                    device: dev,
                    index: idx,
                    status,
                };
                self.ev(EventSource::Engine, "interrupt", Some(dev), || {
                    format!("interrupt: descriptor {idx} complete")
                });
                let e = self.engines.get_mut(&dev.0).expect("engine");
                e.irqs += 1;
                match e.handler.as_mut() {
                    Some(h) => h(c),
                    None => e.pending.push(c),
                }
            }
            head = (head + 1) % entries;
            n += 1;
            self.engines.get_mut(&dev.0).expect("engine").head = head;
        }
        Ok(n)
    }
}
