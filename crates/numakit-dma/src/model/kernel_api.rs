//! The DMA API shaped like the kernel's functions: raw addresses in and out,
//! `DMA_MAPPING_ERROR` on failure, the entry count of `dma_map_sg` to be
//! passed back unchanged. Every C mistake can be made here, and the checker
//! reports it with the Rust caller's location.

use std::panic::Location;

use super::ModelBackend;
use super::map::MapRequest;
use crate::addr::{DMA_MAPPING_ERROR, DmaMask, Iova, PhysAddr, PhysRange};
use crate::calls::MapFunc;
use crate::calls::{
    DmaAttrs, ErrorCheck, ScatterEntry, SyncCall, SyncTarget, Toward, UnmapArgs, UnmapCall,
};
use crate::direction::DmaDirection;
use crate::error::{Error, Result};
use crate::hw::devices::MaskKind;
use crate::ids::DeviceId;
use crate::trace::{EventSource, Site};

/// The DMA address a scatterlist call names: its first entry's.
fn sg_dma(sg: &[ScatterEntry]) -> Iova {
    sg.first().map_or(DMA_MAPPING_ERROR, |e| e.dma_address)
}

impl ModelBackend {
    /// Refuses a mask the platform cannot serve: the lowest memory zone
    /// needs 24 bits (`dma_supported`).
    fn mask_supported(&self, dev: DeviceId, mask: DmaMask) -> Result<()> {
        let d = self.hw.devices.present(dev)?;
        if mask.raw() < (1 << 24) - 1 {
            return Err(Error::MaskTooSmall {
                device: d.cfg.name.clone(),
                mask,
            });
        }
        Ok(())
    }

    /// `dma_set_mask`: the streaming mask.
    pub fn dma_set_mask(&mut self, dev: DeviceId, mask: DmaMask) -> Result<()> {
        self.mask_supported(dev, mask)?;
        self.hw.devices.set_mask(dev, MaskKind::Streaming, mask)?;
        self.ev(EventSource::Dma, "set-mask", Some(dev), || {
            format!("DMA mask {mask}")
        });
        Ok(())
    }

    /// `dma_set_coherent_mask`.
    pub fn dma_set_coherent_mask(&mut self, dev: DeviceId, mask: DmaMask) -> Result<()> {
        self.mask_supported(dev, mask)?;
        self.hw.devices.set_mask(dev, MaskKind::Coherent, mask)?;
        self.ev(EventSource::Dma, "set-mask", Some(dev), || {
            format!("coherent DMA mask {mask}")
        });
        Ok(())
    }

    /// `dma_set_mask_and_coherent`.
    pub fn dma_set_mask_and_coherent(&mut self, dev: DeviceId, mask: DmaMask) -> Result<()> {
        self.dma_set_mask(dev, mask)?;
        self.dma_set_coherent_mask(dev, mask)
    }

    /// `dma_map_single`: maps `size` bytes of CPU memory at `addr`. Returns
    /// [`DMA_MAPPING_ERROR`] on failure (see [`last_error`](Self::last_error));
    /// test the result with [`dma_mapping_error`](Self::dma_mapping_error).
    #[track_caller]
    pub fn dma_map_single(
        &mut self,
        dev: DeviceId,
        addr: PhysAddr,
        size: u64,
        dir: DmaDirection,
    ) -> Iova {
        self.dma_map_single_attrs(dev, addr, size, dir, DmaAttrs::NONE)
    }

    /// `dma_map_single_attrs`: [`dma_map_single`](Self::dma_map_single)
    /// with attributes.
    #[track_caller]
    pub fn dma_map_single_attrs(
        &mut self,
        dev: DeviceId,
        addr: PhysAddr,
        size: u64,
        dir: DmaDirection,
        attrs: DmaAttrs,
    ) -> Iova {
        let site = Location::caller();
        let r = PhysRange::new(addr, size);
        self.map_raw(dev, MapFunc::Single, r, dir, attrs, site)
    }

    /// `dma_map_page`: maps `size` bytes at `offset` into the page at `page`.
    #[track_caller]
    pub fn dma_map_page(
        &mut self,
        dev: DeviceId,
        page: PhysAddr,
        offset: u64,
        size: u64,
        dir: DmaDirection,
    ) -> Iova {
        self.dma_map_page_attrs(dev, page, offset, size, dir, DmaAttrs::NONE)
    }

    /// `dma_map_page_attrs`: [`dma_map_page`](Self::dma_map_page) with
    /// attributes.
    #[track_caller]
    pub fn dma_map_page_attrs(
        &mut self,
        dev: DeviceId,
        page: PhysAddr,
        offset: u64,
        size: u64,
        dir: DmaDirection,
        attrs: DmaAttrs,
    ) -> Iova {
        let site = Location::caller();
        let r = PhysRange::new(page.unchecked_add(offset), size);
        self.map_raw(dev, MapFunc::Page, r, dir, attrs, site)
    }

