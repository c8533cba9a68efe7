//! The scenario runner: executes the steps on a [`ModelBackend`], C-style
//! (raw addresses, the kernel's calls), so that every mistake a C driver can
//! make can be written down. It talks to the model through its public API
//! only; one executor per family of steps.

use super::ast::{Name, Op, Ref, Scenario, SgEntry, SgSet, SyncFor, Who};
use super::lex::ScenarioError;
use super::objects::{Obj, Objects, Ring, Target};
use super::report::{MachineSummary, Report, SCHEMA, Summary};
use crate::addr::{DMA_MAPPING_ERROR, DmaMask, PAGE_SIZE, PhysAddr, PhysRange};
use crate::calls::DmaAttrs;
use crate::calls::MapFunc;
use crate::calls::ScatterEntry;
use crate::direction::DmaDirection;
use crate::dmabuf::{Accessor, FenceUsage};
use crate::engine::{DESCRIPTOR_SIZE, Descriptor, Status};
use crate::error::Error;
use crate::ids::DeviceId;
use crate::model::ModelBackend;
use crate::trace::{EventSource, hex_preview};

type Ran = Result<(), ScenarioError>;

struct Runner {
    m: ModelBackend,
    objs: Objects,
}

impl Runner {
    fn err(&self, col: u32, msg: impl Into<String>) -> ScenarioError {
        self.objs.err(col, msg)
    }

    /// A model error, at column `col`.
    /// A mapping call failed: the timeline says why, unless the model ran
    /// out of its host-memory budget, which ends the scenario.
    fn map_failed(&mut self, col: u32, d: DeviceId, what: String, result: &str) -> Ran {
        let e = self.m.last_error().cloned();
        if let Some(e @ Error::ModelMemory { .. }) = e {
            return Err(self.failed(col, e));
        }
        let why = e.map(|e| e.to_string()).unwrap_or_default();
        self.m.note(EventSource::Dma, "map-error", Some(d), || {
            format!("{what} {result}: {why}")
        });
        Ok(())
    }

    /// Refuses a step whose data would take the model past its host-memory
    /// budget, before any of it is generated.
    fn room_for(&self, op: &Op) -> Ran {
        let (col, room) = match op {
            Op::Write { at, data } | Op::DeviceWrite { at, data, .. } => {
                (at.col, self.m.room_for_write(data.len()))
            }
            Op::Expect { at, data } | Op::DeviceExpect { at, data, .. } => {
                (at.col, self.m.room_for_read(data.len()))
            }
            Op::Read { at, len } | Op::DeviceRead { at, len, .. } => {
                (at.col, self.m.room_for_read(*len))
            }
            _ => return Ok(()),
        };
        room.map_err(|e| self.failed(col, e))
    }

    fn failed(&self, col: u32, e: Error) -> ScenarioError {
        self.err(col, e.to_string())
    }

    fn dev(&self, n: &Name) -> Result<DeviceId, ScenarioError> {
        self.m
            .device_id(&n.text)
            .ok_or_else(|| self.err(n.col, format!("no device named '{}'", n.text)))
    }

    /// Names a new object; a name already used, or a device's, is refused.
    fn define(&mut self, n: &Name, o: Obj) -> Ran {
        self.objs.ensure_new(n)?;
        if self.m.device_id(&n.text).is_some() {
            return Err(self.err(n.col, format!("'{}' is a device", n.text)));
        }
        self.objs.insert(n, o);
        Ok(())
    }

    fn who(&self, w: &Who) -> Result<Accessor, ScenarioError> {
        Ok(match w {
            Who::Cpu => Accessor::Cpu,
            Who::Device(n) => Accessor::Device(self.dev(n)?),
        })
    }

    fn cpu_read(&mut self, t: &Target, col: u32, out: &mut [u8]) -> Ran {
        match t {
            Target::Phys(p) => {
                self.m.cpu_read(*p, out);
                Ok(())
            }
            Target::DmaBuf(b, off) => self
                .m
                .dmabuf_read(b, *off, out)
                .map_err(|e| self.failed(col, e)),
        }
    }

