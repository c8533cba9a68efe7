//! The checker's hooks on DMA API calls: map, unmap, free, sync, device
//! removal, and freeing CPU memory.

use std::sync::Arc;

use super::{Checker, Ctx, Ownership, Span, line_hull};
use crate::addr::{DMA_MAPPING_ERROR, Iova, PhysAddr, PhysRange};
use crate::calls::MapFunc;
use crate::calls::{DmaAttrs, ErrorCheck, SyncCall, SyncTarget, Toward, UnmapArgs, UnmapCall};
use crate::check::finding::Finding;
use crate::check::rules::Rule;
use crate::config::MemKind;
use crate::direction::DmaDirection;
use crate::hw::cpu::Alloc;
use crate::ids::DeviceId;
use crate::ids::MapId;
use crate::mapping::{Entry, MapRecord};
use crate::pool::Block;

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

    /// Before mapping `ents`: memory that must never be mapped this way,
    /// and entries that run past their allocation.
    pub(crate) fn before_map(
        &mut self,
        cx: &mut Ctx<'_>,
        dev: DeviceId,
        func: MapFunc,
        ents: &[PhysRange],
        label: &Arc<str>,
    ) {
        for e in ents {
            let Some((start, a)) = cx.cpu.containing(e.addr) else {
                continue;
            };
            let resource = func == MapFunc::Resource && a.kind == MemKind::Mmio;
            if let Some((rule, what)) = forbidden_memory(a.kind).filter(|_| !resource) {
                let f = cx
                    .finding(
                        rule,
                        format!("{} of {label}, which is {what}", func.map_name()),
                    )
                    .device(cx.name(dev))
                    .buffer(label.to_string())
                    .size(e.len);
                // vmalloc and kernel-image addresses are virtual: no
                // physical address to name
                let f = match a.kind {
                    MemKind::Vmalloc | MemKind::Rodata => f,
                    _ => f.phys(e.addr),
                };
                cx.report(f);
            }
            let a_end = start.unchecked_add(a.len);
            if e.end() > a_end {
                let f = cx
                    .finding(
                        Rule::MapBeyondAllocation,
                        format!(
                            "{} of {} bytes from {} runs {} bytes past the end of {} ({} bytes at {start})",
                            func.map_name(),
                            e.len,
                            e.addr,
                            e.end().unchecked_offset_from(a_end),
                            a.label,
                            a.len
                        ),
                    )
                    .device(cx.name(dev))
                    .buffer(label.to_string())
                    .phys(a_end)
                    .size(e.len);
                cx.report(f);
            }
        }
    }

    /// A streaming mapping `id` was made: does it overlap or share a cache
    /// line with another live mapping, or do two of its own entries? Then
    /// it is indexed, and its DMA addresses are no longer "recently
    /// unmapped".
    pub(crate) fn after_map(&mut self, cx: &mut Ctx<'_>, id: MapId, check: ErrorCheck) {
        let r = cx.maps.live(id);
        self.against_other_mappings(cx, r);
        within_list(cx, r);
        beyond_device_reach(cx, r);
        if r.func.cached() {
            self.cpu_index.insert(r);
        }
        // Made without cache maintenance, the mapping is still the CPU's
        // until the driver syncs it for the device.
        let unsynced = r.attrs.contains(DmaAttrs::SKIP_CPU_SYNC);
        self.owners.insert(
            id,
            Ownership {
                error_checked: check == ErrorCheck::Done,
                unsynced,
                cpu_window: unsynced.then_some(Span {
                    start: 0,
                    end: r.size,
                }),
                ..Ownership::default()
            },
        );
        for s in &r.segs {
            self.clear_unmapped(r.dev, s.dma, s.end());
        }
    }

    /// Mappings `r`'s CPU bytes overlap, or share a cache line with.
    fn against_other_mappings(&self, cx: &mut Ctx<'_>, r: &MapRecord) {
        let mut seen: Vec<MapId> = Vec::new();
        for e in &r.entries {
            let lines = line_hull(e.cpu, e.len, cx.line);
            for oid in self.cpu_index.hits(lines) {
                if oid == r.id || seen.contains(&oid) {
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
                let Some(meet) = o
                    .entries
                    .iter()
                    .filter_map(|oe| meeting(e, oe, cx.line))
                    .min_by_key(|m| (m.kind, m.at))
                else {
                    continue;
                };
                seen.push(oid);
                let msg = match meet.kind {
                    Meet::Overlap => format!(
                        "{} is mapped {} for {} while {} maps the same bytes {} for {} (from {})",
                        r.label,
                        r.dir,
                        cx.name(r.dev),
                        o.label,
                        o.dir,
                        cx.name(o.dev),
                        meet.at
                    ),
                    Meet::Line => format!(
                        "{} ({}) shares the {}-byte cache line {} with mapping {} ({}): maintenance of one corrupts the other",
                        r.label,
                        r.dir,
                        cx.line,
                        meet.at.align_down(cx.line),
                        o.label,
                        o.dir
                    ),
                };
                let f = cx
                    .finding_for(meet.kind.rule(), r, msg)
                    .dma(r.dma_of_cpu(meet.at).unwrap_or(r.dma()))
                    .phys(meet.at)
                    .cache_line(meet.at.align_down(cx.line))
                    .mapped_at(o.origin.clone());
                cx.report(f);
            }
        }
    }

    /// A coherent buffer `id` was allocated: its DMA range is live again.
    pub(crate) fn after_alloc_coherent(&mut self, cx: &mut Ctx<'_>, id: MapId) {
        let r = cx.maps.live(id);
        beyond_device_reach(cx, r);
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
        let (rule, msg, buffer) = if dma == DMA_MAPPING_ERROR && self.failed.contains_key(&dev) {
            (
                Rule::UncheckedMappingError,
                format!(
                    "{} of DMA_MAPPING_ERROR: the mapping failed and dma_mapping_error was not consulted",
                    func.unmap_name()
                ),
                None,
            )
        } else if dma == DMA_MAPPING_ERROR {
            (
                Rule::FreeNotMapped,
                format!(
                    "{} of DMA_MAPPING_ERROR: that mapping failed, as dma_mapping_error said, so there is nothing to unmap",
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
    pub(crate) fn before_unmap(&mut self, cx: &mut Ctx<'_>, id: MapId, call: &UnmapCall) -> bool {
        let UnmapCall {
            args,
            dir,
            func,
            attrs,
            ..
        } = *call;
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
        if attrs.contains(DmaAttrs::SKIP_CPU_SYNC)
            && own.dev_dirty.is_some()
            && dir != DmaDirection::ToDevice
            && proceed
        {
            out.push(cx.finding_for(
                Rule::SkipCpuSyncMissingSync,
                r,
                format!(
                    "{} of {} with DMA_ATTR_SKIP_CPU_SYNC after {} wrote it, without dma_sync_*_for_cpu: the CPU may read stale data",
                    func.unmap_name(),
                    r.label,
                    cx.name(r.dev)
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

    /// Before `dma_free_coherent`, `dma_free_noncoherent` or
    /// `dma_free_pages` (`func`) of `id`: returns whether it goes ahead.
    pub(crate) fn before_free(
        &mut self,
        cx: &mut Ctx<'_>,
        id: MapId,
        func: MapFunc,
        size: u64,
        cpu: PhysAddr,
    ) -> bool {
        let r = cx.maps.live(id);
        let name = func.unmap_name();
        if !r.func.same_kind(func) {
            let f = cx.finding_for(
                Rule::UnmapFunctionMismatch,
                r,
                format!(
                    "{name} of {}, which was made with {}; nothing was freed",
                    r.label,
                    r.func.map_name()
                ),
            );
            cx.report(f);
            return false;
        }
        let mut out = Vec::new();
        if r.func != func {
            out.push(cx.finding_for(
                Rule::UnmapFunctionMismatch,
                r,
                format!(
                    "{name} of {}, which was made with {} (use {})",
                    r.label,
                    r.func.map_name(),
                    r.func.unmap_name()
                ),
            ));
        }
        if size.div_ceil(4096) * 4096 != r.size {
            out.push(cx.finding_for(
                Rule::UnmapSizeMismatch,
                r,
                format!(
                    "{name} of {} with size {size}, allocated {}",
                    r.label, r.size
                ),
            ));
        }
        if cpu != r.cpu() {
            out.push(cx.finding_for(
                Rule::FreeCpuAddressMismatch,
                r,
                format!(
                    "{name} of {} with CPU address {cpu}, allocated at {}",
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
                o.unsynced = false;
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

/// How two pieces of CPU memory meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Meet {
    /// They hold the same bytes.
    Overlap,
    /// They share a cache line, not bytes.
    Line,
}

impl Meet {
    fn rule(self) -> Rule {
        match self {
            Meet::Overlap => Rule::OverlappingMapping,
            Meet::Line => Rule::SharedCacheLine,
        }
    }
}

/// Where two pieces of CPU memory meet: how, and the first byte (or the
/// first byte of the shared line) they meet at.
#[derive(Debug, Clone, Copy)]
struct Meeting {
    kind: Meet,
    at: PhysAddr,
}

/// Whether entries `a` and `b` meet on a machine of `line`-byte lines.
fn meeting(a: &Entry, b: &Entry, line: u64) -> Option<Meeting> {
    let (a_end, b_end) = (a.cpu.unchecked_add(a.len), b.cpu.unchecked_add(b.len));
    let start = a.cpu.max(b.cpu);
    if start < a_end.min(b_end) {
        return Some(Meeting {
            kind: Meet::Overlap,
            at: start,
        });
    }
    // No common byte: the later one starts at or after the earlier one's end.
    let (first_end, second) = if a.cpu < b.cpu {
        (a_end, b.cpu)
    } else {
        (b_end, a.cpu)
    };
    let last_line = PhysAddr::new(first_end.raw() - 1).align_down(line);
    (second.align_down(line) == last_line).then_some(Meeting {
        kind: Meet::Line,
        at: second,
    })
}

/// Entries of one device-writable scatterlist that hold the same bytes or
/// share a cache line: as harmful as two mappings doing so.
fn within_list(cx: &mut Ctx<'_>, r: &MapRecord) {
    if r.dir == DmaDirection::ToDevice || r.entries.len() < 2 {
        return;
    }
    let mut order: Vec<usize> = (0..r.entries.len()).collect();
    order.sort_by_key(|&i| (r.entries[i].cpu, i));
    // The entry reaching furthest so far: only it can meet the next one
    // first.
    let mut reach: Option<usize> = None;
    let mut out = Vec::new();
    for &j in &order {
        let e = &r.entries[j];
        if let Some(i) = reach
            && let Some(m) = meeting(&r.entries[i], e, cx.line)
        {
            let (lo, hi) = (i.min(j), i.max(j));
            let msg = match m.kind {
                Meet::Overlap => format!(
                    "{}: scatterlist entries {lo} and {hi} map the same bytes from {} ({} for {})",
                    r.label,
                    m.at,
                    r.dir,
                    cx.name(r.dev)
                ),
                Meet::Line => format!(
                    "{}: scatterlist entries {lo} and {hi} share the {}-byte cache line {} ({}): maintenance of one corrupts the other",
                    r.label,
                    cx.line,
                    m.at.align_down(cx.line),
                    r.dir
                ),
            };
            out.push(
                cx.finding_for(m.kind.rule(), r, msg)
                    .dma(r.dma_of_cpu(m.at).unwrap_or(e.dma))
                    .phys(m.at)
                    .cache_line(m.at.align_down(cx.line)),
            );
        }
        let end = |k: usize| r.entries[k].cpu.unchecked_add(r.entries[k].len);
        if reach.is_none_or(|i| end(j) > end(i)) {
            reach = Some(j);
        }
    }
    cx.findings.extend(out);
}

/// The rule that forbids mapping memory of `kind` with the streaming API,
/// and why.
fn forbidden_memory(kind: MemKind) -> Option<(Rule, &'static str)> {
    Some(match kind {
        MemKind::Stack => (
            Rule::MapStackMemory,
            "stack memory: it may be freed or reused before the DMA ends and shares cache lines with other locals",
        ),
        MemKind::Vmalloc => (
            Rule::MapVmallocMemory,
            "vmalloc memory: it is not physically contiguous, map it page by page (vmalloc_to_page)",
        ),
        MemKind::Rodata => (
            Rule::MapKernelRodata,
            "kernel text or rodata: outside the linear map, copy it to a kmalloc buffer",
        ),
        MemKind::Mmio => (
            Rule::MapMmioMemory,
            "device memory (a BAR): map it with dma_map_resource",
        ),
        MemKind::Kmalloc => return None,
    })
}

/// DMA addresses of mapping `r` that its device cannot drive: the driver's
/// mask claims more address lines than the hardware has.
fn beyond_device_reach(cx: &mut Ctx<'_>, r: &MapRecord) {
    let Some(d) = cx.devices.get(r.dev) else {
        return;
    };
    let hw = d.cfg.hw_mask;
    let Some(s) = r.segs.iter().find(|s| !hw.covers(s.dma.raw(), s.len)) else {
        return;
    };
    let mask = if r.func == MapFunc::Coherent {
        d.cfg.coherent_mask
    } else {
        d.cfg.dma_mask
    };
    let f = cx
        .finding_for(
            Rule::MaskWiderThanDevice,
            r,
            format!(
                "{} of {} gave {} the DMA address {} ({}+{}), beyond the {hw} its hardware drives: its {mask} mask is wider than the device",
                r.func.map_name(),
                r.label,
                cx.name(r.dev),
                s.dma,
                s.dma,
                s.len
            ),
        )
        .dma(s.dma);
    cx.report(f);
}

/// A `dma_pool_free` call the pool refuses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolFree<'a> {
    pub(crate) dev: DeviceId,
    /// The pool freed to.
    pub(crate) pool: &'a str,
    /// The pool the block comes from, if any.
    pub(crate) owner: Option<&'a str>,
    pub(crate) block: Block,
}

impl Checker {
    /// `dma_pool_free` of a block the pool did not hand out.
    pub(crate) fn on_pool_free_wrong(&mut self, cx: &mut Ctx<'_>, free: PoolFree<'_>) {
        let PoolFree {
            dev,
            pool,
            owner,
            block,
        } = free;
        let msg = match owner {
            Some(o) => format!(
                "dma_pool_free of the block at dma {} to pool {pool}: it comes from pool {o}; nothing was freed",
                block.dma
            ),
            None => format!(
                "dma_pool_free of {} (dma {}) to pool {pool}, which did not hand it out (or it was freed already); nothing was freed",
                block.cpu, block.dma
            ),
        };
        let f = cx
            .finding(Rule::PoolFreeWrongPool, msg)
            .device(cx.name(dev))
            .buffer(pool.to_string())
            .dma(block.dma)
            .phys(block.cpu);
        cx.report(f);
    }

    /// `dma_pool_destroy` of pool `pool` with `live` blocks still out.
    pub(crate) fn on_pool_destroy_busy(
        &mut self,
        cx: &mut Ctx<'_>,
        dev: DeviceId,
        pool: &str,
        live: usize,
    ) {
        let f = cx
            .finding(
                Rule::PoolDestroyBusy,
                format!(
                    "dma_pool_destroy of {pool} with {live} block(s) still allocated: their pages are leaked, and whoever holds them uses freed memory once the pages are reused"
                ),
            )
            .device(cx.name(dev))
            .buffer(pool.to_string());
        cx.report(f);
    }
}
