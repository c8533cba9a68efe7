//! The checker's hooks on DMA API calls: map, unmap, free, sync, device
//! removal, and freeing CPU memory.

use std::sync::Arc;

use super::{Checker, Ctx, Ownership, Span, line_hull};
use crate::addr::{DMA_MAPPING_ERROR, Iova, PhysAddr, PhysRange};
use crate::calls::{ErrorCheck, SyncCall, SyncTarget, Toward, UnmapArgs};
use crate::check::finding::Finding;
use crate::check::rules::Rule;
use crate::config::MemKind;
use crate::direction::DmaDirection;
use crate::hw::cpu::Alloc;
use crate::ids::DeviceId;
use crate::ids::MapId;
use crate::mapping::{MapFunc, MapRecord};

impl Checker {
    /// `kfree` of the allocation `alloc` at `addr`: is it still mapped?
    pub(crate) fn on_free(&mut self, cx: &mut Ctx<'_>, addr: PhysAddr, alloc: &Alloc) {
        for id in self.cpu_index.hits(PhysRange::new(addr, alloc.len)) {
            let r = cx.maps.live(id);
            let f = cx
                .finding(
                    Rule::FreeWhileMapped,
                    format!(
                        "{} freed while {} still maps it for {}",
                        alloc.label,
                        r.func.map_name(),
                        cx.name(r.dev)
                    ),
                )
                .device(cx.name(r.dev))
                .buffer(alloc.label.to_string())
                .phys(addr)
                .dma(r.dma())
                .mapped_at(r.origin.clone());
            cx.report(f);
        }
    }

    /// A mapping call with `DMA_NONE`, which fails.
    pub(crate) fn on_map_without_direction(
        &mut self,
        cx: &mut Ctx<'_>,
        dev: DeviceId,
        func: MapFunc,
    ) {
        let f = cx
            .finding(
                Rule::InvalidDirection,
                format!("{} with DMA_NONE", func.map_name()),
            )
            .device(cx.name(dev));
        cx.report(f);
    }

    /// Before mapping `ents`: memory that must never be mapped this way.
    pub(crate) fn before_map(
        &mut self,
        cx: &mut Ctx<'_>,
        dev: DeviceId,
        func: MapFunc,
        ents: &[PhysRange],
        label: &Arc<str>,
    ) {
        for e in ents {
            let Some((_, a)) = cx.cpu.containing(e.addr) else {
                continue;
            };
            let rule = match a.kind {
                MemKind::Stack => Rule::MapStackMemory,
                MemKind::Vmalloc if func == MapFunc::Single => Rule::MapVmallocMemory,
                _ => continue,
            };
            let what = if rule == Rule::MapStackMemory {
                "stack memory: it may be freed or reused before the DMA ends and shares cache lines with other locals"
            } else {
                "vmalloc memory: it is not physically contiguous, map it page by page"
            };
            let f = cx
                .finding(
                    rule,
                    format!("{} of {label}, which is {what}", func.map_name()),
                )
                .device(cx.name(dev))
                .buffer(label.to_string())
                .phys(e.addr)
                .size(e.len);
            cx.report(f);
        }
    }

