//! The objects a scenario names (buffers, mappings, DMA-BUFs, attachments,
//! fences), with typed getters that say what was expected when a name is
//! missing or is something else.

use std::collections::HashMap;

use super::ast::{Name, Ref};
use super::lex::ScenarioError;
use crate::addr::{Iova, PhysAddr, PhysRange};
use crate::calls::MapFunc;
use crate::calls::ScatterEntry;
use crate::direction::DmaDirection;
use crate::dmabuf::{Attachment, AttachmentMap, DmaBuf, Fence};
use crate::ids::DeviceId;
use crate::mapping::DmaSegment;
use crate::pool::DmaPool;

/// A named object.
pub(super) enum Obj {
    /// CPU memory from `alloc`.
    Buf {
        phys: PhysAddr,
        len: u64,
    },
    /// A coherent buffer.
    Coherent {
        dev: DeviceId,
        cpu: PhysAddr,
        dma: Iova,
        len: u64,
    },
    /// A single mapping (`dma_map_single` or `dma_map_page`).
    Map {
        dev: DeviceId,
        dma: Iova,
        len: u64,
        dir: DmaDirection,
        func: MapFunc,
        phys: PhysAddr,
    },
    /// A scatterlist mapping: the list as `dma_map_sg` left it.
    Sg {
        dev: DeviceId,
        dir: DmaDirection,
        sg: Vec<ScatterEntry>,
    },
    DmaBuf(DmaBuf),
    /// An attachment; `None` once detached.
    Att(Option<Attachment>),
    /// A mapped attachment: its DMA segments, which stay known after the
    /// unmap (so that a use after unmap reaches the device), and the handle
    /// while it is mapped.
    AttMap {
        segs: Vec<DmaSegment>,
        live: Option<AttachmentMap>,
    },
    Fence(Fence),
    /// A DMA pool; `None` once destroyed.
    Pool(Option<DmaPool>),
    /// A block of a DMA pool (coherent memory).
    Block {
        pool: String,
        cpu: PhysAddr,
        dma: Iova,
        len: u64,
    },
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
            Obj::AttMap { .. } => "a mapped attachment",
            Obj::Fence(_) => "a fence",
            Obj::Pool(_) => "a DMA pool",
            Obj::Block { .. } => "a pool block",
        }
    }
}

/// A coherent buffer as a descriptor ring.
pub(super) struct Ring {
    /// Its CPU address.
    pub(super) cpu: PhysAddr,
    /// Its DMA address.
    pub(super) dma: Iova,
    /// Its length.
    pub(super) len: u64,
}

/// A scatterlist mapping as the calls on it need it.
pub(super) struct SgList {
    pub(super) dev: DeviceId,
    pub(super) dir: DmaDirection,
    pub(super) sg: Vec<ScatterEntry>,
}

/// The named objects, and the line being run (for errors).
#[derive(Default)]
pub(super) struct Objects {
    by_name: HashMap<String, (Obj, u32)>,
    /// The step being run.
    pub(super) line: u32,
}

type Found<T> = Result<T, ScenarioError>;

