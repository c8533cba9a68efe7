//! The scenario runner: executes the steps on a [`ModelBackend`], C-style
//! (raw addresses, the kernel's calls), so that every mistake a C driver can
//! make can be written down.

use std::collections::HashMap;

use super::parse::{Name, Op, Ref, Scenario, ScenarioError, Who};
use super::{MachineSummary, Report, Summary};
use crate::checker::{Finding, Origin, Rule};
use crate::dmabuf::{Accessor, Attachment, AttachmentMap, DmaBuf, Fence};
use crate::engine::{DESCRIPTOR_SIZE, Descriptor};
use crate::event::EventSource;
use crate::model::{ModelBackend, ScatterEntry, hex_preview};
use crate::{DMA_MAPPING_ERROR, DeviceId, DmaDirection, DmaMask, Iova, PhysAddr};

enum Obj {
    Buf {
        phys: u64,
        len: u64,
    },
    Coherent {
        dev: DeviceId,
        cpu: u64,
        dma: u64,
        len: u64,
        freed: bool,
    },
    Map {
        dev: DeviceId,
        dma: Iova,
        len: u64,
        dir: DmaDirection,
        page: bool,
        phys: u64,
    },
    Sg {
        dev: DeviceId,
        dir: DmaDirection,
        sg: Vec<ScatterEntry>,
        count: usize,
    },
    DmaBuf(DmaBuf),
    Att(Option<Attachment>),
    AttMap(Option<AttachmentMap>),
    Fence(Fence),
}

impl Obj {
    fn kind(&self) -> &'static str {
        match self {
            Obj::Buf { .. } => "a buffer",
            Obj::Coherent { .. } => "a coherent buffer",
            Obj::Map { .. } => "a mapping",
            Obj::Sg { .. } => "a scatterlist mapping",
            Obj::DmaBuf(_) => "a DMA-BUF",
            Obj::Att(_) => "an attachment",
            Obj::AttMap(_) => "a mapped attachment",
            Obj::Fence(_) => "a fence",
        }
    }
}

struct Runner {
    m: ModelBackend,
    objs: HashMap<String, (Obj, u32)>,
    line: u32,
}

type R<T> = Result<T, ScenarioError>;

impl Runner {
    fn err(&self, col: u32, msg: impl Into<String>) -> ScenarioError {
        ScenarioError {
            line: self.line,
            column: col,
            message: msg.into(),
        }
    }

    fn dev(&self, n: &Name) -> R<DeviceId> {
        self.m
            .device_id(&n.0)
            .ok_or_else(|| self.err(n.1, format!("no device named '{}'", n.0)))
    }

    fn define(&mut self, n: &Name, o: Obj) -> R<()> {
        if let Some((_, l)) = self.objs.get(&n.0) {
            return Err(self.err(n.1, format!("'{}' is already defined at line {l}", n.0)));
        }
        if self.m.device_id(&n.0).is_some() {
            return Err(self.err(n.1, format!("'{}' is a device", n.0)));
        }
        self.objs.insert(n.0.clone(), (o, self.line));
        Ok(())
    }

    fn get(&self, name: &str, col: u32) -> R<&Obj> {
        self.objs
            .get(name)
            .map(|(o, _)| o)
            .ok_or_else(|| self.err(col, format!("nothing is named '{name}'")))
    }

    fn get_mut(&mut self, name: &str, col: u32) -> R<&mut Obj> {
        let e = self.err(col, format!("nothing is named '{name}'"));
        self.objs.get_mut(name).map(|(o, _)| o).ok_or(e)
    }

    fn wrong(&self, n: &str, col: u32, want: &str) -> ScenarioError {
        let is = self.objs.get(n).map_or("undefined", |(o, _)| o.kind());
        self.err(col, format!("'{n}' is {is}, not {want}"))
    }