    fn expect_failed(&mut self, what: String, want: &[u8], got: &[u8]) {
        let first = want.iter().zip(got).position(|(a, b)| a != b).unwrap_or(0);
        self.m.expectation_failed(format!(
            "{what}: byte {first} is {:#04x}, expected {:#04x} (read {}, expected {})",
            got[first],
            want[first],
            hex_preview(got),
            hex_preview(want)
        ));
    }

    fn step(&mut self, op: &Op) -> Ran {
        self.room_for(op)?;
        match op {
            Op::Alloc { .. }
            | Op::Free { .. }
            | Op::Write { .. }
            | Op::Read { .. }
            | Op::Expect { .. } => self.cpu_step(op),
            Op::AllocCoherent { .. } | Op::FreeCoherent { .. } | Op::SetMask { .. } => {
                self.coherent_step(op)
            }
            Op::AllocNoncoherent { .. } | Op::FreeNoncoherent { .. } | Op::MapResource { .. } => {
                self.noncoherent_step(op)
            }
            Op::DmaPool { .. }
            | Op::PoolAlloc { .. }
            | Op::PoolFree { .. }
            | Op::PoolDestroy { .. } => self.pool_step(op),
            Op::Map { .. }
            | Op::MappingError { .. }
            | Op::Unmap { .. }
            | Op::UnmapAddr { .. }
            | Op::Sync { .. } => self.map_step(op),
            Op::MapSg { .. } | Op::UnmapSg { .. } | Op::SyncSg { .. } => self.sg_step(op),
            Op::DeviceRead { .. }
            | Op::DeviceWrite { .. }
            | Op::DeviceExpect { .. }
            | Op::IommuFlush
            | Op::RemoveDevice { .. }
            | Op::Note { .. } => self.device_step(op),
            Op::Engine { .. }
            | Op::Desc { .. }
            | Op::Doorbell { .. }
            | Op::ExpectStatus { .. }
            | Op::ExpectIrqs { .. } => self.engine_step(op),
            Op::DmaBuf { .. }
            | Op::Attach { .. }
            | Op::MapAttachment { .. }
            | Op::UnmapAttachment { .. }
            | Op::Detach { .. }
            | Op::Fence { .. }
            | Op::Signal { .. }
            | Op::Wait { .. }
            | Op::BeginCpuAccess { .. }
            | Op::EndCpuAccess { .. } => self.dmabuf_step(op),
        }
    }

    /// CPU memory: allocations, loads and stores.
    fn cpu_step(&mut self, op: &Op) -> Ran {
        match op {
            Op::Alloc {
                name,
                size,
                align,
                zone,
                kind,
            } => {
                let p = self
                    .m
                    .kmalloc(*size, *align, *zone, *kind, &name.text)
                    .map_err(|e| self.failed(name.col, e))?;
                self.define(
                    name,
                    Obj::Buf {
                        phys: p,
                        len: *size,
                    },
                )?;
            }
            Op::Free { name } => {
                let buf = self.objs.buffer(&name.text, name.col)?;
                self.m.kfree(buf.addr);
                self.objs.remove(&name.text);
            }
            Op::Write { at, data } => {
                let t = self.objs.cpu_target(at, data.len())?;
                let data = data.bytes();
                match &t {
                    Target::Phys(p) => self.m.cpu_write(*p, &data),
                    Target::DmaBuf(b, off) => self
                        .m
                        .dmabuf_write(b, *off, &data)
                        .map_err(|e| self.failed(at.col, e))?,
                }
                let (n, pv) = (data.len(), hex_preview(&data));
                self.m.note(EventSource::Cpu, "write", None, || {
                    format!("CPU writes {n} bytes to {}: {pv}", show_ref(at))
                });
            }
            Op::Read { at, len } => {
                let t = self.objs.cpu_target(at, *len)?;
                let mut b = vec![0u8; *len as usize];
                self.cpu_read(&t, at.col, &mut b)?;
                let pv = hex_preview(&b);
                self.m.note(EventSource::Cpu, "read", None, || {
                    format!("CPU reads {len} bytes of {}: {pv}", show_ref(at))
                });
            }
            Op::Expect { at, data } => {
                let t = self.objs.cpu_target(at, data.len())?;
                let data = data.bytes();
                let mut b = vec![0u8; data.len()];
                self.cpu_read(&t, at.col, &mut b)?;
                let pv = hex_preview(&b);
                let ok = b[..] == data[..];
                self.m.note(EventSource::Cpu, "expect", None, || {
                    format!(
                        "CPU reads {} bytes of {}: {pv} ({})",
                        b.len(),
                        show_ref(at),
                        if ok { "as expected" } else { "NOT as expected" }
                    )
                });
                if !ok {
                    self.expect_failed(format!("CPU read of {}", show_ref(at)), &data, &b);
                }
            }
            _ => unreachable!("cpu_step is given CPU steps"),
        }
        Ok(())
    }

