//! Making and taking apart the typed API's handles: how a backend outside
//! this crate (a test double, a VFIO backend, a model of another bus)
//! implements [`DmaBackend`](crate::DmaBackend).
//!
//! A driver must not be able to make a handle ([`CpuBuf`],
//! [`StreamingMap`], [`SgMap`], [`CoherentBuf`]) or change who owns one:
//! that is what makes CPU access to device-owned memory a type error. So
//! handles are made, changed and taken apart only through a
//! [`HandleMaker`], and every handle carries the [`Instance`] of the maker
//! that made it. A maker makes handles of one kind of CPU address
//! ([`CpuAddress`]): `HandleMaker<PhysAddr>` for a backend whose buffers
//! are physical memory (the model), `HandleMaker<VirtAddr>` for one whose
//! buffers are memory of this process (VFIO); the backend's
//! [`DmaBackend::CpuAddr`](crate::DmaBackend::CpuAddr) is the same kind.
//!
//! # The contract
//!
//! A backend that implements [`DmaBackend`](crate::DmaBackend):
//!
//! 1. creates one [`HandleMaker`] per backend value and keeps it private:
//!    never returns it, never shares it with a driver;
//! 2. makes a [`CpuBuf`] only for CPU memory it allocated, a
//!    [`StreamingMap`] or [`SgMap`] only for a mapping it made (owned by the
//!    device until a sync for the CPU), a [`CoherentBuf`] only for coherent
//!    memory it allocated, each exactly once;
//! 3. takes every handle it is given apart through its own maker, which
//!    refuses a handle made by another instance ([`Foreign`]); a fallible
//!    call then returns [`Error::ForeignHandle`], an infallible one reports
//!    it (the model: a `foreign-handle` finding) and returns a *refused*
//!    handle ([`HandleMaker::refused_buf`] and its siblings), zero bytes
//!    long, which it ignores when it comes back;
//! 4. treats the pieces of a split [`CpuBuf`] (same allocation address,
//!    disjoint offsets) as separate owners of their bytes: the allocation
//!    is released when the last piece is freed.
//!
//! The maker cannot enforce (1) and (2), which is why they are written
//! here; it enforces (3): a driver that makes its own maker can make
//! handles, but no backend accepts them.
//!
//! # Example
//! A test double that records what a driver asks for lives in the
//! `numakit` crate's `dma_driver` example; inside this crate, the model
//! (`model/typed.rs`) and the VFIO backend (`vfio/`) keep the same
//! contract through the same maker.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::addr::{Iova, PhysAddr};
use crate::calls::MapFunc;
use crate::direction::DmaDirection;
use crate::error::Error;
use crate::ids::DeviceId;
use crate::mapping::DmaSegment;
use crate::typed::{CoherentBuf, CpuAddress, CpuBuf, Device, Owner, SgMap, SgTable, StreamingMap};

/// Which backend value a handle belongs to: one per [`HandleMaker`],
/// unique in the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Instance(u64);

impl Instance {
    /// The number (1, 2, ... in the order makers were created).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a [`CpuBuf`] says: which allocation, where in it, how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufParts<A: CpuAddress = PhysAddr> {
    /// The allocation: the CPU address of its first byte.
    pub alloc: A,
    /// Where the piece starts in it (0 unless split).
    pub offset: u64,
    /// Its length in bytes.
    pub len: u64,
}

/// What a [`StreamingMap`] says besides its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapParts {
    /// The device it is mapped for.
    pub dev: DeviceId,
    /// The address the device uses.
    pub dma: Iova,
    /// The direction.
    pub dir: DmaDirection,
    /// The function it was mapped with (`Single` or `Page`).
    pub func: MapFunc,
}

/// What an [`SgMap`] says besides its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SgParts {
    /// The device it is mapped for.
    pub dev: DeviceId,
    /// The direction.
    pub dir: DmaDirection,
    /// The DMA segments the mapping gave.
    pub segs: Vec<DmaSegment>,
}

