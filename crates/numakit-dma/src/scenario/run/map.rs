//! The scenario runner's steps for streaming mappings:
//! `dma_map_single`/`page`, their unmaps and syncs, and scatterlists.

use super::{Ran, Runner};
use crate::addr::{DMA_MAPPING_ERROR, PAGE_SIZE, PhysAddr, PhysRange};
use crate::calls::DmaAttrs;
use crate::calls::MapFunc;
use crate::calls::ScatterEntry;
use crate::direction::DmaDirection;
use crate::scenario::ast::{Name, Op, SgEntry, SgSet, SyncFor};
use crate::scenario::objects::Obj;
use crate::trace::EventSource;

impl Runner {
    /// Single mappings: map, check, unmap, sync.
    pub(super) fn map_step(&mut self, op: &Op) -> Ran {
        match op {
            Op::Map { .. } => self.map(op),
            Op::MappingError { map } => {
                let (dev, dma) = match self.objs.get(&map.text, map.col)? {
                    Obj::Map { dev, dma, .. } => (*dev, *dma),
                    Obj::Sg { dev, sg, .. } => (
                        *dev,
                        sg.first().map_or(DMA_MAPPING_ERROR, |e| e.dma_address),
                    ),
                    _ => return Err(self.objs.wrong(&map.text, map.col, "a mapping")),
                };
                let failed = self.m.dma_mapping_error(dev, dma);
                let name = &map.text;
                self.m
                    .note(EventSource::Dma, "mapping-error", Some(dev), || {
                        format!(
                            "dma_mapping_error({name}) = {}",
                            if failed {
                                "true: the mapping failed"
                            } else {
                                "false"
                            }
                        )
                    });
                Ok(())
            }
            Op::Unmap {
                map,
                size,
                dir,
                func,
                attrs,
            } => self.unmap(map, *size, *dir, *func, *attrs),
            Op::UnmapAddr { dev, at, size, dir } => {
                let d = self.dev(dev)?;
                let dma = self.objs.dma_of(at)?;
                self.m.dma_unmap_single(d, dma, *size, *dir);
                Ok(())
            }
            Op::Sync { at, size, dir, to } => {
                let name = at
                    .name
                    .as_deref()
                    .ok_or_else(|| self.err(at.col, "sync a named mapping"))?;
                let (dev, len, mdir) = match self.objs.get(name, at.col)? {
                    Obj::Map { dev, len, dir, .. } => (*dev, *len, *dir),
                    Obj::Coherent { dev, len, .. } => (*dev, *len, DmaDirection::Bidirectional),
                    _ => return Err(self.objs.wrong(name, at.col, "a mapping")),
                };
                let dma = self.objs.dma_of(at)?;
                let size = size.unwrap_or(len.saturating_sub(at.off));
                let dir = dir.unwrap_or(mdir);
                match to {
                    SyncFor::Cpu => self.m.dma_sync_single_for_cpu(dev, dma, size, dir),
                    SyncFor::Device => self.m.dma_sync_single_for_device(dev, dma, size, dir),
                }
                Ok(())
            }
            _ => unreachable!("map_step is given single-mapping steps"),
        }
    }

    /// `map`: `dma_map_single` or, with `page`, `dma_map_page`.
    pub(super) fn map(&mut self, op: &Op) -> Ran {
        let Op::Map {
            map,
            dev,
            buf,
            dir,
            size,
            func,
            attrs,
        } = op
        else {
            unreachable!("map is given a map step")
        };
        let (dir, func, attrs) = (*dir, *func, *attrs);
        let d = self.dev(dev)?;
        let bname = buf
            .name
            .as_deref()
            .ok_or_else(|| self.err(buf.col, "map a named buffer"))?;
        let whole = match self.objs.get(bname, buf.col)? {
            Obj::Buf { phys, len } => PhysRange::new(*phys, *len),
            Obj::Coherent { cpu, len, .. } => PhysRange::new(*cpu, *len),
            _ => return Err(self.objs.wrong(bname, buf.col, "a buffer")),
        };
        let PhysRange { addr: p, len } = self.part(bname, buf, whole, *size)?;
        let dma = if func == MapFunc::Page {
            // a driver gets the page of vmalloc memory with vmalloc_to_page
            let p = self.m.vmalloc_to_page(p).unwrap_or(p);
            let base = p.align_down(PAGE_SIZE);
            self.m
                .dma_map_page_attrs(d, base, p.unchecked_offset_from(base), len, dir, attrs)
        } else {
            self.m.dma_map_single_attrs(d, p, len, dir, attrs)
        };
        if dma == DMA_MAPPING_ERROR {
            self.map_failed(map.col, d, map.text.clone(), "returned DMA_MAPPING_ERROR")?;
        }
        let o = Obj::Map {
            dev: d,
            dma,
            len,
            dir,
            func,
            phys: p,
        };
        self.define(map, o)
    }