impl Objects {
    /// An error at column `col` of the step being run.
    pub(super) fn err(&self, col: u32, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            line: self.line,
            column: col,
            message: message.into(),
        }
    }

    /// Fails when `n` already names an object.
    pub(super) fn ensure_new(&self, n: &Name) -> Found<()> {
        match self.by_name.get(&n.text) {
            Some((_, l)) => Err(self.err(
                n.col,
                format!("'{}' is already defined at line {l}", n.text),
            )),
            None => Ok(()),
        }
    }

    /// Names `o`, on the step being run.
    pub(super) fn insert(&mut self, n: &Name, o: Obj) {
        self.by_name.insert(n.text.clone(), (o, self.line));
    }

    /// Forgets a name.
    pub(super) fn remove(&mut self, name: &str) {
        self.by_name.remove(name);
    }

    /// The object named `name` (written at `col`).
    pub(super) fn get(&self, name: &str, col: u32) -> Found<&Obj> {
        self.by_name
            .get(name)
            .map(|(o, _)| o)
            .ok_or_else(|| self.err(col, format!("nothing is named '{name}'")))
    }

    /// The object named `name`, to change.
    pub(super) fn get_mut(&mut self, name: &str, col: u32) -> Found<&mut Obj> {
        let e = self.err(col, format!("nothing is named '{name}'"));
        self.by_name.get_mut(name).map(|(o, _)| o).ok_or(e)
    }

    /// The error for a name that is something other than `want`.
    pub(super) fn wrong(&self, n: &str, col: u32, want: &str) -> ScenarioError {
        let is = self.by_name.get(n).map_or("undefined", |(o, _)| o.kind());
        self.err(col, format!("'{n}' is {is}, not {want}"))
    }

    /// A buffer from `alloc`.
    pub(super) fn buffer(&self, n: &str, col: u32) -> Found<PhysRange> {
        match self.get(n, col)? {
            Obj::Buf { phys, len } => Ok(PhysRange::new(*phys, *len)),
            _ => Err(self.wrong(n, col, "a buffer")),
        }
    }

    /// A coherent buffer holding a descriptor ring.
    pub(super) fn ring(&self, n: &Name) -> Found<Ring> {
        match self.get(&n.text, n.col)? {
            Obj::Coherent { cpu, dma, len, .. } => Ok(Ring {
                cpu: *cpu,
                dma: *dma,
                len: *len,
            }),
            _ => Err(self.wrong(&n.text, n.col, "a coherent buffer")),
        }
    }

    /// A scatterlist mapping.
    pub(super) fn sg(&self, n: &Name) -> Found<SgList> {
        match self.get(&n.text, n.col)? {
            Obj::Sg { dev, sg, dir, .. } => Ok(SgList {
                dev: *dev,
                dir: *dir,
                sg: sg.clone(),
            }),
            _ => Err(self.wrong(&n.text, n.col, "a scatterlist mapping")),
        }
    }

    /// A DMA-BUF.
    pub(super) fn dmabuf(&self, n: &Name) -> Found<DmaBuf> {
        match self.get(&n.text, n.col)? {
            Obj::DmaBuf(b) => Ok(b.clone()),
            _ => Err(self.wrong(&n.text, n.col, "a DMA-BUF")),
        }
    }

    /// A live DMA pool.
    pub(super) fn pool(&self, n: &Name) -> Found<&DmaPool> {
        match self.get(&n.text, n.col)? {
            Obj::Pool(Some(p)) => Ok(p),
            Obj::Pool(None) => Err(self.err(n.col, format!("{} was destroyed", n.text))),
            _ => Err(self.wrong(&n.text, n.col, "a DMA pool")),
        }
    }

    /// A live DMA pool, taken to be destroyed.
    pub(super) fn take_pool(&mut self, n: &Name) -> Found<DmaPool> {
        let e = self.wrong(&n.text, n.col, "a DMA pool");
        let gone = self.err(n.col, format!("{} was destroyed", n.text));
        match self.get_mut(&n.text, n.col)? {
            Obj::Pool(p) => p.take().ok_or(gone),
            _ => Err(e),
        }
    }

    /// A fence.
    pub(super) fn fence(&self, n: &Name) -> Found<Fence> {
        match self.get(&n.text, n.col)? {
            Obj::Fence(f) => Ok(f.clone()),
            _ => Err(self.wrong(&n.text, n.col, "a fence")),
        }
    }

    /// The DMA address a device-side reference names: a mapping, a coherent
    /// buffer or a segment of a scatterlist or attachment, plus the offset;
    /// or a raw address.
    pub(super) fn dma_of(&self, r: &Ref) -> Found<Iova> {
        let Some(name) = &r.name else {
            return Ok(Iova::new(r.off));
        };
        let base = match (self.get(name, r.col)?, r.seg) {
            (Obj::Map { dma, .. }, None) => *dma,
            (Obj::Coherent { dma, .. }, None) => *dma,
            (Obj::Block { dma, .. }, None) => *dma,
            // Every entry of the list can be named, as a driver can read
            // it: past the count dma_map_sg returned it holds
            // DMA_MAPPING_ERROR.
            (Obj::Sg { sg, .. }, s) => {
                let i = s.unwrap_or(0);
                let e = sg.get(i).ok_or_else(|| {
                    self.err(
                        r.col,
                        format!("{name} has {} entries: #{i} does not exist", sg.len()),
                    )
                })?;
                e.dma_address
            }
            (Obj::AttMap { segs, .. }, s) => {
                let i = s.unwrap_or(0);
                let seg = segs
                    .get(i)
                    .ok_or_else(|| self.err(r.col, format!("{name} has no DMA segment #{i}")))?;
                seg.addr
            }
            (_, Some(_)) => return Err(self.err(r.col, format!("'{name}' has no DMA segments"))),
            _ => return Err(self.wrong(name, r.col, "a mapping or coherent buffer")),
        };
        // A driver computes `dma + offset` with wrap-around, even on a
        // failed mapping's DMA_MAPPING_ERROR.
        Ok(Iova::new(base.raw().wrapping_add(r.off)))
    }

    /// What a CPU-side reference of `len` bytes points at.
    pub(super) fn cpu_target(&self, r: &Ref, len: u64) -> Found<Target> {
        let Some(name) = &r.name else {
            return Err(self.err(r.col, "the CPU accesses named buffers, not raw addresses"));
        };
        let at = |p: PhysAddr| p.checked_add(r.off).map(Target::Phys);
        let (t, size) = match self.get(name, r.col)? {
            Obj::Buf { phys, len } => (at(*phys), *len),
            Obj::Map { phys, len, .. } => (at(*phys), *len),
            Obj::Coherent { cpu, len, .. } => (at(*cpu), *len),
            Obj::Block { cpu, len, .. } => (at(*cpu), *len),
            Obj::DmaBuf(b) => (Some(Target::DmaBuf(b.clone(), r.off)), b.size()),
            _ => return Err(self.wrong(name, r.col, "a buffer, a coherent buffer or a DMA-BUF")),
        };
        match t {
            Some(t) if r.off.checked_add(len).is_some_and(|e| e <= size) => Ok(t),
            _ => Err(self.err(
                r.col,
                format!(
                    "{len} bytes at offset {} do not fit in {name} ({size} bytes)",
                    r.off
                ),
            )),
        }
    }
}

/// Where the CPU reads or writes.
pub(super) enum Target {
    /// CPU memory.
    Phys(PhysAddr),
    /// A DMA-BUF, at an offset.
    DmaBuf(DmaBuf, u64),
}
