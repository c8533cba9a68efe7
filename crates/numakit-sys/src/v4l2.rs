//! Video4Linux2 capture: the ioctls a camera pipeline needs to stream
//! frames into buffers and hand them on as DMA-BUFs (`VIDIOC_QUERYCAP`,
//! `VIDIOC_S_INPUT`, `VIDIOC_G_FMT`/`S_FMT`, `VIDIOC_S_PARM`,
//! `VIDIOC_REQBUFS`, `VIDIOC_QUERYBUF`, `VIDIOC_EXPBUF`, `VIDIOC_QBUF`,
//! `VIDIOC_DQBUF`, `VIDIOC_STREAMON`/`STREAMOFF`), single-planar video
//! capture only.
//!
//! # References
//! - `include/uapi/linux/videodev2.h`
//! - Documentation/userspace-api/media/v4l/dmabuf.rst, vidioc-expbuf.rst

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use bitflags::bitflags;

use crate::Result;
use crate::dmabuf::owned;
use crate::ioctl::{ioctl_ptr, ior, iow, iowr};

/// `struct v4l2_capability`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct v4l2_capability {
    /// Driver name.
    pub driver: [u8; 16],
    /// Device name.
    pub card: [u8; 32],
    /// Bus location.
    pub bus_info: [u8; 32],
    /// `KERNEL_VERSION`.
    pub version: u32,
    /// Capabilities of the physical device.
    pub capabilities: u32,
    /// Capabilities of this device node.
    pub device_caps: u32,
    /// Reserved.
    pub reserved: [u32; 3],
}

/// `struct v4l2_pix_format`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct v4l2_pix_format {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// FourCC.
    pub pixelformat: u32,
    /// `enum v4l2_field`.
    pub field: u32,
    /// Bytes per line.
    pub bytesperline: u32,
    /// Bytes per frame.
    pub sizeimage: u32,
    /// `enum v4l2_colorspace`.
    pub colorspace: u32,
    /// Private.
    pub priv_: u32,
    /// `V4L2_PIX_FMT_FLAG_*`.
    pub flags: u32,
    /// `ycbcr_enc` / `hsv_enc`.
    pub ycbcr_enc: u32,
    /// `enum v4l2_quantization`.
    pub quantization: u32,
    /// `enum v4l2_xfer_func`.
    pub xfer_func: u32,
}

/// The union of `struct v4l2_format`: 200 bytes, 8-aligned on 64-bit
/// because `struct v4l2_window` holds pointers.
#[repr(C)]
#[derive(Clone, Copy)]
pub union v4l2_format_fmt {
    /// Single-planar pixel format.
    pub pix: v4l2_pix_format,
    /// The raw bytes.
    pub raw_data: [u8; 200],
    _align: [u64; 25],
}

/// `struct v4l2_format`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct v4l2_format {
    /// `enum v4l2_buf_type`.
    pub type_: u32,
    /// The format.
    pub fmt: v4l2_format_fmt,
}

/// `struct v4l2_fract`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct v4l2_fract {
    /// Numerator.
    pub numerator: u32,
    /// Denominator.
    pub denominator: u32,
}

/// `struct v4l2_captureparm`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct v4l2_captureparm {
    /// `V4L2_CAP_TIMEPERFRAME` when the frame interval can be set.
    pub capability: u32,
    /// Capture mode.
    pub capturemode: u32,
    /// Seconds per frame.
    pub timeperframe: v4l2_fract,
    /// Driver specific.
    pub extendedmode: u32,
    /// Buffers for `read()`.
    pub readbuffers: u32,
    /// Reserved.
    pub reserved: [u32; 4],
}

/// The union of `struct v4l2_streamparm` (200 bytes, 4-aligned).
#[repr(C)]
#[derive(Clone, Copy)]
pub union v4l2_streamparm_parm {
    /// Capture parameters.
    pub capture: v4l2_captureparm,
    /// The raw bytes.
    pub raw_data: [u8; 200],
}

/// `struct v4l2_streamparm`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct v4l2_streamparm {
    /// `enum v4l2_buf_type`.
    pub type_: u32,
    /// The parameters.
    pub parm: v4l2_streamparm_parm,
}

/// `struct v4l2_requestbuffers`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct v4l2_requestbuffers {
    /// Buffers wanted; buffers given.
    pub count: u32,
    /// `enum v4l2_buf_type`.
    pub type_: u32,
    /// `enum v4l2_memory`.
    pub memory: u32,
    /// `V4L2_BUF_CAP_*`, set by the driver.
    pub capabilities: u32,
    /// `V4L2_MEMORY_FLAG_*`.
    pub flags: u8,
    /// Reserved.
    pub reserved: [u8; 3],
}

