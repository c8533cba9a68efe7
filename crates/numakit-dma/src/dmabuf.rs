//! DMA-BUF: a buffer exported by one driver and imported by others, each
//! importer mapping it for its own device, with fences that order the
//! writers and readers, and CPU access bracketed by begin/end.
//!
//! The exporter here behaves like the kernel's system heap: the buffer is a
//! list of pages scattered in physical memory; `map_attachment` maps that
//! list for the importing device with `dma_map_sg`; begin/end CPU access sync
//! every mapped attachment for the CPU and back.

use std::panic::Location;
use std::sync::Arc;

use crate::checker::{Finding, Rule};
use crate::event::EventSource;
use crate::hash::IntMap;
use crate::memory::PAGE_SIZE;
use crate::model::{MapFunc, ModelBackend, Site};
use crate::types::{Access, Zone};
use crate::{DeviceId, DmaDirection, Error, Iova, Result};

/// Who accesses a DMA-BUF: the CPU or a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Accessor {
    /// The CPU (through `vmap` or `mmap`).
    Cpu,
    /// A device.
    Device(DeviceId),
}

/// A DMA-BUF (the file descriptor drivers pass around).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmaBuf {
    id: u64,
    size: u64,
}

impl DmaBuf {
    /// The size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
}

/// An importer's attachment (`struct dma_buf_attachment`).
#[derive(Debug, PartialEq, Eq)]
pub struct Attachment {
    id: u64,
    dev: DeviceId,
}

impl Attachment {
    /// The importing device.
    pub fn device(&self) -> DeviceId {
        self.dev
    }
}

/// A mapped attachment: the scatter-gather table of DMA addresses the
/// importing device uses (`dma_buf_map_attachment`).
#[derive(Debug, PartialEq, Eq)]
pub struct AttachmentMap {
    att: u64,
    dev: DeviceId,
    segs: Vec<(Iova, u64)>,
}

impl AttachmentMap {
    /// The DMA segments: address and length.
    pub fn segments(&self) -> &[(Iova, u64)] {
        &self.segs
    }
    /// The importing device.
    pub fn device(&self) -> DeviceId {
        self.dev
    }
}

/// A fence (`struct dma_fence`) a writer attached to a DMA-BUF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    id: u64,
}

struct BufRec {
    label: Arc<str>,
    pages: Vec<u64>,
    cpu: Option<DmaDirection>,
    fences: Vec<u64>,
}

struct AttRec {
    buf: u64,
    dev: DeviceId,
    map: Option<(u64, DmaDirection)>,
}

struct FenceRec {
    label: String,
    producer: Accessor,
    signalled: bool,
    waited: Vec<Accessor>,
}

