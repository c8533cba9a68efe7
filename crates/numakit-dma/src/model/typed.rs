//! [`DmaBackend`] on the model: the typed API's calls become the model's
//! DMA API calls with the caller's location, ownership kept by the types.
//! Handles are made and taken apart by the model's own
//! [`HandleMaker`](crate::handles::HandleMaker): a handle of another
//! instance is refused (an error, or a `foreign-handle` finding from the
//! calls that cannot fail), and each piece of a split buffer is freed on
//! its own, the allocation when the last piece goes.

use std::panic::Location;

use super::ModelBackend;
use super::map::MapRequest;
use crate::addr::{DmaMask, Iova, PhysAddr, PhysRange};
use crate::calls::MapFunc;
use crate::calls::{DmaAttrs, ErrorCheck, SyncCall, SyncTarget, Toward, UnmapArgs, UnmapCall};
use crate::check::finding::Finding;
use crate::check::rules::Rule;
use crate::config::{MemKind, Zone};
use crate::direction::DmaDirection;
use crate::error::{Error, Result};
use crate::handles::{BufParts, CoherentParts, MapParts, SgParts};
use crate::ids::DeviceId;
use crate::mapping::DmaSegment;
use crate::trace::Site;
use crate::typed::{
    CoherentBuf, Cpu, CpuBuf, Device, DeviceInfo, DmaBackend, MapError, Owner, SgMap, SgTable,
    StreamingMap,
};

/// `offset` if `len` bytes from it fit in `size`.
fn bounds(offset: usize, len: usize, size: u64) -> Result<u64> {
    let end = offset.checked_add(len).map(|e| e as u64);
    match end {
        Some(e) if e <= size => Ok(offset as u64),
        _ => Err(Error::OutOfBounds {
            offset: offset as u64,
            len: len as u64,
            size,
        }),
    }
}

/// The DMA address a scatterlist mapping is known by.
fn sg_dma<O: Owner>(map: &SgMap<O>) -> Iova {
    map.segs.first().map_or(Iova::new(u64::MAX), |s| s.addr)
}

/// The physical address of a piece of one of the model's allocations.
fn phys(p: &BufParts) -> PhysAddr {
    p.alloc.unchecked_add(p.offset)
}

impl ModelBackend {
    /// The parts of a buffer of this model, or the error for another's.
    fn own_buf(&self, buf: &CpuBuf) -> Result<BufParts> {
        self.handles.buf_parts(buf)
    }

    /// Reports a handle of another instance given to a call that cannot
    /// fail.
    fn foreign_finding(&mut self, error: &Error, call: &str, site: Site) {
        let at = self.origin(site);
        let msg = format!("{call}: {error}; the call was refused");
        self.findings
            .push(Finding::new(Rule::ForeignHandle, at, msg));
    }

    fn typed_map(
        &mut self,
        dev: DeviceId,
        buf: CpuBuf,
        dir: DmaDirection,
        func: MapFunc,
        site: Site,
    ) -> Result<StreamingMap<Device>, MapError<CpuBuf>> {
        let parts = match self.own_buf(&buf) {
            Ok(p) => p,
            Err(error) => return Err(MapError { error, buf }),
        };
        let req = MapRequest {
            dev,
            func,
            dir,
            ents: &[PhysRange::new(phys(&parts), parts.len)],
            label: None,
            check: ErrorCheck::Done,
            dmabuf: None,
            attrs: DmaAttrs::NONE,
        };
        match self.map(req, site) {
            Ok(id) => {
                let mp = MapParts {
                    dev,
                    dma: self.maps.live(id).dma(),
                    dir,
                    func,
                };
                self.handles.streaming_map(mp, buf).map_err(|f| MapError {
                    error: f.error("CPU buffer"),
                    buf: f.into_handle(),
                })
            }
            Err(error) => Err(MapError { error, buf }),
        }
    }

