//! The checker's hooks on memory accesses: the CPU's loads and stores, and
//! the devices' DMA, including the faults the IOMMU raises.

use super::{Checker, Ctx, Ownership, Span, line_hull};
use crate::addr::{DMA_MAPPING_ERROR, Iova, PhysAddr};
use crate::calls::MapFunc;
use crate::check::finding::Finding;
use crate::check::rules::Rule;
use crate::direction::{Access, DmaDirection};
use crate::dmabuf::{Accessor, FenceUsage};
use crate::fault::Fault;
use crate::ids::{BufId, DeviceId, MapId};
use crate::mapping::{Entry, MapRecord};

/// A device access of `len` bytes at `dma`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeviceAccess {
    pub(crate) dev: DeviceId,
    pub(crate) dma: Iova,
    pub(crate) len: u64,
    pub(crate) access: Access,
}

impl Checker {
    /// A CPU load or store: does a load read bytes a device owns, or read
    /// what a device wrote without a sync; does a store touch a cache line
    /// holding bytes a device owns? Loads are checked byte by byte (a load
    /// of bytes synced for the CPU is safe even if the rest of their line
    /// is not); stores line by line (the line's write-back, or its
    /// invalidation, is what destroys data).
    pub(crate) fn on_cpu_access(&mut self, cx: &mut Ctx<'_>, a: CpuAccess) {
        if self.cpu_index.is_empty() || a.len == 0 {
            return;
        }
        let lines = line_hull(a.phys, a.len, cx.line);
        let mut out = Vec::new();
        let mut wrote = Vec::new();
        for id in self.cpu_index.hits(lines) {
            let r = cx.maps.live(id);
            let own = self.owner(id);
            if a.access == Access::Read && r.dir == DmaDirection::ToDevice {
                continue;
            }
            if a.access == Access::Write
                && r.dir != DmaDirection::ToDevice
                && own.cpu_window.is_some()
            {
                wrote.push(id);
            }
            if let Some(c) = cpu_conflict(r, own, a, cx.line) {
                out.push(cpu_finding(cx, r, a, c));
            }
        }
        for id in wrote {
            self.owner_mut(id).cpu_wrote = true;
        }
        cx.findings.extend(out);
    }

    /// A device access, before it is translated: does it stay inside a
    /// mapping of the right direction that the device owns? Returns the
    /// DMA-BUF the mapping belongs to, whose fences the access must respect.
    pub(crate) fn on_device_access(&mut self, cx: &mut Ctx<'_>, a: DeviceAccess) -> Option<BufId> {
        if a.dma == DMA_MAPPING_ERROR {
            let f = cx
                .finding(
                    Rule::DeviceAccessMappingError,
                    format!(
                        "device {} of {} bytes at DMA_MAPPING_ERROR: the handle of a failed mapping, or a scatterlist entry past the count dma_map_sg returned",
                        a.access, a.len
                    ),
                )
                .device(cx.name(a.dev))
                .dma(a.dma)
                .size(a.len);
            cx.report(f);
            return None;
        }
        segment_limits(cx, a);
        match cx.maps.find_containing(a.dev, a.dma) {
            Some((id, seg)) => self.inside_mapping(cx, a, id, seg),
            None => {
                self.outside_mappings(cx, a);
                None
            }
        }
    }

    fn inside_mapping(
        &mut self,
        cx: &mut Ctx<'_>,
        a: DeviceAccess,
        id: MapId,
        seg: usize,
    ) -> Option<BufId> {
        let DeviceAccess {
            dma, len, access, ..
        } = a;
        let end = dma.raw().saturating_add(len);
        let r = cx.maps.live(id);
        let s = r.segs[seg];
        let mut out = Vec::new();
        if end > s.end().raw() {
            out.push(
                cx.finding_for(
                    Rule::DeviceAccessBeyondMapping,
                    r,
                    format!(
                        "device {access} of {len} bytes at {dma} runs {} bytes past the end of {} (segment {}+{}): the first byte outside it is {}",
                        end - s.end().raw(),
                        r.label,
                        s.dma,
                        s.len,
                        s.end()
                    ),
                )
                .dma(s.end())
                .maybe_phys(None)
                .size(len),
            );
        }
        let mut dmabuf = None;
        if r.func != MapFunc::Coherent {
            let span = Span {
                start: s.coord_of(dma),
                end: s.coord + (end.min(s.end().raw()) - s.dma.raw()),
            };
            out.extend(self.streaming_access(cx, id, a, span));
            dmabuf = r.dmabuf;
            if access == Access::Write {
                let o = self.owner_mut(id);
                o.dev_dirty = Some(Span::hull(o.dev_dirty, span));
            }
        }
        cx.findings.extend(out);
        dmabuf
    }