    /// A single mapping with the kernel's contract: the DMA address, or
    /// `DMA_MAPPING_ERROR` with the reason kept for `last_error`.
    pub(super) fn map_raw(
        &mut self,
        dev: DeviceId,
        func: MapFunc,
        r: PhysRange,
        dir: DmaDirection,
        attrs: DmaAttrs,
        site: Site,
    ) -> Iova {
        let req = MapRequest {
            dev,
            func,
            dir,
            ents: &[r],
            label: None,
            check: ErrorCheck::Pending,
            dmabuf: None,
            attrs,
        };
        match self.map(req, site) {
            Ok(id) => {
                self.last_error = None;
                self.maps.live(id).dma()
            }
            Err(e) => {
                self.last_error = Some(e);
                self.check(site, |c, _| c.on_map_failed(dev));
                DMA_MAPPING_ERROR
            }
        }
    }

    /// `dma_mapping_error`: whether `dma` is the error value. Marks the
    /// mapping as checked.
    #[track_caller]
    pub fn dma_mapping_error(&mut self, dev: DeviceId, dma: Iova) -> bool {
        let ids = self.maps.returned_at(dev, dma);
        self.check(Location::caller(), |c, _| {
            c.on_mapping_error(dev, dma, &ids)
        });
        dma == DMA_MAPPING_ERROR
    }

    /// `dma_unmap_single`.
    #[track_caller]
    pub fn dma_unmap_single(&mut self, dev: DeviceId, dma: Iova, size: u64, dir: DmaDirection) {
        self.dma_unmap_single_attrs(dev, dma, size, dir, DmaAttrs::NONE);
    }

    /// `dma_unmap_single_attrs`: [`dma_unmap_single`](Self::dma_unmap_single)
    /// with attributes.
    #[track_caller]
    pub fn dma_unmap_single_attrs(
        &mut self,
        dev: DeviceId,
        dma: Iova,
        size: u64,
        dir: DmaDirection,
        attrs: DmaAttrs,
    ) {
        let site = Location::caller();
        let args = UnmapArgs::Size(size);
        self.unmap(
            UnmapCall {
                dev,
                dma,
                args,
                dir,
                func: MapFunc::Single,
                attrs,
            },
            site,
        );
    }

    /// `dma_unmap_page`.
    #[track_caller]
    pub fn dma_unmap_page(&mut self, dev: DeviceId, dma: Iova, size: u64, dir: DmaDirection) {
        self.dma_unmap_page_attrs(dev, dma, size, dir, DmaAttrs::NONE);
    }

    /// `dma_unmap_page_attrs`: [`dma_unmap_page`](Self::dma_unmap_page)
    /// with attributes.
    #[track_caller]
    pub fn dma_unmap_page_attrs(
        &mut self,
        dev: DeviceId,
        dma: Iova,
        size: u64,
        dir: DmaDirection,
        attrs: DmaAttrs,
    ) {
        let site = Location::caller();
        let args = UnmapArgs::Size(size);
        self.unmap(
            UnmapCall {
                dev,
                dma,
                args,
                dir,
                func: MapFunc::Page,
                attrs,
            },
            site,
        );
    }

    /// `dma_map_sg`: maps the entries, fills `dma_address`/`dma_length` of the
    /// first *count* entries and returns *count*: fewer than the entries when
    /// the IOMMU merged them, 0 on failure.
    #[track_caller]
    pub fn dma_map_sg(
        &mut self,
        dev: DeviceId,
        sg: &mut [ScatterEntry],
        dir: DmaDirection,
    ) -> usize {
        self.dma_map_sg_attrs(dev, sg, dir, DmaAttrs::NONE)
    }

    /// `dma_map_sg_attrs`: [`dma_map_sg`](Self::dma_map_sg) with attributes.
    #[track_caller]
    pub fn dma_map_sg_attrs(
        &mut self,
        dev: DeviceId,
        sg: &mut [ScatterEntry],
        dir: DmaDirection,
        attrs: DmaAttrs,
    ) -> usize {
        let site = Location::caller();
        let ents: Vec<PhysRange> = sg
            .iter()
            .map(|e| PhysRange::new(e.phys, e.length))
            .collect();
        let req = MapRequest {
            dev,
            func: MapFunc::Sg,
            dir,
            ents: &ents,
            label: None,
            check: ErrorCheck::Done,
            dmabuf: None,
            attrs,
        };
        match self.map(req, site) {
            Ok(id) => {
                self.last_error = None;
                let segs = &self.maps.live(id).segs;
                for (i, e) in sg.iter_mut().enumerate() {
                    match segs.get(i) {
                        Some(s) => {
                            e.dma_address = s.dma;
                            e.dma_length = s.len;
                        }
                        None => {
                            e.dma_address = DMA_MAPPING_ERROR;
                            e.dma_length = 0;
                        }
                    }
                }
                segs.len()
            }
            Err(e) => {
                self.last_error = Some(e);
                0
            }
        }
    }

