//! What a refused device access looks like: a [`Fault`] with its
//! [`FaultReason`], as the IOMMU (or, without one, the bus) reports it.

use crate::addr::Iova;
use crate::direction::Access;
use crate::ids::DeviceId;

/// Why an IOMMU refused a device access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultReason {
    /// No translation for the IOVA.
    NotMapped,
    /// A read of a page mapped write-only (from-device).
    NoReadPermission,
    /// A write to a page mapped read-only (to-device).
    NoWritePermission,
    /// Without an IOMMU: the bus address hits no memory.
    NoMemory,
}

impl std::fmt::Display for FaultReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NotMapped => "no translation (PTE not present)",
            Self::NoReadPermission => "read of a write-only page",
            Self::NoWritePermission => "write to a read-only page",
            Self::NoMemory => "no memory at this bus address",
        })
    }
}

/// A DMA fault, as the IOMMU (or the bus) reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fault {
    /// The device's name.
    pub device: String,
    /// The device.
    pub device_id: DeviceId,
    /// The first faulting address.
    pub iova: Iova,
    /// Read or write.
    pub access: Access,
    /// Why.
    pub reason: FaultReason,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DMA {} fault: device {} at {}: {}",
            self.access, self.device, self.iova, self.reason
        )
    }
}