    /// A sync of a streaming mapping, then the handle owned by `P`; a
    /// foreign handle is reported and a refused one returned.
    fn typed_sync_single<O: Owner, P: Owner>(
        &mut self,
        map: StreamingMap<O>,
        toward: Toward,
        site: Site,
    ) -> StreamingMap<P> {
        let (mp, bp) = match self.handles.map_parts(&map) {
            Ok(p) => p,
            Err(e) => {
                self.foreign_finding(&e, "sync of a streaming mapping", site);
                return self.handles.refused_map(map.device(), map.direction());
            }
        };
        if bp.len > 0 {
            let target = SyncTarget::Single {
                dma: mp.dma,
                size: bp.len,
            };
            let call = self.typed_sync(mp.dev, target, mp.dir, toward);
            self.sync(call, site);
        }
        match self.handles.hand_over(map) {
            Ok(m) => m,
            Err(f) => {
                self.foreign_finding(&f.error("mapping"), "sync of a streaming mapping", site);
                self.handles.refused_map(mp.dev, mp.dir)
            }
        }
    }

    /// A sync of a scatterlist mapping, then the handle owned by `P`.
    fn typed_sync_sg<O: Owner, P: Owner>(
        &mut self,
        map: SgMap<O>,
        toward: Toward,
        site: Site,
    ) -> SgMap<P> {
        let (dev, dir) = (map.device(), map.direction());
        if let Err(e) = self.handles.sg_parts(&map) {
            self.foreign_finding(&e, "sync of a scatterlist mapping", site);
            return self.handles.refused_sg(dev, dir);
        }
        if map.nents() > 0 {
            let target = SyncTarget::Sg {
                dma: sg_dma(&map),
                nents: map.nents(),
            };
            let call = self.typed_sync(dev, target, dir, toward);
            self.sync(call, site);
        }
        self.handles
            .hand_over_sg(map)
            .unwrap_or_else(|_| self.handles.refused_sg(dev, dir))
    }

    /// Frees one piece of a typed allocation: its bytes are no longer held,
    /// and the allocation is freed with its last piece.
    #[track_caller]
    fn free_piece(&mut self, p: BufParts) {
        let Some(held) = self.typed_held.get_mut(&p.alloc.raw()) else {
            // a piece of an allocation already gone: only a zero-length one
            // (its sibling took every byte) or a refused handle gets here
            return;
        };
        *held = held.saturating_sub(p.len);
        if *held == 0 {
            self.typed_held.remove(&p.alloc.raw());
            self.kfree(p.alloc);
        }
    }

    fn typed_sync(
        &mut self,
        dev: DeviceId,
        target: SyncTarget,
        dir: DmaDirection,
        toward: Toward,
    ) -> SyncCall {
        SyncCall {
            dev,
            target,
            dir,
            toward,
        }
    }
}

impl DmaBackend for ModelBackend {
    type CpuAddr = PhysAddr;

    fn device_info(&self, dev: DeviceId) -> Result<DeviceInfo> {
        let d = self.device_config(dev).ok_or(Error::NoDevice(dev.0))?;
        Ok(DeviceInfo {
            name: d.name.clone(),
            dma_mask: d.dma_mask,
            coherent_mask: d.coherent_mask,
        })
    }

    fn set_mask(&mut self, dev: DeviceId, mask: DmaMask) -> Result<()> {
        self.dma_set_mask_and_coherent(dev, mask)
    }

    #[track_caller]
    fn alloc(&mut self, size: usize) -> Result<CpuBuf> {
        let label = format!("buf#{}", self.allocations() + 1);
        let addr = self.kmalloc(size as u64, 0, Zone::Normal, MemKind::Kmalloc, &label)?;
        self.typed_held.insert(addr.raw(), size as u64);
        Ok(self.handles.cpu_buf(BufParts {
            alloc: addr,
            offset: 0,
            len: size as u64,
        }))
    }