    /// A DMA address for a device-side reference.
    fn dma_of(&self, r: &Ref) -> R<Iova> {
        let Some(name) = &r.name else {
            return Ok(Iova::new(r.off));
        };
        let (base, len) = match (self.get(name, r.col)?, r.seg) {
            (Obj::Map { dma, len, .. }, None) => (dma.raw(), *len),
            (Obj::Coherent { dma, len, .. }, None) => (*dma, *len),
            (Obj::Sg { sg, count, .. }, s) => {
                let i = s.unwrap_or(0);
                if i >= (*count).max(1) {
                    return Err(self.err(
                        r.col,
                        format!("{name} has {count} DMA segment(s): #{i} does not exist"),
                    ));
                }
                (sg[i].dma_address.raw(), sg[i].dma_length)
            }
            (Obj::AttMap(Some(am)), s) => {
                let i = s.unwrap_or(0);
                let seg = am
                    .segments()
                    .get(i)
                    .ok_or_else(|| self.err(r.col, format!("{name} has no DMA segment #{i}")))?;
                (seg.0.raw(), seg.1)
            }
            (Obj::AttMap(None), _) => return Err(self.err(r.col, format!("{name} was unmapped"))),
            (_, Some(_)) => return Err(self.err(r.col, format!("'{name}' has no DMA segments"))),
            _ => return Err(self.wrong(name, r.col, "a mapping or coherent buffer")),
        };
        let _ = len;
        base.checked_add(r.off)
            .map(Iova::new)
            .ok_or_else(|| self.err(r.col, "address overflows"))
    }

    /// What a CPU-side reference points at.
    fn cpu_target(&self, r: &Ref, len: u64) -> R<Target> {
        let Some(name) = &r.name else {
            return Err(self.err(r.col, "the CPU accesses named buffers, not raw addresses"));
        };
        let (t, size) = match self.get(name, r.col)? {
            Obj::Buf { phys, len } => (Target::Phys(phys + r.off), *len),
            Obj::Map { phys, len, .. } => (Target::Phys(phys + r.off), *len),
            Obj::Coherent { cpu, len, .. } => (Target::Phys(cpu + r.off), *len),
            Obj::DmaBuf(b) => (Target::DmaBuf(b.clone(), r.off), b.size()),
            _ => return Err(self.wrong(name, r.col, "a buffer, a coherent buffer or a DMA-BUF")),
        };
        if r.off.checked_add(len).is_none_or(|e| e > size) {
            return Err(self.err(
                r.col,
                format!(
                    "{len} bytes at offset {} do not fit in {name} ({size} bytes)",
                    r.off
                ),
            ));
        }
        Ok(t)
    }

    fn cpu_read(&mut self, t: &Target, out: &mut [u8]) -> R<()> {
        match t {
            Target::Phys(p) => {
                self.m.cpu_read(PhysAddr::new(*p), out);
                Ok(())
            }
            Target::DmaBuf(b, off) => self
                .m
                .dmabuf_read(b, *off, out)
                .map_err(|e| self.err(1, e.to_string())),
        }
    }

    fn who(&self, w: &Who) -> R<Accessor> {
        Ok(match w {
            Who::Cpu => Accessor::Cpu,
            Who::Device(n, c) => Accessor::Device(self.dev(&Name(n.clone(), *c))?),
        })
    }

    fn fence(&self, n: &Name) -> R<Fence> {
        match self.get(&n.0, n.1)? {
            Obj::Fence(f) => Ok(f.clone()),
            _ => Err(self.wrong(&n.0, n.1, "a fence")),
        }
    }

    fn dmabuf(&self, n: &Name) -> R<DmaBuf> {
        match self.get(&n.0, n.1)? {
            Obj::DmaBuf(b) => Ok(b.clone()),
            _ => Err(self.wrong(&n.0, n.1, "a DMA-BUF")),
        }
    }

    fn expect_finding(&mut self, what: String, want: &[u8], got: &[u8]) {
        let first = want.iter().zip(got).position(|(a, b)| a != b).unwrap_or(0);
        let msg = format!(
            "{what}: byte {first} is {:#04x}, expected {:#04x} (read {}, expected {})",
            got[first],
            want[first],
            hex_preview(got),
            hex_preview(want)
        );
        let f = Finding::new(
            Rule::ExpectMismatch,
            Origin::Scenario {
                scenario_line: self.line,
            },
            msg,
        );
        self.m.report(f);
    }

    fn ring(&self, n: &Name) -> R<(u64, u64, u64)> {
        match self.get(&n.0, n.1)? {
            Obj::Coherent { cpu, dma, len, .. } => Ok((*cpu, *dma, *len)),
            _ => Err(self.wrong(&n.0, n.1, "a coherent buffer")),
        }
    }

