//! The error of planning and binding: what failed, with the values involved.

use numakit_types::PciAddress;

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a plan could not be made or carried out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No IOMMU, so no VFIO.
    #[error("no IOMMU: {detail}")]
    NoIommu {
        /// Why it is off.
        detail: String,
        /// What to do.
        hint: String,
    },
    /// The vfio-pci driver is not registered.
    #[error("the vfio-pci driver is not loaded")]
    NoVfioPci,
    /// No such PCI device.
    #[error("no PCI device {address}")]
    UnknownDevice {
        /// The address.
        address: PciAddress,
    },
    /// No such IOMMU group.
    #[error("no IOMMU group {group}")]
    UnknownGroup {
        /// The group.
        group: u32,
    },
    /// The device is in no IOMMU group.
    #[error("{address} is in no IOMMU group")]
    NoGroup {
        /// The device.
        address: PciAddress,
    },
    /// The state file is not numakit's.
    #[error("{path} is not a numakit state file")]
    BadState {
        /// The path.
        path: String,
    },
    /// The state file cannot be written.
    #[error("cannot write {path}: {why}")]
    State {
        /// The path.
        path: String,
        /// Why.
        why: String,
    },
    /// A sysfs write failed.
    #[error("'{write}' failed: {why}")]
    Write {
        /// The write, as a shell command.
        write: String,
        /// Why.
        why: String,
    },
    /// The device ended up on another driver.
    #[error("{address} is on {} after the writes, not {want}", got.as_deref().unwrap_or("no driver"))]
    WrongDriver {
        /// The device.
        address: PciAddress,
        /// The driver expected.
        want: String,
        /// The driver found.
        got: Option<String>,
    },
    /// A step failed and the devices touched were put back.
    #[error("{failure}; {}", if restored.is_empty() { "every device touched is back as it was".to_string() } else { format!("not all could be put back: {}", restored.join(", ")) })]
    Failed {
        /// What failed.
        failure: Box<Error>,
        /// What could not be restored (empty: everything was).
        restored: Vec<String>,
    },
}