    #[track_caller]
    fn free(&mut self, buf: CpuBuf) {
        match self.own_buf(&buf) {
            Ok(p) => self.free_piece(p),
            Err(e) => self.foreign_finding(&e, "kfree", Location::caller()),
        }
    }

    #[track_caller]
    fn read(&mut self, buf: &CpuBuf, offset: usize, out: &mut [u8]) -> Result<()> {
        let p = self.own_buf(buf)?;
        let o = bounds(offset, out.len(), p.len)?;
        self.cpu_read(phys(&p).unchecked_add(o), out);
        Ok(())
    }

    #[track_caller]
    fn write(&mut self, buf: &mut CpuBuf, offset: usize, data: &[u8]) -> Result<()> {
        let p = self.own_buf(buf)?;
        let o = bounds(offset, data.len(), p.len)?;
        self.cpu_write(phys(&p).unchecked_add(o), data);
        Ok(())
    }

    #[track_caller]
    fn alloc_coherent(&mut self, dev: DeviceId, size: usize) -> Result<CoherentBuf> {
        let label = format!("coherent#{}", self.allocations() + 1);
        let id = self.alloc_coherent(dev, size as u64, &label, Location::caller())?;
        let r = self.maps.live(id);
        Ok(self.handles.coherent_buf(CoherentParts {
            dev,
            cpu: r.cpu(),
            dma: r.dma(),
            len: r.size,
        }))
    }

    #[track_caller]
    fn free_coherent(&mut self, buf: CoherentBuf) {
        let site = Location::caller();
        match self.handles.coherent_parts(&buf) {
            Ok(c) => {
                let cpu = c.cpu;
                ModelBackend::free_coherent(self, c.dev, c.len, cpu, c.dma, site);
            }
            Err(e) => self.foreign_finding(&e, "dma_free_coherent", site),
        }
    }

    fn coherent_read(&mut self, buf: &CoherentBuf, offset: usize, out: &mut [u8]) -> Result<()> {
        let c = self.handles.coherent_parts(buf)?;
        let o = bounds(offset, out.len(), c.len)?;
        self.hw.cpu_load(c.cpu.unchecked_add(o), out);
        Ok(())
    }

    fn coherent_write(&mut self, buf: &CoherentBuf, offset: usize, data: &[u8]) -> Result<()> {
        let c = self.handles.coherent_parts(buf)?;
        let o = bounds(offset, data.len(), c.len)?;
        self.hw.cpu_store(c.cpu.unchecked_add(o), data);
        Ok(())
    }

    #[track_caller]
    fn map_single(
        &mut self,
        dev: DeviceId,
        buf: CpuBuf,
        dir: DmaDirection,
    ) -> Result<StreamingMap<Device>, MapError<CpuBuf>> {
        self.typed_map(dev, buf, dir, MapFunc::Single, Location::caller())
    }

    #[track_caller]
    fn map_page(
        &mut self,
        dev: DeviceId,
        buf: CpuBuf,
        dir: DmaDirection,
    ) -> Result<StreamingMap<Device>, MapError<CpuBuf>> {
        self.typed_map(dev, buf, dir, MapFunc::Page, Location::caller())
    }

    #[track_caller]
    fn unmap<O: Owner>(&mut self, map: StreamingMap<O>) -> CpuBuf {
        let site = Location::caller();
        let (mp, bp) = match self.handles.map_parts(&map) {
            Ok(p) => p,
            Err(e) => {
                self.foreign_finding(&e, "dma_unmap", site);
                return self.handles.refused_buf();
            }
        };
        if bp.len > 0 {
            let call = UnmapCall {
                dev: mp.dev,
                dma: mp.dma,
                args: UnmapArgs::Size(bp.len),
                dir: mp.dir,
                func: mp.func,
                attrs: DmaAttrs::NONE,
            };
            ModelBackend::unmap(self, call, site);
        }
        self.handles
            .unmapped(map)
            .unwrap_or_else(|_| self.handles.refused_buf())
    }