/// `struct timeval` as in the 64-bit `struct v4l2_buffer`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct timeval {
    /// Seconds.
    pub tv_sec: i64,
    /// Microseconds.
    pub tv_usec: i64,
}

/// `struct v4l2_timecode`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct v4l2_timecode {
    /// Type.
    pub type_: u32,
    /// Flags.
    pub flags: u32,
    /// Frames.
    pub frames: u8,
    /// Seconds.
    pub seconds: u8,
    /// Minutes.
    pub minutes: u8,
    /// Hours.
    pub hours: u8,
    /// User bits.
    pub userbits: [u8; 4],
}

/// The `m` union of `struct v4l2_buffer`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union v4l2_buffer_m {
    /// `V4L2_MEMORY_MMAP`: the offset to `mmap` the buffer at.
    pub offset: u32,
    /// `V4L2_MEMORY_USERPTR`.
    pub userptr: u64,
    /// `V4L2_MEMORY_DMABUF`: the DMA-BUF to capture into.
    pub fd: i32,
}

/// `struct v4l2_buffer` (88 bytes on 64-bit).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct v4l2_buffer {
    /// Buffer index.
    pub index: u32,
    /// `enum v4l2_buf_type`.
    pub type_: u32,
    /// Bytes of data.
    pub bytesused: u32,
    /// `V4L2_BUF_FLAG_*`.
    pub flags: u32,
    /// `enum v4l2_field`.
    pub field: u32,
    /// Capture time.
    pub timestamp: timeval,
    /// Time code.
    pub timecode: v4l2_timecode,
    /// Frame counter.
    pub sequence: u32,
    /// `enum v4l2_memory`.
    pub memory: u32,
    /// Where the buffer is.
    pub m: v4l2_buffer_m,
    /// Buffer size.
    pub length: u32,
    /// Reserved.
    pub reserved2: u32,
    /// `request_fd`.
    pub request_fd: i32,
}

/// `struct v4l2_exportbuffer`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct v4l2_exportbuffer {
    /// `enum v4l2_buf_type`.
    pub type_: u32,
    /// Buffer index.
    pub index: u32,
    /// Plane.
    pub plane: u32,
    /// `O_CLOEXEC`, `O_RDWR`... for the new descriptor.
    pub flags: u32,
    /// The returned DMA-BUF.
    pub fd: i32,
    /// Reserved.
    pub reserved: [u32; 11],
}

const V: u8 = b'V';
/// `VIDIOC_QUERYCAP`.
pub const VIDIOC_QUERYCAP: u32 = ior::<v4l2_capability>(V, 0);
/// `VIDIOC_G_FMT`.
pub const VIDIOC_G_FMT: u32 = iowr::<v4l2_format>(V, 4);
/// `VIDIOC_S_FMT`.
pub const VIDIOC_S_FMT: u32 = iowr::<v4l2_format>(V, 5);
/// `VIDIOC_REQBUFS`.
pub const VIDIOC_REQBUFS: u32 = iowr::<v4l2_requestbuffers>(V, 8);
/// `VIDIOC_QUERYBUF`.
pub const VIDIOC_QUERYBUF: u32 = iowr::<v4l2_buffer>(V, 9);
/// `VIDIOC_QBUF`.
pub const VIDIOC_QBUF: u32 = iowr::<v4l2_buffer>(V, 15);
/// `VIDIOC_EXPBUF`.
pub const VIDIOC_EXPBUF: u32 = iowr::<v4l2_exportbuffer>(V, 16);
/// `VIDIOC_DQBUF`.
pub const VIDIOC_DQBUF: u32 = iowr::<v4l2_buffer>(V, 17);
/// `VIDIOC_STREAMON`.
pub const VIDIOC_STREAMON: u32 = iow::<i32>(V, 18);
/// `VIDIOC_STREAMOFF`.
pub const VIDIOC_STREAMOFF: u32 = iow::<i32>(V, 19);
/// `VIDIOC_G_PARM`.
pub const VIDIOC_G_PARM: u32 = iowr::<v4l2_streamparm>(V, 21);
/// `VIDIOC_S_PARM`.
pub const VIDIOC_S_PARM: u32 = iowr::<v4l2_streamparm>(V, 22);
/// `VIDIOC_S_INPUT`.
pub const VIDIOC_S_INPUT: u32 = iowr::<i32>(V, 39);

/// `V4L2_BUF_TYPE_VIDEO_CAPTURE`.
pub const BUF_TYPE_VIDEO_CAPTURE: u32 = 1;
/// `V4L2_FIELD_NONE`.
pub const FIELD_NONE: u32 = 1;

