//! Device memory for DMA: `dma_map_resource` gives a device the DMA address
//! of MMIO (another device's BAR, for peer-to-peer DMA). No cache stands in
//! front of it, so there is no maintenance, and it is never bounced.

use std::panic::Location;

use super::ModelBackend;
use crate::addr::{DMA_MAPPING_ERROR, Iova, PhysAddr, PhysRange};
use crate::calls::{DmaAttrs, MapFunc, UnmapArgs, UnmapCall};
use crate::direction::DmaDirection;
use crate::error::Error;
use crate::ids::DeviceId;

impl ModelBackend {
    /// `dma_map_resource`: maps `size` bytes of device memory at `phys`
    /// for `dev`. RAM is refused (`DMA_MAPPING_ERROR`, see
    /// [`last_error`](Self::last_error)), as the kernel refuses it.
    #[track_caller]
    pub fn dma_map_resource(
        &mut self,
        dev: DeviceId,
        phys: PhysAddr,
        size: u64,
        dir: DmaDirection,
    ) -> Iova {
        let site = Location::caller();
        if !self.hw.cpu.is_mmio(phys) {
            self.last_error = Some(Error::NotDeviceMemory { addr: phys });
            self.check(site, |c, _| c.on_map_failed(dev));
            return DMA_MAPPING_ERROR;
        }
        let r = PhysRange::new(phys, size);
        self.map_raw(dev, MapFunc::Resource, r, dir, DmaAttrs::NONE, site)
    }

    /// `dma_unmap_resource`.
    #[track_caller]
    pub fn dma_unmap_resource(&mut self, dev: DeviceId, dma: Iova, size: u64, dir: DmaDirection) {
        let call = UnmapCall {
            dev,
            dma,
            args: UnmapArgs::Size(size),
            dir,
            func: MapFunc::Resource,
            attrs: DmaAttrs::NONE,
        };
        self.unmap(call, Location::caller());
    }
}
