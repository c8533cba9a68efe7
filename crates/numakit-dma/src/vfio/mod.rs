//! The VFIO backend: the [`DmaBackend`] for a real device that user space
//! owns through VFIO.
//!
//! VFIO hands a whole IOMMU group to one process. The process opens the
//! group (`/dev/vfio/N`), attaches it to a container (`/dev/vfio/vfio`)
//! whose type1 IOMMU domain is the group's address space, and asks for the
//! device: its regions (BARs, mapped into the process) and its interrupts
//! (eventfds). DMA is mapping: the process maps its own memory at IOVAs of
//! its choosing, with read and write permission as the device needs, and
//! the device can reach nothing else. An access outside the mappings is
//! blocked by the IOMMU and logged by the kernel ([`FaultWatch`]).
//!
//! [`VfioBackend`] keeps the typed ownership of the model: a buffer handed
//! to the device cannot be touched by safe code until it comes back, and
//! the direction is the IOMMU permission (to-device: the device may only
//! read; from-device: only write). Its memory is [`DmaMemory`](numakit_sys::dmamem::DmaMemory) bound to the
//! device's NUMA node before its pages exist and checked with a page query
//! ([`Placement`]), 2 MiB hugetlb pages when the node has them. IOVAs come
//! from the kernel's own allocator ([`IovaAllocator`]) below the device's
//! DMA mask, never in a reserved region of the group or outside what the
//! container reports. The machine's facts (group, node, reserved regions,
//! free huge pages) are read by the caller and given in a
//! [`VfioDeviceSpec`], so this module reads no files but device nodes.
//!
//! x86 DMA through VFIO is cache-coherent, so the syncs only move ownership
//! (with a fence); no user-space cache maintenance is attempted.
//!
//! Its handles are made and taken apart by its own
//! [`HandleMaker`], under the contract any
//! backend keeps ([`crate::handles`]): another instance's handle is
//! refused (an error, or one of [`take_errors`](VfioBackend::take_errors)
//! from the calls that cannot return one), and the pieces of a split
//! buffer are freed one by one, the memory with the last.

mod arena;
mod device;
mod kmsg;

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{Ordering, fence};

use numakit_sys::Errno;
use numakit_sys::vfio::{self, DmaMapFlags, GroupFlags, IommuInfo, IommuType};
use serde::Serialize;

pub use arena::{MemoryKind, Placement};
pub use device::VfioDevice;
pub use kmsg::{FaultWatch, KernelFault, parse_fault};
use numakit_sys::vfio::IovaRange;

use crate::addr::{DmaMask, Iova, VirtAddr};
use crate::calls::MapFunc;
use crate::direction::DmaDirection;
use crate::error::{Error, Result};
use crate::handles::{BufParts, CoherentParts, HandleMaker, MapParts, SgParts};
use crate::hw::iommu::IovaAllocator;
use crate::ids::DeviceId;
use crate::mapping::DmaSegment;
use crate::typed::{
    CoherentBuf, Cpu, CpuBuf, Device, DeviceInfo, DmaBackend, MapError, MapResult, Owner, SgMap,
    SgMapResult, SgTable, StreamingMap,
};
use arena::{Arena, PAGE};

/// A reserved IOVA range of an IOMMU group (sysfs `reserved_regions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedIova {
    /// The first address.
    pub start: u64,
    /// The last address (inclusive).
    pub end: u64,
}

/// What the caller read about a device before it is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VfioDeviceSpec {
    /// The PCI address (`0000:42:00.0`), as VFIO names the device.
    pub address: String,
    /// Its IOMMU group.
    pub group: u32,
    /// Its NUMA node, when it has one.
    pub node: Option<u32>,
    /// The group's reserved IOVA regions.
    pub reserved: Vec<ReservedIova>,
}

/// A range of IOVAs the container can map (the group's reserved regions
/// and what lies beyond the IOMMU's address width left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IovaWindow {
    /// The first IOVA.
    pub first: Iova,
    /// The last IOVA.
    pub last: Iova,
}

