//! The CUDA driver, loaded at run time (feature `cuda`): enough of it to
//! time host-to-device and device-to-host copies from host memory that the
//! caller placed.
//!
//! The driver library (`libcuda.so`) is opened with `dlopen` through
//! `cudarc`'s dynamic loading the first time it is needed; a build with this
//! feature links nothing of CUDA and runs on machines without it.
//! [`driver_loadable`] says whether the library can be opened; every other
//! function must only be called after it answered `true` (cudarc panics
//! when the library is missing, and the release build aborts on panics), and
//! [`Driver::open`] enforces that.
//!
//! [`visible_pci_bus_ids`] gives the driver's own device order (what
//! `CUDA_VISIBLE_DEVICES` and `CUDA_DEVICE_ORDER` in this process's
//! environment make of the machine) with `cuInit`, `cuDeviceGetCount`,
//! `cuDeviceGet` and `cuDeviceGetPCIBusId` only: no context is made. A
//! static (`crt-static`) build cannot load `libcuda`; build this feature as
//! a dynamic binary.
//!
//! Pinned memory is the caller's own mapping, registered with
//! `cuMemHostRegister` ([`Pinned`]): page-locked, cacheable (not
//! write-combined), and on whichever node the caller bound it to.
//!
//! # References
//! - [CUDA driver API: memory management](https://docs.nvidia.com/cuda/cuda-driver-api/group__CUDA__MEM.html)

use std::ffi::c_void;
use std::fmt;
use std::sync::Arc;

use cudarc::driver::result::DriverError;
use cudarc::driver::sys::{self, CUdevice_attribute, cudaError_enum};
use cudarc::driver::{CudaContext, CudaSlice, CudaStream};

/// A failed driver call: the call and the driver's error name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CudaError {
    /// The driver call (`cuInit`).
    pub call: &'static str,
    /// The driver's code (`CUresult`).
    pub code: u32,
    /// The driver's name for it (`CUDA_ERROR_NO_DEVICE`).
    pub name: String,
}

impl CudaError {
    fn new(call: &'static str, e: DriverError) -> CudaError {
        let code = e.0 as u32;
        let name = e
            .error_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|_| format!("CUresult {code}"));
        CudaError { call, code, name }
    }

    /// Whether the driver said there is no usable device
    /// (`CUDA_ERROR_NO_DEVICE`), as it does on a machine without a GPU.
    pub fn is_no_device(&self) -> bool {
        self.code == cudaError_enum::CUDA_ERROR_NO_DEVICE as u32
    }
}

impl fmt::Display for CudaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.call, self.name)
    }
}

impl std::error::Error for CudaError {}

/// Result of a driver call.
pub type Result<T> = std::result::Result<T, CudaError>;

/// Whether the CUDA driver library can be opened (`dlopen` of `libcuda.so`
/// under the names cudarc knows). Nothing else is loaded or initialised.
pub fn driver_loadable() -> bool {
    // SAFETY: `is_culib_present` only tries `dlopen` on the candidate names
    // and drops what it opened; it calls no function of the library.
    unsafe { sys::is_culib_present() }
}

/// The opened and initialised driver (`cuInit`).
#[derive(Debug, Clone, Copy)]
pub struct Driver(());

impl Driver {
    /// Opens the driver library and calls `cuInit`. `None` when the library
    /// cannot be opened (no driver installed).
    pub fn open() -> Option<Result<Driver>> {
        if !driver_loadable() {
            return None;
        }
        Some(
            cudarc::driver::result::init()
                .map(|()| Driver(()))
                .map_err(|e| CudaError::new("cuInit", e)),
        )
    }

    /// The number of devices the driver sees (`cuDeviceGetCount`).
    pub fn device_count(&self) -> Result<usize> {
        cudarc::driver::result::device::get_count()
            .map(|n| usize::try_from(n).unwrap_or(0))
            .map_err(|e| CudaError::new("cuDeviceGetCount", e))
    }

    /// Opens device `ordinal` (its primary context).
    pub fn gpu(&self, ordinal: usize) -> Result<Gpu> {
        let ctx =
            CudaContext::new(ordinal).map_err(|e| CudaError::new("cuDevicePrimaryCtxRetain", e))?;
        let stream = ctx.default_stream();
        Ok(Gpu { ctx, stream })
    }
}

/// One device with its primary context and default stream.
#[derive(Debug)]
pub struct Gpu {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
}

/// Memory on a device.
#[derive(Debug)]
pub struct DeviceBuffer(CudaSlice<u8>);

