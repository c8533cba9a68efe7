//! A DMA engine device: it fetches descriptors `(source, destination,
//! length)` from a ring in coherent memory, copies, writes a status word back
//! into the descriptor and raises an interrupt when asked to.
//!
//! This module holds the descriptor format and each engine's state; the
//! engine runs as methods of [`ModelBackend`](crate::ModelBackend), so that
//! every access it makes goes through the IOMMU and the checker.

use crate::addr::Iova;
use crate::ids::DeviceId;
use crate::intmap::IntMap;

/// The size of a descriptor in the ring.
pub const DESCRIPTOR_SIZE: u64 = 32;

/// The longest copy one descriptor may ask for (64 MiB); a longer one
/// completes with [`Descriptor::ERROR`].
pub const MAX_TRANSFER: u64 = 64 << 20;

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

/// A descriptor's status word, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// [`Descriptor::PENDING`]: not processed yet.
    Pending,
    /// [`Descriptor::DONE`]: copied.
    Done,
    /// [`Descriptor::ERROR`]: a DMA access faulted.
    Error,
}

impl Status {
    /// The word the engine writes.
    pub const fn word(self) -> u32 {
        match self {
            Self::Pending => Descriptor::PENDING,
            Self::Done => Descriptor::DONE,
            Self::Error => Descriptor::ERROR,
        }
    }
    /// The status a word stands for, if any.
    pub const fn from_word(w: u32) -> Option<Self> {
        match w {
            Descriptor::PENDING => Some(Self::Pending),
            Descriptor::DONE => Some(Self::Done),
            Descriptor::ERROR => Some(Self::Error),
            _ => None,
        }
    }
    /// Its name: `pending`, `done` or `error`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Done => "done",
            Self::Error => "error",
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

/// An interrupt handler.
pub(crate) type Handler = Box<dyn FnMut(Completion) + Send>;

/// One device's engine: its ring and where it is in it.
pub(crate) struct Engine {
    pub(crate) ring: Iova,
    pub(crate) entries: u32,
    pub(crate) head: u32,
    handler: Option<Handler>,
    pending: Vec<Completion>,
    irqs: u64,
}

impl Engine {
    /// An engine at the start of a ring of `entries` descriptors at `ring`.
    pub(crate) fn new(ring: Iova, entries: u32) -> Self {
        Self {
            ring,
            entries: entries.max(1),
            head: 0,
            handler: None,
            pending: Vec::new(),
            irqs: 0,
        }
    }

    /// The DMA address of descriptor `index`.
    pub(crate) fn slot(&self, index: u32) -> Iova {
        self.ring.unchecked_add(u64::from(index) * DESCRIPTOR_SIZE)
    }

    /// Raises the interrupt for `c`: the handler runs, or the completion
    /// waits to be taken.
    pub(crate) fn interrupt(&mut self, c: Completion) {
        self.irqs += 1;
        match self.handler.as_mut() {
            Some(h) => h(c),
            None => self.pending.push(c),
        }
    }
}

/// The engines, by device.
#[derive(Default)]
pub(crate) struct Engines {
    by_dev: IntMap<u32, Engine>,
}

impl Engines {
    /// Points `dev`'s engine at a ring (a new engine, head at 0).
    pub(crate) fn configure(&mut self, dev: DeviceId, e: Engine) {
        self.by_dev.insert(dev.0, e);
    }
    /// The engine of `dev`.
    pub(crate) fn get(&self, dev: DeviceId) -> Option<&Engine> {
        self.by_dev.get(&dev.0)
    }
    /// The engine of `dev`, to change.
    pub(crate) fn get_mut(&mut self, dev: DeviceId) -> Option<&mut Engine> {
        self.by_dev.get_mut(&dev.0)
    }
    /// Installs an interrupt handler; false when `dev` has no engine.
    pub(crate) fn set_handler(&mut self, dev: DeviceId, h: Handler) -> bool {
        match self.by_dev.get_mut(&dev.0) {
            Some(e) => {
                e.handler = Some(h);
                true
            }
            None => false,
        }
    }
    /// Takes the completions waiting for `dev`.
    pub(crate) fn take_pending(&mut self, dev: DeviceId) -> Vec<Completion> {
        self.by_dev
            .get_mut(&dev.0)
            .map(|e| std::mem::take(&mut e.pending))
            .unwrap_or_default()
    }
    /// Interrupts raised by `dev`'s engine.
    pub(crate) fn irqs(&self, dev: DeviceId) -> u64 {
        self.by_dev.get(&dev.0).map_or(0, |e| e.irqs)
    }
    /// The device is gone, and its engine with it.
    pub(crate) fn remove(&mut self, dev: DeviceId) {
        self.by_dev.remove(&dev.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_round_trip_through_their_bytes() {
        let d = Descriptor::new(Iova::new(0x1000), Iova::new(0x2000), 64, true);
        let b = d.encode();
        assert_eq!(&b[16..20], &64u32.to_le_bytes());
        assert_eq!(Descriptor::decode(&b), d);
    }

    #[test]
    fn status_words_have_names() {
        for s in [Status::Pending, Status::Done, Status::Error] {
            assert_eq!(Status::from_word(s.word()), Some(s));
        }
        assert_eq!(Status::from_word(7), None);
        assert_eq!(Status::Done.name(), "done");
    }

    #[test]
    fn interrupts_go_to_the_handler_or_wait() {
        let mut es = Engines::default();
        let dev = DeviceId(0);
        es.configure(dev, Engine::new(Iova::new(0x1000), 0));
        assert_eq!(
            es.get(dev).unwrap().entries,
            1,
            "a ring has at least one slot"
        );
        assert_eq!(es.get(dev).unwrap().slot(1), Iova::new(0x1020));
        let c = Completion {
            device: dev,
            index: 0,
            status: Descriptor::DONE,
        };
        es.get_mut(dev).unwrap().interrupt(c);
        assert_eq!(es.take_pending(dev), vec![c]);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(0));
        let s2 = seen.clone();
        assert!(es.set_handler(dev, Box::new(move |_| *s2.lock().unwrap() += 1)));
        es.get_mut(dev).unwrap().interrupt(c);
        assert_eq!(*seen.lock().unwrap(), 1);
        assert_eq!(es.irqs(dev), 2);
        assert!(!es.set_handler(DeviceId(5), Box::new(|_| {})));
    }
}