    #[track_caller]
    fn sync_for_cpu(&mut self, map: StreamingMap<Device>) -> StreamingMap<Cpu> {
        self.typed_sync_single(map, Toward::Cpu, Location::caller())
    }

    #[track_caller]
    fn sync_for_device(&mut self, map: StreamingMap<Cpu>) -> StreamingMap<Device> {
        self.typed_sync_single(map, Toward::Device, Location::caller())
    }

    #[track_caller]
    fn read_mapped(
        &mut self,
        map: &StreamingMap<Cpu>,
        offset: usize,
        out: &mut [u8],
    ) -> Result<()> {
        let (_, p) = self.handles.map_parts(map)?;
        let o = bounds(offset, out.len(), p.len)?;
        self.cpu_read(phys(&p).unchecked_add(o), out);
        Ok(())
    }

    #[track_caller]
    fn write_mapped(
        &mut self,
        map: &mut StreamingMap<Cpu>,
        offset: usize,
        data: &[u8],
    ) -> Result<()> {
        let (_, p) = self.handles.map_parts(map)?;
        let o = bounds(offset, data.len(), p.len)?;
        self.cpu_write(phys(&p).unchecked_add(o), data);
        Ok(())
    }

    #[track_caller]
    fn map_sg(
        &mut self,
        dev: DeviceId,
        table: SgTable,
        dir: DmaDirection,
    ) -> Result<SgMap<Device>, MapError<SgTable>> {
        let ents: Result<Vec<PhysRange>> = table
            .entries()
            .iter()
            .map(|b| self.own_buf(b).map(|p| PhysRange::new(phys(&p), p.len)))
            .collect();
        let ents = match ents {
            Ok(e) => e,
            Err(error) => return Err(MapError { error, buf: table }),
        };
        let req = MapRequest {
            dev,
            func: MapFunc::Sg,
            dir,
            ents: &ents,
            label: None,
            check: ErrorCheck::Done,
            dmabuf: None,
            attrs: DmaAttrs::NONE,
        };
        match self.map(req, Location::caller()) {
            Ok(id) => {
                let segs = self
                    .maps
                    .live(id)
                    .segs
                    .iter()
                    .map(|&s| DmaSegment::from(s))
                    .collect();
                let parts = SgParts { dev, dir, segs };
                self.handles.sg_map(parts, table).map_err(|f| MapError {
                    error: f.error("CPU buffer"),
                    buf: f.into_handle(),
                })
            }
            Err(error) => Err(MapError { error, buf: table }),
        }
    }

    #[track_caller]
    fn unmap_sg<O: Owner>(&mut self, map: SgMap<O>) -> SgTable {
        let site = Location::caller();
        if let Err(e) = self.handles.sg_parts(&map) {
            self.foreign_finding(&e, "dma_unmap_sg", site);
            return SgTable::default();
        }
        if map.nents() > 0 {
            let call = UnmapCall {
                dev: map.device(),
                dma: sg_dma(&map),
                args: UnmapArgs::Nents(map.nents()),
                dir: map.direction(),
                func: MapFunc::Sg,
                attrs: DmaAttrs::NONE,
            };
            ModelBackend::unmap(self, call, site);
        }
        self.handles.unmapped_sg(map).unwrap_or_default()
    }

    #[track_caller]
    fn sync_sg_for_cpu(&mut self, map: SgMap<Device>) -> SgMap<Cpu> {
        self.typed_sync_sg(map, Toward::Cpu, Location::caller())
    }

    #[track_caller]
    fn sync_sg_for_device(&mut self, map: SgMap<Cpu>) -> SgMap<Device> {
        self.typed_sync_sg(map, Toward::Device, Location::caller())
    }

    #[track_caller]
    fn read_sg(
        &mut self,
        map: &SgMap<Cpu>,
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
        let o = bounds(offset, out.len(), p.len)?;
        self.cpu_read(phys(p).unchecked_add(o), out);
        Ok(())
    }
}
