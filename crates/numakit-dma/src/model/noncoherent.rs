//! Non-coherent DMA memory: `dma_alloc_noncoherent` and `dma_alloc_pages`
//! hand out cacheable pages the device can reach, mapped without cache
//! maintenance: the CPU owns them (and its cache may hold their bytes)
//! until the driver syncs them for the device, as page_pool does with
//! `DMA_ATTR_SKIP_CPU_SYNC`.

use std::panic::Location;
use std::sync::Arc;

use super::ModelBackend;
use super::map::MapRequest;
use crate::addr::{Iova, PAGE_SIZE, PhysAddr, PhysRange};
use crate::calls::{DmaAttrs, ErrorCheck, MapFunc};
use crate::config::layout::HIGH_RAM_END;
use crate::config::{MemKind, Zone};
use crate::direction::DmaDirection;
use crate::error::{Error, Result};
use crate::hw::cpu::Alloc;
use crate::ids::{DeviceId, MapId};
use crate::trace::{EventSource, Site};

/// What a non-coherent allocation is asked for.
#[derive(Debug, Clone, Copy)]
struct NoncoherentRequest<'a> {
    dev: DeviceId,
    size: u64,
    dir: DmaDirection,
    func: MapFunc,
    label: &'a str,
}

/// A `dma_free_noncoherent` or `dma_free_pages` call.
#[derive(Debug, Clone, Copy)]
struct FreeCall {
    func: MapFunc,
    dev: DeviceId,
    size: u64,
    cpu: PhysAddr,
    dma: Iova,
    dir: DmaDirection,
}

impl ModelBackend {
    /// `dma_alloc_noncoherent`: `size` bytes (whole pages) of cacheable
    /// memory `dev` can reach for `dir`. Returns the CPU and DMA addresses.
    /// The CPU owns it until `dma_sync_single_for_device`.
    #[track_caller]
    pub fn dma_alloc_noncoherent(
        &mut self,
        dev: DeviceId,
        size: u64,
        dir: DmaDirection,
        label: &str,
    ) -> Result<(PhysAddr, Iova)> {
        let req = NoncoherentRequest {
            dev,
            size,
            dir,
            func: MapFunc::Noncoherent,
            label,
        };
        self.alloc_noncoherent(req, Location::caller())
    }

    /// `dma_alloc_pages`: as [`dma_alloc_noncoherent`](Self::dma_alloc_noncoherent),
    /// freed with [`dma_free_pages`](Self::dma_free_pages).
    #[track_caller]
    pub fn dma_alloc_pages(
        &mut self,
        dev: DeviceId,
        size: u64,
        dir: DmaDirection,
        label: &str,
    ) -> Result<(PhysAddr, Iova)> {
        let req = NoncoherentRequest {
            dev,
            size,
            dir,
            func: MapFunc::Pages,
            label,
        };
        self.alloc_noncoherent(req, Location::caller())
    }

    /// `dma_free_noncoherent`.
    #[track_caller]
    pub fn dma_free_noncoherent(
        &mut self,
        dev: DeviceId,
        size: u64,
        cpu: PhysAddr,
        dma: Iova,
        dir: DmaDirection,
    ) {
        let call = FreeCall {
            func: MapFunc::Noncoherent,
            dev,
            size,
            cpu,
            dma,
            dir,
        };
        self.free_noncoherent(call, Location::caller());
    }

    /// `dma_free_pages`.
    #[track_caller]
    pub fn dma_free_pages(
        &mut self,
        dev: DeviceId,
        size: u64,
        page: PhysAddr,
        dma: Iova,
        dir: DmaDirection,
    ) {
        let call = FreeCall {
            func: MapFunc::Pages,
            dev,
            size,
            cpu: page,
            dma,
            dir,
        };
        self.free_noncoherent(call, Location::caller());
    }

    fn alloc_noncoherent(
        &mut self,
        req: NoncoherentRequest<'_>,
        site: Site,
    ) -> Result<(PhysAddr, Iova)> {
        let d = self.hw.devices.present(req.dev)?;
        let mask = d.cfg.dma_mask;
        if req.size == 0 {
            return Err(Error::ZeroLength);
        }
        let len = req.size.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        self.room_for_iommu(len / PAGE_SIZE, 1)?;
        let zone = if self.hw.iommu.enabled() || mask.covers(HIGH_RAM_END.raw() - 1, 1) {
            Zone::Normal
        } else {
            Zone::Dma32
        };
        let phys = self.hw.cpu.place(len, PAGE_SIZE, zone)?;
        let label: Arc<str> = Arc::from(req.label);
        self.hw.cpu.insert(
            phys,
            Alloc {
                len,
                kind: MemKind::Kmalloc,
                label: label.clone(),
            },
        );
        // The page allocator zeroes the pages through the CPU's cache.
        self.hw.cpu_zero(PhysRange::new(phys, len));
        let map = MapRequest {
            dev: req.dev,
            func: req.func,
            dir: req.dir,
            ents: &[PhysRange::new(phys, len)],
            label: Some(label.clone()),
            check: ErrorCheck::Done,
            dmabuf: None,
            attrs: DmaAttrs::SKIP_CPU_SYNC,
        };
        let id: MapId = self.map(map, site)?;
        let dma = self.maps.live(id).dma();
        let (dev, dir, name) = (req.dev, req.dir, req.func.map_name());
        self.ev(EventSource::Dma, "alloc-noncoherent", Some(dev), || {
            format!(
                "{name} {label}: {len} bytes, cpu {phys}, dma {dma}, {dir}; the CPU owns it until dma_sync_single_for_device"
            )
        });
        Ok((phys, dma))
    }

    fn free_noncoherent(&mut self, call: FreeCall, site: Site) {
        let FreeCall {
            func,
            dev,
            size,
            cpu,
            dma,
            dir,
        } = call;
        let Some(id) = self.maps.find_exact(dev, dma, func) else {
            let args = crate::calls::UnmapArgs::Size(size);
            self.check(site, |c, cx| c.on_unmap_unknown(cx, dev, dma, args, func));
            return;
        };
        if self.check(site, |c, cx| c.before_free(cx, id, func, size, cpu)) == Some(false) {
            return;
        }
        let at = self.maps.live(id).cpu();
        self.remove_mapping(id, dir, DmaAttrs::SKIP_CPU_SYNC, site);
        self.hw.cpu.remove(at);
    }
}