    /// Coherent memory and DMA masks.
    fn coherent_step(&mut self, op: &Op) -> Ran {
        match op {
            Op::AllocCoherent { name, dev, size } => {
                let d = self.dev(dev)?;
                let (cpu, dma) = self
                    .m
                    .dma_alloc_coherent(d, *size, &name.text)
                    .map_err(|e| self.failed(name.col, e))?;
                let len = size.div_ceil(PAGE_SIZE) * PAGE_SIZE;
                self.define(
                    name,
                    Obj::Coherent {
                        dev: d,
                        cpu,
                        dma,
                        len,
                    },
                )?;
            }
            Op::FreeCoherent {
                name,
                size,
                cpu_offset,
            } => {
                let (dev, cpu, dma, len) = match self.objs.get(&name.text, name.col)? {
                    Obj::Coherent { dev, cpu, dma, len } => (*dev, *cpu, *dma, *len),
                    Obj::Map {
                        dev,
                        dma,
                        len,
                        phys,
                        ..
                    } => (*dev, *phys, *dma, *len),
                    _ => return Err(self.objs.wrong(&name.text, name.col, "a coherent buffer")),
                };
                let cpu = PhysAddr::new(cpu.raw().wrapping_add(*cpu_offset));
                self.m.dma_free_coherent(dev, size.unwrap_or(len), cpu, dma);
            }
            Op::SetMask { dev, bits } => {
                let d = self.dev(dev)?;
                self.m
                    .dma_set_mask_and_coherent(d, DmaMask::bits(*bits))
                    .map_err(|e| self.failed(dev.col, e))?;
            }
            _ => unreachable!("coherent_step is given coherent-memory steps"),
        }
        Ok(())
    }

    /// Non-coherent memory and device memory.
    fn noncoherent_step(&mut self, op: &Op) -> Ran {
        match op {
            Op::AllocNoncoherent {
                name,
                dev,
                size,
                dir,
                func,
            } => {
                let d = self.dev(dev)?;
                let (cpu, dma) = match func {
                    MapFunc::Pages => self.m.dma_alloc_pages(d, *size, *dir, &name.text),
                    _ => self.m.dma_alloc_noncoherent(d, *size, *dir, &name.text),
                }
                .map_err(|e| self.failed(name.col, e))?;
                let len = size.div_ceil(PAGE_SIZE) * PAGE_SIZE;
                let o = Obj::Map {
                    dev: d,
                    dma,
                    len,
                    dir: *dir,
                    func: *func,
                    phys: cpu,
                };
                self.define(name, o)
            }
            Op::FreeNoncoherent {
                name,
                size,
                cpu_offset,
            } => {
                let (dev, dma, len, dir, func, phys) = match self.objs.get(&name.text, name.col)? {
                    Obj::Map {
                        dev,
                        dma,
                        len,
                        dir,
                        func,
                        phys,
                    } => (*dev, *dma, *len, *dir, *func, *phys),
                    _ => {
                        return Err(self
                            .objs
                            .wrong(&name.text, name.col, "a non-coherent buffer"));
                    }
                };
                let cpu = PhysAddr::new(phys.raw().wrapping_add(*cpu_offset));
                let size = size.unwrap_or(len);
                match func {
                    MapFunc::Pages => self.m.dma_free_pages(dev, size, cpu, dma, dir),
                    _ => self.m.dma_free_noncoherent(dev, size, cpu, dma, dir),
                }
                Ok(())
            }
            Op::MapResource { .. } => self.map_resource(op),
            _ => unreachable!("noncoherent_step is given non-coherent and resource steps"),
        }
    }