    /// The rules of a device access to span `span` of streaming mapping
    /// `id`: its direction, a skipped sync, bytes the CPU owns.
    fn streaming_access(
        &self,
        cx: &Ctx<'_>,
        id: MapId,
        a: DeviceAccess,
        span: Span,
    ) -> Vec<Finding> {
        let DeviceAccess {
            dma, len, access, ..
        } = a;
        let r = cx.maps.live(id);
        let mut out = Vec::new();
        let at = |f: Finding| f.dma(dma).maybe_phys(r.cpu_at(span.start)).size(len);
        if access == Access::Write && !r.dir.device_writes() {
            out.push(at(cx.finding_for(
                Rule::DeviceWriteToDevice,
                r,
                format!(
                    "device write of {len} bytes at {dma} into {}, mapped {}",
                    r.label, r.dir
                ),
            )));
        }
        if access == Access::Read && !r.dir.device_reads() {
            out.push(at(cx.finding_for(
                Rule::DeviceReadFromDevice,
                r,
                format!(
                    "device read of {len} bytes at {dma} from {}, mapped {}",
                    r.label, r.dir
                ),
            )));
        }
        // A DMA_ATTR_SKIP_CPU_SYNC mapping starts owned by the CPU: the
        // rule that names the skipped sync says it, not the general one.
        let unsynced = self.owner(id).unsynced;
        if unsynced {
            out.push(at(cx.finding_for(
                Rule::SkipCpuSyncMissingSync,
                r,
                format!(
                    "device {access} of {len} bytes at {dma} into {}, mapped with DMA_ATTR_SKIP_CPU_SYNC and never synced for the device: the CPU's cache may still hold its bytes",
                    r.label
                ),
            )));
        }
        let window = self
            .owner(id)
            .cpu_window
            .filter(|w| !unsynced && w.overlaps(span));
        if let Some(w) = window {
            let first = w.start.max(span.start);
            let bad = r.dma_at(first);
            out.push(
                cx.finding_for(
                    Rule::DeviceAccessCpuOwned,
                    r,
                    format!(
                        "device {access} of {len} bytes at {dma} reaches {bad} in {}, which the CPU owns (after a sync for the CPU, before the sync for the device)",
                        r.label
                    ),
                )
                .dma(bad)
                .maybe_phys(r.cpu_at(first))
                .size(len),
            );
        }
        out
    }

    fn outside_mappings(&mut self, cx: &mut Ctx<'_>, a: DeviceAccess) {
        let DeviceAccess {
            dev,
            dma,
            len,
            access,
        } = a;
        let name = cx.name(dev);
        let last = (len > 0)
            .then(|| {
                cx.maps
                    .find_containing(dev, Iova::new(dma.raw().saturating_add(len) - 1))
            })
            .flatten();
        let f = if let Some((id, _)) = last {
            let r = cx.maps.live(id);
            cx.finding_for(
                Rule::DeviceAccessBeyondMapping,
                r,
                format!(
                    "device {access} of {len} bytes at {dma} starts {} bytes before {}",
                    r.dma().unchecked_offset_from(dma),
                    r.label
                ),
            )
            .dma(dma)
        } else if let Some(u) = self.unmapped_at(dev, dma) {
            cx.finding(
                Rule::UseAfterUnmap,
                format!(
                    "device {access} of {len} bytes at {dma} into {}, unmapped at {}",
                    u.label, u.at
                ),
            )
            .device(name)
            .buffer(u.label.to_string())
            .dma(dma)
            .size(len)
        } else {
            cx.finding(
                Rule::DeviceAccessUnmapped,
                format!("device {access} of {len} bytes at {dma}, which {name} never mapped"),
            )
            .device(name.clone())
            .dma(dma)
            .size(len)
        };
        cx.report(f);
    }

