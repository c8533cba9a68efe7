//! The crate's error type.

use crate::addr::{DmaMask, PhysAddr};
use crate::fault::Fault;

/// What went wrong in a DMA API call. API misuse that the kernel would let
/// through is not an error: it is a [`Finding`](crate::Finding) of the
/// checker, and the call goes on as the kernel's would.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The machine description is not valid.
    #[error("invalid machine: {0}")]
    InvalidConfig(String),
    /// No device with this index.
    #[error("no device number {0}")]
    NoDevice(u32),
    /// The device was removed.
    #[error("device {0} was removed")]
    DeviceGone(String),
    /// `dma_set_mask` with a mask the platform cannot serve.
    #[error(
        "device {device}: a {mask} DMA mask is not supported: the lowest memory zone needs 24 bits"
    )]
    MaskTooSmall {
        /// The device.
        device: String,
        /// The mask asked for.
        mask: DmaMask,
    },
    /// No physical memory left in the zone.
    #[error("out of memory: no room for {size} bytes in the {zone} zone")]
    OutOfMemory {
        /// The size asked for.
        size: u64,
        /// The zone.
        zone: &'static str,
    },
    /// The model would need more host memory than its budget
    /// ([`MachineConfig::model_memory`](crate::MachineConfig::model_memory)).
    #[error(
        "the model would need more than its {} MiB of host memory for {what}: raise the budget (model-memory= on the machine line) or model less",
        budget >> 20
    )]
    ModelMemory {
        /// What asked for it.
        what: String,
        /// The budget in bytes.
        budget: u64,
    },
    /// `DMA_NONE` is not a direction for a mapping.
    #[error("DMA_NONE is not a valid direction for a mapping")]
    InvalidDirection,
    /// A mapping or allocation of zero bytes.
    #[error("zero-length DMA mapping")]
    ZeroLength,
    /// The device's IOVA space below its mask is full.
    #[error("device {device}: no free IOVA range of {pages} pages below its {mask} mask")]
    IovaExhausted {
        /// The device.
        device: String,
        /// Pages asked for.
        pages: u64,
        /// The device's mask.
        mask: DmaMask,
    },
    /// The device cannot reach the buffer and it cannot be bounced.
    #[error("device {device} cannot reach {addr} with its {mask} mask{why}")]
    Unreachable {
        /// The device.
        device: String,
        /// The buffer's physical address.
        addr: PhysAddr,
        /// The device's mask.
        mask: DmaMask,
        /// Why bouncing did not help.
        why: &'static str,
    },
    /// swiotlb has no room for the bounce buffer.
    #[error("swiotlb is full: no room to bounce {size} bytes (at most 256 KiB per mapping)")]
    SwiotlbFull {
        /// The size asked for.
        size: u64,
    },
    /// The IOMMU (or the bus) refused a device access.
    #[error("{0}")]
    Fault(Fault),
    /// An access outside a buffer.
    #[error("offset {offset} plus length {len} is outside the {size}-byte buffer")]
    OutOfBounds {
        /// The offset.
        offset: u64,
        /// The length.
        len: u64,
        /// The buffer's size.
        size: u64,
    },
    /// A handle that does not belong to this backend or was already released.
    #[error("stale or foreign {0} handle")]
    StaleHandle(&'static str),
    /// A typed-API handle made by another backend instance.
    #[error(
        "this {what} was made by DMA backend instance {made_by}, not by this one ({given_to}): give each handle back to the backend that made it"
    )]
    ForeignHandle {
        /// What the handle is (`CPU buffer`, `mapping`).
        what: &'static str,
        /// The instance that made it.
        made_by: u64,
        /// The instance it was given to.
        given_to: u64,
    },
    /// Waiting on a fence nobody has signalled: in a sequential model the
    /// wait would never return.
    #[error("fence {0} is not signalled: the wait would never return")]
    FenceUnsignalled(String),
    /// `dma_map_resource` of RAM.
    #[error("{addr} is RAM, not device memory: map RAM with dma_map_page")]
    NotDeviceMemory {
        /// The address.
        addr: PhysAddr,
    },
    /// The device has no DMA engine configured.
    #[error("device {0} has no DMA engine ring configured")]
    NoEngine(String),
    /// A system call of the VFIO backend failed: what was being done, and
    /// what the errno means there.
    #[error("{what}: {why}")]
    Sys {
        /// What was being done (`cannot open /dev/vfio/42`).
        what: String,
        /// What the errno means for it, with the errno.
        why: String,
    },
    /// VFIO cannot be used on this system.
    #[error("VFIO is not available: {0}")]
    VfioUnavailable(String),
    /// The IOMMU group has a device bound to a driver that could DMA.
    #[error(
        "IOMMU group {group} is not viable: a device in it is bound to a driver other than vfio-pci"
    )]
    GroupNotViable {
        /// The group.
        group: u32,
    },
    /// A device did something its driver did not expect.
    #[error("device {device}: {what}")]
    Device {
        /// The device.
        device: String,
        /// What happened.
        what: String,
    },
    /// A device did not finish in time.
    #[error("device {device}: {what} did not complete within {ms} ms")]
    Timeout {
        /// The device.
        device: String,
        /// What was waited for.
        what: String,
        /// How long.
        ms: u64,
    },
    /// DMA memory could not be placed on the device's node.
    #[error("DMA memory for node {node}: {what}")]
    Placement {
        /// The node.
        node: u32,
        /// What went wrong.
        what: String,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