    fn step(&mut self, op: &Op) -> R<()> {
        let m_err = |s: &Self, col: u32, e: crate::Error| s.err(col, e.to_string());
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
                    .kmalloc(*size, *align, *zone, *kind, &name.0)
                    .map_err(|e| m_err(self, name.1, e))?;
                self.define(
                    name,
                    Obj::Buf {
                        phys: p.raw(),
                        len: *size,
                    },
                )?;
            }
            Op::Free { name } => {
                let phys = match self.get(&name.0, name.1)? {
                    Obj::Buf { phys, .. } => *phys,
                    _ => return Err(self.wrong(&name.0, name.1, "a buffer")),
                };
                self.m.kfree(PhysAddr::new(phys));
                self.objs.remove(&name.0);
            }
            Op::Write { at, data } => {
                let t = self.cpu_target(at, data.0.len() as u64)?;
                match &t {
                    Target::Phys(p) => self.m.cpu_write(PhysAddr::new(*p), &data.0),
                    Target::DmaBuf(b, off) => self
                        .m
                        .dmabuf_write(b, *off, &data.0)
                        .map_err(|e| m_err(self, at.col, e))?,
                }
                let (n, pv) = (data.0.len(), hex_preview(&data.0));
                self.m.ev(EventSource::Cpu, "write", None, || {
                    format!("CPU writes {n} bytes to {}: {pv}", show_ref(at))
                });
            }
            Op::Read { at, len } => {
                let t = self.cpu_target(at, *len)?;
                let mut b = vec![0u8; *len as usize];
                self.cpu_read(&t, &mut b)?;
                let pv = hex_preview(&b);
                self.m.ev(EventSource::Cpu, "read", None, || {
                    format!("CPU reads {len} bytes of {}: {pv}", show_ref(at))
                });
            }
            Op::Expect { at, data } => {
                let t = self.cpu_target(at, data.0.len() as u64)?;
                let mut b = vec![0u8; data.0.len()];
                self.cpu_read(&t, &mut b)?;
                let pv = hex_preview(&b);
                let ok = b == data.0;
                self.m.ev(EventSource::Cpu, "expect", None, || {
                    format!(
                        "CPU reads {} bytes of {}: {pv} ({})",
                        b.len(),
                        show_ref(at),
                        if ok { "as expected" } else { "NOT as expected" }
                    )
                });
                if !ok {
                    self.expect_finding(format!("CPU read of {}", show_ref(at)), &data.0, &b);
                }
            }
            Op::AllocCoherent { name, dev, size } => {
                let d = self.dev(dev)?;
                let (cpu, dma) = self
                    .m
                    .dma_alloc_coherent(d, *size, &name.0)
                    .map_err(|e| m_err(self, name.1, e))?;
                self.define(
                    name,
                    Obj::Coherent {
                        dev: d,
                        cpu: cpu.raw(),
                        dma: dma.raw(),
                        len: size.div_ceil(4096) * 4096,
                        freed: false,
                    },
                )?;
            }
            Op::FreeCoherent {
                name,
                size,
                cpu_offset,
            } => {
                let (dev, cpu, dma, len) = match self.get_mut(&name.0, name.1)? {
                    Obj::Coherent {
                        dev,
                        cpu,
                        dma,
                        len,
                        freed,
                    } => {
                        *freed = true;
                        (*dev, *cpu, *dma, *len)
                    }
                    Obj::Map {
                        dev,
                        dma,
                        len,
                        phys,
                        ..
                    } => (*dev, *phys, dma.raw(), *len),
                    _ => return Err(self.wrong(&name.0, name.1, "a coherent buffer")),
                };
                self.m.dma_free_coherent(
                    dev,
                    size.unwrap_or(len),
                    PhysAddr::new(cpu + cpu_offset),
                    Iova::new(dma),
                );
            }
            Op::SetMask { dev, bits } => {
                let d = self.dev(dev)?;
                self.m
                    .dma_set_mask_and_coherent(d, DmaMask::bits(*bits))
                    .map_err(|e| m_err(self, dev.1, e))?;
            }
            Op::Map {
                map,
                dev,
                buf,
                dir,
                size,
                page,
            } => {
                let d = self.dev(dev)?;
                let bname = buf
                    .name
                    .as_deref()
                    .ok_or_else(|| self.err(buf.col, "map a named buffer"))?;
                let (phys, blen) = match self.get(bname, buf.col)? {
                    Obj::Buf { phys, len } => (*phys, *len),
                    Obj::Coherent { cpu, len, .. } => (*cpu, *len),
                    _ => return Err(self.wrong(bname, buf.col, "a buffer")),
                };
                if buf.off >= blen {
                    return Err(self.err(
                        buf.col,
                        format!("offset {} is outside {bname} ({blen} bytes)", buf.off),
                    ));
                }
                let len = size.unwrap_or(blen - buf.off);
                let p = phys + buf.off;
                let dma = if *page {
                    let base = p & !4095;
                    self.m
                        .dma_map_page(d, PhysAddr::new(base), p - base, len, *dir)
                } else {
                    self.m.dma_map_single(d, PhysAddr::new(p), len, *dir)
                };
                if dma == DMA_MAPPING_ERROR {
                    let why = self
                        .m
                        .last_error()
                        .map(|e| e.to_string())
                        .unwrap_or_default();
                    self.m.ev(EventSource::Dma, "map-error", Some(d), || {
                        format!("{} returned DMA_MAPPING_ERROR: {why}", map.0)
                    });
                }
                self.define(
                    map,
                    Obj::Map {
                        dev: d,
                        dma,
                        len,
                        dir: *dir,
                        page: *page,
                        phys: p,
                    },
                )?;
            }
            Op::MappingError { map } => {
                let (dev, dma) = match self.get(&map.0, map.1)? {
                    Obj::Map { dev, dma, .. } => (*dev, *dma),
                    Obj::Sg { dev, sg, .. } => (
                        *dev,
                        sg.first().map_or(DMA_MAPPING_ERROR, |e| e.dma_address),
                    ),
                    _ => return Err(self.wrong(&map.0, map.1, "a mapping")),
                };
                let failed = self.m.dma_mapping_error(dev, dma);
                self.m.ev(EventSource::Dma, "mapping-error", Some(dev), || {
                    format!(
                        "dma_mapping_error({}) = {}",
                        map.0,
                        if failed {
                            "true: the mapping failed"
                        } else {
                            "false"
                        }
                    )
                });
            }
            Op::Unmap {
                map,
                size,
                dir,
                func,
            } => {
                let (dev, dma, len, mdir, page, phys) = match self.get(&map.0, map.1)? {
                    Obj::Map {
                        dev,
                        dma,
                        len,
                        dir,
                        page,
                        phys,
                    } => (*dev, *dma, *len, *dir, *page, *phys),
                    Obj::Coherent {
                        dev, dma, len, cpu, ..
                    } => (
                        *dev,
                        Iova::new(*dma),
                        *len,
                        DmaDirection::Bidirectional,
                        false,
                        *cpu,
                    ),
                    Obj::Sg { dev, sg, dir, .. } => (
                        *dev,
                        sg.first().map_or(DMA_MAPPING_ERROR, |e| e.dma_address),
                        sg.iter().map(|e| e.length).sum(),
                        *dir,
                        false,
                        0,
                    ),
                    _ => return Err(self.wrong(&map.0, map.1, "a mapping")),
                };
                let (size, dir) = (size.unwrap_or(len), dir.unwrap_or(mdir));
                match func
                    .as_deref()
                    .unwrap_or(if page { "page" } else { "single" })
                {
                    "page" => self.m.dma_unmap_page(dev, dma, size, dir),
                    "sg" => {
                        let e = [ScatterEntry {
                            phys: PhysAddr::new(phys),
                            length: size,
                            dma_address: dma,
                            dma_length: size,
                        }];
                        self.m.dma_unmap_sg(dev, &e, 1, dir);
                    }
                    "coherent" => self
                        .m
                        .dma_free_coherent(dev, size, PhysAddr::new(phys), dma),
                    _ => self.m.dma_unmap_single(dev, dma, size, dir),
                }
            }
            Op::UnmapAddr { dev, at, size, dir } => {
                let d = self.dev(dev)?;
                let dma = self.dma_of(at)?;
                self.m.dma_unmap_single(d, dma, *size, *dir);
            }
            Op::MapSg {
                map,
                dev,
                dir,
                entries,
            } => {
                let d = self.dev(dev)?;
                let mut sg = Vec::new();
                for (r, len) in entries {
                    let name = r
                        .name
                        .as_deref()
                        .ok_or_else(|| self.err(r.col, "scatterlist entries are named buffers"))?;
                    let (phys, blen) = match self.get(name, r.col)? {
                        Obj::Buf { phys, len } => (*phys, *len),
                        _ => return Err(self.wrong(name, r.col, "a buffer")),
                    };
                    if r.off >= blen || len.is_some_and(|l| r.off + l > blen) {
                        return Err(self.err(
                            r.col,
                            format!("entry does not fit in {name} ({blen} bytes)"),
                        ));
                    }
                    sg.push(ScatterEntry::new(
                        PhysAddr::new(phys + r.off),
                        len.unwrap_or(blen - r.off),
                    ));
                }
                let count = self.m.dma_map_sg(d, &mut sg, *dir);
                if count == 0 {
                    let why = self
                        .m
                        .last_error()
                        .map(|e| e.to_string())
                        .unwrap_or_default();
                    self.m.ev(EventSource::Dma, "map-error", Some(d), || {
                        format!("dma_map_sg of {} returned 0: {why}", map.0)
                    });
                } else {
                    let segs: Vec<String> = sg[..count]
                        .iter()
                        .map(|e| format!("{}+{}", e.dma_address, e.dma_length))
                        .collect();
                    let n = sg.len();
                    self.m.ev(EventSource::Dma, "sg-segments", Some(d), || {
                        format!("{} entries -> {count} segment(s): {}", n, segs.join(" "))
                    });
                }
                self.define(
                    map,
                    Obj::Sg {
                        dev: d,
                        dir: *dir,
                        sg,
                        count,
                    },
                )?;
            }
            Op::UnmapSg { map, nents, dir } => {
                let (dev, sg, mdir) = match self.get(&map.0, map.1)? {
                    Obj::Sg { dev, sg, dir, .. } => (*dev, sg.clone(), *dir),
                    _ => return Err(self.wrong(&map.0, map.1, "a scatterlist mapping")),
                };
                self.m
                    .dma_unmap_sg(dev, &sg, nents.unwrap_or(sg.len()), dir.unwrap_or(mdir));
            }
            Op::Sync {
                at,
                size,
                dir,
                for_cpu,
            } => {
                let name = at
                    .name
                    .as_deref()
                    .ok_or_else(|| self.err(at.col, "sync a named mapping"))?;
                let (dev, len, mdir) = match self.get(name, at.col)? {
                    Obj::Map { dev, len, dir, .. } => (*dev, *len, *dir),
                    Obj::Coherent { dev, len, .. } => (*dev, *len, DmaDirection::Bidirectional),
                    _ => return Err(self.wrong(name, at.col, "a mapping")),
                };
                let dma = self.dma_of(at)?;
                let size = size.unwrap_or(len.saturating_sub(at.off));
                let dir = dir.unwrap_or(mdir);
                if *for_cpu {
                    self.m.dma_sync_single_for_cpu(dev, dma, size, dir);
                } else {
                    self.m.dma_sync_single_for_device(dev, dma, size, dir);
                }
            }
            Op::SyncSg {
                map,
                nents,
                dir,
                for_cpu,
            } => {
                let (dev, sg, mdir) = match self.get(&map.0, map.1)? {
                    Obj::Sg { dev, sg, dir, .. } => (*dev, sg.clone(), *dir),
                    _ => return Err(self.wrong(&map.0, map.1, "a scatterlist mapping")),
                };
                let (n, dir) = (nents.unwrap_or(sg.len()), dir.unwrap_or(mdir));
                if *for_cpu {
                    self.m.dma_sync_sg_for_cpu(dev, &sg, n, dir);
                } else {
                    self.m.dma_sync_sg_for_device(dev, &sg, n, dir);
                }
            }
            Op::DeviceRead { dev, at, len } => {
                let d = self.dev(dev)?;
                let dma = self.dma_of(at)?;
                let mut b = vec![0u8; *len as usize];
                let _ = self.m.device_read(d, dma, &mut b);
            }
            Op::DeviceWrite { dev, at, data } => {
                let d = self.dev(dev)?;
                let dma = self.dma_of(at)?;
                let _ = self.m.device_write(d, dma, &data.0);
            }
            Op::DeviceExpect { dev, at, data } => {
                let d = self.dev(dev)?;
                let dma = self.dma_of(at)?;
                let mut b = vec![0u8; data.0.len()];
                if self.m.device_read(d, dma, &mut b).is_ok() && b != data.0 {
                    self.expect_finding(format!("{} read at {dma}", dev.0), &data.0, &b);
                }
            }
            Op::Engine { dev, ring, entries } => {
                let d = self.dev(dev)?;
                let (_, dma, len) = self.ring(ring)?;
                if u64::from(*entries) * DESCRIPTOR_SIZE > len {
                    return Err(self.err(ring.1, format!("{entries} descriptors of {DESCRIPTOR_SIZE} bytes do not fit in {} ({len} bytes)", ring.0)));
                }
                self.m
                    .engine_configure(d, Iova::new(dma), *entries)
                    .map_err(|e| m_err(self, dev.1, e))?;
            }
            Op::Desc {
                ring,
                index,
                src,
                dst,
                len,
                irq,
            } => {
                let (cpu, _, rlen) = self.ring(ring)?;
                let off = u64::from(*index) * DESCRIPTOR_SIZE;
                if off + DESCRIPTOR_SIZE > rlen {
                    return Err(
                        self.err(ring.1, format!("descriptor {index} is outside {}", ring.0))
                    );
                }
                let d = Descriptor::new(self.dma_of(src)?, self.dma_of(dst)?, *len, *irq);
                self.m.cpu_write(PhysAddr::new(cpu + off), &d.encode());
                self.m.ev(EventSource::Cpu, "descriptor", None, || {
                    format!(
                        "CPU writes descriptor {index} in {}: copy {len} bytes {} -> {}{}",
                        ring.0,
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
                    .map_err(|e| m_err(self, dev.1, e))?;
            }
            Op::ExpectStatus {
                ring,
                index,
                status,
            } => {
                let (cpu, _, rlen) = self.ring(ring)?;
                let off = u64::from(*index) * DESCRIPTOR_SIZE + Descriptor::STATUS_OFFSET;
                if off + 4 > rlen {
                    return Err(
                        self.err(ring.1, format!("descriptor {index} is outside {}", ring.0))
                    );
                }
                let mut b = [0u8; 4];
                self.m.cpu_read(PhysAddr::new(cpu + off), &mut b);
                let got = u32::from_le_bytes(b);
                self.m.ev(EventSource::Cpu, "poll", None, || {
                    format!("CPU polls descriptor {index} status: {}", status_name(got))
                });
                if got != *status {
                    let msg = format!(
                        "descriptor {index} of {} has status {}, expected {}",
                        ring.0,
                        status_name(got),
                        status_name(*status)
                    );
                    self.m.report(Finding::new(
                        Rule::ExpectMismatch,
                        Origin::Scenario {
                            scenario_line: self.line,
                        },
                        msg,
                    ));
                }
            }
            Op::ExpectIrqs { dev, count } => {
                let d = self.dev(dev)?;
                let got = self.m.engine_interrupts(d);
                self.m.engine_take_interrupts(d);
                if got != *count {
                    let msg = format!("{} raised {got} interrupt(s), expected {count}", dev.0);
                    self.m.report(Finding::new(
                        Rule::ExpectMismatch,
                        Origin::Scenario {
                            scenario_line: self.line,
                        },
                        msg,
                    ));
                }
            }
            Op::IommuFlush => self.m.iommu_flush(),
            Op::RemoveDevice { dev } => {
                let d = self.dev(dev)?;
                self.m.remove_device(d);
            }
            Op::DmaBuf {
                name,
                exporter,
                size,
            } => {
                let d = self.dev(exporter)?;
                let b = self
                    .m
                    .dmabuf_export(d, *size, &name.0)
                    .map_err(|e| m_err(self, name.1, e))?;
                self.define(name, Obj::DmaBuf(b))?;
            }
            Op::Attach { att, buf, dev } => {
                let b = self.dmabuf(buf)?;
                let d = self.dev(dev)?;
                let a = self
                    .m
                    .dmabuf_attach(&b, d)
                    .map_err(|e| m_err(self, att.1, e))?;
                self.define(att, Obj::Att(Some(a)))?;
            }
            Op::MapAttachment { map, att, dir } => {
                let a = match self.get_mut(&att.0, att.1)? {
                    Obj::Att(a @ Some(_)) => a.take().expect("attachment"),
                    Obj::Att(None) => {
                        return Err(self.err(att.1, format!("{} was detached", att.0)));
                    }
                    _ => return Err(self.wrong(&att.0, att.1, "an attachment")),
                };
                let res = self.m.dmabuf_map_attachment(&a, *dir);
                if let Ok(Obj::Att(slot)) = self.get_mut(&att.0, att.1) {
                    *slot = Some(a);
                }
                let am = res.map_err(|e| self.err(att.1, e.to_string()))?;
                self.define(map, Obj::AttMap(Some(am)))?;
            }
            Op::UnmapAttachment { map } => {
                let am = match self.get_mut(&map.0, map.1)? {
                    Obj::AttMap(am) => am.take(),
                    _ => return Err(self.wrong(&map.0, map.1, "a mapped attachment")),
                };
                match am {
                    Some(am) => self.m.dmabuf_unmap_attachment(am),
                    None => return Err(self.err(map.1, format!("{} is already unmapped", map.0))),
                }
            }
            Op::Detach { att } => {
                let a = match self.get_mut(&att.0, att.1)? {
                    Obj::Att(a) => a.take(),
                    _ => return Err(self.wrong(&att.0, att.1, "an attachment")),
                };
                match a {
                    Some(a) => self.m.dmabuf_detach(a),
                    None => return Err(self.err(att.1, format!("{} is already detached", att.0))),
                }
            }
            Op::Fence { fence, buf, who } => {
                let b = self.dmabuf(buf)?;
                let w = self.who(who)?;
                let f = self
                    .m
                    .dmabuf_fence(&b, w, &fence.0)
                    .map_err(|e| m_err(self, fence.1, e))?;
                self.define(fence, Obj::Fence(f))?;
            }
            Op::Signal { fence } => {
                let f = self.fence(fence)?;
                self.m
                    .fence_signal(&f)
                    .map_err(|e| m_err(self, fence.1, e))?;
            }
            Op::Wait { who, fence } => {
                let f = self.fence(fence)?;
                let w = self.who(who)?;
                self.m
                    .fence_wait(w, &f)
                    .map_err(|e| m_err(self, fence.1, e))?;
            }
            Op::BeginCpuAccess { buf, dir } => {
                let b = self.dmabuf(buf)?;
                self.m
                    .dmabuf_begin_cpu_access(&b, *dir)
                    .map_err(|e| m_err(self, buf.1, e))?;
            }
            Op::EndCpuAccess { buf, dir } => {
                let b = self.dmabuf(buf)?;
                self.m
                    .dmabuf_end_cpu_access(&b, *dir)
                    .map_err(|e| m_err(self, buf.1, e))?;
            }
            Op::Note { text } => {
                let t = text.clone();
                self.m.ev(EventSource::Cpu, "note", None, || t);
            }
        }
        Ok(())
    }
}

enum Target {
    Phys(u64),
    DmaBuf(DmaBuf, u64),
}

fn show_ref(r: &Ref) -> String {
    match (&r.name, r.off) {
        (Some(n), 0) => n.clone(),
        (Some(n), o) => format!("{n}+{o}"),
        (None, o) => format!("{o:#x}"),
    }
}

fn status_name(s: u32) -> &'static str {
    match s {
        Descriptor::PENDING => "pending",
        Descriptor::DONE => "done",
        Descriptor::ERROR => "error",
        _ => "unknown",
    }
}