#[derive(Default)]
pub(crate) struct DmaBufState {
    bufs: IntMap<u64, BufRec>,
    atts: IntMap<u64, AttRec>,
    fences: IntMap<u64, FenceRec>,
}

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
        let mut pages = Vec::with_capacity(n as usize);
        for i in 0..n {
            let name = format!("{label}[page {i}]");
            let p = self.kmalloc(
                PAGE_SIZE,
                PAGE_SIZE,
                Zone::Normal,
                crate::MemKind::Kmalloc,
                &name,
            )?;
            pages.push(p.raw());
            // The system heap's pages are not contiguous: leave a hole.
            self.kmalloc(
                PAGE_SIZE,
                PAGE_SIZE,
                Zone::Normal,
                crate::MemKind::Kmalloc,
                "other",
            )?;
        }
        let id = self.new_id();
        let label: Arc<str> = Arc::from(label);
        self.dmabuf.bufs.insert(
            id,
            BufRec {
                label: label.clone(),
                pages,
                cpu: None,
                fences: Vec::new(),
            },
        );
        self.ev(EventSource::Dmabuf, "export", Some(exporter), || {
            format!("export {label}: {n} scattered pages")
        });
        Ok(DmaBuf {
            id,
            size: n * PAGE_SIZE,
        })
    }

    fn buf(&self, b: u64) -> Result<&BufRec> {
        self.dmabuf
            .bufs
            .get(&b)
            .ok_or(Error::StaleHandle("DMA-BUF"))
    }

    /// An importer attaches its device (`dma_buf_attach`).
    #[doc(alias = "dma_buf_attach")]
    pub fn dmabuf_attach(&mut self, buf: &DmaBuf, dev: DeviceId) -> Result<Attachment> {
        let label = self.buf(buf.id)?.label.clone();
        self.device_config(dev).ok_or(Error::NoDevice(dev.0))?;
        let id = self.new_id();
        self.dmabuf.atts.insert(
            id,
            AttRec {
                buf: buf.id,
                dev,
                map: None,
            },
        );
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
        let a = self
            .dmabuf
            .atts
            .get(&att.id)
            .ok_or(Error::StaleHandle("attachment"))?;
        let (b, dev) = (a.buf, a.dev);
        let rec = self.buf(b)?;
        let ents: Vec<(u64, u64)> = rec.pages.iter().map(|&p| (p, PAGE_SIZE)).collect();
        let label: Arc<str> = Arc::from(format!("{}@{}", rec.label, self.dev_name(dev)));
        let id = self.map_impl(
            dev,
            MapFunc::Sg,
            &ents,
            dir,
            Some(label),
            true,
            Some(b),
            site,
        )?;
        let r = &self.maps[&id];
        let segs = r.segs.iter().map(|s| (Iova::new(s.0), s.1)).collect();
        self.dmabuf.atts.get_mut(&att.id).expect("attachment").map = Some((id, dir));
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
        let site = Location::caller();
        self.unmap_attachment_at(map.att, site);
    }

    fn unmap_attachment_at(&mut self, att: u64, site: Site) {
        let Some(a) = self.dmabuf.atts.get_mut(&att) else {
            return;
        };
        let Some((id, dir)) = a.map.take() else {
            return;
        };
        let dev = a.dev;
        if let Some(r) = self.maps.get(&id) {
            let (dma, nents) = (r.dma, r.nents);
            self.unmap_impl(dev, dma, None, Some(nents), dir, MapFunc::Sg, site);
        }
    }

    /// Detaches (`dma_buf_detach`); a still-mapped attachment is unmapped
    /// first.
    #[doc(alias = "dma_buf_detach")]
    #[track_caller]
    pub fn dmabuf_detach(&mut self, att: Attachment) {
        let site = Location::caller();
        self.unmap_attachment_at(att.id, site);
        if let Some(a) = self.dmabuf.atts.remove(&att.id) {
            let label = self.dmabuf.bufs.get(&a.buf).map(|b| b.label.clone());
            self.ev(EventSource::Dmabuf, "detach", Some(a.dev), || {
                format!("detach from {}", label.as_deref().unwrap_or("?"))
            });
        }
    }

    /// `producer` is about to write the buffer: it attaches a write fence
    /// (`dma_resv_add_fence` with `DMA_RESV_USAGE_WRITE`). Others must wait
    /// for it before touching the buffer.
    pub fn dmabuf_fence(&mut self, buf: &DmaBuf, producer: Accessor, label: &str) -> Result<Fence> {
        let blabel = self.buf(buf.id)?.label.clone();
        let id = self.new_id();
        self.dmabuf.fences.insert(
            id,
            FenceRec {
                label: label.to_string(),
                producer,
                signalled: false,
                waited: Vec::new(),
            },
        );
        // A new writer's fence supersedes the fences it waited for (or
        // added itself): later readers need to wait for the newest only.
        let fences = &self.dmabuf.fences;
        let b = self.dmabuf.bufs.get_mut(&buf.id).expect("buffer");
        b.fences.retain(|f| {
            let f = &fences[f];
            !(f.producer == producer || (f.signalled && f.waited.contains(&producer)))
        });
        b.fences.push(id);
        let who = self.who(producer);
        self.ev(EventSource::Dmabuf, "fence", None, || {
            format!("{who} adds write fence {label} to {blabel}")
        });
        Ok(Fence { id })
    }

    /// The producer finished: the fence signals (`dma_fence_signal`).
    #[doc(alias = "dma_fence_signal")]
    pub fn fence_signal(&mut self, fence: &Fence) -> Result<()> {
        let f = self
            .dmabuf
            .fences
            .get_mut(&fence.id)
            .ok_or(Error::StaleHandle("fence"))?;
        f.signalled = true;
        let label = f.label.clone();
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
        let f = self
            .dmabuf
            .fences
            .get_mut(&fence.id)
            .ok_or(Error::StaleHandle("fence"))?;
        if !f.signalled {
            return Err(Error::FenceUnsignalled(f.label.clone()));
        }
        if !f.waited.contains(&who) {
            f.waited.push(who);
        }
        let label = f.label.clone();
        let name = self.who(who);
        self.ev(EventSource::Dmabuf, "wait", None, || {
            format!("{name} waited for fence {label}")
        });
        Ok(())
    }

    pub(crate) fn chk_dmabuf_access(&mut self, buf: u64, who: Accessor, site: Site) {
        let Some(b) = self.dmabuf.bufs.get(&buf) else {
            return;
        };
        let mut out = Vec::new();
        for fid in &b.fences {
            let f = &self.dmabuf.fences[fid];
            if f.producer == who || (f.signalled && f.waited.contains(&who)) {
                continue;
            }
            let state = if f.signalled {
                "signalled, but never waited for"
            } else {
                "not signalled: the writer may still be writing"
            };
            let mut x = Finding::new(
                Rule::DmabufFenceNotWaited,
                self.origin(site),
                format!(
                    "{} accesses {} while fence {} of {} is {state}",
                    self.who(who),
                    b.label,
                    f.label,
                    self.who(f.producer)
                ),
            );
            if let Accessor::Device(d) = who {
                x.device = Some(self.dev_name(d));
            }
            x.buffer = Some(b.label.to_string());
            out.push(x);
        }
        self.findings.extend(out);
    }

    /// `dma_buf_begin_cpu_access`: waits for the writers' fences and syncs
    /// every mapped attachment for the CPU.
    #[doc(alias = "dma_buf_begin_cpu_access")]
    #[track_caller]
    pub fn dmabuf_begin_cpu_access(&mut self, buf: &DmaBuf, dir: DmaDirection) -> Result<()> {
        let site = Location::caller();
        let b = self.buf(buf.id)?;
        let (label, prev, fences) = (b.label.clone(), b.cpu, b.fences.clone());
        if self.cfg.checker {
            if let Some(p) = prev {
                let mut f = Finding::new(
                    Rule::DmabufBeginEndMismatch,
                    self.origin(site),
                    format!(
                        "begin_cpu_access on {label} ({dir}) while a CPU access ({p}) is already open"
                    ),
                );
                f.buffer = Some(label.to_string());
                self.report(f);
            }
            for fid in &fences {
                let f = &self.dmabuf.fences[fid];
                if f.producer != Accessor::Cpu && !f.signalled {
                    let mut x = Finding::new(
                        Rule::DmabufFenceNotWaited,
                        self.origin(site),
                        format!(
                            "begin_cpu_access on {label} cannot wait for fence {} of {}: nobody signalled it",
                            f.label,
                            self.who(f.producer)
                        ),
                    );
                    x.buffer = Some(label.to_string());
                    self.report(x);
                }
            }
        }
        for fid in &fences {
            let f = self.dmabuf.fences.get_mut(fid).expect("fence");
            if f.signalled && !f.waited.contains(&Accessor::Cpu) {
                f.waited.push(Accessor::Cpu);
            }
        }
        self.dmabuf.bufs.get_mut(&buf.id).expect("buffer").cpu = Some(dir);
        self.ev(EventSource::Dmabuf, "begin-cpu-access", None, || {
            format!("begin_cpu_access {label} {dir}")
        });
        for (id, dev) in self.mapped_attachments(buf.id) {
            let r = &self.maps[&id];
            let (dma, nents, mdir) = (r.dma, r.nents, r.dir);
            self.sync_impl(dev, dma, 0, mdir, true, Some(nents), site);
        }
        Ok(())
    }

    /// `dma_buf_end_cpu_access`: syncs every mapped attachment back for its
    /// device.
    #[doc(alias = "dma_buf_end_cpu_access")]
    #[track_caller]
    pub fn dmabuf_end_cpu_access(&mut self, buf: &DmaBuf, dir: DmaDirection) -> Result<()> {
        let site = Location::caller();
        let b = self.buf(buf.id)?;
        let (label, prev) = (b.label.clone(), b.cpu);
        if self.cfg.checker {
            let msg = match prev {
                None => Some(format!(
                    "end_cpu_access on {label} without begin_cpu_access"
                )),
                Some(p) if p != dir => Some(format!(
                    "end_cpu_access on {label} with {dir}, begun with {p}"
                )),
                _ => None,
            };
            if let Some(m) = msg {
                let mut f = Finding::new(Rule::DmabufBeginEndMismatch, self.origin(site), m);
                f.buffer = Some(label.to_string());
                self.report(f);
            }
        }
        self.dmabuf.bufs.get_mut(&buf.id).expect("buffer").cpu = None;
        self.ev(EventSource::Dmabuf, "end-cpu-access", None, || {
            format!("end_cpu_access {label} {dir}")
        });
        for (id, dev) in self.mapped_attachments(buf.id) {
            let r = &self.maps[&id];
            let (dma, nents, mdir) = (r.dma, r.nents, r.dir);
            self.sync_impl(dev, dma, 0, mdir, false, Some(nents), site);
        }
        Ok(())
    }

    fn mapped_attachments(&self, buf: u64) -> Vec<(u64, DeviceId)> {
        let mut v: Vec<(u64, DeviceId)> = self
            .dmabuf
            .atts
            .values()
            .filter(|a| a.buf == buf)
            .filter_map(|a| a.map.map(|(id, _)| (id, a.dev)))
            .collect();
        v.sort_unstable();
        v
    }

    fn dmabuf_cpu(
        &mut self,
        buf: &DmaBuf,
        offset: u64,
        len: u64,
        access: Access,
        site: Site,
    ) -> Result<Vec<(u64, u64)>> {
        if offset.checked_add(len).is_none_or(|e| e > buf.size) {
            return Err(Error::OutOfBounds {
                offset,
                len,
                size: buf.size,
            });
        }
        let b = self.buf(buf.id)?;
        let (label, state) = (b.label.clone(), b.cpu);
        let mut pieces = Vec::new();
        let mut o = offset;
        while o < offset + len {
            let n = (PAGE_SIZE - o % PAGE_SIZE).min(offset + len - o);
            pieces.push((b.pages[(o / PAGE_SIZE) as usize] + o % PAGE_SIZE, n));
            o += n;
        }
        if self.cfg.checker {
            match state {
                None => {
                    let mut f = Finding::new(
                        Rule::DmabufCpuAccessOutside,
                        self.origin(site),
                        format!(
                            "CPU {access} of {len} bytes of {label} at offset {offset} outside begin_cpu_access/end_cpu_access"
                        ),
                    );
                    f.buffer = Some(label.to_string());
                    f.size = Some(len);
                    self.report(f);
                    return Ok(pieces);
                }
                Some(DmaDirection::FromDevice) if access == Access::Write => {
                    let mut f = Finding::new(
                        Rule::DmabufBeginEndMismatch,
                        self.origin(site),
                        format!(
                            "CPU write to {label} inside a read-only begin_cpu_access (DMA_FROM_DEVICE)"
                        ),
                    );
                    f.buffer = Some(label.to_string());
                    self.report(f);
                }
                _ => {}
            }
            self.chk_dmabuf_access(buf.id, Accessor::Cpu, site);
            for &(p, n) in &pieces {
                self.chk_cpu_access(p, n, access, site);
            }
        }
        Ok(pieces)
    }

    /// The CPU reads the DMA-BUF (through its `vmap`).
    #[track_caller]
    pub fn dmabuf_read(&mut self, buf: &DmaBuf, offset: u64, out: &mut [u8]) -> Result<()> {
        let site = Location::caller();
        let mut done = 0usize;
        for (p, n) in self.dmabuf_cpu(buf, offset, out.len() as u64, Access::Read, site)? {
            self.cpu_phys_read(p, &mut out[done..done + n as usize]);
            done += n as usize;
        }
        Ok(())
    }

    /// The CPU writes the DMA-BUF (through its `vmap`).
    #[track_caller]
    pub fn dmabuf_write(&mut self, buf: &DmaBuf, offset: u64, data: &[u8]) -> Result<()> {
        let site = Location::caller();
        let mut done = 0usize;
        for (p, n) in self.dmabuf_cpu(buf, offset, data.len() as u64, Access::Write, site)? {
            self.cpu_phys_write(p, &data[done..done + n as usize]);
            done += n as usize;
        }
        Ok(())
    }
}
