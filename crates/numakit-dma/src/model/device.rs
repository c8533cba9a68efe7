//! What devices do: DMA reads and writes through dma-direct or the IOMMU
//! (seen by the checker, faulting where nothing is mapped), and removal,
//! which tears down what the driver left behind.

use std::panic::Location;

use super::ModelBackend;
use crate::addr::{DMA_MAPPING_ERROR, Iova, PhysRange};
use crate::calls::DmaAttrs;
use crate::check::access::DeviceAccess;
use crate::direction::Access;
use crate::dmabuf::Accessor;
use crate::error::{Error, Result};
use crate::fault::{Fault, FaultReason};
use crate::hw::direct;
use crate::ids::DeviceId;
use crate::trace::{EventSource, Site, hex_preview};

impl ModelBackend {
    /// Where a device access lands, or where and why it faults.
    fn translate(
        &mut self,
        a: DeviceAccess,
    ) -> std::result::Result<Vec<PhysRange>, (Iova, FaultReason)> {
        let d = self.hw.devices.get(a.dev).expect("a present device");
        let (mask, group) = (d.cfg.hw_mask, d.group);
        if !self.hw.iommu.enabled() {
            let t = direct::translate(a.dma, a.len, mask).map_err(|r| (a.dma, r))?;
            if t.truncated {
                let (dma, bus) = (a.dma, t.range.addr);
                self.ev(EventSource::Device, "truncate", Some(a.dev), || {
                    format!("address {dma} does not fit the {mask} mask: the bus sees {bus}")
                });
            }
            return Ok(vec![t.range]);
        }
        // The device drives only its address lines; the IOMMU sees what
        // is left.
        let bus = Iova::new(a.dma.raw() & mask.raw());
        if bus != a.dma && a.dma != DMA_MAPPING_ERROR {
            let dma = a.dma;
            self.ev(EventSource::Device, "truncate", Some(a.dev), || {
                format!("address {dma} does not fit the {mask} mask: the IOMMU sees {bus}")
            });
        }
        let bus = if a.dma == DMA_MAPPING_ERROR {
            a.dma
        } else {
            bus
        };
        let t = self.hw.iommu.translate(group, bus, a.len, a.access)?;
        if t.stale_pages > 0 {
            let stale = t.stale_pages;
            self.ev(EventSource::Iommu, "stale-iotlb", Some(a.dev), || {
                format!("{stale} page(s) translated by stale IOTLB entries: unmapped, not yet flushed (lazy mode)")
            });
        }
        Ok(t.pieces)
    }

    /// Records a fault.
    fn fault(&mut self, a: DeviceAccess, at: Iova, reason: FaultReason) -> Fault {
        let f = Fault {
            device: self.dev_name(a.dev),
            device_id: a.dev,
            iova: at,
            access: a.access,
            reason,
        };
        self.faults.push(f.clone());
        let src = if self.hw.iommu.enabled() {
            EventSource::Iommu
        } else {
            EventSource::Device
        };
        let text = f.to_string();
        self.ev(src, "fault", Some(a.dev), || text);
        f
    }

    /// A device access, checked and translated.
    fn dev_access(&mut self, a: DeviceAccess, site: Site) -> Result<Vec<PhysRange>> {
        self.hw.devices.present(a.dev)?;
        let first = self.findings.len();
        if let Some(Some(buf)) = self.check(site, |c, cx| c.on_device_access(cx, a)) {
            self.check(site, |c, cx| {
                c.on_dmabuf_access(cx, buf, Accessor::Device(a.dev), a.access)
            });
        }
        match self.translate(a) {
            Ok(v) => Ok(v),
            Err((at, reason)) => {
                let f = self.fault(a, at, reason);
                self.check(site, |c, cx| c.on_fault(cx, first, a, &f));
                Err(Error::Fault(f))
            }
        }
    }

    /// The device reads `out.len()` bytes at DMA address `dma`, through the
    /// IOMMU if there is one. A refused access returns [`Error::Fault`] and
    /// leaves `out` alone.
    #[track_caller]
    pub fn device_read(&mut self, dev: DeviceId, dma: Iova, out: &mut [u8]) -> Result<()> {
        self.device_read_at(dev, dma, out, Location::caller())
    }

    pub(super) fn device_read_at(
        &mut self,
        dev: DeviceId,
        dma: Iova,
        out: &mut [u8],
        site: Site,
    ) -> Result<()> {
        let a = DeviceAccess {
            dev,
            dma,
            len: out.len() as u64,
            access: Access::Read,
        };
        let mut off = 0usize;
        for p in self.dev_access(a, site)? {
            self.hw
                .dev_load(p.addr, &mut out[off..off + p.len as usize]);
            off += p.len as usize;
        }
        let n = out.len();
        let preview = hex_preview(out);
        self.ev(EventSource::Device, "read", Some(dev), || {
            format!("DMA read {n} bytes at {dma}: {preview}")
        });
        Ok(())
    }

    /// The device writes `data` at DMA address `dma`, through the IOMMU if
    /// there is one. A refused access returns [`Error::Fault`] and writes
    /// nothing.
    #[track_caller]
    pub fn device_write(&mut self, dev: DeviceId, dma: Iova, data: &[u8]) -> Result<()> {
        self.device_write_at(dev, dma, data, Location::caller())
    }

    pub(super) fn device_write_at(
        &mut self,
        dev: DeviceId,
        dma: Iova,
        data: &[u8],
        site: Site,
    ) -> Result<()> {
        let a = DeviceAccess {
            dev,
            dma,
            len: data.len() as u64,
            access: Access::Write,
        };
        let mut off = 0usize;
        for p in self.dev_access(a, site)? {
            self.hw.dev_store(p.addr, &data[off..off + p.len as usize]);
            off += p.len as usize;
        }
        let n = data.len();
        let preview = hex_preview(data);
        self.ev(EventSource::Device, "write", Some(dev), || {
            format!("DMA write {n} bytes at {dma}: {preview}")
        });
        Ok(())
    }

    /// The device goes away (driver unbind, hot unplug). The checker reports
    /// every mapping and coherent buffer the driver still holds; the model
    /// then tears them down.
    #[track_caller]
    pub fn remove_device(&mut self, dev: DeviceId) {
        let site = Location::caller();
        for id in self.maps.of_device(dev) {
            let rec = self.maps.remove(id).expect("a live mapping");
            self.check(site, |c, cx| c.on_leak(cx, &rec));
            self.teardown(&rec, rec.dir, DmaAttrs::NONE);
        }
        self.hw.devices.remove(dev);
        self.engines.remove(dev);
        self.ev(EventSource::Device, "remove", Some(dev), || {
            "device removed".into()
        });
    }
}
