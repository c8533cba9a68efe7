//! Memory locality on Linux as one library: see, control, verify and
//! measure where threads, pages and devices are. It replaces libnuma and
//! the everyday half of hwloc in Rust programs (inference servers, HPC
//! codes, data loaders, drivers), without `unsafe` in your code.
//!
//! - [`topo`]: the machine, read once through a [`Root`] (the live system
//!   or a snapshot): NUMA nodes with their memory, free memory, hugepage
//!   pools, distances, tiers and HMAT attributes; CPUs with packages,
//!   cores and caches; the CPUs and nodes this process may use; PCI devices
//!   with the node and CPUs near each; hwloc's objects.
//! - [`placement`]: memory policies for a thread or an address range, CPU
//!   binding, node-local and interleaved allocation, typed node-local
//!   memory ([`placement::NodeVec`]), first-touch initialisation, where
//!   pages are and moving them. Every request is checked against the
//!   machine before any system call.
//! - [`dma`]: the DMA API a driver is written against
//!   ([`dma::DmaBackend`], ownership of every buffer in its type), a
//!   deterministic model of the kernel's DMA API with a checker, a VFIO
//!   backend for a real device ([`dma::vfio`]), and the contract for
//!   writing a backend of your own ([`dma::handles`]).
//! - [`stat`]: where memory is: `numa_maps`, numastat, meminfo, per
//!   process and per cgroup.
//! - [`dmabuf`]: real DMA-BUFs on a chosen node, shared between processes
//!   and devices; [`export`]: the machine as hwloc XML, a Kubernetes
//!   NodeResourceTopology, NFD labels or a picture; [`vfio`]: the IOMMU
//!   groups and binding devices to `vfio-pci`, for [`dma::vfio`].
//! - At the root: node and CPU ids and sets ([`NodeId`], [`NodeSet`],
//!   [`CpuId`], [`CpuSet`]), [`PciAddress`], [`ByteSize`], address ranges
//!   ([`AddrRange`]), [`Root`].
//!
//! **From libnuma or hwloc?** Search these docs for the name you know
//! (`numa_alloc_onnode`, `numa_tonode_memory`,
//! `hwloc_get_obj_covering_cpuset`): every libnuma call and hwloc's
//! everyday ones carry their old name as a search alias, and
//! `docs/libnuma.md` is the whole table.
//!
//! Errors are typed per module, print as one line saying what failed and
//! why, and keep the kernel's error as their `source()`. Nothing here
//! prints, exits or panics on bad input.
//!
//! # The five things people do
//!
//! ## 1. Find the node and the CPUs near a device
//! ```
//! use numakit::Root;
//! use numakit::topo::{Machine, locate::DeviceSpec};
//! # let snapshot = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/qemu-gpuserver/sysfs.tar.gz");
//! // `Root::live()` on the machine itself; here a snapshot of a two-socket
//! // server with two GPUs, a NIC and an NVMe drive per socket
//! let machine = Machine::discover(&Root::open(snapshot)?);
//! let nic = "nic:1".parse::<DeviceSpec>()?.resolve(&machine, None)?;
//! assert_eq!(nic.node, 1.into());
//! assert_eq!(machine.cpus_near(&nic).to_string(), "2-3");
//! let gpu = "gpu:0".parse::<DeviceSpec>()?.resolve(&machine, None)?;
//! assert_eq!(machine.distance(gpu.node, nic.node), Some(21));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## 2. Put typed data on a node, initialised by the threads that use it
//! ```
//! use numakit::placement::{NodeVec, Placer, Policy};
//! let placer = Placer::live()?;
//! let node = numakit::NodeId(0);
//! let mut v: NodeVec<f64> = placer.node_vec(1 << 20, &Policy::on_node(node))?;
//! // each part written by a thread pinned to its node (first touch)
//! v.first_touch(&placer, &node.into(), |start, part| {
//!     for (i, x) in part.iter_mut().enumerate() {
//!         *x = (start + i) as f64;
//!     }
//! })?;
//! assert_eq!(v[12345], 12345.0);
//! let pages = v.page_counts(&placer)?;
//! assert_eq!(pages.on_node(node), pages.pages);
//! # Ok::<(), numakit::placement::Error>(())
//! ```
//!
//! ## 3. Run a thread on a node and allocate only there
//! ```
//! use numakit::placement::Placer;
//! use numakit::{NodeId, NodeSet};
//! let placer = Placer::live()?;
//! std::thread::spawn(move || -> numakit::placement::Result<()> {
//!     let cpus = placer.run_on_node(NodeId(0))?;
//!     placer.set_membind(&NodeSet::from(NodeId(0)))?;
//!     assert_eq!(placer.membind()?, NodeSet::from(NodeId(0)));
//!     assert!(cpus.contains(numakit::placement::last_cpu_location()?.cpu));
//!     Ok(())
//! })
//! .join()
//! .unwrap()?;
//! # Ok::<(), numakit::placement::Error>(())
//! ```
//!
//! ## 4. Ask where pages are, and move them
//! ```
//! use numakit::placement::Placer;
//! let placer = Placer::live()?;
//! let mut m = placer.allocate_local(256 << 10)?;
//! m.as_mut_slice().fill(1);
//! let before = placer.area_page_counts(0, m.range())?;
//! assert_eq!(before.present(), before.pages);
//! let moved = placer.migrate_area(0, m.range(), numakit::NodeId(0))?;
//! assert_eq!(moved.not_moved, 0);
//! // a range is never empty or reversed: that is refused where it is made
//! assert!(numakit::AddrRange::new(0x2000, 0x1000).is_err());
//! # Ok::<(), numakit::placement::Error>(())
//! ```
//!
//! ## 5. Write a driver against the DMA API, and test it on the model
//! ```
//! use numakit::dma::{Coherence, DeviceConfig, DeviceId, DmaBackend, DmaDirection, Iova};
//! use numakit::dma::{ModelBackend, Rule};
//! /// Receives 64 bytes from the device. The mistake: the buffer is mapped
//! /// to-device, so what the device writes may never reach the CPU.
//! fn receive<B: DmaBackend>(
//!     dma: &mut B,
//!     dev: DeviceId,
//!     device_fills: impl FnOnce(&mut B, Iova),
//! ) -> numakit::dma::Result<Vec<u8>> {
//!     let buf = dma.alloc(64)?;
//!     let map = dma.map_single(dev, buf, DmaDirection::ToDevice).map_err(|e| e.error)?;
//!     device_fills(dma, map.dma_addr());
//!     let buf = dma.unmap(map);
//!     let mut out = vec![0; 64];
//!     dma.read(&buf, 0, &mut out)?;
//!     dma.free(buf);
//!     Ok(out)
//! }
//! // an arm64-like machine, whose caches the device does not see
//! let mut model = ModelBackend::builder()
//!     .coherence(Coherence::NonCoherent)
//!     .device(DeviceConfig::new("nic"))
//!     .build()?;
//! let nic = model.device_id("nic").unwrap();
//! let got = receive(&mut model, nic, |m, at| m.device_write(nic, at, &[1; 64]).unwrap())?;
//! assert_eq!(got, [0; 64], "the CPU still sees its stale cache lines");
//! assert_eq!(model.findings()[0].rule, Rule::DeviceWriteToDevice);
//! # Ok::<(), numakit::dma::Error>(())
//! ```
#![deny(missing_docs)]

