//! Mapping: how a list of CPU buffers becomes DMA addresses for a device.
//! Behind an IOMMU a scatterlist gets one IOVA range and its segments are
//! merged as `__finalise_sg` does; every other mapping is planned entry by
//! entry, bounced through swiotlb where the device cannot reach a buffer or
//! must not see the rest of its page. A mapping that fails half-way gives
//! back what it took.

use std::sync::Arc;

use super::ModelBackend;
use crate::addr::{DmaMask, Iova, PAGE_SIZE, PhysAddr, PhysRange};
use crate::calls::MapFunc;
use crate::calls::{DmaAttrs, ErrorCheck};
use crate::direction::DmaDirection;
use crate::error::{Error, Result};
use crate::hw::direct;
use crate::hw::iommu::{IovaLease, Prot};
use crate::ids::DeviceId;
use crate::ids::{BufId, MapId};
use crate::mapping::{Entry, MapRecord, Segment};
use crate::trace::{EventSource, Site};

/// A request to map CPU memory for a device.
pub(crate) struct MapRequest<'a> {
    pub(crate) dev: DeviceId,
    pub(crate) func: MapFunc,
    pub(crate) dir: DmaDirection,
    /// The CPU buffers, in order.
    pub(crate) ents: &'a [PhysRange],
    /// The name in findings; by default the first buffer's allocation.
    pub(crate) label: Option<Arc<str>>,
    pub(crate) check: ErrorCheck,
    /// The DMA-BUF an importer maps.
    pub(crate) dmabuf: Option<BufId>,
    /// `DMA_ATTR_*`.
    pub(crate) attrs: DmaAttrs,
}

/// What mapping needs to know of the device.
#[derive(Debug, Clone, Copy)]
struct Limits {
    mask: DmaMask,
    untrusted: bool,
    group: u32,
    max_segment: u64,
    seg_boundary: u64,
}

/// The IOMMU domain (by group) and the mask a device's DMA addresses are
/// made in.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reach {
    pub(super) group: u32,
    pub(super) mask: DmaMask,
}

/// What a mapping has set up so far.
#[derive(Default)]
struct Plan {
    entries: Vec<Entry>,
    leases: Vec<IovaLease>,
    coord: u64,
}

/// Where a device reaches an entry's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reached {
    /// In the buffer itself.
    Buffer,
    /// In a swiotlb bounce slot.
    Bounce(PhysAddr),
}

impl Reached {
    /// The memory the device accesses for a buffer at `cpu`.
    fn target(self, cpu: PhysAddr) -> PhysAddr {
        match self {
            Reached::Buffer => cpu,
            Reached::Bounce(slot) => slot,
        }
    }
}

impl Plan {
    fn push(&mut self, cpu: PhysRange, reached: Reached, dma: Iova) {
        self.entries.push(Entry {
            cpu: cpu.addr,
            len: cpu.len,
            target: reached.target(cpu.addr),
            dma,
            bounced: reached != Reached::Buffer,
            coord: self.coord,
        });
        self.coord += cpu.len;
    }
}

/// The IOMMU permissions a direction gives the device
/// (`dma_info_to_prot`).
pub(super) fn prot(dir: DmaDirection) -> Prot {
    Prot {
        read: dir.device_reads(),
        write: dir.device_writes(),
    }
}

/// The IOMMU permissions a direction gives, for the timeline.
pub(super) fn perm(dir: DmaDirection) -> &'static str {
    match prot(dir) {
        Prot {
            read: true,
            write: true,
        } => "read/write",
        Prot {
            read: true,
            write: false,
        } => "read-only",
        Prot {
            read: false,
            write: true,
        } => "write-only",
        Prot {
            read: false,
            write: false,
        } => "no access",
    }
}

