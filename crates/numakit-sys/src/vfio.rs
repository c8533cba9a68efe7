//! VFIO: the container (`/dev/vfio/vfio`), group (`/dev/vfio/N`) and device
//! file descriptors and their ioctls, type1 DMA mapping, interrupts as
//! eventfds, and mappings of device regions (BARs).
//!
//! Layouts and numbers are those of `include/uapi/linux/vfio.h`; every ioctl
//! number and struct size is pinned by a test. `iova_ranges` reads the
//! `VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE` capability, so callers never walk
//! a capability chain themselves.
//!
//! # References
//! - [VFIO](https://docs.kernel.org/driver-api/vfio.html)

use std::ffi::{CStr, c_int, c_ulong, c_void};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

use bitflags::bitflags;

use crate::dmamem::DmaMemory;
use crate::ioctl::ioctl_ptr;
use crate::{Errno, Result};

/// `VFIO_API_VERSION`: the only version there has been.
pub const API_VERSION: i32 = 0;

/// The ioctl numbers: `_IO(VFIO_TYPE, VFIO_BASE + n)`, `_IO(';', 100 + n)`.
pub mod nr {
    const fn io(n: u8) -> u32 {
        crate::ioctl::io(b';', 100 + n)
    }
    /// `VFIO_GET_API_VERSION`.
    pub const GET_API_VERSION: u32 = io(0);
    /// `VFIO_CHECK_EXTENSION`.
    pub const CHECK_EXTENSION: u32 = io(1);
    /// `VFIO_SET_IOMMU`.
    pub const SET_IOMMU: u32 = io(2);
    /// `VFIO_GROUP_GET_STATUS`.
    pub const GROUP_GET_STATUS: u32 = io(3);
    /// `VFIO_GROUP_SET_CONTAINER`.
    pub const GROUP_SET_CONTAINER: u32 = io(4);
    /// `VFIO_GROUP_UNSET_CONTAINER`.
    pub const GROUP_UNSET_CONTAINER: u32 = io(5);
    /// `VFIO_GROUP_GET_DEVICE_FD`.
    pub const GROUP_GET_DEVICE_FD: u32 = io(6);
    /// `VFIO_DEVICE_GET_INFO`.
    pub const DEVICE_GET_INFO: u32 = io(7);
    /// `VFIO_DEVICE_GET_REGION_INFO`.
    pub const DEVICE_GET_REGION_INFO: u32 = io(8);
    /// `VFIO_DEVICE_GET_IRQ_INFO`.
    pub const DEVICE_GET_IRQ_INFO: u32 = io(9);
    /// `VFIO_DEVICE_SET_IRQS`.
    pub const DEVICE_SET_IRQS: u32 = io(10);
    /// `VFIO_DEVICE_RESET`.
    pub const DEVICE_RESET: u32 = io(11);
    /// `VFIO_IOMMU_GET_INFO`.
    pub const IOMMU_GET_INFO: u32 = io(12);
    /// `VFIO_IOMMU_MAP_DMA`.
    pub const IOMMU_MAP_DMA: u32 = io(13);
    /// `VFIO_IOMMU_UNMAP_DMA`.
    pub const IOMMU_UNMAP_DMA: u32 = io(14);
}

/// An IOMMU model a container can be set to (`VFIO_SET_IOMMU`), also an
/// extension `VFIO_CHECK_EXTENSION` asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum IommuType {
    /// `VFIO_TYPE1_IOMMU`.
    Type1 = 1,
    /// `VFIO_TYPE1v2_IOMMU`: type1 with whole-range unmap semantics.
    Type1v2 = 3,
    /// `VFIO_NOIOMMU_IOMMU`: no translation and no isolation.
    NoIommu = 8,
}

bitflags! {
    /// `VFIO_GROUP_FLAGS_*`.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct GroupFlags: u32 {
        /// Every device of the group is bound to a VFIO driver or to none
        /// that could do DMA: user space may take the group.
        const VIABLE = 1 << 0;
        /// The group is attached to a container.
        const CONTAINER_SET = 1 << 1;
    }
}