    /// `dma_unmap_sg`: `nents` must be the count passed to `dma_map_sg`, not
    /// the count it returned.
    #[track_caller]
    pub fn dma_unmap_sg(
        &mut self,
        dev: DeviceId,
        sg: &[ScatterEntry],
        nents: usize,
        dir: DmaDirection,
    ) {
        self.dma_unmap_sg_attrs(dev, sg, nents, dir, DmaAttrs::NONE);
    }

    /// `dma_unmap_sg_attrs`: [`dma_unmap_sg`](Self::dma_unmap_sg) with
    /// attributes.
    #[track_caller]
    pub fn dma_unmap_sg_attrs(
        &mut self,
        dev: DeviceId,
        sg: &[ScatterEntry],
        nents: usize,
        dir: DmaDirection,
        attrs: DmaAttrs,
    ) {
        let site = Location::caller();
        let args = UnmapArgs::Nents(nents);
        let dma = sg_dma(sg);
        self.unmap(
            UnmapCall {
                dev,
                dma,
                args,
                dir,
                func: MapFunc::Sg,
                attrs,
            },
            site,
        );
    }

    fn sync_raw(
        &mut self,
        dev: DeviceId,
        target: SyncTarget,
        dir: DmaDirection,
        toward: Toward,
        site: Site,
    ) {
        self.sync(
            SyncCall {
                dev,
                target,
                dir,
                toward,
            },
            site,
        );
    }

    /// `dma_sync_single_for_cpu`: gives `size` bytes from `dma` back to the
    /// CPU.
    #[track_caller]
    pub fn dma_sync_single_for_cpu(
        &mut self,
        dev: DeviceId,
        dma: Iova,
        size: u64,
        dir: DmaDirection,
    ) {
        let target = SyncTarget::Single { dma, size };
        self.sync_raw(dev, target, dir, Toward::Cpu, Location::caller());
    }

    /// `dma_sync_single_for_device`: hands `size` bytes from `dma` back to the
    /// device.
    #[track_caller]
    pub fn dma_sync_single_for_device(
        &mut self,
        dev: DeviceId,
        dma: Iova,
        size: u64,
        dir: DmaDirection,
    ) {
        let target = SyncTarget::Single { dma, size };
        self.sync_raw(dev, target, dir, Toward::Device, Location::caller());
    }

    /// `dma_sync_single_range_for_cpu`.
    #[track_caller]
    pub fn dma_sync_single_range_for_cpu(
        &mut self,
        dev: DeviceId,
        dma: Iova,
        offset: u64,
        size: u64,
        dir: DmaDirection,
    ) {
        let target = SyncTarget::Single {
            dma: dma.unchecked_add(offset),
            size,
        };
        self.sync_raw(dev, target, dir, Toward::Cpu, Location::caller());
    }

    /// `dma_sync_single_range_for_device`.
    #[track_caller]
    pub fn dma_sync_single_range_for_device(
        &mut self,
        dev: DeviceId,
        dma: Iova,
        offset: u64,
        size: u64,
        dir: DmaDirection,
    ) {
        let target = SyncTarget::Single {
            dma: dma.unchecked_add(offset),
            size,
        };
        self.sync_raw(dev, target, dir, Toward::Device, Location::caller());
    }

    /// `dma_sync_sg_for_cpu`: `nents` as passed to `dma_map_sg`.
    #[track_caller]
    pub fn dma_sync_sg_for_cpu(
        &mut self,
        dev: DeviceId,
        sg: &[ScatterEntry],
        nents: usize,
        dir: DmaDirection,
    ) {
        let target = SyncTarget::Sg {
            dma: sg_dma(sg),
            nents,
        };
        self.sync_raw(dev, target, dir, Toward::Cpu, Location::caller());
    }

    /// `dma_sync_sg_for_device`: `nents` as passed to `dma_map_sg`.
    #[track_caller]
    pub fn dma_sync_sg_for_device(
        &mut self,
        dev: DeviceId,
        sg: &[ScatterEntry],
        nents: usize,
        dir: DmaDirection,
    ) {
        let target = SyncTarget::Sg {
            dma: sg_dma(sg),
            nents,
        };
        self.sync_raw(dev, target, dir, Toward::Device, Location::caller());
    }

    /// `dma_alloc_coherent`: `size` bytes (rounded up to pages) that CPU and
    /// device see alike without any sync. Returns the CPU address and the DMA
    /// address. On a non-coherent machine the CPU maps it uncached.
    #[track_caller]
    pub fn dma_alloc_coherent(
        &mut self,
        dev: DeviceId,
        size: u64,
        label: &str,
    ) -> Result<(PhysAddr, Iova)> {
        let site = Location::caller();
        let id = self.alloc_coherent(dev, size, label, site)?;
        let r = self.maps.live(id);
        Ok((r.cpu(), r.dma()))
    }

    /// `dma_free_coherent`.
    #[track_caller]
    pub fn dma_free_coherent(&mut self, dev: DeviceId, size: u64, cpu: PhysAddr, dma: Iova) {
        self.free_coherent(dev, size, cpu, dma, Location::caller());
    }
}