/// Runs a parsed scenario. Errors are problems of the scenario itself (a
/// name that does not exist, an allocation the machine cannot satisfy, a
/// wait that would never return), at the step's line; what the driver does
/// wrong is in the report's findings.
pub fn run(s: &Scenario) -> Result<Report, ScenarioError> {
    let mut cfg = s.machine.clone();
    cfg.trace = true;
    let devices: Vec<_> = s.devices.iter().map(|(d, _)| d.clone()).collect();
    let m = ModelBackend::new(cfg, devices).map_err(|e| ScenarioError {
        line: 1,
        column: 1,
        message: e.to_string(),
    })?;
    let machine = MachineSummary::new(&m);
    let mut r = Runner {
        m,
        objs: HashMap::new(),
        line: 0,
    };
    for st in &s.steps {
        r.line = st.line;
        r.m.set_scenario_line(Some(st.line));
        r.step(&st.op)?;
    }
    r.m.set_scenario_line(None);
    r.m.flush_cache_notes();
    let events = r.m.take_events();
    let findings = r.m.take_findings();
    let faults = r.m.faults().to_vec();
    let summary = Summary::new(s.steps.len(), &events, &findings, &faults);
    Ok(Report {
        schema: super::SCHEMA,
        file: None,
        machine,
        events,
        findings,
        faults,
        summary,
    })
}
