//! DMA-BUF calls: export, attach, map for an importer, fences, and CPU
//! access bracketed by begin/end (which sync every mapped attachment).

use std::panic::Location;
use std::sync::Arc;

use super::ModelBackend;
use super::map::MapRequest;
use crate::addr::{PAGE_SIZE, PhysRange};
use crate::calls::MapFunc;
use crate::calls::{DmaAttrs, ErrorCheck, SyncCall, SyncTarget, Toward, UnmapArgs, UnmapCall};
use crate::check::dmabuf::BufAccess;

use crate::direction::{Access, DmaDirection};
use crate::dmabuf::{Accessor, Attachment, AttachmentMap, DmaBuf, Fence, FenceUsage};
use crate::error::{Error, Result};
use crate::ids::DeviceId;
use crate::ids::{AttId, BufId};
use crate::mapping::DmaSegment;
use crate::trace::{EventSource, Site};

impl ModelBackend {
    fn who(&self, a: Accessor) -> String {
        match a {
            Accessor::Cpu => "the CPU".into(),
            Accessor::Device(d) => self.dev_name(d),
        }
    }

    /// The exporter `exporter` allocates a DMA-BUF of `size` bytes (rounded
    /// up to pages), made of scattered pages.
    #[doc(alias = "dma_buf_export")]
    pub fn dmabuf_export(&mut self, exporter: DeviceId, size: u64, label: &str) -> Result<DmaBuf> {
        if size == 0 {
            return Err(Error::ZeroLength);
        }
        self.device_config(exporter)
            .ok_or(Error::NoDevice(exporter.0))?;
        let n = size.div_ceil(PAGE_SIZE);
        self.room_for_pages(n, label)?;
        // The system heap's pages are not contiguous.
        let pages = self.hw.cpu.place_scattered(n)?;
        for (i, &p) in (0..).zip(&pages) {
            self.record_page(p, label, i);
        }
        let id = self.ids.buf();
        let label: Arc<str> = Arc::from(label);
        self.dmabufs.add(id, label.clone(), pages);
        self.ev(EventSource::Dmabuf, "export", Some(exporter), || {
            format!("export {label}: {n} scattered pages")
        });
        Ok(DmaBuf {
            id,
            size: n * PAGE_SIZE,
        })
    }

    /// An importer attaches its device (`dma_buf_attach`).
    #[doc(alias = "dma_buf_attach")]
    pub fn dmabuf_attach(&mut self, buf: &DmaBuf, dev: DeviceId) -> Result<Attachment> {
        let label = self.dmabufs.buf(buf.id)?.label.clone();
        self.device_config(dev).ok_or(Error::NoDevice(dev.0))?;
        let id = self.ids.att();
        self.dmabufs.attach(id, buf.id, dev);
        self.ev(EventSource::Dmabuf, "attach", Some(dev), || {
            format!("attach to {label}")
        });
        Ok(Attachment { id, dev })
    }

    /// Maps the attachment for its device (`dma_buf_map_attachment`): an sg
    /// table of DMA addresses valid for that device only.
    #[doc(alias = "dma_buf_map_attachment")]
    #[track_caller]
    pub fn dmabuf_map_attachment(
        &mut self,
        att: &Attachment,
        dir: DmaDirection,
    ) -> Result<AttachmentMap> {
        let site = Location::caller();
        let a = self.dmabufs.att(att.id)?;
        let (b, dev) = (a.buf, a.dev);
        let rec = self.dmabufs.buf(b)?;
        let ents: Vec<PhysRange> = rec
            .pages
            .iter()
            .map(|&p| PhysRange::new(p, PAGE_SIZE))
            .collect();
        let label: Arc<str> = Arc::from(format!("{}@{}", rec.label, self.dev_name(dev)));
        let req = MapRequest {
            dev,
            func: MapFunc::Sg,
            dir,
            ents: &ents,
            label: Some(label),
            check: ErrorCheck::Done,
            dmabuf: Some(b),
            attrs: DmaAttrs::NONE,
        };
        let id = self.map(req, site)?;
        let segs = self
            .maps
            .live(id)
            .segs
            .iter()
            .map(|&s| DmaSegment::from(s))
            .collect();
        self.dmabufs.set_mapped(att.id, id, dir);
        Ok(AttachmentMap {
            att: att.id,
            dev,
            segs,
        })
    }