/// What a [`CoherentBuf`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoherentParts<A: CpuAddress = PhysAddr> {
    /// The device it was allocated for.
    pub dev: DeviceId,
    /// The CPU address of its first byte.
    pub cpu: A,
    /// The address the device uses.
    pub dma: Iova,
    /// Its size in bytes.
    pub len: u64,
}

/// A handle made by another backend instance, refused and handed back
/// whole: nothing in it can be taken out here.
#[derive(Debug)]
pub struct Foreign<T> {
    handle: T,
    /// The instance that made it.
    pub made_by: Instance,
    /// The instance it was given to.
    pub given_to: Instance,
}

impl<T> Foreign<T> {
    /// The handle, unchanged: it belongs to the backend that made it.
    pub fn into_handle(self) -> T {
        self.handle
    }

    /// The error a fallible call returns for it.
    pub fn error(&self, what: &'static str) -> Error {
        Error::ForeignHandle {
            what,
            made_by: self.made_by.get(),
            given_to: self.given_to.get(),
        }
    }
}

static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

/// Makes, changes and takes apart handles for one backend value, whose
/// buffers are at CPU addresses of kind `A`. Not `Clone`: keep it private
/// to the backend (see the [module documentation](self) for the contract).
#[derive(Debug)]
pub struct HandleMaker<A: CpuAddress = PhysAddr> {
    instance: Instance,
    _addr: PhantomData<fn() -> A>,
}

