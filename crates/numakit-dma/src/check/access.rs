//! The checker's hooks on memory accesses: the CPU's loads and stores, and
//! the devices' DMA, including the faults the IOMMU raises.

use super::{Checker, Ctx, Span, line_hull};
use crate::addr::{Iova, PhysAddr, PhysRange};
use crate::check::rules::Rule;
use crate::direction::{Access, DmaDirection};
use crate::dmabuf::Accessor;
use crate::fault::Fault;
use crate::ids::DeviceId;
use crate::ids::{BufId, MapId};
use crate::mapping::{MapFunc, MapRecord};

/// A device access of `len` bytes at `dma`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeviceAccess {
    pub(crate) dev: DeviceId,
    pub(crate) dma: Iova,
    pub(crate) len: u64,
    pub(crate) access: Access,
}

impl Checker {
    /// A CPU load or store of `len` bytes at `phys`: does it touch a cache
    /// line of a buffer the device owns, or read what a device wrote
    /// without a sync?
    pub(crate) fn on_cpu_access(
        &mut self,
        cx: &mut Ctx<'_>,
        phys: PhysAddr,
        len: u64,
        access: Access,
    ) {
        if self.cpu_index.is_empty() || len == 0 {
            return;
        }
        let lines = line_hull(phys, len, cx.line);
        let mut out = Vec::new();
        let mut wrote = Vec::new();
        for id in self.cpu_index.hits(lines) {
            let r = cx.maps.live(id);
            let own = self.owner(id);
            if access == Access::Read && r.dir == DmaDirection::ToDevice {
                continue;
            }
            if access == Access::Write
                && r.dir != DmaDirection::ToDevice
                && own.cpu_window.is_some()
            {
                wrote.push(id);
            }
            let Some((rule, at)) =
                cpu_conflict(r, own.cpu_window, own.dev_dirty, phys, len, lines, access)
            else {
                continue;
            };
            let inside = phys
                < r.entries
                    .iter()
                    .map(|e| e.cpu.unchecked_add(e.len))
                    .max()
                    .unwrap_or(PhysAddr::new(0))
                && r.entries
                    .iter()
                    .any(|e| e.cpu < phys.unchecked_add(len) && phys < e.cpu.unchecked_add(e.len));
            let how = if inside {
                "touches"
            } else {
                "shares a cache line with"
            };
            let msg = match rule {
                Rule::MissingSyncForCpu => format!(
                    "CPU read of {len} bytes at {phys} sees data {} wrote into {} without dma_sync_*_for_cpu or unmap first: it may be stale",
                    cx.name(r.dev),
                    r.label
                ),
                _ => format!(
                    "CPU {access} of {len} bytes at {phys} {how} {}, which {} owns ({} {}) at {at}",
                    r.label,
                    cx.name(r.dev),
                    r.func.map_name(),
                    r.dir
                ),
            };
            out.push(cx.finding_for(rule, r, msg).phys(phys).size(len));
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
                        "device {access} of {len} bytes at {dma} runs {} bytes past the end of {} (segment {}+{})",
                        end - s.end().raw(),
                        r.label,
                        s.dma,
                        s.len
                    ),
                )
                .dma(dma),
            );
        }
        let mut dmabuf = None;
        if r.func != MapFunc::Coherent {
            let span = Span {
                start: s.coord_of(dma),
                end: s.coord + (end.min(s.end().raw()) - s.dma.raw()),
            };
            if access == Access::Write && !r.dir.device_writes() {
                out.push(cx.finding_for(
                    Rule::DeviceWriteToDevice,
                    r,
                    format!(
                        "device write of {len} bytes at {dma} into {}, mapped {}",
                        r.label, r.dir
                    ),
                ));
            }
            if access == Access::Read && !r.dir.device_reads() {
                out.push(cx.finding_for(
                    Rule::DeviceReadFromDevice,
                    r,
                    format!(
                        "device read of {len} bytes at {dma} from {}, mapped {}",
                        r.label, r.dir
                    ),
                ));
            }
            if self.owner(id).cpu_window.is_some_and(|w| w.overlaps(span)) {
                out.push(cx.finding_for(
                    Rule::DeviceAccessCpuOwned,
                    r,
                    format!(
                        "device {access} at {dma} into {} while the CPU owns it (after a sync for the CPU, before the sync for the device)",
                        r.label
                    ),
                ));
            }
            dmabuf = r.dmabuf;
            if access == Access::Write {
                let o = self.owner_mut(id);
                o.dev_dirty = Some(Span::hull(o.dev_dirty, span));
            }
        }
        cx.findings.extend(out);
        dmabuf
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
    pub(crate) fn on_dmabuf_access(&mut self, cx: &mut Ctx<'_>, buf: BufId, who: Accessor) {
        let Some(b) = cx.dmabufs.get(buf) else {
            return;
        };
        let mut out = Vec::new();
        for fid in &b.fences {
            let Some(f) = cx.dmabufs.fence(*fid) else {
                continue;
            };
            if f.clears(who) {
                continue;
            }
            let state = if f.signalled {
                "signalled, but never waited for"
            } else {
                "not signalled: the writer may still be writing"
            };
            let mut x = cx.finding(
                Rule::DmabufFenceNotWaited,
                format!(
                    "{} accesses {} while fence {} of {} is {state}",
                    cx.who(who),
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

/// Whether a CPU access of `[phys, phys + len)` (whose cache lines span
/// `lines`) conflicts with mapping `r`: the rule it breaks and the first
/// conflicting byte of the mapping.
fn cpu_conflict(
    r: &MapRecord,
    window: Option<Span>,
    dirty: Option<Span>,
    phys: PhysAddr,
    len: u64,
    lines: PhysRange,
    access: Access,
) -> Option<(Rule, PhysAddr)> {
    let (llo, lhi) = (lines.addr, lines.end());
    let mut report: Option<Rule> = None;
    let mut first_bad = None;
    let end = phys.unchecked_add(len);
    for e in &r.entries {
        let e_end = e.cpu.unchecked_add(e.len);
        let s = e.cpu.max(llo);
        let t = e_end.min(lhi);
        if s >= t {
            continue;
        }
        let cspan = Span {
            start: e.coord + s.unchecked_offset_from(e.cpu),
            end: e.coord + t.unchecked_offset_from(e.cpu),
        };
        if window.is_some_and(|w| w.contains(cspan)) {
            continue;
        }
        let bs = e.cpu.max(phys);
        let bt = e_end.min(end);
        let touched = bs < bt
            && dirty.is_some_and(|d| {
                d.overlaps(Span {
                    start: e.coord + bs.unchecked_offset_from(e.cpu),
                    end: e.coord + bt.unchecked_offset_from(e.cpu),
                })
            });
        let rule = if access == Access::Read && touched {
            Rule::MissingSyncForCpu
        } else {
            Rule::CpuAccessDeviceOwned
        };
        if report != Some(Rule::MissingSyncForCpu) {
            report = Some(rule);
        }
        first_bad.get_or_insert(s);
    }
    Some((report?, first_bad?))
}