    /// Unmaps an attachment (`dma_buf_unmap_attachment`).
    #[doc(alias = "dma_buf_unmap_attachment")]
    #[track_caller]
    pub fn dmabuf_unmap_attachment(&mut self, map: AttachmentMap) {
        self.unmap_attachment(map.att, Location::caller());
    }

    fn unmap_attachment(&mut self, att: AttId, site: Site) {
        let Some((dev, id, dir)) = self.dmabufs.take_mapping(att) else {
            return;
        };
        if let Some(r) = self.maps.get(id) {
            let call = UnmapCall {
                dev,
                dma: r.dma(),
                args: UnmapArgs::Nents(r.nents),
                dir,
                func: MapFunc::Sg,
                attrs: DmaAttrs::NONE,
            };
            self.unmap(call, site);
        }
    }

    /// Detaches (`dma_buf_detach`); a still-mapped attachment is unmapped
    /// first.
    #[doc(alias = "dma_buf_detach")]
    #[track_caller]
    pub fn dmabuf_detach(&mut self, att: Attachment) {
        self.unmap_attachment(att.id, Location::caller());
        if let Some(a) = self.dmabufs.detach(att.id) {
            let label = self.dmabufs.get(a.buf).map(|b| b.label.clone());
            self.ev(EventSource::Dmabuf, "detach", Some(a.dev), || {
                format!("detach from {}", label.as_deref().unwrap_or("?"))
            });
        }
    }

    /// `producer` is about to write the buffer: it attaches a write fence
    /// (`dma_resv_add_fence` with `DMA_RESV_USAGE_WRITE`). Others must wait
    /// for it before touching the buffer.
    pub fn dmabuf_fence(&mut self, buf: &DmaBuf, producer: Accessor, label: &str) -> Result<Fence> {
        self.add_fence(buf, producer, label, FenceUsage::Write)
    }

    /// `reader` is about to read the buffer (a display scanning it out):
    /// it attaches a read fence (`DMA_RESV_USAGE_READ`). A writer must wait
    /// for it before writing.
    pub fn dmabuf_read_fence(
        &mut self,
        buf: &DmaBuf,
        reader: Accessor,
        label: &str,
    ) -> Result<Fence> {
        self.add_fence(buf, reader, label, FenceUsage::Read)
    }

    fn add_fence(
        &mut self,
        buf: &DmaBuf,
        who: Accessor,
        label: &str,
        usage: FenceUsage,
    ) -> Result<Fence> {
        let blabel = self.dmabufs.buf(buf.id)?.label.clone();
        let id = self.ids.fence();
        self.dmabufs.add_fence(buf.id, id, label, usage, who);
        let name = self.who(who);
        let kind = match usage {
            FenceUsage::Write => "write",
            FenceUsage::Read => "read",
        };
        self.ev(EventSource::Dmabuf, "fence", None, || {
            format!("{name} adds {kind} fence {label} to {blabel}")
        });
        Ok(Fence { id })
    }

    /// The producer finished: the fence signals (`dma_fence_signal`).
    #[doc(alias = "dma_fence_signal")]
    pub fn fence_signal(&mut self, fence: &Fence) -> Result<()> {
        let label = self.dmabufs.signal(fence.id)?;
        self.ev(EventSource::Dmabuf, "signal", None, || {
            format!("fence {label} signalled")
        });
        Ok(())
    }

    /// `who` waits for the fence (`dma_fence_wait`). In a sequential model a
    /// wait on a fence nobody signalled yet would never return: that is an
    /// error, not a finding.
    #[doc(alias = "dma_fence_wait")]
    pub fn fence_wait(&mut self, who: Accessor, fence: &Fence) -> Result<()> {
        let label = self.dmabufs.wait(who, fence.id)?;
        let name = self.who(who);
        self.ev(EventSource::Dmabuf, "wait", None, || {
            format!("{name} waited for fence {label}")
        });
        Ok(())
    }

