//! The scenario runner's steps for CPU memory, coherent and non-coherent
//! allocations, DMA pools and `dma_map_resource`.

use super::{Ran, Runner, show_ref};
use crate::addr::{DMA_MAPPING_ERROR, DmaMask, PAGE_SIZE, PhysAddr, PhysRange};
use crate::calls::MapFunc;
use crate::scenario::ast::{Name, Op, Ref};
use crate::scenario::lex::ScenarioError;
use crate::scenario::objects::{Obj, Target};
use crate::trace::{EventSource, hex_preview};

impl Runner {
    /// CPU memory: allocations, loads and stores.
    pub(super) fn cpu_step(&mut self, op: &Op) -> Ran {
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
    pub(super) fn coherent_step(&mut self, op: &Op) -> Ran {
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
    pub(super) fn noncoherent_step(&mut self, op: &Op) -> Ran {
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
    pub(super) fn part(
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
    pub(super) fn map_resource(&mut self, op: &Op) -> Ran {
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
    pub(super) fn pool_step(&mut self, op: &Op) -> Ran {
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
}