#[doc(inline)]
pub use numakit_types::*;

#[doc(inline)]
pub use numakit_root::{Root, RootError};

#[doc(inline)]
pub use numakit_placement::{Errno, page_size};

/// The machine model: nodes, CPUs, caches, devices, the IOMMU; libnuma's
/// machine questions, node strings, hwloc's objects; everything the crate
/// `numakit-topo` holds.
pub mod topo {
    #[doc(inline)]
    pub use numakit_topo::*;
}

/// Placement: policies, binding, allocation, [`placement::NodeVec`], first touch,
/// page location and migration, and the rest of libnuma; everything the
/// crate `numakit-placement` holds.
pub mod placement {
    #[doc(inline)]
    pub use numakit_placement::*;
}

/// DMA: the typed [`dma::DmaBackend`] API, the model of the kernel's DMA
/// API with its checker, scenarios, and [`dma::handles`] for backends of
/// your own;
/// everything the crate `numakit-dma` holds.
pub mod dma {
    #[doc(inline)]
    pub use numakit_dma::*;
}

/// Where memory is: `numa_maps`, numastat and meminfo readers, process
/// and cgroup views, samplers; everything the crate `numakit-stat` holds.
pub mod stat {
    #[doc(inline)]
    pub use numakit_stat::*;
}

/// Real DMA-BUFs: allocation on a node (heaps, udmabuf), CPU access
/// bracketed by sync guards, sync files, passing buffers between
/// processes, the system-wide listing, the camera → GPU → display
/// pipeline; everything the crate `numakit-dmabuf` holds.
pub mod dmabuf {
    #[doc(inline)]
    pub use numakit_dmabuf::*;
}

/// The IOMMU and VFIO from the machine's side: which IOMMU and mode, every
/// group and whether VFIO can take it, what holds a device, binding devices
/// to `vfio-pci` and back; everything the crate `numakit-vfio` holds. (The
/// DMA API on a device VFIO owns is [`dma::vfio`].)
pub mod vfio {
    #[doc(inline)]
    pub use numakit_vfio::*;
}

/// The machine in other tools' formats: hwloc XML, Kubernetes
/// NodeResourceTopology, Node Feature Discovery labels, an SVG picture;
/// everything the crate `numakit-export` holds.
pub mod export {
    #[doc(inline)]
    pub use numakit_export::*;
}