impl ModelBackend {
    /// Maps `req.ents` for `req.dev`. Returns the new mapping's id.
    pub(crate) fn map(&mut self, req: MapRequest<'_>, site: Site) -> Result<MapId> {
        let d = self.hw.devices.present(req.dev)?;
        let lim = Limits {
            mask: d.cfg.dma_mask,
            untrusted: d.cfg.untrusted,
            group: d.group,
            max_segment: d.cfg.max_segment,
            seg_boundary: d.cfg.seg_boundary,
        };
        let (dev, func, dir) = (req.dev, req.func, req.dir);
        if dir == DmaDirection::None {
            self.check(site, |c, cx| c.on_map_without_direction(cx, dev, func));
            return Err(Error::InvalidDirection);
        }
        if req.ents.is_empty() || req.ents.iter().any(|e| e.len == 0) {
            return Err(Error::ZeroLength);
        }
        let pages = req.ents.iter().map(|e| e.pages()).sum();
        self.room_for_iommu(pages, req.ents.len() as u64)?;
        let label = match &req.label {
            Some(l) => l.clone(),
            None => self.hw.cpu.label_of(req.ents[0].addr),
        };
        self.check(site, |c, cx| c.before_map(cx, dev, func, req.ents, &label));
        let translated = self.linear_addresses(req.ents);
        let req = match &translated {
            Some(ents) => MapRequest { ents, ..req },
            None => req,
        };
        let iommu = self.hw.iommu.enabled();
        let one_range = iommu
            && func == MapFunc::Sg
            && !(lim.untrusted && req.ents.iter().any(|e| e.is_sub_page()));
        let mut plan = Plan::default();
        let planned = if one_range {
            self.plan_iommu_sg(&req, lim, &mut plan)
        } else {
            req.ents
                .iter()
                .try_for_each(|&e| self.plan_entry(&req, lim, e, &mut plan))
        };
        if let Err(e) = planned {
            self.undo(plan);
            self.ev(EventSource::Dma, "map-error", Some(dev), || {
                format!("{} of {label} failed: {e}", func.map_name())
            });
            return Err(e);
        }
        if func.cached() && !req.attrs.contains(DmaAttrs::SKIP_CPU_SYNC) {
            for i in 0..plan.entries.len() {
                let e = &plan.entries[i];
                let target = PhysRange::new(e.target, e.len);
                self.arch_for_device(target, dir, dev);
            }
        }
        let segs = if one_range {
            finalise_sg(&plan.entries, lim.max_segment, lim.seg_boundary)
        } else {
            plan.entries.iter().map(Entry::segment).collect()
        };
        let id = self.ids.map();
        let (size, nents) = (plan.coord, req.ents.len());
        self.maps.insert(MapRecord {
            id,
            dev,
            func,
            dir,
            label: label.clone(),
            size,
            nents,
            entries: plan.entries,
            segs,
            leases: plan.leases,
            origin: self.origin(site),
            dmabuf: req.dmabuf,
            attrs: req.attrs,
        });
        self.check(site, |c, cx| c.after_map(cx, id, req.check));
        self.map_event(id);
        Ok(id)
    }

    /// The DMA API takes the physical address of what it is given
    /// (`virt_to_phys`), right or wrong: vmalloc addresses become the frame
    /// of their first page plus the offset, as if contiguous. `None` when
    /// every entry is in the linear map already.
    fn linear_addresses(&self, ents: &[PhysRange]) -> Option<Vec<PhysRange>> {
        let cpu = &self.hw.cpu;
        ents.iter().any(|e| cpu.in_vmalloc(e.addr)).then(|| {
            ents.iter()
                .map(|e| PhysRange::new(cpu.virt_to_phys(e.addr), e.len))
                .collect()
        })
    }

    /// The timeline's line for new mapping `id`.
    fn map_event(&mut self, id: MapId) {
        let r = self.maps.live(id);
        let (func, dir, dev, size) = (r.func, r.dir, r.dev, r.size);
        let (label, nents, nsegs, first) = (r.label.clone(), r.nents, r.segs.len(), r.dma());
        let attrs = if r.attrs.is_empty() {
            String::new()
        } else {
            format!(" [{}]", r.attrs.names())
        };
        self.ev(EventSource::Dma, "map", Some(dev), || {
            if func == MapFunc::Sg {
                format!(
                    "{} {label}: {nents} entries, {size} bytes, {dir}{attrs} -> {nsegs} DMA segment(s) from {first}",
                    func.map_name()
                )
            } else {
                format!("{} {label}: {size} bytes, {dir}{attrs} -> dma {first}", func.map_name())
            }
        });
    }

    /// A scatterlist behind the IOMMU: one IOVA range for the whole list,
    /// each entry padded to whole pages.
    fn plan_iommu_sg(&mut self, req: &MapRequest<'_>, lim: Limits, plan: &mut Plan) -> Result<()> {
        let total: u64 = req.ents.iter().map(|e| e.pages()).sum();
        let lo = self
            .hw
            .iommu
            .alloc(lim.group, lim.mask, total)
            .ok_or_else(|| Error::IovaExhausted {
                device: self.dev_name(req.dev),
                pages: total,
                mask: lim.mask,
            })?;
        let mut cur = lo;
        for &e in req.ents {
            let lease = IovaLease {
                group: lim.group,
                lo: cur,
                pages: e.pages(),
            };
            self.hw.iommu.map(lease, e.addr.frame(), prot(req.dir));
            plan.push(
                e,
                Reached::Buffer,
                lease.start().unchecked_add(e.addr.page_offset()),
            );
            cur = cur.plus(lease.pages);
        }
        let whole = IovaLease {
            group: lim.group,
            lo,
            pages: total,
        };
        plan.leases.push(whole);
        let (n, dir) = (req.ents.len(), req.dir);
        self.ev(EventSource::Iommu, "map", Some(req.dev), || {
            format!(
                "IOVA {}..{} -> {n} scatterlist entries ({total} page(s), {})",
                whole.start(),
                whole.end(),
                perm(dir)
            )
        });
        Ok(())
    }