/// One live DMA mapping, as [`VfioBackend::mappings`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappingInfo {
    /// The device.
    pub device: String,
    /// The first IOVA of the mapped pages.
    pub iova: Iova,
    /// The mapped bytes (whole pages).
    pub bytes: u64,
    /// What the device may do there.
    pub direction: DmaDirection,
}

#[derive(Debug)]
struct DevState {
    name: String,
    node: Option<u32>,
    mask: DmaMask,
    coherent_mask: DmaMask,
}

/// A CPU allocation some of whose bytes are still held by a piece.
#[derive(Debug)]
struct Held {
    /// What the arena gave.
    size: usize,
    /// Bytes not yet freed by a piece.
    left: u64,
}

#[derive(Debug)]
struct MapRec {
    dev: DeviceId,
    pfn: u64,
    bytes: u64,
    dir: DmaDirection,
}

/// The DMA API on VFIO. See the [module documentation](self).
#[derive(Debug)]
pub struct VfioBackend {
    dir: PathBuf,
    container: OwnedFd,
    groups: BTreeMap<u32, OwnedFd>,
    devices: Vec<DevState>,
    iova: IovaAllocator,
    info: Option<IommuInfo>,
    arena: Arena,
    maps: BTreeMap<u64, MapRec>,
    home: Option<u32>,
    errors: Vec<Error>,
    handles: HandleMaker<VirtAddr>,
    held: BTreeMap<u64, Held>,
}

/// A system call's error with the meaning of its errno for VFIO.
pub(crate) fn sys_error(what: String, e: Errno) -> Error {
    let why = match e {
        Errno::EACCES | Errno::EPERM => {
            "permission denied: VFIO needs root, or the group's device node owned by this user"
                .to_string()
        }
        Errno::EBUSY => "busy: another process (or the kernel) holds it".to_string(),
        Errno::ENOMEM => {
            "out of memory, or over the locked-memory limit (ulimit -l) that pinning counts against"
                .to_string()
        }
        _ => e.to_string(),
    };
    Error::Sys { what, why }
}

fn cpath(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::Sys {
        what: format!("cannot open {}", p.display()),
        why: "the path holds a NUL byte".into(),
    })
}

/// The IOMMU permission a direction gives the device.
fn prot(dir: DmaDirection) -> Result<DmaMapFlags> {
    match dir {
        DmaDirection::ToDevice => Ok(DmaMapFlags::READ),
        DmaDirection::FromDevice => Ok(DmaMapFlags::WRITE),
        DmaDirection::Bidirectional => Ok(DmaMapFlags::READ | DmaMapFlags::WRITE),
        DmaDirection::None => Err(Error::InvalidDirection),
    }
}

