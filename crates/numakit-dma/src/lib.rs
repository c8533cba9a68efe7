//! A deterministic model of the Linux kernel's DMA API, with a checker.
//!
//! The kernel's DMA API cannot be called from user space, yet its rules are
//! where drivers go wrong: the wrong direction corrupts data silently, the
//! CPU must not touch a buffer between map and unmap, an unmapped IOVA
//! faults. This crate owns a faithful model of it, so that driver logic can
//! be written, tested and taught without a kernel:
//!
//! - **Memory and a CPU cache** with write-back lines of 64 or 128 bytes,
//!   a coherent (x86-like) and a non-coherent (arm64-like) mode doing the
//!   kernel's cache maintenance at map, sync and unmap, and speculative line
//!   fills while a device owns a buffer.
//! - **Devices** with DMA masks, and a **DMA engine** that runs descriptors
//!   from a ring in coherent memory ([`engine`]).
//! - **An IOMMU** ([`iommu`]): a domain per group, page tables with
//!   permissions from the direction, the kernel's IOVA allocator, strict or
//!   lazy invalidation, faults.
//! - **swiotlb** bounce buffering for devices that cannot reach memory or are
//!   untrusted.
//! - **DMA-BUF** ([`dmabuf`]): export, attach, map, fences, CPU access.
//! - **The checker** ([`Rule`]): every check of the kernel's
//!   `CONFIG_DMA_API_DEBUG` and those it cannot do (CPU access to a device's
//!   cache lines, missing syncs, wrong-direction device writes, use after
//!   unmap...). Findings name the rule, the buffer, the addresses and the
//!   caller's source location.
//! - **Scenarios** ([`scenario`]): a small text format describing a machine
//!   and a driver's steps, run into a timeline and findings.
//!
//! Two APIs reach the model. [`ModelBackend`]'s `dma_*` methods are shaped
//! like the kernel's functions (raw addresses, `DMA_MAPPING_ERROR`), so every
//! C mistake can be reproduced. The [`DmaBackend`] trait is what a Rust
//! driver is written against: ownership of each buffer is in its type, so
//! most of those mistakes do not compile, and the same driver can run on a
//! backend that drives real devices.
//!
//! The same [`DmaBackend`] drives real devices from user space:
//! [`vfio::VfioBackend`] maps node-local memory into a device's IOMMU
//! domain through VFIO, with the direction as the IOMMU permission, and
//! [`DeviceIo`] gives a driver the device's registers and interrupts. The
//! [`edu`] module is a driver for QEMU's `edu` device written once against
//! both traits, with a modelled `edu` for the model and a self-test that
//! proves DMA, interrupts and IOMMU faults on either.
//!
//! The model is deterministic: the same steps give the same timeline.
//!
//! # Example
//! The wrong direction on a non-coherent machine: the device writes into a
//! buffer mapped to-device, the CPU reads stale bytes, the checker says why.
//! ```
//! use numakit_dma::{Coherence, DeviceConfig, DmaDirection, MemKind, ModelBackend, Rule, Zone};
//! let mut m = ModelBackend::builder()
//!     .coherence(Coherence::NonCoherent)
//!     .device(DeviceConfig::new("nic"))
//!     .build()
//!     .unwrap();
//! let nic = m.device_id("nic").unwrap();
//! let buf = m.kmalloc(64, 0, Zone::Normal, MemKind::Kmalloc, "rx").unwrap();
//! m.cpu_write(buf, &[0u8; 64]);
//! let dma = m.dma_map_single(nic, buf, 64, DmaDirection::ToDevice); // should be FromDevice
//! assert!(!m.dma_mapping_error(nic, dma));
//! m.device_write(nic, dma, &[0xab; 64]).unwrap();
//! m.dma_unmap_single(nic, dma, 64, DmaDirection::ToDevice);
//! let mut seen = [0u8; 64];
//! m.cpu_read(buf, &mut seen);
//! assert_eq!(seen, [0u8; 64], "the CPU still sees its own stale line");
//! assert_eq!(m.findings()[0].rule, Rule::DeviceWriteToDevice);
//! ```
#![deny(missing_docs)]

// The values every part speaks in.
mod addr;
mod calls;
mod config;
mod direction;
mod error;
mod fault;
mod ids;
mod intmap;
mod rng;

// The simulated hardware, the timeline, the mappings and the checker.
mod check;
pub mod dmabuf;
pub mod engine;
pub mod handles;
mod hw;
mod mapping;
pub mod pool;
mod trace;

// The model that orders them, and the APIs over it.
pub mod edu;
mod io;
mod model;
pub mod scenario;
mod typed;
pub mod vfio;

pub use addr::{DMA_MAPPING_ERROR, DmaMask, Iova, PAGE_SIZE, PhysAddr, VirtAddr};
pub use calls::{DmaAttrs, MapFunc, ScatterEntry};
pub use check::finding::Finding;
pub use check::rules::Rule;
pub use config::{
    Coherence, DeviceConfig, IommuMode, MachineConfig, Maintenance, MemKind, Speculation, Zone,
    layout,
};
pub use direction::{Access, DirectionParseError, DmaDirection};
pub use error::{Error, Result};
pub use hw::iommu;
pub use hw::swiotlb::{IO_TLB_SEGSIZE, IO_TLB_SIZE};
pub use ids::DeviceId;
pub use io::{DeviceIo, FaultLog, IrqMode, IrqWait, ModelFaults, ObservedFault, Reg};
pub use mapping::DmaSegment;
pub use model::{ModelBackend, ModelBuilder};
pub use trace::{Event, EventSource, Origin};
pub use typed::{
    CoherentBuf, Cpu, CpuAddress, CpuBuf, Device, DeviceInfo, DmaBackend, MapError, MapResult,
    Owner, SgMap, SgMapResult, SgTable, StreamingMap,
};