    /// `dma_buf_begin_cpu_access`: waits for the writers' fences and syncs
    /// every mapped attachment for the CPU.
    #[doc(alias = "dma_buf_begin_cpu_access")]
    #[track_caller]
    pub fn dmabuf_begin_cpu_access(&mut self, buf: &DmaBuf, dir: DmaDirection) -> Result<()> {
        let site = Location::caller();
        let label = self.dmabufs.buf(buf.id)?.label.clone();
        self.check(site, |c, cx| c.on_dmabuf_begin(cx, buf.id, dir));
        self.dmabufs.cpu_waits(buf.id);
        self.dmabufs.open_cpu_access(buf.id, dir);
        self.ev(EventSource::Dmabuf, "begin-cpu-access", None, || {
            format!("begin_cpu_access {label} {dir}")
        });
        self.sync_attachments(buf.id, Toward::Cpu, site);
        Ok(())
    }

    /// `dma_buf_end_cpu_access`: syncs every mapped attachment back for its
    /// device.
    #[doc(alias = "dma_buf_end_cpu_access")]
    #[track_caller]
    pub fn dmabuf_end_cpu_access(&mut self, buf: &DmaBuf, dir: DmaDirection) -> Result<()> {
        let site = Location::caller();
        let label = self.dmabufs.buf(buf.id)?.label.clone();
        self.check(site, |c, cx| c.on_dmabuf_end(cx, buf.id, dir));
        self.dmabufs.close_cpu_access(buf.id);
        self.ev(EventSource::Dmabuf, "end-cpu-access", None, || {
            format!("end_cpu_access {label} {dir}")
        });
        self.sync_attachments(buf.id, Toward::Device, site);
        Ok(())
    }

    /// Syncs every mapped attachment of `buf` with its own direction.
    fn sync_attachments(&mut self, buf: BufId, toward: Toward, site: Site) {
        for (id, dev) in self.dmabufs.mapped_attachments(buf) {
            let r = self.maps.live(id);
            let target = SyncTarget::Sg {
                dma: r.dma(),
                nents: r.nents,
            };
            let dir = r.dir;
            self.sync(
                SyncCall {
                    dev,
                    target,
                    dir,
                    toward,
                },
                site,
            );
        }
    }

    /// Where a CPU access to a DMA-BUF lands, after the checker saw it.
    fn dmabuf_cpu(
        &mut self,
        buf: &DmaBuf,
        offset: u64,
        len: u64,
        access: Access,
        site: Site,
    ) -> Result<Vec<PhysRange>> {
        if offset.checked_add(len).is_none_or(|e| e > buf.size) {
            return Err(Error::OutOfBounds {
                offset,
                len,
                size: buf.size,
            });
        }
        let pieces = self.dmabufs.buf(buf.id)?.pieces(offset, len);
        let a = BufAccess {
            buf: buf.id,
            offset,
            len,
            access,
        };
        self.check(site, |c, cx| c.on_dmabuf_cpu_access(cx, a, &pieces));
        Ok(pieces)
    }

    /// The CPU reads the DMA-BUF (through its `vmap`).
    #[track_caller]
    pub fn dmabuf_read(&mut self, buf: &DmaBuf, offset: u64, out: &mut [u8]) -> Result<()> {
        let site = Location::caller();
        let mut done = 0usize;
        for p in self.dmabuf_cpu(buf, offset, out.len() as u64, Access::Read, site)? {
            self.hw
                .cpu_load(p.addr, &mut out[done..done + p.len as usize]);
            done += p.len as usize;
        }
        Ok(())
    }

    /// The CPU writes the DMA-BUF (through its `vmap`).
    #[track_caller]
    pub fn dmabuf_write(&mut self, buf: &DmaBuf, offset: u64, data: &[u8]) -> Result<()> {
        let site = Location::caller();
        let mut done = 0usize;
        for p in self.dmabuf_cpu(buf, offset, data.len() as u64, Access::Write, site)? {
            self.hw
                .cpu_store(p.addr, &data[done..done + p.len as usize]);
            done += p.len as usize;
        }
        Ok(())
    }
}
