//! The numbers the model gives its objects: devices, in the order they were
//! added; and mappings, DMA-BUFs, their attachments and fences, from one
//! counter, so that the order of the numbers is the order of creation.

/// A device known to a backend, numbered in the order devices were added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct DeviceId(pub(crate) u32);

impl DeviceId {
    /// The device's index in its backend.
    pub const fn index(self) -> u32 {
        self.0
    }
}

/// A mapping (streaming, scatterlist or coherent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct MapId(pub(crate) u64);

/// A DMA-BUF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct BufId(pub(crate) u64);

/// An attachment of a DMA-BUF to an importing device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct AttId(pub(crate) u64);

/// A fence on a DMA-BUF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct FenceId(pub(crate) u64);

/// The counter.
#[derive(Debug)]
pub(crate) struct Ids {
    last: u64,
}

impl Default for Ids {
    fn default() -> Self {
        Self { last: 1 }
    }
}

impl Ids {
    fn next(&mut self) -> u64 {
        self.last += 1;
        self.last
    }
    /// A new mapping number.
    pub(crate) fn map(&mut self) -> MapId {
        MapId(self.next())
    }
    /// A new DMA-BUF number.
    pub(crate) fn buf(&mut self) -> BufId {
        BufId(self.next())
    }
    /// A new attachment number.
    pub(crate) fn att(&mut self) -> AttId {
        AttId(self.next())
    }
    /// A new fence number.
    pub(crate) fn fence(&mut self) -> FenceId {
        FenceId(self.next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_counter_orders_every_kind() {
        let mut ids = Ids::default();
        let a = ids.map();
        let b = ids.buf();
        let c = ids.map();
        assert!(a.0 < b.0 && b.0 < c.0);
        assert_eq!(a, MapId(2));
    }
}
