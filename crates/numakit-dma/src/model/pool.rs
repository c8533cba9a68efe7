//! DMA pools: `dma_pool_create`, `dma_pool_alloc`, `dma_pool_free`,
//! `dma_pool_destroy`. Blocks come from coherent pages of the pool's
//! device; freeing a block to another pool, or destroying a pool whose
//! blocks are still out, is what the kernel's pool debugging reports.

use std::panic::Location;

use super::ModelBackend;
use crate::addr::{Iova, PAGE_SIZE, PhysAddr};
use crate::check::calls::PoolFree;
use crate::error::{Error, Result};
use crate::ids::DeviceId;
use crate::pool::{Block, DmaPool};
use crate::trace::EventSource;

/// `sizeof(struct dma_block)`: the smallest block a pool hands out.
const DMA_BLOCK_BYTES: u64 = 16;

impl ModelBackend {
    /// `dma_pool_create`: a pool of `size`-byte blocks aligned to `align`
    /// (0: the cache line) for `dev`.
    pub fn dma_pool_create(
        &mut self,
        name: &str,
        dev: DeviceId,
        size: u64,
        align: u64,
    ) -> Result<DmaPool> {
        self.hw.devices.present(dev)?;
        // mm/dmapool.c: no alignment is 1, another power of two is refused;
        // a block holds at least the free list's `struct dma_block`.
        let align = match align {
            0 => 1,
            a if a.is_power_of_two() => a,
            a => {
                return Err(Error::InvalidConfig(format!(
                    "dma pool {name}: alignment {a} is not a power of two"
                )));
            }
        };
        if size == 0 {
            return Err(Error::InvalidConfig(format!(
                "dma pool {name}: blocks of 0 bytes"
            )));
        }
        let block = size.max(DMA_BLOCK_BYTES).next_multiple_of(align);
        if block > PAGE_SIZE {
            return Err(Error::InvalidConfig(format!(
                "dma pool {name}: blocks of {block} bytes do not fit in a page"
            )));
        }
        let pool = self.pools.create(name, dev, block);
        self.ev(EventSource::Dma, "pool-create", Some(dev), || {
            format!("dma_pool_create {name}: {block}-byte blocks")
        });
        Ok(pool)
    }

    /// `dma_pool_alloc`: a block; returns its CPU and DMA addresses.
    #[track_caller]
    pub fn dma_pool_alloc(&mut self, pool: &DmaPool) -> Result<(PhysAddr, Iova)> {
        let site = Location::caller();
        let (dev, name, empty) = match self.pools.get(pool) {
            Some(p) => (p.dev, p.name.clone(), p.free.is_empty()),
            None => return Err(Error::StaleHandle("DMA pool")),
        };
        if empty {
            let label = format!("{name} page");
            let id = self.alloc_coherent(dev, PAGE_SIZE, &label, site)?;
            let (cpu, dma) = {
                let r = self.maps.live(id);
                (r.cpu(), r.dma())
            };
            if let Some(p) = self.pools.get_mut(pool) {
                p.add_page(id, cpu, dma);
            }
        }
        let p = self
            .pools
            .get_mut(pool)
            .ok_or(Error::StaleHandle("DMA pool"))?;
        let b = p.free.pop().expect("a page was just added");
        p.live.insert(b.dma, b);
        self.ev(EventSource::Dma, "pool-alloc", Some(dev), || {
            format!(
                "dma_pool_alloc {name}: block at cpu {}, dma {}",
                b.cpu, b.dma
            )
        });
        Ok((b.cpu, b.dma))
    }

    /// The size of `pool`'s blocks.
    pub fn dma_pool_block_size(&self, pool: &DmaPool) -> Option<u64> {
        self.pools.get(pool).map(|p| p.block)
    }

    /// `dma_pool_free`: gives block `dma` back to `pool`. A block of
    /// another pool, or one not handed out, is reported and left alone.
    #[track_caller]
    pub fn dma_pool_free(&mut self, pool: &DmaPool, cpu: PhysAddr, dma: Iova) {
        let site = Location::caller();
        let Some(p) = self.pools.get(pool) else {
            return;
        };
        let (dev, name) = (p.dev, p.name.clone());
        if p.live.get(&dma).is_none_or(|b| b.cpu != cpu) {
            let owner = self.pools.owner_of(dma);
            let free = PoolFree {
                dev,
                pool: &name,
                owner: owner.as_deref(),
                block: Block { cpu, dma },
            };
            self.check(site, |c, cx| c.on_pool_free_wrong(cx, free));
            return;
        }
        if let Some(p) = self.pools.get_mut(pool) {
            let b = p.live.remove(&dma).expect("a live block");
            p.free.push(b);
        }
        self.ev(EventSource::Dma, "pool-free", Some(dev), || {
            format!("dma_pool_free {name}: block at dma {dma}")
        });
    }

    /// `dma_pool_destroy`: frees the pool's pages. Pages with blocks still
    /// out are reported and kept, as the kernel keeps them.
    #[track_caller]
    pub fn dma_pool_destroy(&mut self, pool: DmaPool) {
        let site = Location::caller();
        let Some(p) = self.pools.remove(pool) else {
            return;
        };
        if !p.live.is_empty() {
            let (name, n) = (p.name.clone(), p.live.len());
            self.check(site, |c, cx| c.on_pool_destroy_busy(cx, p.dev, &name, n));
        }
        for id in &p.pages {
            let Some(r) = self.maps.get(*id) else {
                continue;
            };
            let (lo, hi) = (r.dma(), r.dma().unchecked_add(r.size));
            if p.live.keys().any(|d| lo <= *d && *d < hi) {
                continue;
            }
            let (cpu, dma, size) = (r.cpu(), r.dma(), r.size);
            self.free_coherent(p.dev, size, cpu, dma, site);
        }
        let name = p.name.clone();
        self.ev(EventSource::Dma, "pool-destroy", Some(p.dev), || {
            format!("dma_pool_destroy {name}")
        });
    }
}