    /// One entry: bounced if it must be, then mapped through the IOMMU if
    /// there is one.
    fn plan_entry(
        &mut self,
        req: &MapRequest<'_>,
        lim: Limits,
        e: PhysRange,
        plan: &mut Plan,
    ) -> Result<()> {
        let reached = if req.func == MapFunc::Resource {
            self.place_resource(req.dev, lim, e)?
        } else {
            self.place_entry(req.dev, lim, e)?
        };
        let target = reached.target(e.addr);
        if !self.hw.iommu.enabled() {
            plan.push(e, reached, direct::phys_to_dma(target));
            return Ok(());
        }
        let r = PhysRange::new(target, e.len);
        let reach = Reach {
            group: lim.group,
            mask: lim.mask,
        };
        match self.iommu_map(req.dev, reach, r, req.dir) {
            Ok((dma, lease)) => {
                plan.leases.push(lease);
                plan.push(e, reached, dma);
                Ok(())
            }
            Err(err) => {
                if let Reached::Bounce(slot) = reached {
                    self.bounce_release(slot);
                }
                Err(err)
            }
        }
    }

    /// Where the device will reach entry `e`: the buffer itself, or a
    /// swiotlb slot (untrusted device behind an IOMMU with a sub-page
    /// buffer; without an IOMMU, an untrusted device or a buffer beyond the
    /// mask).
    fn place_entry(&mut self, dev: DeviceId, lim: Limits, e: PhysRange) -> Result<Reached> {
        if self.hw.iommu.enabled() {
            if lim.untrusted && e.is_sub_page() {
                let slot = (e.pages() * PAGE_SIZE).max(PAGE_SIZE);
                let why = "untrusted device, sub-page buffer";
                let t = self.bounce(dev, e, slot, DmaMask::bits(64), why)?;
                return Ok(Reached::Bounce(t));
            }
            return Ok(Reached::Buffer);
        }
        if lim.untrusted || !lim.mask.covers_range(e) {
            let why = if lim.untrusted {
                "untrusted device"
            } else {
                "buffer beyond the device's DMA mask"
            };
            return Ok(Reached::Bounce(self.bounce(dev, e, e.len, lim.mask, why)?));
        }
        Ok(Reached::Buffer)
    }

    /// Device memory is never bounced: without an IOMMU the device reaches
    /// it directly or not at all.
    fn place_resource(&mut self, dev: DeviceId, lim: Limits, e: PhysRange) -> Result<Reached> {
        if self.hw.iommu.enabled() || lim.mask.covers_range(e) {
            return Ok(Reached::Buffer);
        }
        Err(Error::Unreachable {
            device: self.dev_name(dev),
            addr: e.addr,
            mask: lim.mask,
            why: " (device memory is never bounced)",
        })
    }

    /// Maps `r` through the IOMMU for `dev`, with a timeline event.
    pub(super) fn iommu_map(
        &mut self,
        dev: DeviceId,
        reach: Reach,
        r: PhysRange,
        dir: DmaDirection,
    ) -> Result<(Iova, IovaLease)> {
        let Reach { group, mask } = reach;
        let Some((dma, lease)) = self.hw.iommu.map_range(group, mask, r, prot(dir)) else {
            return Err(Error::IovaExhausted {
                device: self.dev_name(dev),
                pages: r.pages(),
                mask,
            });
        };
        self.ev(EventSource::Iommu, "map", Some(dev), || {
            format!(
                "IOVA {}..{} -> phys {} ({} page(s), {})",
                lease.start(),
                lease.end(),
                r.addr.align_down(PAGE_SIZE),
                lease.pages,
                perm(dir)
            )
        });
        Ok((dma, lease))
    }

