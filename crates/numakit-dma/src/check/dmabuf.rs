//! The checker's hooks on DMA-BUF CPU access: begin and end must pair up
//! with one direction, the CPU touches the buffer only between them, and
//! begin must be able to wait for the writers' fences.

use super::access::CpuAccess;
use super::{Checker, Ctx};
use crate::addr::PhysRange;
use crate::check::rules::Rule;
use crate::direction::{Access, DmaDirection};
use crate::dmabuf::Accessor;
use crate::ids::BufId;

/// A CPU access to a DMA-BUF through its `vmap`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BufAccess {
    pub(crate) buf: BufId,
    pub(crate) offset: u64,
    pub(crate) len: u64,
    pub(crate) access: Access,
}

impl Checker {
    /// `dma_buf_begin_cpu_access` on `buf` for `dir`.
    pub(crate) fn on_dmabuf_begin(&mut self, cx: &mut Ctx<'_>, buf: BufId, dir: DmaDirection) {
        let Some(b) = cx.dmabufs.get(buf) else {
            return;
        };
        let label = &b.label;
        let mut out = Vec::new();
        if let Some(p) = b.cpu {
            out.push(
                cx.finding(
                    Rule::DmabufBeginEndMismatch,
                    format!(
                        "begin_cpu_access on {label} ({dir}) while a CPU access ({p}) is already open"
                    ),
                )
                .buffer(label.to_string()),
            );
        }
        for fid in &b.fences {
            let Some(f) = cx.dmabufs.fence(*fid) else {
                continue;
            };
            let access = if dir == DmaDirection::FromDevice {
                Access::Read
            } else {
                Access::Write
            };
            if f.producer != Accessor::Cpu && !f.signalled && f.guards(access) {
                out.push(
                    cx.finding(
                        Rule::DmabufFenceNotWaited,
                        format!(
                            "begin_cpu_access on {label} cannot wait for fence {} of {}: nobody signalled it",
                            f.label,
                            cx.who(f.producer)
                        ),
                    )
                    .buffer(label.to_string()),
                );
            }
        }
        cx.findings.extend(out);
    }

    /// `dma_buf_end_cpu_access` on `buf` for `dir`.
    pub(crate) fn on_dmabuf_end(&mut self, cx: &mut Ctx<'_>, buf: BufId, dir: DmaDirection) {
        let Some(b) = cx.dmabufs.get(buf) else {
            return;
        };
        let label = &b.label;
        let msg = match b.cpu {
            None => format!("end_cpu_access on {label} without begin_cpu_access"),
            Some(p) if p != dir => format!("end_cpu_access on {label} with {dir}, begun with {p}"),
            Some(_) => return,
        };
        let f = cx
            .finding(Rule::DmabufBeginEndMismatch, msg)
            .buffer(label.to_string());
        cx.report(f);
    }

    /// A CPU access to a DMA-BUF, whose bytes lie in `pieces`.
    pub(crate) fn on_dmabuf_cpu_access(
        &mut self,
        cx: &mut Ctx<'_>,
        a: BufAccess,
        pieces: &[PhysRange],
    ) {
        let Some(b) = cx.dmabufs.get(a.buf) else {
            return;
        };
        let label = b.label.clone();
        let BufAccess {
            offset,
            len,
            access,
            ..
        } = a;
        match b.cpu {
            None => {
                let f = cx
                    .finding(
                        Rule::DmabufCpuAccessOutside,
                        format!(
                            "CPU {access} of {len} bytes of {label} at offset {offset} outside begin_cpu_access/end_cpu_access"
                        ),
                    )
                    .buffer(label.to_string())
                    .size(len);
                cx.report(f);
                return;
            }
            Some(DmaDirection::FromDevice) if access == Access::Write => {
                let f = cx
                    .finding(
                        Rule::DmabufBeginEndMismatch,
                        format!(
                            "CPU write to {label} inside a read-only begin_cpu_access (DMA_FROM_DEVICE)"
                        ),
                    )
                    .buffer(label.to_string());
                cx.report(f);
            }
            Some(_) => {}
        }
        self.on_dmabuf_access(cx, a.buf, Accessor::Cpu, access);
        for p in pieces {
            self.on_cpu_access(
                cx,
                CpuAccess {
                    phys: p.addr,
                    len: p.len,
                    access,
                },
            );
        }
    }
}
