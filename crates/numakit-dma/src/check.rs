//! The checker's checks, run by the model at each call and access.

use std::sync::Arc;

use crate::checker::{Finding, Origin, Rule};
use crate::dmabuf::Accessor;
use crate::model::{MapFunc, MapRecord, ModelBackend, Site, Unmapped};
use crate::types::{Access, MemKind};
use crate::{DMA_MAPPING_ERROR, DeviceId, DmaDirection, Iova, PhysAddr};

impl ModelBackend {
    fn finding_for(&self, rule: Rule, site: Site, rec: &MapRecord, message: String) -> Finding {
        let mut f = Finding::new(rule, self.origin(site), message);
        f.device = Some(self.dev_name(rec.dev));
        f.buffer = Some(rec.label.to_string());
        f.dma_addr = Some(Iova::new(rec.dma));
        f.phys_addr = rec.entries.first().map(|e| PhysAddr::new(e.phys));
        f.size = Some(rec.size);
        f.mapped_at = Some(rec.origin.clone());
        f
    }

    /// Ids of live streaming mappings whose CPU bytes meet `[lo, hi)`.
    pub(crate) fn phys_hits(&self, lo: u64, hi: u64) -> Vec<u64> {
        let mut ids: Vec<u64> = Vec::new();
        if self.phys_index.is_empty() || hi <= lo {
            return ids;
        }
        let from = lo.saturating_sub(self.phys_max_len);
        for (&(_, id, _), &end) in self.phys_index.range((from, 0, 0)..(hi, 0, 0)) {
            if end > lo && !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    pub(crate) fn chk_map_memory(
        &mut self,
        dev: DeviceId,
        func: MapFunc,
        ents: &[(u64, u64)],
        label: &Arc<str>,
        site: Site,
    ) {
        for &(p, l) in ents {
            let Some((_, a)) = self.alloc_containing(p) else {
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
            let mut f = Finding::new(
                rule,
                self.origin(site),
                format!("{} of {label}, which is {what}", func.map_name()),
            );
            f.device = Some(self.dev_name(dev));
            f.buffer = Some(label.to_string());
            f.phys_addr = Some(PhysAddr::new(p));
            f.size = Some(l);
            self.report(f);
        }
    }

    pub(crate) fn chk_after_map(&mut self, id: u64, site: Site) {
        let line = self.line_size();
        let mut out = Vec::new();
        {
            let r = &self.maps[&id];
            let mut seen: Vec<u64> = Vec::new();
            for e in &r.entries {
                let llo = e.phys & !(line - 1);
                let lhi = (e.phys + e.len).next_multiple_of(line);
                for oid in self.phys_hits(llo, lhi) {
                    if oid == id || seen.contains(&oid) {
                        continue;
                    }
                    let o = &self.maps[&oid];
                    if r.dir == DmaDirection::ToDevice && o.dir == DmaDirection::ToDevice {
                        continue;
                    }
                    // Importers of one DMA-BUF map the same pages by design;
                    // fences order them (rule dmabuf-fence-not-waited).
                    if r.dmabuf.is_some() && r.dmabuf == o.dmabuf {
                        continue;
                    }
                    let mut overlap = false;
                    let mut share = false;
                    for oe in &o.entries {
                        if oe.phys.max(e.phys) < (oe.phys + oe.len).min(e.phys + e.len) {
                            overlap = true;
                        } else if oe.phys < lhi && oe.phys + oe.len > llo {
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
                                self.dev_name(r.dev),
                                o.label,
                                o.dir,
                                self.dev_name(o.dev)
                            ),
                        )
                    } else {
                        (
                            Rule::SharedCacheLine,
                            format!(
                                "{} ({}) shares a {line}-byte cache line with mapping {} ({}): maintenance of one corrupts the other",
                                r.label, r.dir, o.label, o.dir
                            ),
                        )
                    };
                    let mut f = self.finding_for(rule, site, r, msg);
                    f.mapped_at = Some(o.origin.clone());
                    out.push(f);
                }
            }
        }
        self.findings.extend(out);
        let r = &self.maps[&id];
        let mut ins = Vec::new();
        if r.func != MapFunc::Coherent {
            for (i, e) in r.entries.iter().enumerate() {
                ins.push(((e.phys, id, i as u64), e.phys + e.len));
            }
        }
        let segs: Vec<(u64, u64)> = r.segs.iter().map(|s| (s.0, s.0 + s.1)).collect();
        let dev = r.dev;
        for (k, v) in ins {
            self.phys_max_len = self.phys_max_len.max(v - k.0);
            self.phys_index.insert(k, v);
        }
        for (a, b) in segs {
            self.chk_clear_unmapped(dev, a, b);
        }
    }

    pub(crate) fn chk_clear_unmapped(&mut self, dev: DeviceId, lo: u64, hi: u64) {
        if self.unmapped.is_empty() {
            return;
        }
        let mut dead: Vec<(u32, u64)> = self
            .unmapped
            .range((dev.0, lo)..(dev.0, hi))
            .map(|(k, _)| *k)
            .collect();
        if let Some((k, u)) = self.unmapped.range((dev.0, 0)..(dev.0, lo)).next_back()
            && u.end > lo
        {
            dead.push(*k);
        }
        for k in dead {
            self.unmapped.remove(&k);
        }
    }

    pub(crate) fn chk_forget(&mut self, rec: &MapRecord, site: Site) {
        for (i, e) in rec.entries.iter().enumerate() {
            self.phys_index.remove(&(e.phys, rec.id, i as u64));
        }
        let at = self.origin(site);
        for &(s, l, _) in &rec.segs {
            self.unmapped.insert(
                (rec.dev.0, s),
                Unmapped {
                    end: s + l,
                    label: rec.label.clone(),
                    at: at.clone(),
                },
            );
        }
    }

    fn unmapped_at(&self, dev: DeviceId, dma: u64) -> Option<&Unmapped> {
        self.unmapped
            .range((dev.0, 0)..=(dev.0, dma))
            .next_back()
            .map(|(_, u)| u)
            .filter(|u| dma < u.end)
    }

    pub(crate) fn chk_unmap_unknown(
        &mut self,
        dev: DeviceId,
        dma: u64,
        size: Option<u64>,
        func: MapFunc,
        site: Site,
    ) {
        let name = self.dev_name(dev);
        let (rule, msg, buffer) = if dma == DMA_MAPPING_ERROR.raw() {
            (
                Rule::UncheckedMappingError,
                format!(
                    "{} of DMA_MAPPING_ERROR: the mapping failed and dma_mapping_error was not consulted",
                    func.unmap_name()
                ),
                None,
            )
        } else if let Some(u) = self.unmapped.get(&(dev.0, dma)) {
            (
                Rule::DoubleUnmap,
                format!(
                    "{} of {dma:#x}: {} was already unmapped at {}",
                    func.unmap_name(),
                    u.label,
                    u.at
                ),
                Some(u.label.to_string()),
            )
        } else if let Some((id, _)) = self.find_containing(dev, dma) {
            let r = &self.maps[&id];
            (
                Rule::FreeNotMapped,
                format!(
                    "{} of {dma:#x}: not the start of a mapping, it lies {} bytes into {} (dma {:#x})",
                    func.unmap_name(),
                    dma - r.dma,
                    r.label,
                    r.dma
                ),
                Some(r.label.to_string()),
            )
        } else {
            (
                Rule::FreeNotMapped,
                format!(
                    "{} of {dma:#x}, which {name} never mapped",
                    func.unmap_name()
                ),
                None,
            )
        };
        let mut f = Finding::new(rule, self.origin(site), msg);
        f.device = Some(name);
        f.buffer = buffer;
        f.dma_addr = Some(Iova::new(dma));
        f.size = size;
        self.report(f);
    }

    /// Checks an unmap; returns whether the unmap goes ahead.
    pub(crate) fn chk_unmap(
        &mut self,
        id: u64,
        size: Option<u64>,
        nents: Option<usize>,
        dir: DmaDirection,
        func: MapFunc,
        site: Site,
    ) -> bool {
        let r = &self.maps[&id];
        let mut out = Vec::new();
        let mut proceed = true;
        if r.func != func {
            let kinds_differ = (r.func == MapFunc::Coherent) != (func == MapFunc::Coherent)
                || (r.func == MapFunc::Sg) != (func == MapFunc::Sg);
            if kinds_differ {
                proceed = false;
            }
            out.push(self.finding_for(
                Rule::UnmapFunctionMismatch,
                site,
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
        if let Some(s) = size
            && func != MapFunc::Sg
            && r.func != MapFunc::Sg
            && s != r.size
        {
            out.push(self.finding_for(
                Rule::UnmapSizeMismatch,
                site,
                r,
                format!(
                    "{} of {} with size {s}, mapped with size {}",
                    func.unmap_name(),
                    r.label,
                    r.size
                ),
            ));
        }
        if let Some(n) = nents
            && r.func == MapFunc::Sg
            && n != r.nents
        {
            out.push(self.finding_for(
                Rule::SgCountMismatch,
                site,
                r,
                format!(
                    "dma_unmap_sg of {} with nents {n}: dma_map_sg was given {} entries (and returned {}); pass the count given, not the count returned",
                    r.label,
                    r.nents,
                    r.segs.len()
                ),
            ));
        }
        if dir != r.dir && proceed {
            out.push(self.finding_for(
                Rule::UnmapDirectionMismatch,
                site,
                r,
                format!(
                    "{} of {} with {dir}, mapped {}",
                    func.unmap_name(),
                    r.label,
                    r.dir
                ),
            ));
        }
        if r.cpu_wrote && dir != DmaDirection::ToDevice && proceed {
            out.push(self.finding_for(
                Rule::CpuWriteDiscarded,
                site,
                r,
                format!(
                    "{} of {}: the CPU wrote into it after a sync for the CPU and never synced it for the device; the invalidation for {dir} discards those writes on a non-coherent machine",
                    func.unmap_name(),
                    r.label
                ),
            ));
        }
        if !r.error_checked && proceed {
            out.push(self.finding_for(
                Rule::UncheckedMappingError,
                site,
                r,
                format!(
                    "{} was mapped and used without a dma_mapping_error check",
                    r.label
                ),
            ));
        }
        self.findings.extend(out);
        proceed
    }

    pub(crate) fn chk_discarded(&mut self, id: u64, name: &str, site: Site) {
        let r = &self.maps[&id];
        let f = self.finding_for(
            Rule::CpuWriteDiscarded,
            site,
            r,
            format!(
                "{name} of {}: the CPU wrote into it after the previous sync for the CPU and never synced it for the device; this invalidation discards those writes on a non-coherent machine",
                r.label
            ),
        );
        self.report(f);
    }

    pub(crate) fn chk_sync_unknown(
        &mut self,
        dev: DeviceId,
        dma: u64,
        size: u64,
        name: &str,
        site: Site,
    ) {
        let msg = match self.unmapped_at(dev, dma) {
            Some(u) => format!("{name} of {dma:#x}: {} was unmapped at {}", u.label, u.at),
            None => format!(
                "{name} of {dma:#x}, which {} has not mapped",
                self.dev_name(dev)
            ),
        };
        let mut f = Finding::new(Rule::SyncNotMapped, self.origin(site), msg);
        f.device = Some(self.dev_name(dev));
        f.dma_addr = Some(Iova::new(dma));
        f.size = Some(size);
        self.report(f);
    }

    /// Checks a sync; returns whether it goes ahead.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn chk_sync(
        &mut self,
        id: u64,
        si: usize,
        dma: u64,
        size: u64,
        dir: DmaDirection,
        sg_nents: Option<usize>,
        name: &str,
        site: Site,
    ) -> bool {
        let r = &self.maps[&id];
        let mut out = Vec::new();
        if dir == DmaDirection::None {
            out.push(self.finding_for(
                Rule::InvalidDirection,
                site,
                r,
                format!("{name} of {} with DMA_NONE", r.label),
            ));
        }
        match sg_nents {
            Some(n) if n != r.nents => out.push(self.finding_for(
                Rule::SgCountMismatch,
                site,
                r,
                format!(
                    "{name} of {} with nents {n}: dma_map_sg was given {}",
                    r.label, r.nents
                ),
            )),
            Some(_) => {}
            None => {
                let (s, l, _) = r.segs[si];
                if dma + size > s + l {
                    out.push(self.finding_for(
                        Rule::SyncOutsideMapping,
                        site,
                        r,
                        format!(
                            "{name} of {size} bytes at {dma:#x} reaches {} bytes past the end of {} (segment {s:#x}+{l})",
                            dma + size - (s + l),
                            r.label
                        ),
                    ));
                }
            }
        }
        if dir != r.dir && dir != DmaDirection::None {
            out.push(self.finding_for(
                Rule::SyncDirectionMismatch,
                site,
                r,
                format!("{name} of {} with {dir}, mapped {}", r.label, r.dir),
            ));
        }
        self.findings.extend(out);
        true
    }

    /// Checks `dma_free_coherent`; returns whether it goes ahead.
    pub(crate) fn chk_free_coherent(&mut self, id: u64, size: u64, cpu: u64, site: Site) -> bool {
        let r = &self.maps[&id];
        let mut out = Vec::new();
        if r.func != MapFunc::Coherent {
            out.push(self.finding_for(
                Rule::UnmapFunctionMismatch,
                site,
                r,
                format!(
                    "dma_free_coherent of {}, which was made with {}; nothing was freed",
                    r.label,
                    r.func.map_name()
                ),
            ));
            self.findings.extend(out);
            return false;
        }
        if size.div_ceil(4096) * 4096 != r.size {
            out.push(self.finding_for(
                Rule::UnmapSizeMismatch,
                site,
                r,
                format!(
                    "dma_free_coherent of {} with size {size}, allocated {}",
                    r.label, r.size
                ),
            ));
        }
        if cpu != r.entries[0].phys {
            out.push(self.finding_for(
                Rule::FreeCpuAddressMismatch,
                site,
                r,
                format!(
                    "dma_free_coherent of {} with CPU address {cpu:#x}, allocated at {:#x}",
                    r.label, r.entries[0].phys
                ),
            ));
        }
        self.findings.extend(out);
        true
    }

    pub(crate) fn chk_cpu_access(&mut self, phys: u64, len: u64, access: Access, site: Site) {
        if self.phys_index.is_empty() || len == 0 {
            return;
        }
        let line = self.line_size();
        let llo = phys & !(line - 1);
        let lhi = (phys + len).next_multiple_of(line);
        let mut out = Vec::new();
        let mut wrote = Vec::new();
        for id in self.phys_hits(llo, lhi) {
            let r = &self.maps[&id];
            if access == Access::Read && r.dir == DmaDirection::ToDevice {
                continue;
            }
            if access == Access::Write && r.dir != DmaDirection::ToDevice && r.cpu_window.is_some()
            {
                wrote.push(id);
            }
            let mut report: Option<Rule> = None;
            let mut first_bad = None;
            for e in &r.entries {
                let s = e.phys.max(llo);
                let t = (e.phys + e.len).min(lhi);
                if s >= t {
                    continue;
                }
                let (cs, ct) = (e.coord + (s - e.phys), e.coord + (t - e.phys));
                if r.cpu_window.is_some_and(|(a, b)| a <= cs && ct <= b) {
                    continue;
                }
                let bs = e.phys.max(phys);
                let bt = (e.phys + e.len).min(phys + len);
                let dirty = bs < bt
                    && r.dev_dirty.is_some_and(|(a, b)| {
                        let (x, y) = (e.coord + (bs - e.phys), e.coord + (bt - e.phys));
                        x < b && a < y
                    });
                let rule = if access == Access::Read && dirty {
                    Rule::MissingSyncForCpu
                } else {
                    Rule::CpuAccessDeviceOwned
                };
                if report != Some(Rule::MissingSyncForCpu) {
                    report = Some(rule);
                }
                first_bad.get_or_insert(s);
            }
            let (Some(rule), Some(at)) = (report, first_bad) else {
                continue;
            };
            let inside = phys < r.entries.iter().map(|e| e.phys + e.len).max().unwrap_or(0)
                && r.entries
                    .iter()
                    .any(|e| e.phys < phys + len && phys < e.phys + e.len);
            let how = if inside {
                "touches"
            } else {
                "shares a cache line with"
            };
            let msg = match rule {
                Rule::MissingSyncForCpu => format!(
                    "CPU read of {len} bytes at {phys:#x} sees data {} wrote into {} without dma_sync_*_for_cpu or unmap first: it may be stale",
                    self.dev_name(r.dev),
                    r.label
                ),
                _ => format!(
                    "CPU {access} of {len} bytes at {phys:#x} {how} {}, which {} owns ({} {}) at {at:#x}",
                    r.label,
                    self.dev_name(r.dev),
                    r.func.map_name(),
                    r.dir
                ),
            };
            let mut f = self.finding_for(rule, site, r, msg);
            f.phys_addr = Some(PhysAddr::new(phys));
            f.size = Some(len);
            out.push(f);
        }
        for id in wrote {
            if let Some(r) = self.maps.get_mut(&id) {
                r.cpu_wrote = true;
            }
        }
        self.findings.extend(out);
    }

    pub(crate) fn chk_device_access(
        &mut self,
        dev: DeviceId,
        dma: u64,
        len: u64,
        access: Access,
        site: Site,
    ) {
        let end = dma.saturating_add(len);
        let name = self.dev_name(dev);
        let mut out = Vec::new();
        let mut dmabuf = None;
        match self.find_containing(dev, dma) {
            Some((id, si)) => {
                let r = &self.maps[&id];
                let (s, l, c) = r.segs[si];
                if end > s + l {
                    let mut f = self.finding_for(
                        Rule::DeviceAccessBeyondMapping,
                        site,
                        r,
                        format!(
                            "device {access} of {len} bytes at {dma:#x} runs {} bytes past the end of {} (segment {s:#x}+{l})",
                            end - (s + l),
                            r.label
                        ),
                    );
                    f.dma_addr = Some(Iova::new(dma));
                    out.push(f);
                }
                if r.func != MapFunc::Coherent {
                    let cs = c + (dma - s);
                    let ce = c + (end.min(s + l) - s);
                    if access == Access::Write && !r.dir.device_writes() {
                        out.push(self.finding_for(
                            Rule::DeviceWriteToDevice,
                            site,
                            r,
                            format!(
                                "device write of {len} bytes at {dma:#x} into {}, mapped {}",
                                r.label, r.dir
                            ),
                        ));
                    }
                    if access == Access::Read && !r.dir.device_reads() {
                        out.push(self.finding_for(
                            Rule::DeviceReadFromDevice,
                            site,
                            r,
                            format!(
                                "device read of {len} bytes at {dma:#x} from {}, mapped {}",
                                r.label, r.dir
                            ),
                        ));
                    }
                    if r.cpu_window.is_some_and(|(a, b)| cs < b && a < ce) {
                        out.push(self.finding_for(
                            Rule::DeviceAccessCpuOwned,
                            site,
                            r,
                            format!(
                                "device {access} at {dma:#x} into {} while the CPU owns it (after a sync for the CPU, before the sync for the device)",
                                r.label
                            ),
                        ));
                    }
                    dmabuf = r.dmabuf;
                    if access == Access::Write {
                        let r = self.maps.get_mut(&id).expect("record");
                        r.dev_dirty = Some(match r.dev_dirty {
                            Some((a, b)) => (a.min(cs), b.max(ce)),
                            None => (cs, ce),
                        });
                    }
                }
            }
            None => {
                if let Some((id, _)) = (len > 0)
                    .then(|| self.find_containing(dev, end - 1))
                    .flatten()
                {
                    let r = &self.maps[&id];
                    let mut f = self.finding_for(
                        Rule::DeviceAccessBeyondMapping,
                        site,
                        r,
                        format!(
                            "device {access} of {len} bytes at {dma:#x} starts {} bytes before {}",
                            r.dma - dma,
                            r.label
                        ),
                    );
                    f.dma_addr = Some(Iova::new(dma));
                    out.push(f);
                } else if let Some(u) = self.unmapped_at(dev, dma) {
                    let mut f = Finding::new(
                        Rule::UseAfterUnmap,
                        self.origin(site),
                        format!(
                            "device {access} of {len} bytes at {dma:#x} into {}, unmapped at {}",
                            u.label, u.at
                        ),
                    );
                    f.device = Some(name.clone());
                    f.buffer = Some(u.label.to_string());
                    f.dma_addr = Some(Iova::new(dma));
                    f.size = Some(len);
                    out.push(f);
                } else {
                    let mut f = Finding::new(
                        Rule::DeviceAccessUnmapped,
                        self.origin(site),
                        format!(
                            "device {access} of {len} bytes at {dma:#x}, which {name} never mapped"
                        ),
                    );
                    f.device = Some(name.clone());
                    f.dma_addr = Some(Iova::new(dma));
                    f.size = Some(len);
                    out.push(f);
                }
            }
        }
        self.findings.extend(out);
        if let Some(b) = dmabuf {
            self.chk_dmabuf_access(b, Accessor::Device(dev), site);
        }
    }

    #[allow(dead_code)]
    pub(crate) fn origin_of(&self, site: Site) -> Origin {
        self.origin(site)
    }
}