    pub(super) fn unmap(
        &mut self,
        map: &Name,
        size: Option<u64>,
        dir: Option<DmaDirection>,
        func: Option<MapFunc>,
        attrs: DmaAttrs,
    ) -> Ran {
        let (dev, dma, len, mdir, mfunc, phys) = match self.objs.get(&map.text, map.col)? {
            Obj::Map {
                dev,
                dma,
                len,
                dir,
                func,
                phys,
            } => (*dev, *dma, *len, *dir, *func, *phys),
            Obj::Coherent { dev, dma, len, cpu } => (
                *dev,
                *dma,
                *len,
                DmaDirection::Bidirectional,
                MapFunc::Single,
                *cpu,
            ),
            Obj::Sg { dev, sg, dir, .. } => (
                *dev,
                sg.first().map_or(DMA_MAPPING_ERROR, |e| e.dma_address),
                sg.iter().map(|e| e.length).sum(),
                *dir,
                MapFunc::Single,
                PhysAddr::new(0),
            ),
            _ => return Err(self.objs.wrong(&map.text, map.col, "a mapping")),
        };
        let (size, dir) = (size.unwrap_or(len), dir.unwrap_or(mdir));
        match func.unwrap_or(mfunc) {
            MapFunc::Page => self.m.dma_unmap_page_attrs(dev, dma, size, dir, attrs),
            MapFunc::Sg => {
                let e = [ScatterEntry {
                    phys,
                    length: size,
                    dma_address: dma,
                    dma_length: size,
                }];
                self.m.dma_unmap_sg_attrs(dev, &e, 1, dir, attrs);
            }
            MapFunc::Coherent => self.m.dma_free_coherent(dev, size, phys, dma),
            MapFunc::Single => self.m.dma_unmap_single_attrs(dev, dma, size, dir, attrs),
            MapFunc::Noncoherent => self.m.dma_free_noncoherent(dev, size, phys, dma, dir),
            MapFunc::Pages => self.m.dma_free_pages(dev, size, phys, dma, dir),
            MapFunc::Resource => self.m.dma_unmap_resource(dev, dma, size, dir),
        }
        Ok(())
    }

    /// Scatterlists: map, unmap, sync.
    pub(super) fn sg_step(&mut self, op: &Op) -> Ran {
        match op {
            Op::MapSg { .. } => self.map_sg(op),
            Op::UnmapSg {
                map,
                nents,
                dir,
                attrs,
            } => {
                let l = self.objs.sg(map)?;
                let n = nents.unwrap_or(l.sg.len());
                self.m
                    .dma_unmap_sg_attrs(l.dev, &l.sg, n, dir.unwrap_or(l.dir), *attrs);
                Ok(())
            }
            Op::SyncSg {
                map,
                nents,
                dir,
                to,
            } => {
                let l = self.objs.sg(map)?;
                let (n, dir) = (nents.unwrap_or(l.sg.len()), dir.unwrap_or(l.dir));
                match to {
                    SyncFor::Cpu => self.m.dma_sync_sg_for_cpu(l.dev, &l.sg, n, dir),
                    SyncFor::Device => self.m.dma_sync_sg_for_device(l.dev, &l.sg, n, dir),
                }
                Ok(())
            }
            _ => unreachable!("sg_step is given scatterlist steps"),
        }
    }

    /// `map-sg`: `dma_map_sg`.
    pub(super) fn map_sg(&mut self, op: &Op) -> Ran {
        let Op::MapSg {
            map,
            dev,
            dir,
            entries,
            set,
            attrs,
        } = op
        else {
            unreachable!("map_sg is given a map-sg step")
        };
        let (dir, set, attrs) = (*dir, *set, *attrs);
        let d = self.dev(dev)?;
        let mut sg = Vec::new();
        for SgEntry { at: r, len } in entries {
            let name = r
                .name
                .as_deref()
                .ok_or_else(|| self.err(r.col, "scatterlist entries are named buffers"))?;
            let PhysRange {
                addr: phys,
                len: blen,
            } = self.objs.buffer(name, r.col)?;
            if r.off >= blen || len.is_some_and(|l| r.off.saturating_add(l) > blen) {
                return Err(self.err(
                    r.col,
                    format!("entry does not fit in {name} ({blen} bytes)"),
                ));
            }
            let at = phys.unchecked_add(r.off);
            let at = match set {
                SgSet::Page => self.m.vmalloc_to_page(at).unwrap_or(at),
                SgSet::Buf => at,
            };
            sg.push(ScatterEntry::new(at, len.unwrap_or(blen - r.off)));
        }
        let count = self.m.dma_map_sg_attrs(d, &mut sg, dir, attrs);
        if count == 0 {
            self.map_failed(
                map.col,
                d,
                format!("dma_map_sg of {}", map.text),
                "returned 0",
            )?;
        } else {
            let segs: Vec<String> = sg[..count]
                .iter()
                .map(|e| format!("{}+{}", e.dma_address, e.dma_length))
                .collect();
            let n = sg.len();
            self.m.note(EventSource::Dma, "sg-segments", Some(d), || {
                format!("{n} entries -> {count} segment(s): {}", segs.join(" "))
            });
        }
        self.define(map, Obj::Sg { dev: d, dir, sg })
    }
}