/// `enum v4l2_memory`: how buffers are provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Memory {
    /// `V4L2_MEMORY_MMAP`: the driver allocates them.
    Mmap = 1,
    /// `V4L2_MEMORY_DMABUF`: the application passes DMA-BUFs in.
    Dmabuf = 4,
}

bitflags! {
    /// `V4L2_CAP_*` of a device node.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct CapFlags: u32 {
        /// `V4L2_CAP_VIDEO_CAPTURE`.
        const VIDEO_CAPTURE = 0x0000_0001;
        /// `V4L2_CAP_VIDEO_CAPTURE_MPLANE`.
        const VIDEO_CAPTURE_MPLANE = 0x0000_1000;
        /// `V4L2_CAP_STREAMING`.
        const STREAMING = 0x0400_0000;
        /// `V4L2_CAP_DEVICE_CAPS`.
        const DEVICE_CAPS = 0x8000_0000;
    }
}

bitflags! {
    /// `V4L2_BUF_CAP_*` returned by `VIDIOC_REQBUFS`.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct BufCapFlags: u32 {
        /// `V4L2_BUF_CAP_SUPPORTS_MMAP`.
        const MMAP = 0x01;
        /// `V4L2_BUF_CAP_SUPPORTS_USERPTR`.
        const USERPTR = 0x02;
        /// `V4L2_BUF_CAP_SUPPORTS_DMABUF`.
        const DMABUF = 0x04;
    }
}

/// `v4l2_fourcc(a, b, c, d)`.
pub const fn fourcc(code: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*code)
}

/// A fixed-size C string field as text (up to the first NUL).
pub fn c_field(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// `VIDIOC_QUERYCAP`.
pub fn querycap(fd: BorrowedFd<'_>) -> Result<v4l2_capability> {
    // SAFETY: all-zero is a valid `v4l2_capability`.
    let mut c: v4l2_capability = unsafe { std::mem::zeroed() };
    // SAFETY: VIDIOC_QUERYCAP writes one `struct v4l2_capability`.
    unsafe { ioctl_ptr(fd, VIDIOC_QUERYCAP, &mut c) }?;
    Ok(c)
}

/// `VIDIOC_S_INPUT`: selects input `index`.
pub fn s_input(fd: BorrowedFd<'_>, index: u32) -> Result<()> {
    let mut i = index as i32;
    // SAFETY: VIDIOC_S_INPUT reads and writes one `int`.
    unsafe { ioctl_ptr(fd, VIDIOC_S_INPUT, &mut i) }.map(drop)
}

/// `VIDIOC_S_FMT` for single-planar capture: asks for `pix` and returns
/// what the driver chose.
pub fn s_fmt_capture(fd: BorrowedFd<'_>, pix: v4l2_pix_format) -> Result<v4l2_pix_format> {
    let mut f = v4l2_format {
        type_: BUF_TYPE_VIDEO_CAPTURE,
        fmt: v4l2_format_fmt { _align: [0; 25] },
    };
    f.fmt.pix = pix;
    // SAFETY: VIDIOC_S_FMT reads and writes one `struct v4l2_format`.
    unsafe { ioctl_ptr(fd, VIDIOC_S_FMT, &mut f) }?;
    // SAFETY: for BUF_TYPE_VIDEO_CAPTURE the kernel fills the `pix` member,
    // and every bit pattern is a valid `v4l2_pix_format`.
    Ok(unsafe { f.fmt.pix })
}

/// `VIDIOC_S_PARM` for capture: asks for `interval` seconds per frame and
/// returns the interval the driver set, or `None` when the driver cannot
/// set one (no `V4L2_CAP_TIMEPERFRAME`).
pub fn s_frame_interval(fd: BorrowedFd<'_>, interval: v4l2_fract) -> Result<Option<v4l2_fract>> {
    let mut p = v4l2_streamparm {
        type_: BUF_TYPE_VIDEO_CAPTURE,
        parm: v4l2_streamparm_parm { raw_data: [0; 200] },
    };
    p.parm.capture.timeperframe = interval;
    // SAFETY: VIDIOC_S_PARM reads and writes one `struct v4l2_streamparm`.
    unsafe { ioctl_ptr(fd, VIDIOC_S_PARM, &mut p) }?;
    // SAFETY: for capture the kernel fills `capture`; any bits are valid.
    let c = unsafe { p.parm.capture };
    const CAP_TIMEPERFRAME: u32 = 0x1000;
    Ok((c.capability & CAP_TIMEPERFRAME != 0).then_some(c.timeperframe))
}

/// `VIDIOC_REQBUFS`: asks for `count` capture buffers of `memory`; returns
/// the count given and the queue's capabilities. `count = 0` frees them.
pub fn reqbufs(fd: BorrowedFd<'_>, count: u32, memory: Memory) -> Result<(u32, BufCapFlags)> {
    let mut r = v4l2_requestbuffers {
        count,
        type_: BUF_TYPE_VIDEO_CAPTURE,
        memory: memory as u32,
        ..Default::default()
    };
    // SAFETY: VIDIOC_REQBUFS reads and writes one `struct v4l2_requestbuffers`.
    unsafe { ioctl_ptr(fd, VIDIOC_REQBUFS, &mut r) }?;
    Ok((r.count, BufCapFlags::from_bits_retain(r.capabilities)))
}

fn buffer(index: u32, memory: Memory) -> v4l2_buffer {
    // SAFETY: all-zero is a valid `v4l2_buffer` (plain integers and unions
    // of integers).
    let mut b: v4l2_buffer = unsafe { std::mem::zeroed() };
    b.index = index;
    b.type_ = BUF_TYPE_VIDEO_CAPTURE;
    b.memory = memory as u32;
    b
}

/// What the driver says about a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferInfo {
    /// Index.
    pub index: u32,
    /// Bytes of frame data (after `DQBUF`).
    pub bytesused: u32,
    /// Size.
    pub length: u32,
    /// `V4L2_BUF_FLAG_*`.
    pub flags: u32,
    /// The driver's frame counter.
    pub sequence: u32,
}