bitflags! {
    /// `VFIO_REGION_INFO_FLAG_*`.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct RegionFlags: u32 {
        /// The region can be read with `pread`.
        const READ = 1 << 0;
        /// The region can be written with `pwrite`.
        const WRITE = 1 << 1;
        /// The region can be mapped.
        const MMAP = 1 << 2;
        /// The answer has a capability chain.
        const CAPS = 1 << 3;
    }
}

bitflags! {
    /// `VFIO_IRQ_INFO_*`.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct IrqInfoFlags: u32 {
        /// The interrupts can signal eventfds.
        const EVENTFD = 1 << 0;
        /// The interrupts can be masked and unmasked.
        const MASKABLE = 1 << 1;
        /// VFIO masks the line after each interrupt (level-triggered
        /// INTx): unmask it once the device has been acknowledged.
        const AUTOMASKED = 1 << 2;
        /// The set cannot grow without disabling it first (MSI).
        const NORESIZE = 1 << 3;
    }
}

bitflags! {
    /// `VFIO_DMA_MAP_FLAG_*`: what the device may do through the mapping.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct DmaMapFlags: u32 {
        /// The device may read the memory.
        const READ = 1 << 0;
        /// The device may write the memory.
        const WRITE = 1 << 1;
    }
}

/// `VFIO_IRQ_SET_*` bits.
mod irq_set {
    pub const DATA_NONE: u32 = 1 << 0;
    pub const DATA_EVENTFD: u32 = 1 << 2;
    pub const ACTION_UNMASK: u32 = 1 << 4;
    pub const ACTION_TRIGGER: u32 = 1 << 5;
}

/// `VFIO_PCI_*_REGION_INDEX`: BARs 0-5 are indexes 0-5.
pub mod region {
    /// The expansion ROM.
    pub const ROM: u32 = 6;
    /// PCI configuration space.
    pub const CONFIG: u32 = 7;
}

/// `VFIO_PCI_*_IRQ_INDEX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum IrqIndex {
    /// Legacy INTx (level-triggered, automasked).
    Intx = 0,
    /// MSI.
    Msi = 1,
    /// MSI-X.
    Msix = 2,
}