impl<A: CpuAddress> Default for HandleMaker<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: CpuAddress> HandleMaker<A> {
    /// A maker with a new [`Instance`].
    pub fn new() -> HandleMaker<A> {
        HandleMaker {
            instance: Instance(NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed)),
            _addr: PhantomData,
        }
    }

    /// The instance its handles carry.
    pub fn instance(&self) -> Instance {
        self.instance
    }

    /// A device of the backend, by its index.
    pub fn device(&self, index: u32) -> DeviceId {
        DeviceId(index)
    }

    fn foreign<T>(&self, handle: T, made_by: Instance) -> Foreign<T> {
        Foreign {
            handle,
            made_by,
            given_to: self.instance,
        }
    }

    fn mine(&self, buf: &CpuBuf<A>) -> bool {
        buf.instance == self.instance
    }

    /// A CPU buffer: a piece of allocation `parts.alloc`.
    pub fn cpu_buf(&self, parts: BufParts<A>) -> CpuBuf<A> {
        CpuBuf {
            instance: self.instance,
            alloc: parts.alloc,
            offset: parts.offset,
            len: parts.len,
        }
    }

    /// What a CPU buffer says, if this backend made it.
    pub fn buf_parts(&self, buf: &CpuBuf<A>) -> Result<BufParts<A>, Error> {
        if !self.mine(buf) {
            return Err(Error::ForeignHandle {
                what: "CPU buffer",
                made_by: buf.instance.get(),
                given_to: self.instance.get(),
            });
        }
        Ok(BufParts {
            alloc: buf.alloc,
            offset: buf.offset,
            len: buf.len,
        })
    }

    /// Checks that every handle of `table` is this backend's.
    pub fn check_table(&self, table: &SgTable<A>) -> Result<(), Error> {
        table
            .entries
            .iter()
            .try_for_each(|b| self.buf_parts(b).map(drop))
    }

    /// A new streaming mapping of `buf`, owned by the device.
    pub fn streaming_map(
        &self,
        parts: MapParts,
        buf: CpuBuf<A>,
    ) -> Result<StreamingMap<Device, A>, Foreign<CpuBuf<A>>> {
        if !self.mine(&buf) {
            let by = buf.instance;
            return Err(self.foreign(buf, by));
        }
        Ok(StreamingMap {
            dev: parts.dev,
            dma: parts.dma,
            dir: parts.dir,
            func: parts.func,
            buf,
            _owner: PhantomData,
        })
    }

    /// What a streaming mapping says, and its buffer's parts.
    pub fn map_parts<O: Owner>(
        &self,
        map: &StreamingMap<O, A>,
    ) -> Result<(MapParts, BufParts<A>), Error> {
        let buf = self.buf_parts(&map.buf)?;
        let parts = MapParts {
            dev: map.dev,
            dma: map.dma,
            dir: map.dir,
            func: map.func,
        };
        Ok((parts, buf))
    }

    /// The same mapping, now owned by `P`: what a sync does once the
    /// backend has done it.
    pub fn hand_over<O: Owner, P: Owner>(
        &self,
        map: StreamingMap<O, A>,
    ) -> Result<StreamingMap<P, A>, Foreign<StreamingMap<O, A>>> {
        if !self.mine(&map.buf) {
            let by = map.buf.instance;
            return Err(self.foreign(map, by));
        }
        Ok(map.owned())
    }

    /// The buffer of an unmapped mapping, owned by the CPU again.
    pub fn unmapped<O: Owner>(
        &self,
        map: StreamingMap<O, A>,
    ) -> Result<CpuBuf<A>, Foreign<StreamingMap<O, A>>> {
        if !self.mine(&map.buf) {
            let by = map.buf.instance;
            return Err(self.foreign(map, by));
        }
        Ok(map.buf)
    }

    /// A new scatterlist mapping of `table`, owned by the device.
    pub fn sg_map(
        &self,
        parts: SgParts,
        table: SgTable<A>,
    ) -> Result<SgMap<Device, A>, Foreign<SgTable<A>>> {
        if let Some(b) = table.entries.iter().find(|b| !self.mine(b)) {
            let by = b.instance;
            return Err(self.foreign(table, by));
        }
        Ok(SgMap {
            dev: parts.dev,
            dir: parts.dir,
            table,
            segs: parts.segs,
            _owner: PhantomData,
        })
    }

    /// What a scatterlist mapping says, and its entries' parts.
    pub fn sg_parts<O: Owner>(
        &self,
        map: &SgMap<O, A>,
    ) -> Result<(SgParts, Vec<BufParts<A>>), Error> {
        let entries = map
            .table
            .entries
            .iter()
            .map(|b| self.buf_parts(b))
            .collect::<Result<_, _>>()?;
        let parts = SgParts {
            dev: map.dev,
            dir: map.dir,
            segs: map.segs.clone(),
        };
        Ok((parts, entries))
    }

    /// The same scatterlist mapping, now owned by `P`.
    pub fn hand_over_sg<O: Owner, P: Owner>(
        &self,
        map: SgMap<O, A>,
    ) -> Result<SgMap<P, A>, Foreign<SgMap<O, A>>> {
        if let Some(b) = map.table.entries.iter().find(|b| !self.mine(b)) {
            let by = b.instance;
            return Err(self.foreign(map, by));
        }
        Ok(map.owned())
    }

    /// The table of an unmapped scatterlist, owned by the CPU again.
    pub fn unmapped_sg<O: Owner>(
        &self,
        map: SgMap<O, A>,
    ) -> Result<SgTable<A>, Foreign<SgMap<O, A>>> {
        if let Some(b) = map.table.entries.iter().find(|b| !self.mine(b)) {
            let by = b.instance;
            return Err(self.foreign(map, by));
        }
        Ok(map.table)
    }

    /// New coherent memory.
    pub fn coherent_buf(&self, parts: CoherentParts<A>) -> CoherentBuf<A> {
        CoherentBuf {
            instance: self.instance,
            dev: parts.dev,
            cpu: parts.cpu,
            dma: parts.dma,
            len: parts.len,
        }
    }

    /// What coherent memory says, if this backend made it.
    pub fn coherent_parts(&self, buf: &CoherentBuf<A>) -> Result<CoherentParts<A>, Error> {
        if buf.instance != self.instance {
            return Err(Error::ForeignHandle {
                what: "coherent buffer",
                made_by: buf.instance.get(),
                given_to: self.instance.get(),
            });
        }
        Ok(CoherentParts {
            dev: buf.dev,
            cpu: buf.cpu,
            dma: buf.dma,
            len: buf.len,
        })
    }

    /// A zero-length buffer of this backend: what an infallible call that
    /// refused a foreign handle returns, and ignores when it comes back.
    pub fn refused_buf(&self) -> CpuBuf<A> {
        self.cpu_buf(BufParts {
            alloc: A::zero(),
            offset: 0,
            len: 0,
        })
    }

    /// A refused streaming mapping (zero bytes at `DMA_MAPPING_ERROR`).
    pub fn refused_map<O: Owner>(&self, dev: DeviceId, dir: DmaDirection) -> StreamingMap<O, A> {
        StreamingMap {
            dev,
            dma: crate::addr::DMA_MAPPING_ERROR,
            dir,
            func: MapFunc::Single,
            buf: self.refused_buf(),
            _owner: PhantomData,
        }
    }

    /// A refused scatterlist mapping (no entries).
    pub fn refused_sg<O: Owner>(&self, dev: DeviceId, dir: DmaDirection) -> SgMap<O, A> {
        SgMap {
            dev,
            dir,
            table: SgTable::default(),
            segs: Vec::new(),
            _owner: PhantomData,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makers_refuse_each_others_handles() {
        let (a, b) = (HandleMaker::<PhysAddr>::new(), HandleMaker::new());
        assert_ne!(a.instance(), b.instance());
        let parts = BufParts {
            alloc: PhysAddr::new(0x1000),
            offset: 0,
            len: 64,
        };
        let buf = a.cpu_buf(parts);
        assert_eq!(a.buf_parts(&buf).unwrap(), parts);
        let e = b.buf_parts(&buf).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "this CPU buffer was made by DMA backend instance {}, not by this one ({}): give each handle back to the backend that made it",
                a.instance().get(),
                b.instance().get()
            )
        );
        let mp = MapParts {
            dev: a.device(0),
            dma: Iova::new(0x2000),
            dir: DmaDirection::ToDevice,
            func: MapFunc::Single,
        };
        let refused = b.streaming_map(mp, buf).unwrap_err();
        assert_eq!(refused.made_by, a.instance());
        let map = a.streaming_map(mp, refused.into_handle()).unwrap();
        let map = b
            .hand_over::<Device, crate::typed::Cpu>(map)
            .unwrap_err()
            .into_handle();
        assert_eq!(a.map_parts(&map).unwrap().0, mp);
        let buf = a.unmapped(map).unwrap();
        let (x, y) = buf.split_at(10);
        assert_eq!(a.buf_parts(&y).unwrap().offset, 10);
        assert!(b.check_table(&SgTable::new(vec![x, y])).is_err());
    }

    /// Makers of process addresses (VFIO's kind) keep the same contract:
    /// pieces say where they are, a refused buffer is empty at address 0.
    #[test]
    fn makers_of_process_addresses_refuse_and_split_alike() {
        use crate::addr::VirtAddr;
        let (a, b) = (HandleMaker::<VirtAddr>::new(), HandleMaker::new());
        let buf = a.cpu_buf(BufParts {
            alloc: VirtAddr::new(0x7f00_0000_0000),
            offset: 0,
            len: 100,
        });
        let (x, y) = buf.split_at(40);
        assert_eq!(y.virt(), VirtAddr::new(0x7f00_0000_0028));
        assert_eq!((x.len(), y.len()), (40, 60));
        assert!(matches!(
            b.buf_parts(&y),
            Err(Error::ForeignHandle {
                what: "CPU buffer",
                ..
            })
        ));
        let refused = b.refused_buf();
        assert_eq!((refused.len(), refused.virt()), (0, VirtAddr::new(0)));
        assert_eq!(
            a.buf_parts(&x).unwrap().alloc,
            VirtAddr::new(0x7f00_0000_0000)
        );
    }
}