fn info(b: &v4l2_buffer) -> BufferInfo {
    BufferInfo {
        index: b.index,
        bytesused: b.bytesused,
        length: b.length,
        flags: b.flags,
        sequence: b.sequence,
    }
}

/// `VIDIOC_QUERYBUF` of an `MMAP` capture buffer.
pub fn querybuf(fd: BorrowedFd<'_>, index: u32) -> Result<BufferInfo> {
    let mut b = buffer(index, Memory::Mmap);
    // SAFETY: VIDIOC_QUERYBUF reads and writes one `struct v4l2_buffer`;
    // single-planar, so no plane pointer is followed.
    unsafe { ioctl_ptr(fd, VIDIOC_QUERYBUF, &mut b) }?;
    Ok(info(&b))
}

/// `VIDIOC_EXPBUF`: the `MMAP` capture buffer `index` as a DMA-BUF
/// (read-write, close-on-exec).
pub fn expbuf(fd: BorrowedFd<'_>, index: u32) -> Result<OwnedFd> {
    let mut e = v4l2_exportbuffer {
        type_: BUF_TYPE_VIDEO_CAPTURE,
        index,
        flags: (libc::O_RDWR | libc::O_CLOEXEC) as u32,
        ..Default::default()
    };
    // SAFETY: VIDIOC_EXPBUF reads and writes one `struct v4l2_exportbuffer`.
    unsafe { ioctl_ptr(fd, VIDIOC_EXPBUF, &mut e) }?;
    owned(e.fd)
}

/// `VIDIOC_QBUF` of `MMAP` buffer `index`: the driver may fill it.
pub fn qbuf_mmap(fd: BorrowedFd<'_>, index: u32) -> Result<()> {
    let mut b = buffer(index, Memory::Mmap);
    // SAFETY: VIDIOC_QBUF reads and writes one `struct v4l2_buffer`.
    unsafe { ioctl_ptr(fd, VIDIOC_QBUF, &mut b) }.map(drop)
}

/// `VIDIOC_QBUF` of `DMABUF` slot `index`, capturing into `buf` (`length`
/// bytes of it).
pub fn qbuf_dmabuf(fd: BorrowedFd<'_>, index: u32, buf: BorrowedFd<'_>, length: u32) -> Result<()> {
    let mut b = buffer(index, Memory::Dmabuf);
    b.m.fd = buf.as_raw_fd();
    b.length = length;
    // SAFETY: VIDIOC_QBUF reads and writes one `struct v4l2_buffer`; the
    // DMA-BUF descriptor in it is only looked up.
    unsafe { ioctl_ptr(fd, VIDIOC_QBUF, &mut b) }.map(drop)
}

/// `VIDIOC_DQBUF`: the next filled buffer. On a non-blocking descriptor,
/// `EAGAIN` when none is ready (wait with `poll` first).
pub fn dqbuf(fd: BorrowedFd<'_>, memory: Memory) -> Result<BufferInfo> {
    let mut b = buffer(0, memory);
    // SAFETY: VIDIOC_DQBUF reads and writes one `struct v4l2_buffer`.
    unsafe { ioctl_ptr(fd, VIDIOC_DQBUF, &mut b) }?;
    Ok(info(&b))
}

