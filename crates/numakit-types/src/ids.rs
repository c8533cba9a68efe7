//! Node and CPU numbers: distinct id types over the same `u32`.

use std::fmt;

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(transparent))]
        pub struct $name(pub u32);

        impl $name {
            /// The kernel's number.
            pub const fn get(self) -> u32 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<u32> for $name {
            fn from(v: u32) -> Self {
                Self(v)
            }
        }
    };
}

/// The kernel's limit on CPU numbers: `NR_CPUS` is at most 8192 on every
/// architecture (x86's `MAXSMP`, powerpc), so a CPU number is below it.
pub const MAX_CPUS: u32 = 8192;

/// The kernel's limit on node numbers: `MAX_NUMNODES` is `1 << NODES_SHIFT`
/// and `NODES_SHIFT` is at most 10, so a node number is below 1024.
pub const MAX_NODES: u32 = 1024;

id_type!(
    /// A NUMA node number as the kernel numbers it (`/sys/devices/system/node/nodeN`).
    NodeId
);
id_type!(
    /// A logical CPU number as the kernel numbers it (`/sys/devices/system/cpu/cpuN`).
    CpuId
);
