//! The scenario runner's steps for DMA-BUFs: export, attachments and their
//! mappings, fences, CPU access.

use super::{Ran, Runner};
use crate::direction::DmaDirection;
use crate::dmabuf::FenceUsage;
use crate::scenario::ast::{Name, Op};
use crate::scenario::objects::Obj;

impl Runner {
    /// DMA-BUF: export, attach, map, fences, CPU access.
    pub(super) fn dmabuf_step(&mut self, op: &Op) -> Ran {
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

    pub(super) fn unmap_attachment(&mut self, map: &Name) -> Ran {
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

    pub(super) fn detach(&mut self, att: &Name) -> Ran {
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

    pub(super) fn map_attachment(&mut self, map: &Name, att: &Name, dir: DmaDirection) -> Ran {
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