    /// A streaming mapping `id` was made: does it overlap or share a cache
    /// line with another live mapping? Then it is indexed, and its DMA
    /// addresses are no longer "recently unmapped".
    pub(crate) fn after_map(&mut self, cx: &mut Ctx<'_>, id: MapId, check: ErrorCheck) {
        let r = cx.maps.live(id);
        let mut seen: Vec<MapId> = Vec::new();
        for e in &r.entries {
            let lines = line_hull(e.cpu, e.len, cx.line);
            let (llo, lhi) = (lines.addr, lines.end());
            for oid in self.cpu_index.hits(lines) {
                if oid == id || seen.contains(&oid) {
                    continue;
                }
                let o = cx.maps.live(oid);
                if r.dir == DmaDirection::ToDevice && o.dir == DmaDirection::ToDevice {
                    continue;
                }
                // Importers of one DMA-BUF map the same pages by design;
                // fences order them (rule dmabuf-fence-not-waited).
                if r.dmabuf.is_some() && r.dmabuf == o.dmabuf {
                    continue;
                }
                let e_end = e.cpu.unchecked_add(e.len);
                let mut overlap = false;
                let mut share = false;
                for oe in &o.entries {
                    let oe_end = oe.cpu.unchecked_add(oe.len);
                    if oe.cpu.max(e.cpu) < oe_end.min(e_end) {
                        overlap = true;
                    } else if oe.cpu < lhi && oe_end > llo {
                        share = true;
                    }
                }
                if !(overlap || share) {
                    continue;
                }
                seen.push(oid);
                let (rule, msg) = if overlap {
                    (
                        Rule::OverlappingMapping,
                        format!(
                            "{} is mapped {} for {} while {} maps the same bytes {} for {}",
                            r.label,
                            r.dir,
                            cx.name(r.dev),
                            o.label,
                            o.dir,
                            cx.name(o.dev)
                        ),
                    )
                } else {
                    (
                        Rule::SharedCacheLine,
                        format!(
                            "{} ({}) shares a {}-byte cache line with mapping {} ({}): maintenance of one corrupts the other",
                            r.label, r.dir, cx.line, o.label, o.dir
                        ),
                    )
                };
                let f = cx.finding_for(rule, r, msg).mapped_at(o.origin.clone());
                cx.report(f);
            }
        }
        if r.func != MapFunc::Coherent {
            self.cpu_index.insert(r);
        }
        self.owners.insert(
            id,
            Ownership {
                error_checked: check == ErrorCheck::Done,
                ..Ownership::default()
            },
        );
        for s in &r.segs {
            self.clear_unmapped(r.dev, s.dma, s.end());
        }
    }

    /// A coherent buffer `id` was allocated: its DMA range is live again.
    pub(crate) fn after_alloc_coherent(&mut self, cx: &mut Ctx<'_>, id: MapId) {
        let r = cx.maps.live(id);
        self.owners.insert(
            id,
            Ownership {
                error_checked: true,
                ..Ownership::default()
            },
        );
        self.clear_unmapped(r.dev, r.dma(), r.dma().unchecked_add(r.size));
    }

    /// An unmap or free of `dma`, which `dev` has no mapping starting at.
    pub(crate) fn on_unmap_unknown(
        &mut self,
        cx: &mut Ctx<'_>,
        dev: DeviceId,
        dma: Iova,
        args: UnmapArgs,
        func: MapFunc,
    ) {
        let name = cx.name(dev);
        let (rule, msg, buffer) = if dma == DMA_MAPPING_ERROR {
            (
                Rule::UncheckedMappingError,
                format!(
                    "{} of DMA_MAPPING_ERROR: the mapping failed and dma_mapping_error was not consulted",
                    func.unmap_name()
                ),
                None,
            )
        } else if let Some(u) = self.unmapped.get(&(dev, dma)) {
            (
                Rule::DoubleUnmap,
                format!(
                    "{} of {dma}: {} was already unmapped at {}",
                    func.unmap_name(),
                    u.label,
                    u.at
                ),
                Some(u.label.to_string()),
            )
        } else if let Some((id, _)) = cx.maps.find_containing(dev, dma) {
            let r = cx.maps.live(id);
            (
                Rule::FreeNotMapped,
                format!(
                    "{} of {dma}: not the start of a mapping, it lies {} bytes into {} (dma {})",
                    func.unmap_name(),
                    dma.unchecked_offset_from(r.dma()),
                    r.label,
                    r.dma()
                ),
                Some(r.label.to_string()),
            )
        } else {
            (
                Rule::FreeNotMapped,
                format!("{} of {dma}, which {name} never mapped", func.unmap_name()),
                None,
            )
        };
        let f = cx
            .finding(rule, msg)
            .device(name)
            .maybe_buffer(buffer)
            .dma(dma)
            .maybe_size(args.size());
        cx.report(f);
    }

