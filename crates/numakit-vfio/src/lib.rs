//! The IOMMU and VFIO from the machine's side.
//!
//! An IOMMU translates the addresses devices use for DMA and confines each
//! group of devices to the memory mapped for it; VFIO hands a whole group to
//! one user-space process. This crate reads, through a [`Root`], what a user
//! needs to know before doing that, and moves devices to vfio-pci and back:
//!
//! - [`report()`](report::report): the IOMMU units and mode and where the
//!   mode came from, why an IOMMU is off (the firmware, or the kernel
//!   command line), what VFIO needs and has, and every group with its
//!   devices, drivers, default domain type, reserved regions, whether VFIO
//!   can take it (naming the device and driver in the way) and why devices
//!   share it.
//! - [`usage()`](usage::usage): what holds a device (a mounted filesystem, a
//!   block holder, swap, a network interface that is up with addresses, the
//!   console's display).
//! - [`plan_bind`] / [`plan_unbind`] make a [`Plan`] of exact sysfs writes
//!   (a dry run prints it, on any root); [`apply`] carries it out through a
//!   [`Sysfs`] and rolls every device back when a step fails.
//!
//! # Example
//! ```
//! use numakit_root::Root;
//! use numakit_topo::Machine;
//! use numakit_vfio::{Target, plan_bind, report::report};
//! let root = Root::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/qemu-2node/sysfs.tar.gz")).unwrap();
//! let m = Machine::discover(&root);
//! let r = report(&root, &m);
//! let edu = r.groups.iter().find(|g| g.devices.iter().any(|d| d.address == "0000:42:00.0")).unwrap();
//! assert!(edu.vfio.viable);
//! let plan = plan_bind(&root, &m, Target::Device("0000:42:00.0".parse().unwrap())).unwrap();
//! assert_eq!(plan.devices[0].writes[0].to_string(),
//!     "echo vfio-pci > /sys/bus/pci/devices/0000:42:00.0/driver_override");
//! ```
#![deny(missing_docs)]

mod bind;
mod error;
pub mod report;
pub mod usage;

pub use bind::{
    Action, Applied, BoundTo, DevicePlan, LiveSysfs, PLAN_SCHEMA, Plan, Remembered, STATE_FILE,
    STATE_SCHEMA, State, Sysfs, Target, Write, apply, plan_bind, plan_unbind,
};
pub use error::{Error, Result};

#[cfg(doc)]
use numakit_root::Root;
