//! DMA-BUF: a buffer exported by one driver and imported by others, each
//! importer mapping it for its own device, with fences that order the
//! writers and readers, and CPU access bracketed by begin/end.
//!
//! The exporter behaves like the kernel's system heap: the buffer is a list
//! of pages scattered in physical memory; mapping an attachment maps that
//! list for the importing device with `dma_map_sg`; begin/end CPU access sync
//! every mapped attachment for the CPU and back. This module holds the
//! handles and the state (buffers, attachments, fences); the calls are
//! methods of [`ModelBackend`](crate::ModelBackend).

use std::sync::Arc;

use crate::addr::{PAGE_SIZE, PhysAddr, PhysRange};
use crate::direction::DmaDirection;
use crate::error::{Error, Result};
use crate::ids::DeviceId;
use crate::ids::{AttId, BufId, FenceId, MapId};
use crate::intmap::IntMap;
use crate::mapping::DmaSegment;

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
    pub(crate) id: BufId,
    pub(crate) size: u64,
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
    pub(crate) id: AttId,
    pub(crate) dev: DeviceId,
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
    pub(crate) att: AttId,
    pub(crate) dev: DeviceId,
    pub(crate) segs: Vec<DmaSegment>,
}

impl AttachmentMap {
    /// The DMA segments.
    pub fn segments(&self) -> &[DmaSegment] {
        &self.segs
    }
    /// The importing device.
    pub fn device(&self) -> DeviceId {
        self.dev
    }
}

/// What a fence on a DMA-BUF guards (`enum dma_resv_usage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FenceUsage {
    /// `DMA_RESV_USAGE_WRITE`: a writer's; every other access waits for it.
    Write,
    /// `DMA_RESV_USAGE_READ`: a reader's (a display scanning the buffer
    /// out); a writer waits for it, other readers need not.
    Read,
}

/// A fence (`struct dma_fence`) a writer or reader attached to a DMA-BUF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub(crate) id: FenceId,
}

/// A buffer.
pub(crate) struct BufRec {
    pub(crate) label: Arc<str>,
    /// Its pages, in buffer order.
    pub(crate) pages: Vec<PhysAddr>,
    /// The direction of the open CPU access, if one is open.
    pub(crate) cpu: Option<DmaDirection>,
    /// The write fences later accessors must wait for.
    pub(crate) fences: Vec<FenceId>,
}

/// An attachment and, while mapped, its mapping.
pub(crate) struct AttRec {
    pub(crate) buf: BufId,
    pub(crate) dev: DeviceId,
    pub(crate) map: Option<(MapId, DmaDirection)>,
}

/// A fence.
pub(crate) struct FenceRec {
    pub(crate) label: String,
    pub(crate) producer: Accessor,
    pub(crate) usage: FenceUsage,
    pub(crate) signalled: bool,
    pub(crate) waited: Vec<Accessor>,
}

impl FenceRec {
    /// Whether `who` may access the buffer as far as this fence goes: it
    /// added it, or waited for it after it signalled.
    pub(crate) fn clears(&self, who: Accessor) -> bool {
        self.producer == who || (self.signalled && self.waited.contains(&who))
    }

    /// Whether an access of kind `access` must wait for this fence: every
    /// access waits for a write fence, only a write for a read fence.
    pub(crate) fn guards(&self, access: crate::direction::Access) -> bool {
        self.usage == FenceUsage::Write || access == crate::direction::Access::Write
    }
}

/// Every DMA-BUF, attachment and fence.
#[derive(Default)]
pub(crate) struct DmaBufs {
    bufs: IntMap<BufId, BufRec>,
    atts: IntMap<AttId, AttRec>,
    fences: IntMap<FenceId, FenceRec>,
}

impl DmaBufs {
    /// Adds an exported buffer made of `pages`.
    pub(crate) fn add(&mut self, id: BufId, label: Arc<str>, pages: Vec<PhysAddr>) {
        self.bufs.insert(
            id,
            BufRec {
                label,
                pages,
                cpu: None,
                fences: Vec::new(),
            },
        );
    }