    /// Before unmapping `id` with `func`: returns whether the unmap goes
    /// ahead (an unmap of another kind of object does nothing).
    pub(crate) fn before_unmap(
        &mut self,
        cx: &mut Ctx<'_>,
        id: MapId,
        args: UnmapArgs,
        dir: DmaDirection,
        func: MapFunc,
    ) -> bool {
        let r = cx.maps.live(id);
        let proceed = r.func.same_kind(func);
        let mut out = unmap_call_findings(cx, r, args, func);
        if dir != r.dir && proceed {
            out.push(cx.finding_for(
                Rule::UnmapDirectionMismatch,
                r,
                format!(
                    "{} of {} with {dir}, mapped {}",
                    func.unmap_name(),
                    r.label,
                    r.dir
                ),
            ));
        }
        let own = self.owner(id);
        if own.cpu_wrote && dir != DmaDirection::ToDevice && proceed {
            out.push(cx.finding_for(
                Rule::CpuWriteDiscarded,
                r,
                format!(
                    "{} of {}: the CPU wrote into it after a sync for the CPU and never synced it for the device; the invalidation for {dir} discards those writes on a non-coherent machine",
                    func.unmap_name(),
                    r.label
                ),
            ));
        }
        if !own.error_checked && proceed {
            out.push(cx.finding_for(
                Rule::UncheckedMappingError,
                r,
                format!(
                    "{} was mapped and used without a dma_mapping_error check",
                    r.label
                ),
            ));
        }
        cx.findings.extend(out);
        proceed
    }

    /// Before `dma_free_coherent` of `id`: returns whether it goes ahead.
    pub(crate) fn before_free_coherent(
        &mut self,
        cx: &mut Ctx<'_>,
        id: MapId,
        size: u64,
        cpu: PhysAddr,
    ) -> bool {
        let r = cx.maps.live(id);
        if r.func != MapFunc::Coherent {
            let f = cx.finding_for(
                Rule::UnmapFunctionMismatch,
                r,
                format!(
                    "dma_free_coherent of {}, which was made with {}; nothing was freed",
                    r.label,
                    r.func.map_name()
                ),
            );
            cx.report(f);
            return false;
        }
        let mut out = Vec::new();
        if size.div_ceil(4096) * 4096 != r.size {
            out.push(cx.finding_for(
                Rule::UnmapSizeMismatch,
                r,
                format!(
                    "dma_free_coherent of {} with size {size}, allocated {}",
                    r.label, r.size
                ),
            ));
        }
        if cpu != r.cpu() {
            out.push(cx.finding_for(
                Rule::FreeCpuAddressMismatch,
                r,
                format!(
                    "dma_free_coherent of {} with CPU address {cpu}, allocated at {}",
                    r.label,
                    r.cpu()
                ),
            ));
        }
        cx.findings.extend(out);
        true
    }

    /// A sync of an address `dev` has no mapping at.
    pub(crate) fn on_sync_unknown(&mut self, cx: &mut Ctx<'_>, call: &SyncCall) {
        let (dev, dma, name) = (call.dev, call.dma(), call.name());
        let msg = match self.unmapped_at(dev, dma) {
            Some(u) => format!("{name} of {dma}: {} was unmapped at {}", u.label, u.at),
            None => format!("{name} of {dma}, which {} has not mapped", cx.name(dev)),
        };
        let f = cx
            .finding(Rule::SyncNotMapped, msg)
            .device(cx.name(dev))
            .dma(dma)
            .size(call.size());
        cx.report(f);
    }

