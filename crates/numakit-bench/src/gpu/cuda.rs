//! The CUDA driver as a [`GpuDriver`] (feature `cuda`): the library is
//! opened at run time by `numakit_sys::cuda`, so the build needs no CUDA
//! and a machine without it gets [`DriverStatus::NoDriver`].

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use numakit_sys::cuda::{CudaError, Driver, Gpu, Pinned};
use numakit_types::PciAddress;

use super::{Direction, DriverStatus, GpuDevice, GpuDriver};
use crate::{Error, Result};

/// The CUDA driver, opened once.
#[derive(Debug, Default)]
pub struct CudaDriver {
    driver: OnceLock<Option<std::result::Result<Driver, CudaError>>>,
}

impl CudaDriver {
    fn driver(&self) -> Option<&std::result::Result<Driver, CudaError>> {
        self.driver.get_or_init(Driver::open).as_ref()
    }
}

fn gpu_err(e: CudaError) -> Error {
    Error::Gpu(e.to_string())
}

impl GpuDriver for CudaDriver {
    fn status(&self) -> DriverStatus {
        match self.driver() {
            None => DriverStatus::NoDriver(
                "the CUDA driver library (libcuda.so) could not be loaded".into(),
            ),
            Some(Err(e)) if e.is_no_device() => {
                DriverStatus::NoGpu("the CUDA driver sees no device".into())
            }
            Some(Err(e)) => DriverStatus::NoDriver(format!("the CUDA driver did not start ({e})")),
            Some(Ok(d)) => match d.device_count() {
                Ok(n) => DriverStatus::Ready(n),
                Err(e) if e.is_no_device() => {
                    DriverStatus::NoGpu("the CUDA driver sees no device".into())
                }
                Err(e) => {
                    DriverStatus::NoDriver(format!("the CUDA driver cannot count devices ({e})"))
                }
            },
        }
    }

    fn device(&self, ordinal: usize) -> Result<Box<dyn GpuDevice>> {
        match self.driver() {
            Some(Ok(d)) => Ok(Box::new(CudaGpu(d.gpu(ordinal).map_err(gpu_err)?))),
            _ => Err(Error::Gpu("the CUDA driver is not available".into())),
        }
    }
}

struct CudaGpu(Gpu);

impl GpuDevice for CudaGpu {
    fn name(&self) -> String {
        self.0.name().unwrap_or_else(|_| "unknown".into())
    }

    fn pci(&self) -> Option<PciAddress> {
        let (domain, bus, device) = self.0.pci_location().ok()?;
        format!("{domain:04x}:{bus:02x}:{device:02x}.0")
            .parse()
            .ok()
    }

    fn copies(
        &self,
        host: &mut [u8],
        dir: Direction,
        pinned: bool,
        repeat: u32,
    ) -> Result<Vec<Duration>> {
        self.0.bind_to_thread().map_err(gpu_err)?;
        let mut dev = self.0.alloc(host.len()).map_err(gpu_err)?;
        let mut once = |h: &mut [u8]| -> Result<Duration> {
            let start = Instant::now();
            match dir {
                Direction::HostToDevice => self.0.copy_to_device(h, &mut dev),
                Direction::DeviceToHost => self.0.copy_to_host(&dev, h),
            }
            .map_err(gpu_err)?;
            Ok(start.elapsed())
        };
        let mut run = |h: &mut [u8]| -> Result<Vec<Duration>> {
            once(h)?;
            (0..repeat).map(|_| once(h)).collect()
        };
        if pinned {
            let mut p = Pinned::register(&self.0, host).map_err(gpu_err)?;
            run(p.as_mut_slice())
        } else {
            run(host)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without the driver library (this machine, CI) the status says so,
    /// and nothing is loaded or run.
    #[test]
    fn no_driver_here() {
        if numakit_sys::cuda::driver_loadable() {
            eprintln!("a CUDA driver is installed; the no-driver path is not exercised");
            return;
        }
        let d = CudaDriver::default();
        assert!(matches!(d.status(), DriverStatus::NoDriver(_)));
        assert!(d.device(0).is_err());
    }
}
