//! DMA pools (`dma_pool_create`): small blocks of coherent memory carved
//! from whole pages, for descriptors. This module holds the handle and
//! each pool's state; the calls are methods of
//! [`ModelBackend`](crate::ModelBackend).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::addr::{Iova, PAGE_SIZE, PhysAddr};
use crate::ids::{DeviceId, MapId};
use crate::intmap::IntMap;

/// A DMA pool (`struct dma_pool`).
#[derive(Debug, PartialEq, Eq)]
pub struct DmaPool {
    pub(crate) id: u64,
}

/// A block of a pool: its CPU and DMA addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Block {
    pub(crate) cpu: PhysAddr,
    pub(crate) dma: Iova,
}

/// One pool.
pub(crate) struct PoolRec {
    pub(crate) name: Arc<str>,
    pub(crate) dev: DeviceId,
    /// The block size, rounded up to the alignment.
    pub(crate) block: u64,
    /// The coherent pages the blocks come from.
    pub(crate) pages: Vec<MapId>,
    /// Blocks ready to hand out, last freed first.
    pub(crate) free: Vec<Block>,
    /// Blocks handed out, by DMA address.
    pub(crate) live: BTreeMap<Iova, Block>,
}

impl PoolRec {
    /// Carves a new coherent page at `cpu`/`dma` into blocks.
    pub(crate) fn add_page(&mut self, id: MapId, cpu: PhysAddr, dma: Iova) {
        self.pages.push(id);
        let n = PAGE_SIZE / self.block;
        // handed out from the start of the page
        for i in (0..n).rev() {
            let off = i * self.block;
            self.free.push(Block {
                cpu: cpu.unchecked_add(off),
                dma: dma.unchecked_add(off),
            });
        }
    }
}

/// Every pool.
#[derive(Default)]
pub(crate) struct Pools {
    next: u64,
    pools: IntMap<u64, PoolRec>,
}

impl Pools {
    /// A new pool of `block`-byte blocks for `dev`.
    pub(crate) fn create(&mut self, name: &str, dev: DeviceId, block: u64) -> DmaPool {
        self.next += 1;
        self.pools.insert(
            self.next,
            PoolRec {
                name: Arc::from(name),
                dev,
                block,
                pages: Vec::new(),
                free: Vec::new(),
                live: BTreeMap::new(),
            },
        );
        DmaPool { id: self.next }
    }

    /// The pool, if it exists.
    pub(crate) fn get_mut(&mut self, pool: &DmaPool) -> Option<&mut PoolRec> {
        self.pools.get_mut(&pool.id)
    }

    /// The pool, if it exists.
    pub(crate) fn get(&self, pool: &DmaPool) -> Option<&PoolRec> {
        self.pools.get(&pool.id)
    }

    /// The name of the pool whose live block is at `dma`, if any.
    pub(crate) fn owner_of(&self, dma: Iova) -> Option<Arc<str>> {
        self.pools
            .values()
            .find(|p| p.live.contains_key(&dma))
            .map(|p| p.name.clone())
    }

    /// Removes a pool.
    pub(crate) fn remove(&mut self, pool: DmaPool) -> Option<PoolRec> {
        self.pools.remove(&pool.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_carved_into_aligned_blocks() {
        let mut ps = Pools::default();
        let p = ps.create("desc", DeviceId(0), 64);
        let rec = ps.get_mut(&p).unwrap();
        rec.add_page(MapId(2), PhysAddr::new(0x10000), Iova::new(0xa0000));
        assert_eq!(rec.free.len(), 64);
        let b = rec.free.pop().unwrap();
        assert_eq!((b.cpu, b.dma), (PhysAddr::new(0x10000), Iova::new(0xa0000)));
        rec.live.insert(b.dma, b);
        assert_eq!(ps.owner_of(Iova::new(0xa0000)).as_deref(), Some("desc"));
        assert!(ps.remove(p).is_some());
    }
}
