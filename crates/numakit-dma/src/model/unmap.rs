//! Unmapping: the checker's verdict first (an unmap of another kind of
//! object does nothing), then the teardown: cache maintenance for the CPU,
//! bounce buffers copied back and released, IOVA ranges given back strictly
//! or queued for the lazy flush.

use super::ModelBackend;
use crate::addr::PhysRange;
use crate::calls::MapFunc;
use crate::calls::{DmaAttrs, UnmapCall};
use crate::direction::DmaDirection;
use crate::hw::iommu::{IovaLease, Release};
use crate::ids::DeviceId;
use crate::ids::MapId;
use crate::mapping::MapRecord;
use crate::trace::{EventSource, Site};

impl ModelBackend {
    /// Unmaps what `call` names; returns the mapping undone, if one was.
    pub(crate) fn unmap(&mut self, call: UnmapCall, site: Site) -> Option<MapId> {
        let UnmapCall {
            dev,
            dma,
            args,
            dir,
            func,
            attrs,
        } = call;
        let Some(id) = self.maps.find_exact(dev, dma, func) else {
            self.check(site, |c, cx| c.on_unmap_unknown(cx, dev, dma, args, func));
            self.ev(EventSource::Dma, "unmap", Some(dev), || {
                format!(
                    "{} of {dma}: no such mapping, nothing done",
                    func.unmap_name()
                )
            });
            return None;
        };
        if self.check(site, |c, cx| c.before_unmap(cx, id, &call)) == Some(false) {
            return None;
        }
        self.remove_mapping(id, dir, attrs, site);
        Some(id)
    }

    /// Takes mapping `id` out of the live set, lets the checker forget it,
    /// and tears it down with `dir`.
    pub(super) fn remove_mapping(
        &mut self,
        id: MapId,
        dir: DmaDirection,
        attrs: DmaAttrs,
        site: Site,
    ) {
        let rec = self.maps.remove(id).expect("a live mapping");
        self.check(site, |c, cx| c.forget(cx, &rec));
        self.teardown(&rec, dir, attrs);
    }

    /// Undoes a mapping in the hardware; with `DMA_ATTR_SKIP_CPU_SYNC`,
    /// without cache maintenance or copying a bounce buffer back.
    pub(super) fn teardown(&mut self, rec: &MapRecord, dir: DmaDirection, attrs: DmaAttrs) {
        let sync = rec.func.cached() && !attrs.contains(DmaAttrs::SKIP_CPU_SYNC);
        let dev = rec.dev;
        if rec.func == MapFunc::Coherent {
            let cpu = rec.cpu();
            self.hw.cpu.clear_uncached(cpu);
            self.hw.cpu.remove(cpu);
        } else {
            for e in &rec.entries {
                if sync {
                    self.arch_for_cpu(PhysRange::new(e.target, e.len), dir, dev);
                }
                if !e.bounced {
                    continue;
                }
                let copy = sync && dir.device_writes();
                let why = if sync {
                    format!("no copy back for {dir}")
                } else {
                    "no copy back: DMA_ATTR_SKIP_CPU_SYNC".to_string()
                };
                if copy {
                    self.hw.cpu_copy(e.target, e.cpu, e.len);
                }
                self.bounce_release(e.target);
                let (slot, cpu, len) = (e.target, e.cpu, e.len);
                self.ev(EventSource::Swiotlb, "bounce-unmap", Some(dev), || {
                    if copy {
                        format!("bounce buffer {slot}: {len} bytes copied back to {cpu}, released")
                    } else {
                        format!("bounce buffer {slot} released ({why})")
                    }
                });
            }
        }
        self.iommu_release(dev, &rec.leases);
        let (label, func, dma) = (rec.label.clone(), rec.func, rec.dma());
        self.ev(EventSource::Dma, "unmap", Some(dev), || {
            format!("{} {label} (dma {dma})", func.unmap_name())
        });
    }

    /// Gives IOVA ranges back to the IOMMU.
    fn iommu_release(&mut self, dev: DeviceId, leases: &[IovaLease]) {
        for &lease in leases {
            let (start, end) = (lease.start(), lease.end());
            match self.hw.iommu.release(lease) {
                Release::Queued { pending, flushed } => {
                    self.ev(EventSource::Iommu, "unmap", Some(dev), || {
                        format!(
                            "IOVA {start}..{end} unmapped; IOTLB not invalidated, range queued for the lazy flush ({pending} queued)"
                        )
                    });
                    if flushed {
                        self.ev(EventSource::Iommu, "flush", None, || {
                            "flush queue full: IOTLB invalidated, queued IOVAs freed".into()
                        });
                    }
                }
                Release::Invalidated => {
                    self.ev(EventSource::Iommu, "unmap", Some(dev), || {
                        format!("IOVA {start}..{end} unmapped, IOTLB invalidated")
                    });
                }
            }
        }
    }

    /// Flushes every lazy flush queue: the IOTLB forgets unmapped IOVAs and
    /// they become free for reuse (what the flush-queue timer does).
    pub fn iommu_flush(&mut self) {
        let n = self.hw.iommu.flush_all();
        self.ev(EventSource::Iommu, "flush", None, || {
            format!("IOTLB flushed, {n} queued IOVA range(s) freed")
        });
    }
}