    /// The access `a` faulted: the first finding it caused carries the
    /// fault, and an access the checker saw no problem with is reported as
    /// a device access to unmapped memory. `first` is the number of findings
    /// before the access.
    pub(crate) fn on_fault(
        &mut self,
        cx: &mut Ctx<'_>,
        first: usize,
        a: DeviceAccess,
        fault: &Fault,
    ) {
        if cx.findings.len() == first {
            let f = cx
                .finding(
                    Rule::DeviceAccessUnmapped,
                    format!("device {} at {} faulted", a.access, a.dma),
                )
                .device(cx.name(a.dev))
                .dma(a.dma)
                .size(a.len);
            cx.report(f);
        }
        cx.findings[first].fault = Some(fault.clone());
    }

    /// An access by `who` to DMA-BUF `buf`: has it waited for every other
    /// party's write fence?
    pub(crate) fn on_dmabuf_access(
        &mut self,
        cx: &mut Ctx<'_>,
        buf: BufId,
        who: Accessor,
        access: Access,
    ) {
        let Some(b) = cx.dmabufs.get(buf) else {
            return;
        };
        let mut out = Vec::new();
        for fid in &b.fences {
            let Some(f) = cx.dmabufs.fence(*fid) else {
                continue;
            };
            if f.clears(who) || !f.guards(access) {
                continue;
            }
            let state = if f.signalled {
                "signalled, but never waited for"
            } else {
                "not signalled: the writer may still be writing"
            };
            let kind = match f.usage {
                FenceUsage::Write => "fence",
                FenceUsage::Read => "read fence",
            };
            let mut x = cx.finding(
                Rule::DmabufFenceNotWaited,
                format!(
                    "{} {}s {} while {kind} {} of {} is {state}",
                    cx.who(who),
                    access,
                    b.label,
                    f.label,
                    cx.who(f.producer)
                ),
            );
            if let Accessor::Device(d) = who {
                x = x.device(cx.name(d));
            }
            out.push(x.buffer(b.label.to_string()));
        }
        cx.findings.extend(out);
    }
}

/// A CPU load or store of `len` bytes at `phys`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuAccess {
    pub(crate) phys: PhysAddr,
    pub(crate) len: u64,
    pub(crate) access: Access,
}

impl CpuAccess {
    fn end(self) -> PhysAddr {
        self.phys.unchecked_add(self.len)
    }
}

/// What a CPU access does wrong to one mapping.
#[derive(Debug, Clone, Copy)]
struct Conflict {
    rule: Rule,
    /// The first byte of the mapping it should not have touched.
    byte: PhysAddr,
    /// The DMA address of that byte.
    dma: Iova,
    /// Whether the access touches the mapping's bytes (not only a line
    /// they share).
    touches: bool,
}

/// The bytes of entry `e` within `[lo, hi)`, as a span of mapping
/// coordinates, or `None` when they do not meet.
fn entry_span(e: &Entry, lo: PhysAddr, hi: PhysAddr) -> Option<Span> {
    let s = e.cpu.max(lo);
    let t = e.cpu.unchecked_add(e.len).min(hi);
    (s < t).then(|| Span {
        start: e.coord + s.unchecked_offset_from(e.cpu),
        end: e.coord + t.unchecked_offset_from(e.cpu),
    })
}

/// The first coordinate of `span` the CPU does not own.
fn first_unowned(span: Span, window: Option<Span>) -> u64 {
    match window {
        Some(w) if w.start <= span.start && w.end > span.start => w.end,
        _ => span.start,
    }
}