/// `VIDIOC_STREAMON` (capture).
pub fn streamon(fd: BorrowedFd<'_>) -> Result<()> {
    let mut t = BUF_TYPE_VIDEO_CAPTURE as i32;
    // SAFETY: VIDIOC_STREAMON reads one `int`.
    unsafe { ioctl_ptr(fd, VIDIOC_STREAMON, &mut t) }.map(drop)
}

/// `VIDIOC_STREAMOFF` (capture): every queued buffer comes back.
pub fn streamoff(fd: BorrowedFd<'_>) -> Result<()> {
    let mut t = BUF_TYPE_VIDEO_CAPTURE as i32;
    // SAFETY: VIDIOC_STREAMOFF reads one `int`.
    unsafe { ioctl_ptr(fd, VIDIOC_STREAMOFF, &mut t) }.map(drop)
}

/// Whether a `querycap` answer is a single-planar streaming capture node.
pub fn is_streaming_capture(c: &v4l2_capability) -> bool {
    let caps = if c.capabilities & CapFlags::DEVICE_CAPS.bits() != 0 {
        c.device_caps
    } else {
        c.capabilities
    };
    let f = CapFlags::from_bits_retain(caps);
    f.contains(CapFlags::VIDEO_CAPTURE | CapFlags::STREAMING)
}

#[cfg(test)]
mod tests {
    use super::*;
    use linux_raw_sys::ioctl as k;
    use std::mem::{offset_of, size_of};

    #[test]
    fn numbers_match_linux_raw_sys() {
        assert_eq!(VIDIOC_QUERYCAP, k::VIDIOC_QUERYCAP);
        assert_eq!(VIDIOC_G_FMT, k::VIDIOC_G_FMT);
        assert_eq!(VIDIOC_S_FMT, k::VIDIOC_S_FMT);
        assert_eq!(VIDIOC_REQBUFS, k::VIDIOC_REQBUFS);
        assert_eq!(VIDIOC_QUERYBUF, k::VIDIOC_QUERYBUF);
        assert_eq!(VIDIOC_QBUF, k::VIDIOC_QBUF);
        assert_eq!(VIDIOC_EXPBUF, k::VIDIOC_EXPBUF);
        assert_eq!(VIDIOC_DQBUF, k::VIDIOC_DQBUF);
        assert_eq!(VIDIOC_STREAMON, k::VIDIOC_STREAMON);
        assert_eq!(VIDIOC_STREAMOFF, k::VIDIOC_STREAMOFF);
        assert_eq!(VIDIOC_G_PARM, k::VIDIOC_G_PARM);
        assert_eq!(VIDIOC_S_PARM, k::VIDIOC_S_PARM);
        assert_eq!(VIDIOC_S_INPUT, k::VIDIOC_S_INPUT);
    }

    #[test]
    fn struct_layouts() {
        assert_eq!(size_of::<v4l2_capability>(), 104);
        assert_eq!(size_of::<v4l2_pix_format>(), 48);
        assert_eq!(size_of::<v4l2_format>(), 208);
        assert_eq!(offset_of!(v4l2_format, fmt), 8);
        assert_eq!(size_of::<v4l2_captureparm>(), 40);
        assert_eq!(size_of::<v4l2_streamparm>(), 204);
        assert_eq!(size_of::<v4l2_requestbuffers>(), 20);
        assert_eq!(size_of::<v4l2_buffer>(), 88);
        assert_eq!(offset_of!(v4l2_buffer, timestamp), 24);
        assert_eq!(offset_of!(v4l2_buffer, timecode), 40);
        assert_eq!(offset_of!(v4l2_buffer, sequence), 56);
        assert_eq!(offset_of!(v4l2_buffer, memory), 60);
        assert_eq!(offset_of!(v4l2_buffer, m), 64);
        assert_eq!(offset_of!(v4l2_buffer, length), 72);
        assert_eq!(offset_of!(v4l2_buffer, request_fd), 80);
        assert_eq!(size_of::<v4l2_exportbuffer>(), 64);
        assert_eq!(offset_of!(v4l2_exportbuffer, fd), 16);
    }

    #[test]
    fn values() {
        assert_eq!(fourcc(b"XR24"), 0x3432_5258);
        assert_eq!(fourcc(b"YUYV"), 0x5659_5559);
        assert_eq!(Memory::Mmap as u32, 1);
        assert_eq!(Memory::Dmabuf as u32, 4);
        assert_eq!(c_field(b"vivid\0\0\0"), "vivid");
    }
}