    /// The part of buffer `bname` (`whole`) that `buf` and `size` name: from
    /// its offset, `size` bytes or to the end.
    fn part(
        &self,
        bname: &str,
        buf: &Ref,
        whole: PhysRange,
        size: Option<u64>,
    ) -> Result<PhysRange, ScenarioError> {
        if buf.off >= whole.len {
            return Err(self.err(
                buf.col,
                format!(
                    "offset {} is outside {bname} ({} bytes)",
                    buf.off, whole.len
                ),
            ));
        }
        let len = size.unwrap_or(whole.len - buf.off);
        Ok(PhysRange::new(whole.addr.unchecked_add(buf.off), len))
    }

    /// `map-resource`: `dma_map_resource`.
    fn map_resource(&mut self, op: &Op) -> Ran {
        let Op::MapResource {
            map,
            dev,
            buf,
            dir,
            size,
        } = op
        else {
            unreachable!("map_resource is given a map-resource step")
        };
        let d = self.dev(dev)?;
        let bname = buf
            .name
            .as_deref()
            .ok_or_else(|| self.err(buf.col, "map named device memory"))?;
        let whole = self.objs.buffer(bname, buf.col)?;
        let PhysRange { addr: p, len } = self.part(bname, buf, whole, *size)?;
        let dma = self.m.dma_map_resource(d, p, len, *dir);
        if dma == DMA_MAPPING_ERROR {
            self.map_failed(map.col, d, map.text.clone(), "returned DMA_MAPPING_ERROR")?;
        }
        let o = Obj::Map {
            dev: d,
            dma,
            len,
            dir: *dir,
            func: MapFunc::Resource,
            phys: p,
        };
        self.define(map, o)
    }

    /// DMA pools.
    fn pool_step(&mut self, op: &Op) -> Ran {
        match op {
            Op::DmaPool {
                pool,
                dev,
                size,
                align,
            } => {
                let d = self.dev(dev)?;
                let p = self
                    .m
                    .dma_pool_create(&pool.text, d, *size, *align)
                    .map_err(|e| self.failed(pool.col, e))?;
                self.define(pool, Obj::Pool(Some(p)))
            }
            Op::PoolAlloc { name, pool } => {
                let (cpu, dma) = {
                    let p = self.objs.pool(pool)?;
                    self.m.dma_pool_alloc(p)
                }
                .map_err(|e| self.failed(name.col, e))?;
                let len = self
                    .m
                    .dma_pool_block_size(self.objs.pool(pool)?)
                    .unwrap_or(0);
                let o = Obj::Block {
                    pool: pool.text.clone(),
                    cpu,
                    dma,
                    len,
                };
                self.define(name, o)
            }
            Op::PoolFree { name, pool } => {
                let (own, cpu, dma) = match self.objs.get(&name.text, name.col)? {
                    Obj::Block { pool, cpu, dma, .. } => (pool.clone(), *cpu, *dma),
                    _ => return Err(self.objs.wrong(&name.text, name.col, "a pool block")),
                };
                let to = match pool {
                    Some(p) => p.clone(),
                    None => Name {
                        text: own,
                        col: name.col,
                    },
                };
                let p = self.objs.pool(&to)?;
                self.m.dma_pool_free(p, cpu, dma);
                Ok(())
            }
            Op::PoolDestroy { pool } => {
                let p = self.objs.take_pool(pool)?;
                self.m.dma_pool_destroy(p);
                Ok(())
            }
            _ => unreachable!("pool_step is given DMA pool steps"),
        }
    }