    /// The buffer, or an error for a stale handle.
    pub(crate) fn buf(&self, id: BufId) -> Result<&BufRec> {
        self.bufs.get(&id).ok_or(Error::StaleHandle("DMA-BUF"))
    }

    /// The buffer, if it exists.
    pub(crate) fn get(&self, id: BufId) -> Option<&BufRec> {
        self.bufs.get(&id)
    }

    /// Opens a CPU access to a buffer for `dir`.
    pub(crate) fn open_cpu_access(&mut self, id: BufId, dir: DmaDirection) {
        if let Some(b) = self.bufs.get_mut(&id) {
            b.cpu = Some(dir);
        }
    }

    /// Closes the CPU access to a buffer.
    pub(crate) fn close_cpu_access(&mut self, id: BufId) {
        if let Some(b) = self.bufs.get_mut(&id) {
            b.cpu = None;
        }
    }

    /// Adds an attachment of `buf` for `dev`.
    pub(crate) fn attach(&mut self, id: AttId, buf: BufId, dev: DeviceId) {
        self.atts.insert(
            id,
            AttRec {
                buf,
                dev,
                map: None,
            },
        );
    }

    /// The attachment, or an error for a stale handle.
    pub(crate) fn att(&self, id: AttId) -> Result<&AttRec> {
        self.atts.get(&id).ok_or(Error::StaleHandle("attachment"))
    }

    /// Records the attachment's mapping.
    pub(crate) fn set_mapped(&mut self, id: AttId, map: MapId, dir: DmaDirection) {
        if let Some(a) = self.atts.get_mut(&id) {
            a.map = Some((map, dir));
        }
    }

    /// Takes the attachment's mapping, if it is mapped: `(device, mapping,
    /// direction)`.
    pub(crate) fn take_mapping(&mut self, id: AttId) -> Option<(DeviceId, MapId, DmaDirection)> {
        let a = self.atts.get_mut(&id)?;
        let (map, dir) = a.map.take()?;
        Some((a.dev, map, dir))
    }

    /// Removes the attachment.
    pub(crate) fn detach(&mut self, id: AttId) -> Option<AttRec> {
        self.atts.remove(&id)
    }

    /// The mapped attachments of a buffer, oldest mapping first.
    pub(crate) fn mapped_attachments(&self, buf: BufId) -> Vec<(MapId, DeviceId)> {
        let mut v: Vec<(MapId, DeviceId)> = self
            .atts
            .values()
            .filter(|a| a.buf == buf)
            .filter_map(|a| a.map.map(|(id, _)| (id, a.dev)))
            .collect();
        v.sort_unstable();
        v
    }

    /// `producer` adds fence `id` to `buf`. A new write fence supersedes
    /// the fences its writer waited for (or added itself): later accessors
    /// need to wait for the newest only. A read fence supersedes nothing.
    pub(crate) fn add_fence(
        &mut self,
        buf: BufId,
        id: FenceId,
        label: &str,
        usage: FenceUsage,
        producer: Accessor,
    ) {
        self.fences.insert(
            id,
            FenceRec {
                label: label.to_string(),
                producer,
                usage,
                signalled: false,
                waited: Vec::new(),
            },
        );
        let fences = &self.fences;
        if let Some(b) = self.bufs.get_mut(&buf) {
            if usage == FenceUsage::Write {
                b.fences.retain(|f| !fences[f].clears(producer));
            }
            b.fences.push(id);
        }
    }

    /// The fence, if it exists.
    pub(crate) fn fence(&self, id: FenceId) -> Option<&FenceRec> {
        self.fences.get(&id)
    }

    /// Signals a fence; returns its label.
    pub(crate) fn signal(&mut self, id: FenceId) -> Result<String> {
        let f = self
            .fences
            .get_mut(&id)
            .ok_or(Error::StaleHandle("fence"))?;
        f.signalled = true;
        Ok(f.label.clone())
    }

