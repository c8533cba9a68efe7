//! Coherent DMA memory: `dma_alloc_coherent` and `dma_free_coherent`. The
//! memory is whole pages, zeroed, with no stale cache line over it, mapped
//! uncached for the CPU on a non-coherent machine, and never bounced.

use std::sync::Arc;

use super::ModelBackend;
use super::map::Reach;
use crate::addr::{Iova, PAGE_SIZE, PhysAddr, PhysRange};
use crate::calls::MapFunc;
use crate::calls::{DmaAttrs, UnmapArgs};
use crate::config::layout::HIGH_RAM_END;
use crate::config::{MemKind, Zone};
use crate::direction::DmaDirection;
use crate::error::{Error, Result};
use crate::hw::cpu::Alloc;
use crate::hw::direct;
use crate::ids::DeviceId;
use crate::ids::MapId;
use crate::mapping::{Entry, MapRecord, Segment};
use crate::trace::{EventSource, Site};

impl ModelBackend {
    /// Allocates `size` bytes (rounded up to pages) of coherent memory for
    /// `dev`; returns the new mapping's id.
    pub(crate) fn alloc_coherent(
        &mut self,
        dev: DeviceId,
        size: u64,
        label: &str,
        site: Site,
    ) -> Result<MapId> {
        let d = self.hw.devices.present(dev)?;
        let reach = Reach {
            group: d.group,
            mask: d.cfg.coherent_mask,
        };
        if size == 0 {
            return Err(Error::ZeroLength);
        }
        self.room_for_iommu(size.div_ceil(PAGE_SIZE), 1)?;
        let r = self.place_coherent(dev, reach, size)?;
        let (phys, len) = (r.addr, r.len);
        let label: Arc<str> = Arc::from(label);
        self.hw.cpu.insert(
            phys,
            Alloc {
                len,
                kind: MemKind::Kmalloc,
                label: label.clone(),
            },
        );
        self.hw.prep_coherent(r);
        let (dma, leases) = if self.hw.iommu.enabled() {
            let (dma, lease) = self.iommu_map(dev, reach, r, DmaDirection::Bidirectional)?;
            (dma, vec![lease])
        } else {
            (direct::phys_to_dma(phys), Vec::new())
        };
        let id = self.ids.map();
        self.maps.insert(MapRecord {
            id,
            dev,
            func: MapFunc::Coherent,
            dir: DmaDirection::Bidirectional,
            label: label.clone(),
            size: len,
            nents: 1,
            entries: vec![Entry {
                cpu: phys,
                len,
                target: phys,
                dma,
                bounced: false,
                coord: 0,
            }],
            segs: vec![Segment { dma, len, coord: 0 }],
            leases,
            origin: self.origin(site),
            dmabuf: None,
            attrs: DmaAttrs::NONE,
        });
        self.check(site, |c, cx| c.after_alloc_coherent(cx, id));
        let uncached = if self.hw.coherent() {
            ""
        } else {
            ", mapped uncached for the CPU"
        };
        self.ev(EventSource::Dma, "alloc-coherent", Some(dev), || {
            format!("dma_alloc_coherent {label}: {len} bytes, cpu {phys}, dma {dma}{uncached}")
        });
        Ok(id)
    }

    /// Places `size` bytes (whole pages) of coherent memory where `dev`
    /// reaches it: anywhere behind an IOMMU, else below its coherent mask
    /// (coherent memory is never bounced).
    fn place_coherent(&mut self, dev: DeviceId, reach: Reach, size: u64) -> Result<PhysRange> {
        let len = size.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let iommu = self.hw.iommu.enabled();
        let zone = if iommu || reach.mask.covers(HIGH_RAM_END.raw() - 1, 1) {
            Zone::Normal
        } else {
            Zone::Dma32
        };
        let r = PhysRange::new(self.hw.cpu.place(len, PAGE_SIZE, zone)?, len);
        if !iommu && !reach.mask.covers_range(r) {
            return Err(Error::Unreachable {
                device: self.dev_name(dev),
                addr: r.addr,
                mask: reach.mask,
                why: " (coherent memory is never bounced)",
            });
        }
        Ok(r)
    }

    /// Frees coherent memory allocated at `cpu` and `dma`.
    pub(crate) fn free_coherent(
        &mut self,
        dev: DeviceId,
        size: u64,
        cpu: PhysAddr,
        dma: Iova,
        site: Site,
    ) {
        let Some(id) = self.maps.find_exact(dev, dma, MapFunc::Coherent) else {
            self.check(site, |c, cx| {
                c.on_unmap_unknown(cx, dev, dma, UnmapArgs::Size(size), MapFunc::Coherent)
            });
            return;
        };
        if self.check(site, |c, cx| {
            c.before_free(cx, id, MapFunc::Coherent, size, cpu)
        }) == Some(false)
        {
            return;
        }
        self.remove_mapping(id, DmaDirection::Bidirectional, DmaAttrs::NONE, site);
    }
}