    /// Before a sync of segment `seg` of mapping `id`.
    pub(crate) fn before_sync(&mut self, cx: &mut Ctx<'_>, id: MapId, seg: usize, call: &SyncCall) {
        let (dir, name) = (call.dir, call.name());
        let r = cx.maps.live(id);
        let mut out = Vec::new();
        if dir == DmaDirection::None {
            out.push(cx.finding_for(
                Rule::InvalidDirection,
                r,
                format!("{name} of {} with DMA_NONE", r.label),
            ));
        }
        match call.target {
            SyncTarget::Sg { nents, .. } if nents != r.nents => out.push(cx.finding_for(
                Rule::SgCountMismatch,
                r,
                format!(
                    "{name} of {} with nents {nents}: dma_map_sg was given {}",
                    r.label, r.nents
                ),
            )),
            SyncTarget::Sg { .. } => {}
            SyncTarget::Single { dma, size } => {
                let s = r.segs[seg];
                let end = dma.raw() + size;
                if end > s.end().raw() {
                    out.push(cx.finding_for(
                        Rule::SyncOutsideMapping,
                        r,
                        format!(
                            "{name} of {size} bytes at {dma} reaches {} bytes past the end of {} (segment {}+{})",
                            end - s.end().raw(),
                            r.label,
                            s.dma,
                            s.len
                        ),
                    ));
                }
            }
        }
        if dir != r.dir && dir != DmaDirection::None {
            out.push(cx.finding_for(
                Rule::SyncDirectionMismatch,
                r,
                format!("{name} of {} with {dir}, mapped {}", r.label, r.dir),
            ));
        }
        if call.toward == Toward::Cpu && dir != DmaDirection::ToDevice && self.owner(id).cpu_wrote {
            out.push(cx.finding_for(
                Rule::CpuWriteDiscarded,
                r,
                format!(
                    "{name} of {}: the CPU wrote into it after the previous sync for the CPU and never synced it for the device; this invalidation discards those writes on a non-coherent machine",
                    r.label
                ),
            ));
        }
        cx.findings.extend(out);
    }

    /// A sync handed bytes `[lo, hi)` of mapping `id` over.
    pub(crate) fn after_sync(&mut self, id: MapId, lo: u64, hi: u64, toward: Toward) {
        let o = self.owner_mut(id);
        let span = Span { start: lo, end: hi };
        match toward {
            Toward::Cpu => {
                o.cpu_window = Some(Span::hull(o.cpu_window, span));
                if o.dev_dirty.is_some_and(|d| span.contains(d)) {
                    o.dev_dirty = None;
                }
            }
            Toward::Device => {
                o.cpu_window = None;
                o.cpu_wrote = false;
            }
        }
    }

    /// The device of mapping `rec` is removed while it is alive.
    pub(crate) fn on_leak(&mut self, cx: &mut Ctx<'_>, rec: &MapRecord) {
        let f = cx
            .finding(
                Rule::LeakOnDeviceRemoval,
                format!(
                    "{} is removed while {} {} is still alive (never {})",
                    cx.name(rec.dev),
                    rec.func.map_name(),
                    rec.label,
                    rec.func.unmap_name()
                ),
            )
            .device(cx.name(rec.dev))
            .buffer(rec.label.to_string())
            .dma(rec.dma())
            .size(rec.size)
            .mapped_at(rec.origin.clone());
        cx.report(f);
        self.forget(cx, rec);
    }
}

/// What is wrong with the arguments of an unmap of `r` with `func`: the
/// function, the size, the entry count.
fn unmap_call_findings(
    cx: &Ctx<'_>,
    r: &MapRecord,
    args: UnmapArgs,
    func: MapFunc,
) -> Vec<Finding> {
    let mut out = Vec::new();
    if r.func != func {
        let proceed = r.func.same_kind(func);
        out.push(cx.finding_for(
            Rule::UnmapFunctionMismatch,
            r,
            format!(
                "{} of {}, which was made with {} (use {}){}",
                func.unmap_name(),
                r.label,
                r.func.map_name(),
                r.func.unmap_name(),
                if proceed {
                    ""
                } else {
                    "; nothing was unmapped"
                }
            ),
        ));
    }
    match args {
        UnmapArgs::Size(s) if func != MapFunc::Sg && r.func != MapFunc::Sg && s != r.size => {
            out.push(cx.finding_for(
                Rule::UnmapSizeMismatch,
                r,
                format!(
                    "{} of {} with size {s}, mapped with size {}",
                    func.unmap_name(),
                    r.label,
                    r.size
                ),
            ));
        }
        UnmapArgs::Nents(n) if r.func == MapFunc::Sg && n != r.nents => {
            out.push(cx.finding_for(
                Rule::SgCountMismatch,
                r,
                format!(
                    "dma_unmap_sg of {} with nents {n}: dma_map_sg was given {} entries (and returned {}); pass the count given, not the count returned",
                    r.label,
                    r.nents,
                    r.segs.len()
                ),
            ));
        }
        _ => {}
    }
    out
}
