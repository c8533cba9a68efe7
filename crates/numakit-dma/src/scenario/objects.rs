//! The objects a scenario names (buffers, mappings, DMA-BUFs, attachments,
//! fences), with typed getters that say what was expected when a name is
//! missing or is something else.

use std::collections::HashMap;

use super::ast::{Name, Ref};
use super::lex::ScenarioError;
use crate::addr::{Iova, PhysAddr, PhysRange};
use crate::calls::ScatterEntry;
use crate::direction::DmaDirection;
use crate::dmabuf::{Attachment, AttachmentMap, DmaBuf, Fence};
use crate::ids::DeviceId;
use crate::mapping::MapFunc;

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
    /// A scatterlist mapping: the list and the count `dma_map_sg` returned.
    Sg {
        dev: DeviceId,
        dir: DmaDirection,
        sg: Vec<ScatterEntry>,
        count: usize,
    },
    DmaBuf(DmaBuf),
    /// An attachment; `None` once detached.
    Att(Option<Attachment>),
    /// A mapped attachment; `None` once unmapped.
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
            (Obj::Sg { sg, count, .. }, s) => {
                let i = s.unwrap_or(0);
                if i >= (*count).max(1) {
                    return Err(self.err(
                        r.col,
                        format!("{name} has {count} DMA segment(s): #{i} does not exist"),
                    ));
                }
                sg[i].dma_address
            }
            (Obj::AttMap(Some(am)), s) => {
                let i = s.unwrap_or(0);
                let seg = am
                    .segments()
                    .get(i)
                    .ok_or_else(|| self.err(r.col, format!("{name} has no DMA segment #{i}")))?;
                seg.addr
            }
            (Obj::AttMap(None), _) => return Err(self.err(r.col, format!("{name} was unmapped"))),
            (_, Some(_)) => return Err(self.err(r.col, format!("'{name}' has no DMA segments"))),
            _ => return Err(self.wrong(name, r.col, "a mapping or coherent buffer")),
        };
        base.checked_add(r.off)
            .ok_or_else(|| self.err(r.col, "address overflows"))
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
