//! [`DmaBackend`] on the model: the typed API's calls become the model's
//! DMA API calls with the caller's location, ownership kept by the types.

use std::marker::PhantomData;
use std::panic::Location;

use super::ModelBackend;
use super::map::MapRequest;
use crate::addr::{DmaMask, Iova, PhysAddr, PhysRange};
use crate::calls::MapFunc;
use crate::calls::{DmaAttrs, ErrorCheck, SyncCall, SyncTarget, Toward, UnmapArgs, UnmapCall};
use crate::config::{MemKind, Zone};
use crate::direction::DmaDirection;
use crate::error::{Error, Result};
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

impl ModelBackend {
    fn typed_map(
        &mut self,
        dev: DeviceId,
        buf: CpuBuf,
        dir: DmaDirection,
        func: MapFunc,
        site: Site,
    ) -> Result<StreamingMap<Device>, MapError<CpuBuf>> {
        let req = MapRequest {
            dev,
            func,
            dir,
            ents: &[PhysRange::new(buf.addr, buf.len)],
            label: None,
            check: ErrorCheck::Done,
            dmabuf: None,
            attrs: DmaAttrs::NONE,
        };
        match self.map(req, site) {
            Ok(id) => Ok(StreamingMap {
                dev,
                dma: self.maps.live(id).dma(),
                dir,
                func,
                buf,
                _owner: PhantomData,
            }),
            Err(error) => Err(MapError { error, buf }),
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
        Ok(CpuBuf {
            addr,
            len: size as u64,
        })
    }

    #[track_caller]
    fn free(&mut self, buf: CpuBuf) {
        self.kfree(buf.addr);
    }

    #[track_caller]
    fn read(&mut self, buf: &CpuBuf, offset: usize, out: &mut [u8]) -> Result<()> {
        let o = bounds(offset, out.len(), buf.len)?;
        self.cpu_read(buf.addr.unchecked_add(o), out);
        Ok(())
    }

    #[track_caller]
    fn write(&mut self, buf: &mut CpuBuf, offset: usize, data: &[u8]) -> Result<()> {
        let o = bounds(offset, data.len(), buf.len)?;
        self.cpu_write(buf.addr.unchecked_add(o), data);
        Ok(())
    }

    #[track_caller]
    fn alloc_coherent(&mut self, dev: DeviceId, size: usize) -> Result<CoherentBuf> {
        let label = format!("coherent#{}", self.allocations() + 1);
        let id = self.alloc_coherent(dev, size as u64, &label, Location::caller())?;
        let r = self.maps.live(id);
        Ok(CoherentBuf {
            dev,
            cpu: r.cpu(),
            dma: r.dma(),
            len: r.size,
        })
    }

    #[track_caller]
    fn free_coherent(&mut self, buf: CoherentBuf) {
        let site = Location::caller();
        ModelBackend::free_coherent(self, buf.dev, buf.len, buf.cpu, buf.dma, site);
    }

    fn coherent_read(&mut self, buf: &CoherentBuf, offset: usize, out: &mut [u8]) -> Result<()> {
        let o = bounds(offset, out.len(), buf.len)?;
        self.hw.cpu_load(buf.cpu.unchecked_add(o), out);
        Ok(())
    }

    fn coherent_write(&mut self, buf: &CoherentBuf, offset: usize, data: &[u8]) -> Result<()> {
        let o = bounds(offset, data.len(), buf.len)?;
        self.hw.cpu_store(buf.cpu.unchecked_add(o), data);
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
        let call = UnmapCall {
            dev: map.dev,
            dma: map.dma,
            args: UnmapArgs::Size(map.buf.len),
            dir: map.dir,
            func: map.func,
            attrs: DmaAttrs::NONE,
        };
        ModelBackend::unmap(self, call, Location::caller());
        map.buf
    }

    #[track_caller]
    fn sync_for_cpu(&mut self, map: StreamingMap<Device>) -> StreamingMap<Cpu> {
        let target = SyncTarget::Single {
            dma: map.dma,
            size: map.buf.len,
        };
        let call = self.typed_sync(map.dev, target, map.dir, Toward::Cpu);
        self.sync(call, Location::caller());
        map.owned()
    }

    #[track_caller]
    fn sync_for_device(&mut self, map: StreamingMap<Cpu>) -> StreamingMap<Device> {
        let target = SyncTarget::Single {
            dma: map.dma,
            size: map.buf.len,
        };
        let call = self.typed_sync(map.dev, target, map.dir, Toward::Device);
        self.sync(call, Location::caller());
        map.owned()
    }

    #[track_caller]
    fn read_mapped(
        &mut self,
        map: &StreamingMap<Cpu>,
        offset: usize,
        out: &mut [u8],
    ) -> Result<()> {
        let o = bounds(offset, out.len(), map.buf.len)?;
        self.cpu_read(map.buf.addr.unchecked_add(o), out);
        Ok(())
    }

    #[track_caller]
    fn write_mapped(
        &mut self,
        map: &mut StreamingMap<Cpu>,
        offset: usize,
        data: &[u8],
    ) -> Result<()> {
        let o = bounds(offset, data.len(), map.buf.len)?;
        self.cpu_write(map.buf.addr.unchecked_add(o), data);
        Ok(())
    }

    #[track_caller]
    fn map_sg(
        &mut self,
        dev: DeviceId,
        table: SgTable,
        dir: DmaDirection,
    ) -> Result<SgMap<Device>, MapError<SgTable>> {
        let ents: Vec<PhysRange> = table
            .entries
            .iter()
            .map(|b| PhysRange::new(b.addr, b.len))
            .collect();
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
                Ok(SgMap {
                    dev,
                    dir,
                    table,
                    segs,
                    _owner: PhantomData,
                })
            }
            Err(error) => Err(MapError { error, buf: table }),
        }
    }

    #[track_caller]
    fn unmap_sg<O: Owner>(&mut self, map: SgMap<O>) -> SgTable {
        let call = UnmapCall {
            dev: map.dev,
            dma: sg_dma(&map),
            args: UnmapArgs::Nents(map.table.len()),
            dir: map.dir,
            func: MapFunc::Sg,
            attrs: DmaAttrs::NONE,
        };
        ModelBackend::unmap(self, call, Location::caller());
        map.table
    }

    #[track_caller]
    fn sync_sg_for_cpu(&mut self, map: SgMap<Device>) -> SgMap<Cpu> {
        let target = SyncTarget::Sg {
            dma: sg_dma(&map),
            nents: map.table.len(),
        };
        let call = self.typed_sync(map.dev, target, map.dir, Toward::Cpu);
        self.sync(call, Location::caller());
        map.owned()
    }

    #[track_caller]
    fn sync_sg_for_device(&mut self, map: SgMap<Cpu>) -> SgMap<Device> {
        let target = SyncTarget::Sg {
            dma: sg_dma(&map),
            nents: map.table.len(),
        };
        let call = self.typed_sync(map.dev, target, map.dir, Toward::Device);
        self.sync(call, Location::caller());
        map.owned()
    }

    #[track_caller]
    fn read_sg(
        &mut self,
        map: &SgMap<Cpu>,
        index: usize,
        offset: usize,
        out: &mut [u8],
    ) -> Result<()> {
        let b = map.table.entries.get(index).ok_or(Error::OutOfBounds {
            offset: index as u64,
            len: 1,
            size: map.table.len() as u64,
        })?;
        let o = bounds(offset, out.len(), b.len)?;
        self.cpu_read(b.addr.unchecked_add(o), out);
        Ok(())
    }
}
