//! The CUDA driver's own device order (feature `cuda`): the PCI function of
//! every device CUDA lists in this process's environment, in CUDA's order.
//!
//! `libcuda` is loaded at run time (through `cudarc`'s dynamic loading), so
//! a binary built with the feature still runs where there is no NVIDIA
//! driver: [`visible_pci_bus_ids`] then says so. `cuInit` reads
//! `CUDA_VISIBLE_DEVICES` and `CUDA_DEVICE_ORDER` from this process's
//! environment, which is the environment the command numakit runs gets, so
//! the answer is the worker's own. Only `cuInit`, `cuDeviceGetCount`,
//! `cuDeviceGet` and `cuDeviceGetPCIBusId` are called: no context is made.
//! A static (`crt-static`) build cannot load `libcuda`; build this feature
//! as a dynamic binary.

use std::fmt;

use cudarc::driver::{result, sys};

/// Why CUDA's device list could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CudaError {
    /// No `libcuda` could be loaded.
    NoDriver,
    /// The driver returned an error.
    Driver(String),
}

impl fmt::Display for CudaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CudaError::NoDriver => f.write_str("no CUDA driver library (libcuda) could be loaded"),
            CudaError::Driver(e) => write!(f, "the CUDA driver failed: {e}"),
        }
    }
}

impl std::error::Error for CudaError {}

/// The PCI bus id (`0000:3b:00.0`, as the driver writes it) of each device
/// CUDA lists, in CUDA's order.
pub fn visible_pci_bus_ids() -> Result<Vec<String>, CudaError> {
    // SAFETY: only tries to open the library by name; no symbol is called.
    if !unsafe { sys::is_culib_present() } {
        return Err(CudaError::NoDriver);
    }
    let err = |e: result::DriverError| CudaError::Driver(format!("{e:?}"));
    result::init().map_err(err)?;
    let count = result::device::get_count().map_err(err)?;
    (0..count)
        .map(|ordinal| {
            let dev = result::device::get(ordinal).map_err(err)?;
            let mut buf = [0u8; 64];
            let len = buf.len() as std::ffi::c_int;
            // SAFETY: `buf` is writable for `len` bytes, which the driver
            // fills with a NUL-terminated string of at most `len` bytes;
            // `dev` came from `cuDeviceGet` after `cuInit`.
            unsafe { sys::cuDeviceGetPCIBusId(buf.as_mut_ptr().cast(), len, dev) }
                .result()
                .map_err(err)?;
            let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
            Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a driver (CI) the answer is `NoDriver`, never a panic; with
    /// one, every entry is a PCI bus id.
    #[test]
    fn answers_without_panicking() {
        match visible_pci_bus_ids() {
            Err(CudaError::NoDriver) | Err(CudaError::Driver(_)) => {}
            Ok(ids) => {
                for id in ids {
                    assert_eq!(id.matches(':').count(), 2, "{id}");
                }
            }
        }
    }
}