/// Sorted, merged inclusive ranges.
fn merge(mut r: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    r.sort();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (s, e) in r {
        match out.last_mut() {
            Some(l) if s <= l.1.saturating_add(1) => l.1 = l.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

impl VfioBackend {
    /// Opens the VFIO container at `/dev/vfio/vfio`.
    pub fn open() -> Result<VfioBackend> {
        Self::open_at(Path::new("/dev/vfio"))
    }

    /// Opens the container `vfio` in the directory `dir` (its groups are
    /// `dir/N`) and checks that it offers a type1v2 IOMMU.
    pub fn open_at(dir: &Path) -> Result<VfioBackend> {
        let path = dir.join("vfio");
        let container = vfio::open(&cpath(&path)?).map_err(|e| match e {
            Errno::ENOENT | Errno::ENODEV | Errno::ENXIO => Error::VfioUnavailable(format!(
                "{} is missing: load the vfio-pci module (modprobe vfio-pci)",
                path.display()
            )),
            e => sys_error(format!("cannot open {}", path.display()), e),
        })?;
        let v = vfio::get_api_version(container.as_fd())
            .map_err(|e| sys_error("VFIO_GET_API_VERSION".into(), e))?;
        if v != vfio::API_VERSION {
            return Err(Error::VfioUnavailable(format!(
                "unknown VFIO API version {v}"
            )));
        }
        if !vfio::check_extension(container.as_fd(), IommuType::Type1v2).unwrap_or(false) {
            return Err(Error::VfioUnavailable(
                "the kernel offers no type1v2 IOMMU for VFIO: load vfio_iommu_type1 (modprobe vfio_iommu_type1) and boot with the IOMMU on".into(),
            ));
        }
        Ok(VfioBackend {
            dir: dir.to_path_buf(),
            container,
            groups: BTreeMap::new(),
            devices: Vec::new(),
            iova: IovaAllocator::new(),
            info: None,
            arena: Arena::default(),
            maps: BTreeMap::new(),
            home: None,
            errors: Vec::new(),
            handles: HandleMaker::new(),
            held: BTreeMap::new(),
        })
    }

    fn attach_group(&mut self, group: u32) -> Result<()> {
        if self.groups.contains_key(&group) {
            return Ok(());
        }
        let path = self.dir.join(group.to_string());
        let fd = vfio::open(&cpath(&path)?).map_err(|e| match e {
            Errno::ENOENT => Error::VfioUnavailable(format!(
                "{} is missing: no device of IOMMU group {group} is bound to vfio-pci (numakit vfio bind --group {group} --apply)",
                path.display()
            )),
            e => sys_error(format!("cannot open {}", path.display()), e),
        })?;
        let st = vfio::group_get_status(fd.as_fd())
            .map_err(|e| sys_error(format!("VFIO_GROUP_GET_STATUS of group {group}"), e))?;
        if !st.contains(GroupFlags::VIABLE) {
            return Err(Error::GroupNotViable { group });
        }
        vfio::group_set_container(fd.as_fd(), self.container.as_fd())
            .map_err(|e| sys_error(format!("cannot attach group {group} to the container"), e))?;
        if self.groups.is_empty() {
            vfio::set_iommu(self.container.as_fd(), IommuType::Type1v2)
                .map_err(|e| sys_error("cannot set the container's IOMMU to type1v2".into(), e))?;
            let info = vfio::iommu_get_info(self.container.as_fd())
                .map_err(|e| sys_error("VFIO_IOMMU_GET_INFO".into(), e))?;
            if let Some(r) = &info.iova_ranges {
                self.reserve_outside(r);
            }
            self.info = Some(info);
        }
        self.groups.insert(group, fd);
        Ok(())
    }

    /// Reserves every IOVA page outside `ranges` (what the container cannot map).
    fn reserve_outside(&mut self, ranges: &[IovaRange]) {
        let mut holes = Vec::new();
        let mut next = 0u64;
        let mut ranges = ranges.to_vec();
        ranges.sort_by_key(|r| r.start);
        for r in &ranges {
            if r.start > next {
                holes.push((next, r.start - 1));
            }
            next = match r.end.checked_add(1) {
                Some(n) => next.max(n),
                None => return self.reserve(holes),
            };
        }
        holes.push((next, u64::MAX));
        self.reserve(holes);
    }

    fn reserve(&mut self, ranges: Vec<(u64, u64)>) {
        let have: Vec<(u64, u64)> = self
            .iova
            .ranges()
            .filter(|s| s.reserved)
            .map(|s| (s.lo_pfn, s.hi_pfn))
            .collect();
        let pages = ranges
            .into_iter()
            .map(|(s, e)| (s / PAGE as u64, e / PAGE as u64));
        for (lo, hi) in merge(pages.collect()) {
            // Pieces already reserved are skipped: reserve() refuses overlaps.
            let mut cur = lo;
            for &(a, b) in have.iter().filter(|(a, b)| *b >= lo && *a <= hi) {
                if a > cur {
                    self.iova.reserve(cur, a - 1);
                }
                cur = cur.max(b.saturating_add(1));
            }
            if cur <= hi {
                self.iova.reserve(cur, hi);
            }
        }
    }

    /// Opens the device `spec` describes: its group is attached to the
    /// container (the first group sets the type1v2 IOMMU), its reserved
    /// regions are kept out of the IOVA allocator, and the first device's
    /// node becomes where [`alloc`](DmaBackend::alloc) takes memory. The
    /// device starts with the kernel's default 32-bit DMA mask.
    pub fn add_device(&mut self, spec: &VfioDeviceSpec) -> Result<VfioDevice> {
        self.attach_group(spec.group)?;
        let name = CString::new(spec.address.as_bytes()).map_err(|_| Error::Device {
            device: spec.address.clone(),
            what: "the name holds a NUL byte".into(),
        })?;
        let group = &self.groups[&spec.group];
        let fd = vfio::group_get_device_fd(group.as_fd(), &name).map_err(|e| {
            sys_error(
                format!(
                    "cannot get device {} from group {}",
                    spec.address, spec.group
                ),
                e,
            )
        })?;
        self.reserve(spec.reserved.iter().map(|r| (r.start, r.end)).collect());
        let id = DeviceId(self.devices.len() as u32);
        self.devices.push(DevState {
            name: spec.address.clone(),
            node: spec.node,
            mask: DmaMask::bits(32),
            coherent_mask: DmaMask::bits(32),
        });
        if self.home.is_none() {
            self.home = spec.node;
        }
        VfioDevice::new(id, spec.address.clone(), fd)
    }

    /// Says how many free 2 MiB hugetlb pages `node` has (read from the
    /// machine): chunks of DMA memory on it are taken from that pool while
    /// it lasts.
    pub fn set_hugetlb_free(&mut self, node: u32, pages: u64) {
        self.arena.hugetlb_free.insert(node, pages);
    }

    /// Allocates `size` bytes for streaming DMA on `node` (`None`: where the
    /// kernel likes).
    pub fn alloc_on(&mut self, node: Option<u32>, size: usize) -> Result<CpuBuf<VirtAddr>> {
        let addr = self.arena.alloc(node, size)?;
        self.held.insert(
            addr.raw(),
            Held {
                size,
                left: size as u64,
            },
        );
        Ok(self.handles.cpu_buf(BufParts {
            alloc: addr,
            offset: 0,
            len: size as u64,
        }))
    }

    /// Frees one piece of an allocation: its bytes are no longer held, and
    /// the memory goes back with the last piece.
    fn free_piece(&mut self, p: BufParts<VirtAddr>) {
        let Some(h) = self.held.get_mut(&p.alloc.raw()) else {
            // a refused handle, or an empty piece of a freed allocation
            return;
        };
        h.left = h.left.saturating_sub(p.len);
        if h.left == 0 {
            let size = h.size;
            self.held.remove(&p.alloc.raw());
            self.arena.free(p.alloc, size);
        }
    }

    /// The parts of a buffer, or `None` with the error kept for
    /// [`take_errors`](Self::take_errors).
    fn own_or_report(&mut self, buf: &CpuBuf<VirtAddr>) -> Option<BufParts<VirtAddr>> {
        match self.handles.buf_parts(buf) {
            Ok(p) => Some(p),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    /// Where the DMA memory is: every chunk, its node and its pages.
    pub fn placements(&self) -> Vec<Placement> {
        self.arena.placements()
    }

    /// The IOMMU page sizes (a bit per size) the container reports, after
    /// the first device was added.
    pub fn page_sizes(&self) -> Option<u64> {
        self.info.as_ref().map(|i| i.page_sizes)
    }

    /// The IOVA windows the container reports (`VFIO_IOMMU_GET_INFO`), after
    /// the first device was added; `None` when the kernel does not say.
    pub fn iova_windows(&self) -> Option<Vec<IovaWindow>> {
        let ranges = self.info.as_ref()?.iova_ranges.as_ref()?;
        Some(
            ranges
                .iter()
                .map(|r| IovaWindow {
                    first: Iova::new(r.start),
                    last: Iova::new(r.end),
                })
                .collect(),
        )
    }

    /// Every live mapping, lowest IOVA first.
    pub fn mappings(&self) -> Vec<MappingInfo> {
        self.maps
            .iter()
            .map(|(&iova, r)| MappingInfo {
                device: self.devices[r.dev.0 as usize].name.clone(),
                iova: Iova::new(iova),
                bytes: r.bytes,
                direction: r.dir,
            })
            .collect()
    }

    /// Errors of calls that cannot return one (unmap, free), oldest first.
    pub fn take_errors(&mut self) -> Vec<Error> {
        std::mem::take(&mut self.errors)
    }

    fn dev(&self, dev: DeviceId) -> Result<&DevState> {
        self.devices
            .get(dev.0 as usize)
            .ok_or(Error::NoDevice(dev.0))
    }

    fn chunk_offset(&self, va: VirtAddr, len: u64) -> Result<(usize, usize)> {
        self.arena
            .locate(va, len)
            .ok_or(Error::StaleHandle("buffer"))
    }

    /// Maps the buffers `bufs` (in order, at consecutive IOVA pages) for
    /// `dev` with the permission of `dir`; returns the DMA segments.
    fn map_bufs(
        &mut self,
        dev: DeviceId,
        bufs: &[(VirtAddr, u64)],
        dir: DmaDirection,
        mask: DmaMask,
    ) -> Result<Vec<DmaSegment>> {
        let flags = prot(dir)?;
        let name = self.dev(dev)?.name.clone();
        let span = |va: VirtAddr, len: u64| {
            let lo = va.align_down(PAGE as u64).raw();
            (
                lo,
                (va.raw() + len).div_ceil(PAGE as u64) * PAGE as u64 - lo,
            )
        };
        let mut pages = 0;
        for &(va, len) in bufs {
            if len == 0 {
                return Err(Error::ZeroLength);
            }
            self.chunk_offset(va, len)?;
            pages += span(va, len).1 / PAGE as u64;
        }
        let limit = mask.raw() / PAGE as u64;
        let r = self.iova.alloc(pages, limit).ok_or(Error::IovaExhausted {
            device: name.clone(),
            pages,
            mask,
        })?;
        let base = r.start().raw();
        let mut cur = base;
        let mut segs: Vec<DmaSegment> = Vec::new();
        for &(va, len) in bufs {
            let (lo, bytes) = span(va, len);
            let (ci, off) = self.chunk_offset(VirtAddr::new(lo), bytes)?;
            let mem = &self.arena.chunk(ci).mem;
            if let Err(e) =
                vfio::iommu_map_dma(self.container.as_fd(), mem, off, bytes as usize, cur, flags)
            {
                if cur > base {
                    let _ = vfio::iommu_unmap_dma(self.container.as_fd(), base, cur - base);
                }
                self.iova.free(r.lo_pfn);
                return Err(sys_error(
                    format!("cannot map {bytes} bytes at IOVA {cur:#x} for {name}"),
                    e,
                ));
            }
            let addr = Iova::new(cur + va.page_offset());
            match segs.last_mut() {
                Some(s) if s.addr.raw() + s.len == addr.raw() => s.len += len,
                _ => segs.push(DmaSegment { addr, len }),
            }
            cur += bytes;
        }
        self.maps.insert(
            base,
            MapRec {
                dev,
                pfn: r.lo_pfn,
                bytes: cur - base,
                dir,
            },
        );
        Ok(segs)
    }

    /// Unmaps the mapping whose first byte the device sees at `dma`.
    fn unmap_at(&mut self, dma: Iova) {
        let base = dma.align_down(PAGE as u64).raw();
        let Some(rec) = self.maps.remove(&base) else {
            self.errors.push(Error::StaleHandle("mapping"));
            return;
        };
        if let Err(e) = vfio::iommu_unmap_dma(self.container.as_fd(), base, rec.bytes) {
            self.errors
                .push(sys_error(format!("cannot unmap IOVA {base:#x}"), e));
        }
        self.iova.free(rec.pfn);
    }

    fn copy_out(&self, va: VirtAddr, size: u64, offset: usize, out: &mut [u8]) -> Result<()> {
        let o = bounds(offset, out.len(), size)?;
        let (ci, off) = self.chunk_offset(va, size)?;
        self.arena
            .chunk(ci)
            .mem
            .read(off + o, out)
            .map_err(|e| sys_error("DMA memory read".into(), e))
    }

    fn copy_in(&self, va: VirtAddr, size: u64, offset: usize, data: &[u8]) -> Result<()> {
        let o = bounds(offset, data.len(), size)?;
        let (ci, off) = self.chunk_offset(va, size)?;
        self.arena
            .chunk(ci)
            .mem
            .write(off + o, data)
            .map_err(|e| sys_error("DMA memory write".into(), e))
    }

    fn map_one(
        &mut self,
        dev: DeviceId,
        buf: CpuBuf<VirtAddr>,
        dir: DmaDirection,
        func: MapFunc,
    ) -> MapResult<Self> {
        let checked = self
            .handles
            .buf_parts(&buf)
            .and_then(|p| Ok((p, self.dev(dev)?.mask)));
        let (p, mask) = match checked {
            Ok(c) => c,
            Err(error) => return Err(MapError { error, buf }),
        };
        match self.map_bufs(dev, &[(buf.cpu_addr(), p.len)], dir, mask) {
            Ok(segs) => {
                let parts = MapParts {
                    dev,
                    dma: segs[0].addr,
                    dir,
                    func,
                };
                self.handles
                    .streaming_map(parts, buf)
                    .map_err(|f| MapError {
                        error: f.error("CPU buffer"),
                        buf: f.into_handle(),
                    })
            }
            Err(error) => Err(MapError { error, buf }),
        }
    }
}

impl VfioBackend {
    /// The mapping, now owned by `P`; another instance's is reported and
    /// a refused one returned.
    fn hand_over<O: Owner, P: Owner>(
        &mut self,
        map: StreamingMap<O, VirtAddr>,
    ) -> StreamingMap<P, VirtAddr> {
        match self.handles.hand_over(map) {
            Ok(m) => m,
            Err(f) => {
                self.errors.push(f.error("mapping"));
                let m = f.into_handle();
                self.handles.refused_map(m.device(), m.direction())
            }
        }
    }

    /// The scatterlist mapping, now owned by `P`; another instance's is
    /// reported and a refused one returned.
    fn hand_over_sg<O: Owner, P: Owner>(&mut self, map: SgMap<O, VirtAddr>) -> SgMap<P, VirtAddr> {
        match self.handles.hand_over_sg(map) {
            Ok(m) => m,
            Err(f) => {
                self.errors.push(f.error("scatterlist mapping"));
                let m = f.into_handle();
                self.handles.refused_sg(m.device(), m.direction())
            }
        }
    }
}

/// `offset` if `len` bytes from it fit in `size`.
fn bounds(offset: usize, len: usize, size: u64) -> Result<usize> {
    match offset.checked_add(len) {
        Some(e) if e as u64 <= size => Ok(offset),
        _ => Err(Error::OutOfBounds {
            offset: offset as u64,
            len: len as u64,
            size,
        }),
    }
}

impl DmaBackend for VfioBackend {
    type CpuAddr = VirtAddr;

    fn device_info(&self, dev: DeviceId) -> Result<DeviceInfo> {
        let d = self.dev(dev)?;
        Ok(DeviceInfo {
            name: d.name.clone(),
            dma_mask: d.mask,
            coherent_mask: d.coherent_mask,
        })
    }

    fn set_mask(&mut self, dev: DeviceId, mask: DmaMask) -> Result<()> {
        let d = self
            .devices
            .get_mut(dev.0 as usize)
            .ok_or(Error::NoDevice(dev.0))?;
        if mask.width() < 24 {
            return Err(Error::MaskTooSmall {
                device: d.name.clone(),
                mask,
            });
        }
        d.mask = mask;
        d.coherent_mask = mask;
        Ok(())
    }

    fn alloc(&mut self, size: usize) -> Result<CpuBuf<VirtAddr>> {
        self.alloc_on(self.home, size)
    }

    fn free(&mut self, buf: CpuBuf<VirtAddr>) {
        if let Some(p) = self.own_or_report(&buf) {
            self.free_piece(p);
        }
    }

    fn read(&mut self, buf: &CpuBuf<VirtAddr>, offset: usize, out: &mut [u8]) -> Result<()> {
        let p = self.handles.buf_parts(buf)?;
        self.copy_out(buf.cpu_addr(), p.len, offset, out)
    }

    fn write(&mut self, buf: &mut CpuBuf<VirtAddr>, offset: usize, data: &[u8]) -> Result<()> {
        let p = self.handles.buf_parts(buf)?;
        self.copy_in(buf.cpu_addr(), p.len, offset, data)
    }

    fn alloc_coherent(&mut self, dev: DeviceId, size: usize) -> Result<CoherentBuf<VirtAddr>> {
        let (node, mask) = {
            let d = self.dev(dev)?;
            (d.node, d.coherent_mask)
        };
        let len = (size.max(1)).div_ceil(PAGE) * PAGE;
        let va = self.arena.alloc(node, len)?;
        match self.map_bufs(dev, &[(va, len as u64)], DmaDirection::Bidirectional, mask) {
            Ok(segs) => Ok(self.handles.coherent_buf(CoherentParts {
                dev,
                cpu: va,
                dma: segs[0].addr,
                len: len as u64,
            })),
            Err(e) => {
                self.arena.free(va, len);
                Err(e)
            }
        }
    }

    fn free_coherent(&mut self, buf: CoherentBuf<VirtAddr>) {
        match self.handles.coherent_parts(&buf) {
            Ok(c) => {
                self.unmap_at(c.dma);
                self.arena.free(c.cpu, c.len as usize);
            }
            Err(e) => self.errors.push(e),
        }
    }

    fn coherent_read(
        &mut self,
        buf: &CoherentBuf<VirtAddr>,
        offset: usize,
        out: &mut [u8],
    ) -> Result<()> {
        let c = self.handles.coherent_parts(buf)?;
        self.copy_out(c.cpu, c.len, offset, out)
    }

    fn coherent_write(
        &mut self,
        buf: &CoherentBuf<VirtAddr>,
        offset: usize,
        data: &[u8],
    ) -> Result<()> {
        let c = self.handles.coherent_parts(buf)?;
        self.copy_in(c.cpu, c.len, offset, data)
    }

    fn map_single(
        &mut self,
        dev: DeviceId,
        buf: CpuBuf<VirtAddr>,
        dir: DmaDirection,
    ) -> MapResult<Self> {
        self.map_one(dev, buf, dir, MapFunc::Single)
    }

    fn map_page(
        &mut self,
        dev: DeviceId,
        buf: CpuBuf<VirtAddr>,
        dir: DmaDirection,
    ) -> MapResult<Self> {
        self.map_one(dev, buf, dir, MapFunc::Page)
    }

    fn unmap<O: Owner>(&mut self, map: StreamingMap<O, VirtAddr>) -> CpuBuf<VirtAddr> {
        match self.handles.map_parts(&map) {
            Ok((mp, _)) => self.unmap_at(mp.dma),
            Err(e) => self.errors.push(e),
        }
        match self.handles.unmapped(map) {
            Ok(buf) => buf,
            Err(_) => self.handles.refused_buf(),
        }
    }

    fn sync_for_cpu(&mut self, map: StreamingMap<Device, VirtAddr>) -> StreamingMap<Cpu, VirtAddr> {
        fence(Ordering::SeqCst);
        self.hand_over(map)
    }

    fn sync_for_device(
        &mut self,
        map: StreamingMap<Cpu, VirtAddr>,
    ) -> StreamingMap<Device, VirtAddr> {
        fence(Ordering::SeqCst);
        self.hand_over(map)
    }

    fn read_mapped(
        &mut self,
        map: &StreamingMap<Cpu, VirtAddr>,
        offset: usize,
        out: &mut [u8],
    ) -> Result<()> {
        let (_, p) = self.handles.map_parts(map)?;
        self.copy_out(p.alloc.unchecked_add(p.offset), p.len, offset, out)
    }

    fn write_mapped(
        &mut self,
        map: &mut StreamingMap<Cpu, VirtAddr>,
        offset: usize,
        data: &[u8],
    ) -> Result<()> {
        let (_, p) = self.handles.map_parts(map)?;
        self.copy_in(p.alloc.unchecked_add(p.offset), p.len, offset, data)
    }

    fn map_sg(
        &mut self,
        dev: DeviceId,
        table: SgTable<VirtAddr>,
        dir: DmaDirection,
    ) -> SgMapResult<Self> {
        let checked = self
            .handles
            .check_table(&table)
            .and_then(|()| Ok(self.dev(dev)?.mask));
        let mask = match checked {
            Ok(m) => m,
            Err(error) => return Err(MapError { error, buf: table }),
        };
        let bufs: Vec<(VirtAddr, u64)> = table
            .entries()
            .iter()
            .map(|b| (b.cpu_addr(), b.len() as u64))
            .collect();
        if bufs.is_empty() {
            return Err(MapError {
                error: Error::ZeroLength,
                buf: table,
            });
        }
        match self.map_bufs(dev, &bufs, dir, mask) {
            Ok(segs) => self
                .handles
                .sg_map(SgParts { dev, dir, segs }, table)
                .map_err(|f| MapError {
                    error: f.error("scatterlist"),
                    buf: f.into_handle(),
                }),
            Err(error) => Err(MapError { error, buf: table }),
        }
    }

    fn unmap_sg<O: Owner>(&mut self, map: SgMap<O, VirtAddr>) -> SgTable<VirtAddr> {
        match self.handles.sg_parts(&map) {
            Ok((parts, _)) => {
                if let Some(s) = parts.segs.first() {
                    self.unmap_at(s.addr);
                }
            }
            Err(e) => self.errors.push(e),
        }
        self.handles.unmapped_sg(map).unwrap_or_default()
    }

    fn sync_sg_for_cpu(&mut self, map: SgMap<Device, VirtAddr>) -> SgMap<Cpu, VirtAddr> {
        fence(Ordering::SeqCst);
        self.hand_over_sg(map)
    }

    fn sync_sg_for_device(&mut self, map: SgMap<Cpu, VirtAddr>) -> SgMap<Device, VirtAddr> {
        fence(Ordering::SeqCst);
        self.hand_over_sg(map)
    }

    fn read_sg(
        &mut self,
        map: &SgMap<Cpu, VirtAddr>,
        index: usize,
        offset: usize,
        out: &mut [u8],
    ) -> Result<()> {
        let (_, entries) = self.handles.sg_parts(map)?;
        let p = entries.get(index).ok_or(Error::OutOfBounds {
            offset: index as u64,
            len: 1,
            size: entries.len() as u64,
        })?;
        self.copy_out(p.alloc.unchecked_add(p.offset), p.len, offset, out)
    }
}

impl Drop for VfioBackend {
    fn drop(&mut self) {
        let bases: Vec<u64> = self.maps.keys().copied().collect();
        for b in bases {
            self.unmap_at(Iova::new(b));
        }
        for g in self.groups.values() {
            let _ = vfio::group_unset_container(g.as_fd());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_ranges() {
        assert_eq!(
            merge(vec![(10, 20), (0, 5), (6, 8), (30, 40), (35, 50)]),
            vec![(0, 8), (10, 20), (30, 50)]
        );
    }

    #[test]
    fn permissions_follow_the_direction() {
        assert_eq!(prot(DmaDirection::ToDevice).unwrap(), DmaMapFlags::READ);
        assert_eq!(prot(DmaDirection::FromDevice).unwrap(), DmaMapFlags::WRITE);
        assert_eq!(
            prot(DmaDirection::Bidirectional).unwrap(),
            DmaMapFlags::READ | DmaMapFlags::WRITE
        );
        assert_eq!(prot(DmaDirection::None), Err(Error::InvalidDirection));
    }

    /// Without VFIO (this machine's /dev/vfio, or a directory without a
    /// container) the backend says what is missing and how to get it.
    #[test]
    fn missing_container_says_what_to_load() {
        let d = std::env::temp_dir().join(format!("numakit-novfio-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let e = VfioBackend::open_at(&d).unwrap_err();
        assert!(e.to_string().contains("modprobe vfio-pci"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