const VFIO_IOMMU_INFO_CAPS: u32 = 1 << 1;
const CAP_IOVA_RANGE: u16 = 1;

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct RawGroupStatus {
    argsz: u32,
    flags: u32,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct RawDeviceInfo {
    argsz: u32,
    flags: u32,
    num_regions: u32,
    num_irqs: u32,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct RawRegionInfo {
    argsz: u32,
    flags: u32,
    index: u32,
    cap_offset: u32,
    size: u64,
    offset: u64,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct RawIrqInfo {
    argsz: u32,
    flags: u32,
    index: u32,
    count: u32,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct RawIrqSet {
    argsz: u32,
    flags: u32,
    index: u32,
    start: u32,
    count: u32,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct RawDmaMap {
    argsz: u32,
    flags: u32,
    vaddr: u64,
    iova: u64,
    size: u64,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct RawDmaUnmap {
    argsz: u32,
    flags: u32,
    iova: u64,
    size: u64,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct RawIommuInfo {
    argsz: u32,
    flags: u32,
    iova_pgsizes: u64,
    cap_offset: u32,
    pad: u32,
}

/// What `VFIO_DEVICE_GET_INFO` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceInfo {
    /// `VFIO_DEVICE_FLAGS_*` (bit 0 reset, bit 1 PCI).
    pub flags: u32,
    /// The number of regions.
    pub num_regions: u32,
    /// The number of interrupt indexes.
    pub num_irqs: u32,
}

/// What `VFIO_DEVICE_GET_REGION_INFO` says about one region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionInfo {
    /// The region index.
    pub index: u32,
    /// What can be done with it.
    pub flags: RegionFlags,
    /// Its size in bytes (0: not implemented).
    pub size: u64,
    /// Where it starts in the device file.
    pub offset: u64,
}

/// What `VFIO_DEVICE_GET_IRQ_INFO` says about one interrupt index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IrqInfo {
    /// The index.
    pub index: u32,
    /// Its properties.
    pub flags: IrqInfoFlags,
    /// How many vectors it has (0: not implemented).
    pub count: u32,
}

/// One range of IOVAs a container can map (inclusive end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IovaRange {
    /// The first IOVA.
    pub start: u64,
    /// The last IOVA.
    pub end: u64,
}

/// What `VFIO_IOMMU_GET_INFO` says about a type1 container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IommuInfo {
    /// The IOMMU page sizes, one bit per size.
    pub page_sizes: u64,
    /// The IOVA ranges that may be mapped, when the kernel reports them
    /// (the group's reserved regions and the aperture already removed).
    pub iova_ranges: Option<Vec<IovaRange>>,
}

/// Turns an `ioctl` return into a result.
fn ret(r: c_int) -> Result<c_int> {
    if r < 0 { Err(Errno::last()) } else { Ok(r) }
}

/// `ioctl(fd, request, value)` with an integer argument.
fn ioctl_val(fd: BorrowedFd<'_>, request: u32, value: c_ulong) -> Result<c_int> {
    // SAFETY: the VFIO requests used with this helper (GET_API_VERSION,
    // CHECK_EXTENSION, SET_IOMMU, GROUP_UNSET_CONTAINER, DEVICE_RESET) take
    // an integer or nothing; no memory is passed to the kernel.
    ret(unsafe { libc::ioctl(fd.as_raw_fd(), request as c_ulong, value) })
}

/// Opens a VFIO character device (`/dev/vfio/vfio` or `/dev/vfio/N`) for
/// reading and writing, close-on-exec.
///
/// # Errors
/// `ENOENT` no such device (VFIO not loaded, no such group), `EACCES` no
/// permission, `EBUSY` the group is already open elsewhere.
pub fn open(path: &CStr) -> Result<OwnedFd> {
    // SAFETY: `path` is a NUL-terminated string; open takes no other memory.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: `fd` was just returned by open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `VFIO_GET_API_VERSION` on a container.
pub fn get_api_version(container: BorrowedFd<'_>) -> Result<i32> {
    ioctl_val(container, nr::GET_API_VERSION, 0)
}

/// `VFIO_CHECK_EXTENSION`: whether the container supports `ty`.
pub fn check_extension(container: BorrowedFd<'_>, ty: IommuType) -> Result<bool> {
    ioctl_val(container, nr::CHECK_EXTENSION, ty as c_ulong).map(|r| r > 0)
}

/// `VFIO_SET_IOMMU`: sets the container's IOMMU model (after a group is
/// attached).
pub fn set_iommu(container: BorrowedFd<'_>, ty: IommuType) -> Result<()> {
    ioctl_val(container, nr::SET_IOMMU, ty as c_ulong).map(drop)
}

/// `VFIO_GROUP_GET_STATUS`.
pub fn group_get_status(group: BorrowedFd<'_>) -> Result<GroupFlags> {
    let mut s = RawGroupStatus {
        argsz: size_of::<RawGroupStatus>() as u32,
        flags: 0,
    };
    // SAFETY: `s` is a vfio_group_status with argsz set, which the kernel fills.
    unsafe { ioctl_ptr(group, nr::GROUP_GET_STATUS, &mut s) }?;
    Ok(GroupFlags::from_bits_retain(s.flags))
}

/// `VFIO_GROUP_SET_CONTAINER`: attaches the group to the container.
pub fn group_set_container(group: BorrowedFd<'_>, container: BorrowedFd<'_>) -> Result<()> {
    let mut fd: c_int = container.as_raw_fd();
    // SAFETY: the argument is a pointer to an int holding the container fd.
    unsafe { ioctl_ptr(group, nr::GROUP_SET_CONTAINER, &mut fd) }.map(drop)
}

/// `VFIO_GROUP_UNSET_CONTAINER`.
pub fn group_unset_container(group: BorrowedFd<'_>) -> Result<()> {
    ioctl_val(group, nr::GROUP_UNSET_CONTAINER, 0).map(drop)
}

/// `VFIO_GROUP_GET_DEVICE_FD`: the device `name` (a PCI address) of the group.
pub fn group_get_device_fd(group: BorrowedFd<'_>, name: &CStr) -> Result<OwnedFd> {
    // SAFETY: the argument is a NUL-terminated string the kernel only reads.
    let fd = unsafe { ioctl_ptr(group, nr::GROUP_GET_DEVICE_FD, name.as_ptr().cast_mut()) }?;
    // SAFETY: the ioctl returned a new descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `VFIO_DEVICE_GET_INFO`.
pub fn device_get_info(device: BorrowedFd<'_>) -> Result<DeviceInfo> {
    let mut i = RawDeviceInfo {
        argsz: size_of::<RawDeviceInfo>() as u32,
        ..Default::default()
    };
    // SAFETY: `i` is a vfio_device_info with argsz set, which the kernel fills.
    unsafe { ioctl_ptr(device, nr::DEVICE_GET_INFO, &mut i) }?;
    Ok(DeviceInfo {
        flags: i.flags,
        num_regions: i.num_regions,
        num_irqs: i.num_irqs,
    })
}

/// `VFIO_DEVICE_GET_REGION_INFO` for region `index`.
pub fn device_get_region_info(device: BorrowedFd<'_>, index: u32) -> Result<RegionInfo> {
    let mut r = RawRegionInfo {
        argsz: size_of::<RawRegionInfo>() as u32,
        index,
        ..Default::default()
    };
    // SAFETY: `r` is a vfio_region_info of the size in argsz; the kernel
    // writes no capability chain beyond argsz.
    unsafe { ioctl_ptr(device, nr::DEVICE_GET_REGION_INFO, &mut r) }?;
    Ok(RegionInfo {
        index,
        flags: RegionFlags::from_bits_retain(r.flags),
        size: r.size,
        offset: r.offset,
    })
}

/// `VFIO_DEVICE_GET_IRQ_INFO` for interrupt index `index`.
pub fn device_get_irq_info(device: BorrowedFd<'_>, index: IrqIndex) -> Result<IrqInfo> {
    let mut r = RawIrqInfo {
        argsz: size_of::<RawIrqInfo>() as u32,
        index: index as u32,
        ..Default::default()
    };
    // SAFETY: `r` is a vfio_irq_info with argsz and index set.
    unsafe { ioctl_ptr(device, nr::DEVICE_GET_IRQ_INFO, &mut r) }?;
    Ok(IrqInfo {
        index: r.index,
        flags: IrqInfoFlags::from_bits_retain(r.flags),
        count: r.count,
    })
}

/// `VFIO_DEVICE_SET_IRQS` with `DATA_EVENTFD | ACTION_TRIGGER`: vector
/// `start + i` of `index` signals `fds[i]`. An empty `fds` disables the
/// index (`DATA_NONE`, count 0).
pub fn device_set_irq_eventfds(
    device: BorrowedFd<'_>,
    index: IrqIndex,
    start: u32,
    fds: &[BorrowedFd<'_>],
) -> Result<()> {
    let head = size_of::<RawIrqSet>();
    let mut buf = vec![0u8; head + fds.len() * size_of::<c_int>()];
    let hdr = RawIrqSet {
        argsz: buf.len() as u32,
        flags: if fds.is_empty() {
            irq_set::DATA_NONE | irq_set::ACTION_TRIGGER
        } else {
            irq_set::DATA_EVENTFD | irq_set::ACTION_TRIGGER
        },
        index: index as u32,
        start,
        count: fds.len() as u32,
    };
    write_pod(&mut buf, 0, &hdr);
    for (i, fd) in fds.iter().enumerate() {
        let raw: c_int = fd.as_raw_fd();
        buf[head + i * 4..head + i * 4 + 4].copy_from_slice(&raw.to_ne_bytes());
    }
    // SAFETY: `buf` holds a vfio_irq_set header followed by `count` ints, and
    // argsz is its whole length; the kernel only reads it.
    unsafe { ioctl_ptr(device, nr::DEVICE_SET_IRQS, buf.as_mut_ptr()) }.map(drop)
}

/// `VFIO_DEVICE_SET_IRQS` with `DATA_NONE | ACTION_UNMASK` for vector
/// `vector` of `index`: re-enables an automasked INTx line.
pub fn device_unmask_irq(device: BorrowedFd<'_>, index: IrqIndex, vector: u32) -> Result<()> {
    let mut s = RawIrqSet {
        argsz: size_of::<RawIrqSet>() as u32,
        flags: irq_set::DATA_NONE | irq_set::ACTION_UNMASK,
        index: index as u32,
        start: vector,
        count: 1,
    };
    // SAFETY: `s` is a vfio_irq_set header without data (DATA_NONE).
    unsafe { ioctl_ptr(device, nr::DEVICE_SET_IRQS, &mut s) }.map(drop)
}

/// `VFIO_DEVICE_RESET`.
pub fn device_reset(device: BorrowedFd<'_>) -> Result<()> {
    ioctl_val(device, nr::DEVICE_RESET, 0).map(drop)
}

fn write_pod<T: Copy>(buf: &mut [u8], at: usize, v: &T) {
    let n = size_of::<T>();
    assert!(at + n <= buf.len(), "buffer too small for the struct");
    // SAFETY: `T` is a plain `repr(C)` struct of integers (no padding is
    // read as anything but bytes), `buf[at..at + n]` is in bounds (checked)
    // and the copy is byte-wise, so no alignment is needed.
    unsafe {
        std::ptr::copy_nonoverlapping((v as *const T).cast::<u8>(), buf[at..].as_mut_ptr(), n)
    }
}

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

fn read_u64(buf: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(buf.get(at..at + 8)?.try_into().ok()?))
}

/// `VFIO_IOMMU_GET_INFO` on a container whose IOMMU is set: the page sizes
/// and the IOVA ranges it can map.
pub fn iommu_get_info(container: BorrowedFd<'_>) -> Result<IommuInfo> {
    let head = size_of::<RawIommuInfo>();
    let mut buf = vec![0u8; head];
    let mut argsz = head;
    for _ in 0..2 {
        buf.resize(argsz, 0);
        buf.fill(0);
        buf[0..4].copy_from_slice(&(argsz as u32).to_ne_bytes());
        // SAFETY: `buf` is argsz bytes, starting with a vfio_iommu_type1_info
        // whose argsz says so; the kernel writes at most argsz bytes.
        unsafe { ioctl_ptr(container, nr::IOMMU_GET_INFO, buf.as_mut_ptr()) }?;
        let want = read_u32(&buf, 0).unwrap_or(0) as usize;
        if want <= argsz {
            break;
        }
        argsz = want;
    }
    let flags = read_u32(&buf, 4).unwrap_or(0);
    let page_sizes = read_u64(&buf, 8).unwrap_or(0);
    let cap = read_u32(&buf, 16).unwrap_or(0) as usize;
    let iova_ranges = (flags & VFIO_IOMMU_INFO_CAPS != 0 && cap != 0)
        .then(|| iova_ranges_cap(&buf, cap))
        .flatten();
    Ok(IommuInfo {
        page_sizes,
        iova_ranges,
    })
}

/// Walks the capability chain from `first` for the IOVA range capability:
/// header {u16 id, u16 version, u32 next}, u32 nr_iovas, u32 reserved, then
/// nr_iovas × {u64 start, u64 end}.
fn iova_ranges_cap(buf: &[u8], first: usize) -> Option<Vec<IovaRange>> {
    let mut at = first;
    for _ in 0..16 {
        let id = u16::from_ne_bytes(buf.get(at..at + 2)?.try_into().ok()?);
        let next = read_u32(buf, at + 4)? as usize;
        if id == CAP_IOVA_RANGE {
            let n = read_u32(buf, at + 8)? as usize;
            let mut out = Vec::with_capacity(n.min(64));
            for i in 0..n {
                let base = at + 16 + i * 16;
                out.push(IovaRange {
                    start: read_u64(buf, base)?,
                    end: read_u64(buf, base + 8)?,
                });
            }
            return Some(out);
        }
        if next == 0 || next <= at {
            return None;
        }
        at = next;
    }
    None
}

/// `VFIO_IOMMU_MAP_DMA`: maps `len` bytes of `mem` from byte `offset` at
/// `iova` in the container's IOMMU domain, with the device's permissions
/// `flags`.
///
/// This is safe because of what type1 does and what [`DmaMemory`] is: the
/// kernel pins the pages for as long as the mapping exists (even after the
/// memory is unmapped from this process, the device reaches only those
/// pinned pages), and `DmaMemory` never hands out a Rust reference into its
/// bytes, so a device write can never change memory a reference sees.
///
/// # Errors
/// `EINVAL` a range not aligned to the IOMMU page size or no permission,
/// `EEXIST` the IOVA range is already mapped, `ENOMEM` the locked-memory
/// limit (`RLIMIT_MEMLOCK`) was reached, `ENOSPC` too many mappings.
pub fn iommu_map_dma(
    container: BorrowedFd<'_>,
    mem: &DmaMemory,
    offset: usize,
    len: usize,
    iova: u64,
    flags: DmaMapFlags,
) -> Result<()> {
    let end = offset.checked_add(len).ok_or(Errno::EINVAL)?;
    if end > mem.len() || len == 0 {
        return Err(Errno::EINVAL);
    }
    let mut m = RawDmaMap {
        argsz: size_of::<RawDmaMap>() as u32,
        flags: flags.bits(),
        vaddr: (mem.addr() + offset) as u64,
        iova,
        size: len as u64,
    };
    // SAFETY: `m` is a vfio_iommu_type1_dma_map the kernel only reads; the
    // range lies inside `mem` (checked above), whose soundness argument is
    // in this function's documentation.
    unsafe { ioctl_ptr(container, nr::IOMMU_MAP_DMA, &mut m) }.map(drop)
}

/// `VFIO_IOMMU_UNMAP_DMA`: unmaps `[iova, iova + len)`; returns the number
/// of bytes unmapped.
pub fn iommu_unmap_dma(container: BorrowedFd<'_>, iova: u64, len: u64) -> Result<u64> {
    let mut u = RawDmaUnmap {
        argsz: size_of::<RawDmaUnmap>() as u32,
        flags: 0,
        iova,
        size: len,
    };
    // SAFETY: `u` is a vfio_iommu_type1_dma_unmap; the kernel writes back
    // the size it unmapped.
    unsafe { ioctl_ptr(container, nr::IOMMU_UNMAP_DMA, &mut u) }?;
    Ok(u.size)
}

/// `pread` on a device file at `offset` (configuration space, or a region
/// that cannot be mapped). Returns the number of bytes read.
pub fn pread(device: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> Result<usize> {
    // SAFETY: `buf` is writable for its length; the kernel writes at most that.
    let r = unsafe {
        libc::pread(
            device.as_raw_fd(),
            buf.as_mut_ptr().cast::<c_void>(),
            buf.len(),
            offset as libc::off_t,
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r as usize)
    }
}

/// `pwrite` on a device file at `offset`. Returns the number of bytes written.
pub fn pwrite(device: BorrowedFd<'_>, buf: &[u8], offset: u64) -> Result<usize> {
    // SAFETY: `buf` is readable for its length; the kernel only reads it.
    let r = unsafe {
        libc::pwrite(
            device.as_raw_fd(),
            buf.as_ptr().cast::<c_void>(),
            buf.len(),
            offset as libc::off_t,
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r as usize)
    }
}

/// A device region (a BAR) mapped into this process: registers, read and
/// written only with volatile accesses of the width the device expects.
/// Unmapped on drop.
pub struct RegionMapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is device memory owned by this value; every access is
// a volatile load or store through `&self`/`&mut self`.
unsafe impl Send for RegionMapping {}

impl RegionMapping {
    /// `mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, device, offset)`:
    /// maps `len` bytes of the region that starts at `offset` in the device
    /// file.
    ///
    /// # Errors
    /// `EINVAL` a zero or unaligned length or offset, `ENODEV`/`EINVAL` a
    /// region that cannot be mapped.
    pub fn map(device: BorrowedFd<'_>, offset: u64, len: usize) -> Result<RegionMapping> {
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        // SAFETY: a null hint without MAP_FIXED lets the kernel pick unused
        // addresses, so no existing memory is replaced.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                device.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or(Errno::EINVAL)?;
        Ok(RegionMapping { ptr, len })
    }

    /// The mapped length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn at<T>(&self, offset: u64) -> Result<*mut T> {
        let n = size_of::<T>() as u64;
        if !offset.is_multiple_of(n) || offset.checked_add(n).is_none_or(|e| e > self.len as u64) {
            return Err(Errno::EINVAL);
        }
        // SAFETY: `offset + n <= len` (checked), so the result stays inside
        // the mapping.
        Ok(unsafe { self.ptr.as_ptr().add(offset as usize) }.cast::<T>())
    }

    /// A 32-bit register read. `EINVAL` when `offset` is unaligned or
    /// outside the mapping.
    pub fn read32(&self, offset: u64) -> Result<u32> {
        let p = self.at::<u32>(offset)?;
        // SAFETY: `p` is aligned and inside the live mapping (checked by `at`).
        Ok(unsafe { p.read_volatile() })
    }

    /// A 32-bit register write.
    pub fn write32(&mut self, offset: u64, v: u32) -> Result<()> {
        let p = self.at::<u32>(offset)?;
        // SAFETY: `p` is aligned and inside the live mapping (checked by `at`).
        unsafe { p.write_volatile(v) };
        Ok(())
    }

    /// A 64-bit register read.
    pub fn read64(&self, offset: u64) -> Result<u64> {
        let p = self.at::<u64>(offset)?;
        // SAFETY: `p` is aligned and inside the live mapping (checked by `at`).
        Ok(unsafe { p.read_volatile() })
    }

    /// A 64-bit register write.
    pub fn write64(&mut self, offset: u64, v: u64) -> Result<()> {
        let p = self.at::<u64>(offset)?;
        // SAFETY: `p` is aligned and inside the live mapping (checked by `at`).
        unsafe { p.write_volatile(v) };
        Ok(())
    }
}

impl Drop for RegionMapping {
    fn drop(&mut self) {
        // SAFETY: the mapping is owned by `self`, which is going away, and
        // no reference into it was ever handed out.
        let _ = unsafe { libc::munmap(self.ptr.as_ptr().cast::<c_void>(), self.len) };
    }
}

impl std::fmt::Debug for RegionMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RegionMapping({:#x})", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every ioctl number against the kernel's headers (linux-raw-sys).
    #[test]
    fn ioctl_numbers() {
        use linux_raw_sys::ioctl as k;
        assert_eq!(nr::GET_API_VERSION, k::VFIO_GET_API_VERSION);
        assert_eq!(nr::CHECK_EXTENSION, k::VFIO_CHECK_EXTENSION);
        assert_eq!(nr::SET_IOMMU, k::VFIO_SET_IOMMU);
        assert_eq!(nr::GROUP_GET_STATUS, k::VFIO_GROUP_GET_STATUS);
        assert_eq!(nr::GROUP_SET_CONTAINER, k::VFIO_GROUP_SET_CONTAINER);
        assert_eq!(nr::GROUP_UNSET_CONTAINER, k::VFIO_GROUP_UNSET_CONTAINER);
        assert_eq!(nr::GROUP_GET_DEVICE_FD, k::VFIO_GROUP_GET_DEVICE_FD);
        assert_eq!(nr::DEVICE_GET_INFO, k::VFIO_DEVICE_GET_INFO);
        assert_eq!(nr::DEVICE_GET_REGION_INFO, k::VFIO_DEVICE_GET_REGION_INFO);
        assert_eq!(nr::DEVICE_GET_IRQ_INFO, k::VFIO_DEVICE_GET_IRQ_INFO);
        assert_eq!(nr::DEVICE_SET_IRQS, k::VFIO_DEVICE_SET_IRQS);
        assert_eq!(nr::DEVICE_RESET, k::VFIO_DEVICE_RESET);
        assert_eq!(nr::IOMMU_GET_INFO, k::VFIO_IOMMU_GET_INFO);
        assert_eq!(nr::IOMMU_MAP_DMA, k::VFIO_IOMMU_MAP_DMA);
        assert_eq!(nr::IOMMU_UNMAP_DMA, k::VFIO_IOMMU_UNMAP_DMA);
        assert_eq!(nr::GET_API_VERSION, 15204);
    }

    #[test]
    fn struct_sizes() {
        assert_eq!(size_of::<RawGroupStatus>(), 8);
        assert_eq!(size_of::<RawDeviceInfo>(), 16);
        assert_eq!(size_of::<RawRegionInfo>(), 32);
        assert_eq!(size_of::<RawIrqInfo>(), 16);
        assert_eq!(size_of::<RawIrqSet>(), 20);
        assert_eq!(size_of::<RawDmaMap>(), 32);
        assert_eq!(size_of::<RawDmaUnmap>(), 24);
        assert_eq!(size_of::<RawIommuInfo>(), 24);
    }

    #[test]
    fn flag_values() {
        assert_eq!(IommuType::Type1v2 as u32, 3);
        assert_eq!(IommuType::NoIommu as u32, 8);
        assert_eq!(GroupFlags::VIABLE.bits(), 1);
        assert_eq!(DmaMapFlags::WRITE.bits(), 2);
        assert_eq!(IrqInfoFlags::AUTOMASKED.bits(), 4);
        assert_eq!(IrqIndex::Msi as u32, 1);
        assert_eq!(region::CONFIG, 7);
    }

    #[test]
    fn capability_chain() {
        // info header (24 bytes), a foreign capability at 24, the IOVA range
        // capability at 40 with two ranges.
        let mut b = vec![0u8; 88];
        b[24..26].copy_from_slice(&2u16.to_ne_bytes());
        b[28..32].copy_from_slice(&40u32.to_ne_bytes());
        b[40..42].copy_from_slice(&CAP_IOVA_RANGE.to_ne_bytes());
        b[48..52].copy_from_slice(&2u32.to_ne_bytes());
        b[56..64].copy_from_slice(&0u64.to_ne_bytes());
        b[64..72].copy_from_slice(&0xfedf_ffffu64.to_ne_bytes());
        b[72..80].copy_from_slice(&0xfef0_0000u64.to_ne_bytes());
        b[80..88].copy_from_slice(&u64::MAX.to_ne_bytes());
        let r = iova_ranges_cap(&b, 24).unwrap();
        assert_eq!(
            r,
            [
                IovaRange {
                    start: 0,
                    end: 0xfedf_ffff
                },
                IovaRange {
                    start: 0xfef0_0000,
                    end: u64::MAX
                }
            ]
        );
        // a truncated chain or a loop gives nothing, never a panic
        assert_eq!(iova_ranges_cap(&b[..60], 24), None);
        let mut l = vec![0u8; 32];
        l[4..8].copy_from_slice(&0u32.to_ne_bytes());
        assert_eq!(iova_ranges_cap(&l, 0), None);
    }
}