/// Whether CPU access `a` conflicts with mapping `r`, whose ownership is
/// `own`, on a machine whose cache lines are `line` bytes.
fn cpu_conflict(r: &MapRecord, own: Ownership, a: CpuAccess, line: u64) -> Option<Conflict> {
    let lines = line_hull(a.phys, a.len, line);
    let (llo, lhi) = (lines.addr, lines.end());
    let mut found: Option<Conflict> = None;
    for e in &r.entries {
        let bytes = entry_span(e, a.phys, a.end());
        // A load is judged by the bytes it reads, a store by the lines it
        // dirties.
        let judged = match a.access {
            Access::Read => bytes,
            Access::Write => entry_span(e, llo, lhi),
        };
        let Some(span) = judged else {
            continue;
        };
        if own.cpu_window.is_some_and(|w| w.contains(span)) {
            continue;
        }
        let dirty = bytes.is_some_and(|b| own.dev_dirty.is_some_and(|d| d.overlaps(b)));
        let rule = if a.access == Access::Read && dirty {
            Rule::MissingSyncForCpu
        } else {
            Rule::CpuAccessDeviceOwned
        };
        let off = first_unowned(span, own.cpu_window) - e.coord;
        let c = Conflict {
            rule,
            byte: e.cpu.unchecked_add(off),
            dma: e.dma.unchecked_add(off),
            touches: bytes.is_some(),
        };
        match found {
            Some(f) if f.rule == Rule::MissingSyncForCpu || rule != Rule::MissingSyncForCpu => {}
            _ => found = Some(c),
        }
    }
    found
}

/// The finding for conflict `c` of access `a` with mapping `r`.
fn cpu_finding(cx: &Ctx<'_>, r: &MapRecord, a: CpuAccess, c: Conflict) -> Finding {
    let CpuAccess { phys, len, access } = a;
    let line = c.byte.align_down(cx.line);
    let msg = match c.rule {
        Rule::MissingSyncForCpu => format!(
            "CPU read of {len} bytes at {phys} sees data {} wrote into {} at {} without dma_sync_*_for_cpu or unmap first: it may be stale",
            cx.name(r.dev),
            r.label,
            c.byte
        ),
        _ if c.touches => format!(
            "CPU {access} of {len} bytes at {phys} touches {} at {}, which {} owns ({} {})",
            r.label,
            c.byte,
            cx.name(r.dev),
            r.func.map_name(),
            r.dir
        ),
        _ => format!(
            "CPU write of {len} bytes at {phys} shares the {}-byte cache line {line} with {} at {}, which {} owns ({} {}): the line's write-back or invalidation destroys one side's data",
            cx.line,
            r.label,
            c.byte,
            cx.name(r.dev),
            r.func.map_name(),
            r.dir
        ),
    };
    cx.finding_for(c.rule, r, msg)
        .dma(c.dma)
        .phys(c.byte)
        .cache_line(line)
        .size(len)
}

/// An access longer than the device's DMA segments may be
/// (`dma_set_max_seg_size`), or across its segment boundary
/// (`dma_set_seg_boundary`): the device, or its descriptor format, cannot
/// do it in one piece.
fn segment_limits(cx: &mut Ctx<'_>, a: DeviceAccess) {
    let Some(d) = cx.devices.get(a.dev) else {
        return;
    };
    let (max, boundary) = (d.cfg.max_segment, d.cfg.seg_boundary);
    let last = a.dma.raw().saturating_add(a.len.saturating_sub(1));
    let crosses = a.len > 0 && (a.dma.raw() & !boundary) != (last & !boundary);
    if a.len <= max && !crosses {
        return;
    }
    let why = if a.len > max {
        format!("longer than its {max}-byte maximum segment")
    } else {
        format!(
            "across its segment boundary at {}",
            Iova::new((a.dma.raw() | boundary).wrapping_add(1))
        )
    };
    let f = cx
        .finding(
            Rule::DeviceAccessSegmentLimits,
            format!("device {} of {} bytes at {}: {why}", a.access, a.len, a.dma),
        )
        .device(cx.name(a.dev))
        .dma(a.dma)
        .size(a.len);
    cx.report(f);
}