impl DeviceBuffer {
    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Gpu {
    /// The device's name (`cuDeviceGetName`).
    pub fn name(&self) -> Result<String> {
        self.ctx
            .name()
            .map_err(|e| CudaError::new("cuDeviceGetName", e))
    }

    /// The device's PCI domain, bus and device numbers.
    pub fn pci_location(&self) -> Result<(u32, u32, u32)> {
        let get = |a| {
            self.ctx
                .attribute(a)
                .map(|v| v.max(0) as u32)
                .map_err(|e| CudaError::new("cuDeviceGetAttribute", e))
        };
        Ok((
            get(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID)?,
            get(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_PCI_BUS_ID)?,
            get(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID)?,
        ))
    }

    /// Makes the context current on the calling thread (`cuCtxSetCurrent`).
    pub fn bind_to_thread(&self) -> Result<()> {
        self.ctx
            .bind_to_thread()
            .map_err(|e| CudaError::new("cuCtxSetCurrent", e))
    }

    /// `bytes` of device memory, zeroed.
    pub fn alloc(&self, bytes: usize) -> Result<DeviceBuffer> {
        self.stream
            .alloc_zeros::<u8>(bytes)
            .map(DeviceBuffer)
            .map_err(|e| CudaError::new("cuMemAlloc", e))
    }

    /// Copies `src` to the start of `dst` and waits for the copy to end.
    /// `src` may be pageable memory or the slice of a [`Pinned`]
    /// registration. At most `dst.len()` bytes are copied.
    pub fn copy_to_device(&self, src: &[u8], dst: &mut DeviceBuffer) -> Result<()> {
        let n = src.len().min(dst.len());
        let mut view = dst.0.slice_mut(..n);
        self.stream
            .memcpy_htod(&src[..n], &mut view)
            .and_then(|()| self.stream.synchronize())
            .map_err(|e| CudaError::new("cuMemcpyHtoDAsync", e))
    }

    /// Copies the start of `src` into `dst` and waits for the copy to end.
    pub fn copy_to_host(&self, src: &DeviceBuffer, dst: &mut [u8]) -> Result<()> {
        let n = dst.len().min(src.len());
        let view = src.0.slice(..n);
        self.stream
            .memcpy_dtoh(&view, &mut dst[..n])
            .and_then(|()| self.stream.synchronize())
            .map_err(|e| CudaError::new("cuMemcpyDtoHAsync", e))
    }
}

/// Host memory the caller owns, page-locked for DMA with
/// `cuMemHostRegister` (flags 0: cacheable, not write-combined) while this
/// value lives. The borrow keeps the memory from being unmapped or handed
/// out elsewhere before `cuMemHostUnregister` runs on drop.
pub struct Pinned<'a> {
    buf: &'a mut [u8],
    ctx: Arc<CudaContext>,
}

impl<'a> Pinned<'a> {
    /// Registers `buf` with `gpu`'s context.
    pub fn register(gpu: &Gpu, buf: &'a mut [u8]) -> Result<Pinned<'a>> {
        gpu.bind_to_thread()?;
        // SAFETY: `buf` is valid for `len` bytes and exclusively borrowed for
        // the registration's life; the driver only locks and maps the pages,
        // and `drop` unregisters them before the borrow ends.
        let r =
            unsafe { sys::cuMemHostRegister_v2(buf.as_mut_ptr().cast::<c_void>(), buf.len(), 0) };
        r.result()
            .map_err(|e| CudaError::new("cuMemHostRegister", e))?;
        Ok(Pinned {
            buf,
            ctx: gpu.ctx.clone(),
        })
    }

    /// The registered bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.buf
    }

    /// The registered bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        self.buf
    }
}

impl Drop for Pinned<'_> {
    fn drop(&mut self) {
        let _ = self.ctx.bind_to_thread();
        // SAFETY: the pointer is the start of a range registered in
        // `register` and not unregistered since; no copy is in flight (every
        // copy above waits for its end).
        let _ = unsafe { sys::cuMemHostUnregister(self.buf.as_mut_ptr().cast::<c_void>()) };
    }
}

impl fmt::Debug for Pinned<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pinned({:p}+{:#x})", self.buf.as_ptr(), self.buf.len())
    }
}

/// The PCI bus id (`0000:3b:00.0`, as the driver writes it) of each device
/// CUDA lists in this process's environment, in CUDA's order.
pub fn visible_pci_bus_ids() -> Result<Vec<String>> {
    let Some(driver) = Driver::open() else {
        return Err(CudaError {
            call: "dlopen",
            code: 0,
            name: "no CUDA driver library (libcuda) could be loaded".into(),
        });
    };
    let driver = driver?;
    (0..driver.device_count()?)
        .map(|ordinal| {
            let ordinal = std::ffi::c_int::try_from(ordinal).unwrap_or(std::ffi::c_int::MAX);
            let dev = cudarc::driver::result::device::get(ordinal)
                .map_err(|e| CudaError::new("cuDeviceGet", e))?;
            let mut buf = [0u8; 64];
            let len = buf.len() as std::ffi::c_int;
            // SAFETY: `buf` is writable for `len` bytes, which the driver
            // fills with a NUL-terminated string of at most `len` bytes;
            // `dev` came from `cuDeviceGet` after `cuInit`.
            unsafe { sys::cuDeviceGetPCIBusId(buf.as_mut_ptr().cast(), len, dev) }
                .result()
                .map_err(|e| CudaError::new("cuDeviceGetPCIBusId", e))?;
            let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
            Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a machine without the driver (CI, this crate's development
    /// machines) nothing is loaded and nothing panics.
    #[test]
    fn without_a_driver_open_says_none() {
        if driver_loadable() {
            eprintln!("a CUDA driver is installed here; the no-driver path is not exercised");
            return;
        }
        assert!(Driver::open().is_none());
    }

    #[test]
    fn error_names() {
        let e = CudaError {
            call: "cuInit",
            code: cudaError_enum::CUDA_ERROR_NO_DEVICE as u32,
            name: "CUDA_ERROR_NO_DEVICE".into(),
        };
        assert!(e.is_no_device());
        assert_eq!(e.to_string(), "cuInit failed: CUDA_ERROR_NO_DEVICE");
        assert_eq!(cudaError_enum::CUDA_ERROR_NO_DEVICE as u32, 100);
    }

    /// Without a driver (CI) the device list is an error, never a panic;
    /// with one, every entry is a PCI bus id.
    #[test]
    fn the_device_list_answers_without_panicking() {
        if let Ok(ids) = visible_pci_bus_ids() {
            for id in ids {
                assert_eq!(id.matches(':').count(), 2, "{id}");
            }
        }
    }
}
