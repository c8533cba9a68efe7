//! Which way data flows: the direction of a mapping and the kind of a
//! device access.

use std::fmt;
use std::str::FromStr;

/// Which way the data of a mapping flows (`enum dma_data_direction`).
///
/// The direction decides the cache maintenance at map, sync and unmap time, the
/// swiotlb copies and the IOMMU permissions: a device may only read a
/// [`ToDevice`](Self::ToDevice) mapping and only write a
/// [`FromDevice`](Self::FromDevice) one.
#[doc(alias = "dma_data_direction")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DmaDirection {
    /// `DMA_BIDIRECTIONAL`: the device reads and writes.
    #[doc(alias = "DMA_BIDIRECTIONAL")]
    Bidirectional,
    /// `DMA_TO_DEVICE`: the device only reads (transmit).
    #[doc(alias = "DMA_TO_DEVICE")]
    ToDevice,
    /// `DMA_FROM_DEVICE`: the device only writes (receive).
    #[doc(alias = "DMA_FROM_DEVICE")]
    FromDevice,
    /// `DMA_NONE`: not a valid direction for a mapping; the kernel BUGs on it.
    #[doc(alias = "DMA_NONE")]
    None,
}

impl DmaDirection {
    /// Whether a device may read a mapping made with this direction.
    pub const fn device_reads(self) -> bool {
        matches!(self, Self::Bidirectional | Self::ToDevice)
    }
    /// Whether a device may write a mapping made with this direction.
    pub const fn device_writes(self) -> bool {
        matches!(self, Self::Bidirectional | Self::FromDevice)
    }
    /// The kernel's name (`DMA_TO_DEVICE`).
    pub const fn kernel_name(self) -> &'static str {
        match self {
            Self::Bidirectional => "DMA_BIDIRECTIONAL",
            Self::ToDevice => "DMA_TO_DEVICE",
            Self::FromDevice => "DMA_FROM_DEVICE",
            Self::None => "DMA_NONE",
        }
    }
    /// The name used in scenario files and JSON (`to-device`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Bidirectional => "bidirectional",
            Self::ToDevice => "to-device",
            Self::FromDevice => "from-device",
            Self::None => "none",
        }
    }
}

impl fmt::Display for DmaDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`DmaDirection`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown DMA direction '{0}': expected to-device, from-device, bidirectional or none")]
pub struct DirectionParseError(pub String);

impl FromStr for DmaDirection {
    type Err = DirectionParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "to-device" | "DMA_TO_DEVICE" => Self::ToDevice,
            "from-device" | "DMA_FROM_DEVICE" => Self::FromDevice,
            "bidirectional" | "DMA_BIDIRECTIONAL" => Self::Bidirectional,
            "none" | "DMA_NONE" => Self::None,
            _ => return Err(DirectionParseError(s.to_string())),
        })
    }
}

/// A device access: read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// The device reads memory.
    Read,
    /// The device writes memory.
    Write,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Read => "read",
            Self::Write => "write",
        })
    }
}