    /// `who` waits for a signalled fence; returns its label. Waiting for an
    /// unsignalled one is an error: in a sequential model it never returns.
    pub(crate) fn wait(&mut self, who: Accessor, id: FenceId) -> Result<String> {
        let f = self
            .fences
            .get_mut(&id)
            .ok_or(Error::StaleHandle("fence"))?;
        if !f.signalled {
            return Err(Error::FenceUnsignalled(f.label.clone()));
        }
        if !f.waited.contains(&who) {
            f.waited.push(who);
        }
        Ok(f.label.clone())
    }

    /// The CPU waits for every signalled fence of `buf` (what
    /// `dma_buf_begin_cpu_access` does).
    pub(crate) fn cpu_waits(&mut self, buf: BufId) {
        let Some(b) = self.bufs.get(&buf) else {
            return;
        };
        for fid in &b.fences {
            if let Some(f) = self.fences.get_mut(fid)
                && f.signalled
                && !f.waited.contains(&Accessor::Cpu)
            {
                f.waited.push(Accessor::Cpu);
            }
        }
    }
}

impl BufRec {
    /// The physical pieces of `len` bytes at `offset`, a page at most each.
    pub(crate) fn pieces(&self, offset: u64, len: u64) -> Vec<PhysRange> {
        let mut pieces = Vec::new();
        let mut o = offset;
        while o < offset + len {
            let n = (PAGE_SIZE - o % PAGE_SIZE).min(offset + len - o);
            let page = self.pages[(o / PAGE_SIZE) as usize];
            pieces.push(PhysRange::new(page.unchecked_add(o % PAGE_SIZE), n));
            o += n;
        }
        pieces
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bufs() -> DmaBufs {
        let mut b = DmaBufs::default();
        b.add(
            BufId(1),
            Arc::from("frame"),
            vec![PhysAddr::new(0x10000), PhysAddr::new(0x30000)],
        );
        b
    }

    #[test]
    fn pieces_follow_the_scattered_pages() {
        let b = bufs();
        let p = b.buf(BufId(1)).unwrap().pieces(4000, 200);
        assert_eq!(
            p,
            vec![
                PhysRange::new(PhysAddr::new(0x10000 + 4000), 96),
                PhysRange::new(PhysAddr::new(0x30000), 104)
            ]
        );
        assert!(matches!(
            b.buf(BufId(9)),
            Err(Error::StaleHandle("DMA-BUF"))
        ));
    }

    #[test]
    fn fences_supersede_what_their_writer_waited_for() {
        let mut b = bufs();
        let gpu = Accessor::Device(DeviceId(1));
        b.add_fence(
            BufId(1),
            FenceId(2),
            "cam",
            FenceUsage::Write,
            Accessor::Device(DeviceId(0)),
        );
        assert!(b.wait(gpu, FenceId(2)).is_err(), "not signalled yet");
        b.signal(FenceId(2)).unwrap();
        b.wait(gpu, FenceId(2)).unwrap();
        b.add_fence(BufId(1), FenceId(3), "render", FenceUsage::Write, gpu);
        assert_eq!(b.buf(BufId(1)).unwrap().fences, vec![FenceId(3)]);
        assert!(b.fence(FenceId(3)).unwrap().clears(gpu));
        assert!(!b.fence(FenceId(3)).unwrap().clears(Accessor::Cpu));
    }

    #[test]
    fn attachments_map_and_unmap() {
        let mut b = bufs();
        b.attach(AttId(4), BufId(1), DeviceId(2));
        b.set_mapped(AttId(4), MapId(5), DmaDirection::FromDevice);
        assert_eq!(
            b.mapped_attachments(BufId(1)),
            vec![(MapId(5), DeviceId(2))]
        );
        assert_eq!(
            b.take_mapping(AttId(4)),
            Some((DeviceId(2), MapId(5), DmaDirection::FromDevice))
        );
        assert_eq!(b.take_mapping(AttId(4)), None);
        assert!(b.detach(AttId(4)).is_some());
        assert!(b.att(AttId(4)).is_err());
    }
}
