//! Syncs and the cache maintenance under them: who owns a mapping's bytes
//! changes hands, bounce buffers are copied, and on a non-coherent machine
//! the cache is cleaned or invalidated as the architecture does it
//! (`arch_sync_dma_for_device`, `arch_sync_dma_for_cpu`).

use super::ModelBackend;
use crate::addr::PhysRange;
use crate::calls::MapFunc;
use crate::calls::{SyncCall, SyncTarget, Toward};
use crate::config::Maintenance;
use crate::direction::DmaDirection;
use crate::ids::DeviceId;
use crate::mapping::Slice;
use crate::trace::{EventSource, Site};

impl ModelBackend {
    /// `arch_sync_dma_for_device`: before the device accesses `r`.
    pub(super) fn arch_for_device(&mut self, r: PhysRange, dir: DmaDirection, dev: DeviceId) {
        if self.hw.coherent() {
            return;
        }
        let invalidate = self.cfg.maintenance == Maintenance::InvalidateAtMapOnly
            && dir == DmaDirection::FromDevice;
        let (m, what) = if invalidate {
            (self.hw.invalidate(r), "invalidate")
        } else {
            (self.hw.clean(r), "clean")
        };
        self.ev(EventSource::Cache, what, Some(dev), || {
            format!(
                "{what} {}..{} for the device: {} dirty line(s) written back, {} dropped",
                r.addr,
                r.end(),
                m.written_back,
                m.dropped
            )
        });
    }

    /// `arch_sync_dma_for_cpu`: before the CPU reads what the device wrote
    /// into `r`.
    pub(super) fn arch_for_cpu(&mut self, r: PhysRange, dir: DmaDirection, dev: DeviceId) {
        if self.hw.coherent()
            || dir == DmaDirection::ToDevice
            || self.cfg.maintenance != Maintenance::Arm64
        {
            return;
        }
        let m = self.hw.invalidate(r);
        self.ev(EventSource::Cache, "invalidate", Some(dev), || {
            format!(
                "invalidate {}..{} for the CPU: {} line(s) dropped, {} partial edge line(s) cleaned first",
                r.addr,
                r.end(),
                m.dropped,
                m.written_back
            )
        });
    }

    /// A `dma_sync_*` call.
    pub(crate) fn sync(&mut self, call: SyncCall, site: Site) {
        let (dev, dir) = (call.dev, call.dir);
        let found = match call.target {
            SyncTarget::Sg { dma, .. } => self
                .maps
                .find_exact(dev, dma, MapFunc::Sg)
                .map(|id| (id, 0)),
            SyncTarget::Single { dma, .. } => self.maps.find_containing(dev, dma),
        };
        let Some((id, seg)) = found else {
            self.check(site, |c, cx| c.on_sync_unknown(cx, &call));
            return;
        };
        let r = self.maps.live(id);
        let (lo, hi) = match call.target {
            SyncTarget::Sg { .. } => (0, r.size),
            SyncTarget::Single { dma, size } => {
                let s = r.segs[seg];
                let lo = s.coord_of(dma);
                (lo, lo.saturating_add(size).min(s.coord + s.len))
            }
        };
        self.check(site, |c, cx| c.before_sync(cx, id, seg, &call));
        if dir == DmaDirection::None {
            return;
        }
        let pieces: Vec<Slice> = self
            .maps
            .live(id)
            .entries
            .iter()
            .filter_map(|e| e.slice(lo, hi))
            .collect();
        for Slice {
            cpu,
            target,
            len,
            bounced,
        } in pieces
        {
            let t = PhysRange::new(target, len);
            match call.toward {
                Toward::Cpu => {
                    self.arch_for_cpu(t, dir, dev);
                    if bounced && dir.device_writes() {
                        self.hw.cpu_copy(target, cpu, len);
                        self.ev(EventSource::Swiotlb, "bounce-sync", Some(dev), || {
                            format!("{len} bytes copied from bounce buffer {target} to {cpu}")
                        });
                    }
                }
                Toward::Device => {
                    if bounced && dir.device_reads() {
                        self.hw.cpu_copy(cpu, target, len);
                        self.ev(EventSource::Swiotlb, "bounce-sync", Some(dev), || {
                            format!("{len} bytes copied from {cpu} to bounce buffer {target}")
                        });
                    }
                    self.arch_for_device(t, dir, dev);
                }
            }
        }
        self.check(site, |c, _| c.after_sync(id, lo, hi, call.toward));
        let label = self.maps.live(id).label.clone();
        let (kind, name) = match call.toward {
            Toward::Cpu => ("sync-for-cpu", call.name()),
            Toward::Device => ("sync-for-device", call.name()),
        };
        self.ev(EventSource::Dma, kind, Some(dev), || {
            format!("{name} {label} bytes {lo}..{hi}, {dir}")
        });
    }
}