    /// Single mappings: map, check, unmap, sync.
    fn map_step(&mut self, op: &Op) -> Ran {
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
    fn map(&mut self, op: &Op) -> Ran {
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

    fn unmap(
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
    fn sg_step(&mut self, op: &Op) -> Ran {
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
    fn map_sg(&mut self, op: &Op) -> Ran {
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

    /// Devices: DMA reads and writes, removal, the IOMMU's flush, notes.
    fn device_step(&mut self, op: &Op) -> Ran {
        match op {
            Op::DeviceRead { dev, at, len } => {
                let d = self.dev(dev)?;
                let dma = self.objs.dma_of(at)?;
                let mut b = vec![0u8; *len as usize];
                // A refused access is a fault in the report, not an error of
                // the scenario.
                let _ = self.m.device_read(d, dma, &mut b);
            }
            Op::DeviceWrite { dev, at, data } => {
                let d = self.dev(dev)?;
                let dma = self.objs.dma_of(at)?;
                let _ = self.m.device_write(d, dma, &data.bytes());
            }
            Op::DeviceExpect { dev, at, data } => {
                let d = self.dev(dev)?;
                let dma = self.objs.dma_of(at)?;
                let data = data.bytes();
                let mut b = vec![0u8; data.len()];
                if self.m.device_read(d, dma, &mut b).is_ok() && b[..] != data[..] {
                    self.expect_failed(format!("{} read at {dma}", dev.text), &data, &b);
                }
            }
            Op::IommuFlush => self.m.iommu_flush(),
            Op::RemoveDevice { dev } => {
                let d = self.dev(dev)?;
                self.m.remove_device(d);
            }
            Op::Note { text } => {
                let t = text.clone();
                self.m.note(EventSource::Cpu, "note", None, || t);
            }
            _ => unreachable!("device_step is given device steps"),
        }
        Ok(())
    }

    /// The DMA engine: its ring, descriptors, doorbell, status and
    /// interrupts.
    fn engine_step(&mut self, op: &Op) -> Ran {
        match op {
            Op::Engine { dev, ring, entries } => {
                let d = self.dev(dev)?;
                let r = self.objs.ring(ring)?;
                if u64::from(*entries) * DESCRIPTOR_SIZE > r.len {
                    return Err(self.err(
                        ring.col,
                        format!(
                            "{entries} descriptors of {DESCRIPTOR_SIZE} bytes do not fit in {} ({} bytes)",
                            ring.text, r.len
                        ),
                    ));
                }
                self.m
                    .engine_configure(d, r.dma, *entries)
                    .map_err(|e| self.failed(dev.col, e))?;
            }
            Op::Desc {
                ring,
                index,
                src,
                dst,
                len,
                irq,
            } => {
                let Ring { cpu, len: rlen, .. } = self.objs.ring(ring)?;
                let off = u64::from(*index) * DESCRIPTOR_SIZE;
                if off + DESCRIPTOR_SIZE > rlen {
                    return Err(self.err(
                        ring.col,
                        format!("descriptor {index} is outside {}", ring.text),
                    ));
                }
                let d = Descriptor::new(self.objs.dma_of(src)?, self.objs.dma_of(dst)?, *len, *irq);
                self.m.cpu_write(cpu.unchecked_add(off), &d.encode());
                let rname = &ring.text;
                self.m.note(EventSource::Cpu, "descriptor", None, || {
                    format!(
                        "CPU writes descriptor {index} in {rname}: copy {len} bytes {} -> {}{}",
                        d.src,
                        d.dst,
                        if *irq { ", interrupt" } else { "" }
                    )
                });
            }
            Op::Doorbell { dev, tail } => {
                let d = self.dev(dev)?;
                self.m
                    .engine_doorbell(d, *tail)
                    .map_err(|e| self.failed(dev.col, e))?;
            }
            Op::ExpectStatus {
                ring,
                index,
                status,
            } => self.expect_status(ring, *index, *status)?,
            Op::ExpectIrqs { dev, count } => {
                let d = self.dev(dev)?;
                let got = self.m.engine_interrupts(d);
                self.m.engine_take_interrupts(d);
                if got != *count {
                    self.m.expectation_failed(format!(
                        "{} raised {got} interrupt(s), expected {count}",
                        dev.text
                    ));
                }
            }
            _ => unreachable!("engine_step is given DMA engine steps"),
        }
        Ok(())
    }

    fn expect_status(&mut self, ring: &Name, index: u32, status: Status) -> Ran {
        let Ring { cpu, len: rlen, .. } = self.objs.ring(ring)?;
        let off = u64::from(index) * DESCRIPTOR_SIZE + Descriptor::STATUS_OFFSET;
        if off + 4 > rlen {
            return Err(self.err(
                ring.col,
                format!("descriptor {index} is outside {}", ring.text),
            ));
        }
        let mut b = [0u8; 4];
        self.m.cpu_read(cpu.unchecked_add(off), &mut b);
        let got = u32::from_le_bytes(b);
        self.m.note(EventSource::Cpu, "poll", None, || {
            format!("CPU polls descriptor {index} status: {}", status_name(got))
        });
        if got != status.word() {
            self.m.expectation_failed(format!(
                "descriptor {index} of {} has status {}, expected {}",
                ring.text,
                status_name(got),
                status.name()
            ));
        }
        Ok(())
    }

    /// DMA-BUF: export, attach, map, fences, CPU access.
    fn dmabuf_step(&mut self, op: &Op) -> Ran {
        match op {
            Op::DmaBuf {
                name,
                exporter,
                size,
            } => {
                let d = self.dev(exporter)?;
                let b = self
                    .m
                    .dmabuf_export(d, *size, &name.text)
                    .map_err(|e| self.failed(name.col, e))?;
                self.define(name, Obj::DmaBuf(b))?;
            }
            Op::Attach { att, buf, dev } => {
                let b = self.objs.dmabuf(buf)?;
                let d = self.dev(dev)?;
                let a = self
                    .m
                    .dmabuf_attach(&b, d)
                    .map_err(|e| self.failed(att.col, e))?;
                self.define(att, Obj::Att(Some(a)))?;
            }
            Op::MapAttachment { map, att, dir } => self.map_attachment(map, att, *dir)?,
            Op::UnmapAttachment { map } => self.unmap_attachment(map)?,
            Op::Detach { att } => self.detach(att)?,
            Op::Fence {
                fence,
                buf,
                who,
                usage,
            } => {
                let b = self.objs.dmabuf(buf)?;
                let w = self.who(who)?;
                let f = match usage {
                    FenceUsage::Write => self.m.dmabuf_fence(&b, w, &fence.text),
                    FenceUsage::Read => self.m.dmabuf_read_fence(&b, w, &fence.text),
                }
                .map_err(|e| self.failed(fence.col, e))?;
                self.define(fence, Obj::Fence(f))?;
            }
            Op::Signal { fence } => {
                let f = self.objs.fence(fence)?;
                self.m
                    .fence_signal(&f)
                    .map_err(|e| self.failed(fence.col, e))?;
            }
            Op::Wait { who, fence } => {
                let f = self.objs.fence(fence)?;
                let w = self.who(who)?;
                self.m
                    .fence_wait(w, &f)
                    .map_err(|e| self.failed(fence.col, e))?;
            }
            Op::BeginCpuAccess { buf, dir } => {
                let b = self.objs.dmabuf(buf)?;
                self.m
                    .dmabuf_begin_cpu_access(&b, *dir)
                    .map_err(|e| self.failed(buf.col, e))?;
            }
            Op::EndCpuAccess { buf, dir } => {
                let b = self.objs.dmabuf(buf)?;
                self.m
                    .dmabuf_end_cpu_access(&b, *dir)
                    .map_err(|e| self.failed(buf.col, e))?;
            }
            _ => unreachable!("dmabuf_step is given DMA-BUF steps"),
        }
        Ok(())
    }

    fn unmap_attachment(&mut self, map: &Name) -> Ran {
        let am = match self.objs.get_mut(&map.text, map.col)? {
            Obj::AttMap { live, .. } => live.take(),
            _ => return Err(self.objs.wrong(&map.text, map.col, "a mapped attachment")),
        };
        match am {
            Some(am) => {
                self.m.dmabuf_unmap_attachment(am);
                Ok(())
            }
            None => Err(self.err(map.col, format!("{} is already unmapped", map.text))),
        }
    }

    fn detach(&mut self, att: &Name) -> Ran {
        let a = match self.objs.get_mut(&att.text, att.col)? {
            Obj::Att(a) => a.take(),
            _ => return Err(self.objs.wrong(&att.text, att.col, "an attachment")),
        };
        match a {
            Some(a) => {
                self.m.dmabuf_detach(a);
                Ok(())
            }
            None => Err(self.err(att.col, format!("{} is already detached", att.text))),
        }
    }

    fn map_attachment(&mut self, map: &Name, att: &Name, dir: DmaDirection) -> Ran {
        let a = match self.objs.get_mut(&att.text, att.col)? {
            Obj::Att(a @ Some(_)) => a.take().expect("attachment"),
            Obj::Att(None) => {
                return Err(self.err(att.col, format!("{} was detached", att.text)));
            }
            _ => return Err(self.objs.wrong(&att.text, att.col, "an attachment")),
        };
        let res = self.m.dmabuf_map_attachment(&a, dir);
        if let Ok(Obj::Att(slot)) = self.objs.get_mut(&att.text, att.col) {
            *slot = Some(a);
        }
        let am = res.map_err(|e| self.failed(att.col, e))?;
        let segs = am.segments().to_vec();
        self.define(
            map,
            Obj::AttMap {
                segs,
                live: Some(am),
            },
        )
    }
}

fn show_ref(r: &Ref) -> String {
    match (&r.name, r.off) {
        (Some(n), 0) => n.clone(),
        (Some(n), o) => format!("{n}+{o}"),
        (None, o) => format!("{o:#x}"),
    }
}

fn status_name(word: u32) -> &'static str {
    Status::from_word(word).map_or("unknown", Status::name)
}

/// Runs a parsed scenario. Errors are problems of the scenario itself (a
/// name that does not exist, an allocation the machine cannot satisfy, a
/// wait that would never return), at the step's line; what the driver does
/// wrong is in the report's findings.
pub fn run(s: &Scenario) -> Result<Report, ScenarioError> {
    let mut cfg = s.machine.clone();
    cfg.trace = true;
    let devices: Vec<_> = s.devices.iter().map(|d| d.config.clone()).collect();
    let m = ModelBackend::new(cfg, devices).map_err(|e| ScenarioError {
        line: 1,
        column: 1,
        message: e.to_string(),
    })?;
    let machine = MachineSummary::of(&m);
    let mut r = Runner {
        m,
        objs: Objects::default(),
    };
    for st in &s.steps {
        r.objs.line = st.line;
        r.m.set_scenario_line(Some(st.line));
        r.step(&st.op)?;
    }
    r.m.set_scenario_line(None);
    let events = r.m.take_events();
    let findings = r.m.take_findings();
    let faults = r.m.faults().to_vec();
    let summary = Summary::new(s.steps.len(), &events, &findings, &faults);
    Ok(Report {
        schema: SCHEMA,
        file: None,
        machine,
        events,
        findings,
        faults,
        summary,
    })
}