    /// `swiotlb_tbl_map_single`: a bounce slot of `slot` bytes for `e`,
    /// reachable with `mask`, holding a copy of the buffer.
    fn bounce(
        &mut self,
        dev: DeviceId,
        e: PhysRange,
        slot: u64,
        mask: DmaMask,
        why: &str,
    ) -> Result<PhysAddr> {
        let unreachable = |device: String, why: &'static str| Error::Unreachable {
            device,
            addr: e.addr,
            mask,
            why,
        };
        let Some(tlb) = self.hw.swiotlb.as_mut() else {
            return Err(unreachable(self.dev_name(dev), " and swiotlb is off"));
        };
        let t = tlb.alloc(slot).ok_or(Error::SwiotlbFull { size: slot })?;
        if !mask.covers_range(PhysRange::new(t, slot)) {
            tlb.free(t);
            return Err(unreachable(self.dev_name(dev), " nor the swiotlb pool"));
        }
        // swiotlb_tbl_map_single copies in every direction, so that a device
        // that writes less than the whole buffer leaks nothing.
        self.hw.cpu_copy(e.addr, t, e.len);
        if slot > e.len {
            let zeros = vec![0u8; (slot - e.len) as usize];
            self.hw.cpu_store(t.unchecked_add(e.len), &zeros);
        }
        let (orig, len) = (e.addr, e.len);
        self.ev(EventSource::Swiotlb, "bounce-map", Some(dev), || {
            format!("{why}: bounce buffer {t} for {orig}, {len} bytes copied to it")
        });
        Ok(t)
    }

    /// Gives a bounce slot back.
    pub(super) fn bounce_release(&mut self, slot: PhysAddr) {
        if let Some(s) = self.hw.swiotlb.as_mut() {
            s.free(slot);
        }
    }

    /// Takes back what a failed mapping set up.
    fn undo(&mut self, plan: Plan) {
        for e in &plan.entries {
            if e.bounced {
                self.bounce_release(e.target);
            }
        }
        for lease in plan.leases {
            self.hw.iommu.undo(lease);
        }
    }
}

/// `__finalise_sg` of `drivers/iommu/dma-iommu.c`: concatenates entries
/// into DMA segments where the IOVA layout allows it: an entry that starts
/// a page, follows a segment that ended at a page boundary, does not cross
/// a segment boundary and fits in the maximum segment size.
pub(crate) fn finalise_sg(entries: &[Entry], max_len: u64, seg_mask: u64) -> Vec<Segment> {
    let mut segs: Vec<Segment> = Vec::new();
    let mut cur_len = 0u64;
    for e in entries {
        let s_iova_off = e.dma.page_offset();
        let s_length = e.len;
        let s_iova_len = (s_iova_off + s_length).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let dma_addr = e.dma.raw() - s_iova_off;
        if cur_len != 0
            && s_iova_off == 0
            && (dma_addr & seg_mask) != 0
            && max_len.saturating_sub(cur_len) >= s_length
        {
            cur_len += s_length;
            segs.last_mut().expect("open segment").len = cur_len;
        } else {
            cur_len = s_length;
            segs.push(Segment {
                dma: e.dma,
                len: s_length,
                coord: e.coord,
            });
        }
        if s_length + s_iova_off < s_iova_len {
            cur_len = 0;
        }
    }
    segs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dma: u64, len: u64, coord: u64) -> Entry {
        Entry {
            cpu: PhysAddr::new(0x10_0000 + coord),
            len,
            target: PhysAddr::new(0x10_0000 + coord),
            dma: Iova::new(dma),
            bounced: false,
            coord,
        }
    }

    #[test]
    fn whole_pages_merge_into_one_segment() {
        let e = [
            entry(0x10000, 4096, 0),
            entry(0x11000, 4096, 4096),
            entry(0x12000, 4096, 8192),
        ];
        let s = finalise_sg(&e, 65536, 0xffff_ffff);
        assert_eq!(
            s,
            vec![Segment {
                dma: Iova::new(0x10000),
                len: 12288,
                coord: 0
            }]
        );
    }

    #[test]
    fn a_partial_page_or_the_maximum_size_ends_a_segment() {
        let e = [
            entry(0x10000, 100, 0),
            entry(0x11000, 4096, 100),
            entry(0x12000, 4096, 4196),
        ];
        let s = finalise_sg(&e, 65536, 0xffff_ffff);
        assert_eq!(s.len(), 2, "the 100-byte entry ends its segment");
        assert_eq!(
            (s[1].dma, s[1].len, s[1].coord),
            (Iova::new(0x11000), 8192, 100)
        );
        let e = [entry(0x10000, 4096, 0), entry(0x11000, 4096, 4096)];
        assert_eq!(
            finalise_sg(&e, 4096, 0xffff_ffff).len(),
            2,
            "max segment 4 KiB"
        );
    }

    #[test]
    fn a_segment_boundary_is_not_crossed() {
        let e = [entry(0xf000, 4096, 0), entry(0x10000, 4096, 4096)];
        assert_eq!(finalise_sg(&e, 65536, 0xffff).len(), 2);
        assert_eq!(perm(DmaDirection::FromDevice), "write-only");
    }
}
