//! The simulated hardware: RAM, the CPU cache, CPU memory and its
//! allocations, the devices, the IOMMU, swiotlb's pool and dma-direct. Each
//! part owns its state and knows nothing of the DMA API, the checker or the
//! timeline; [`Hardware`] puts them together and does the loads, stores and
//! cache maintenance that depend on the machine's coherence.

pub(crate) mod cache;
pub(crate) mod cpu;
pub(crate) mod devices;
pub(crate) mod direct;
pub mod iommu;
pub(crate) mod memory;
pub(crate) mod swiotlb;

use crate::addr::{PhysAddr, PhysRange};
use crate::config::{Coherence, DeviceConfig, MachineConfig, layout};
use crate::error::Result;
use cache::{Cache, Cacheable, Maint};
use cpu::CpuMemory;
use devices::Devices;
use iommu::Iommu;
use memory::Memory;
use swiotlb::Swiotlb;

/// The machine.
pub(crate) struct Hardware {
    coherence: Coherence,
    pub(crate) mem: Memory,
    pub(crate) cache: Cache,
    pub(crate) cpu: CpuMemory,
    pub(crate) devices: Devices,
    pub(crate) iommu: Iommu,
    pub(crate) swiotlb: Option<Swiotlb>,
}

impl Hardware {
    /// The machine `cfg` describes, with `devices`.
    pub(crate) fn new(cfg: &MachineConfig, devices: Vec<DeviceConfig>) -> Result<Self> {
        let devices = Devices::new(devices)?;
        let mut iommu = Iommu::new(cfg.iommu, cfg.flush_queue);
        for d in devices.iter() {
            iommu.add_group(d.group);
        }
        let mut cache = Cache::new(cfg.maintenance_line(), cfg.cache_lines, cfg.speculation);
        cache.record = cfg.trace;
        let swiotlb =
            (cfg.swiotlb_bytes > 0).then(|| Swiotlb::new(layout::SWIOTLB_BASE, cfg.swiotlb_bytes));
        Ok(Self {
            coherence: cfg.coherence,
            mem: Memory::default(),
            cache,
            cpu: CpuMemory::default(),
            devices,
            iommu,
            swiotlb,
        })
    }

    /// Whether devices snoop the caches.
    pub(crate) fn coherent(&self) -> bool {
        self.coherence == Coherence::Coherent
    }

    /// Whether the CPU reaches `phys` uncached: coherent DMA memory on a
    /// non-coherent machine, and device memory everywhere.
    fn uncached(&self, phys: PhysAddr) -> bool {
        self.cpu.is_mmio(phys) || (!self.coherent() && self.cpu.is_uncached(phys))
    }

    /// A CPU load, through the cache unless the memory is mapped uncached.
    pub(crate) fn cpu_load(&mut self, phys: PhysAddr, out: &mut [u8]) {
        if self.uncached(phys) {
            self.mem.read(phys, out);
        } else {
            self.cache.cpu_read(&mut self.mem, phys, out);
        }
    }

    /// A CPU store, through the cache unless the memory is mapped uncached.
    pub(crate) fn cpu_store(&mut self, phys: PhysAddr, data: &[u8]) {
        if self.uncached(phys) {
            self.mem.write(phys, data);
        } else {
            self.cache.cpu_write(&mut self.mem, phys, data);
        }
    }

    /// The CPU zeroes `r` through its cache, as the page allocator does.
    /// Storing zeros line by line leaves the last lines a full cache holds
    /// dirty in it and writes the rest back as zeros; so it is done as that
    /// end state: the range's lines dropped, its memory zeroed (pages never
    /// written read as zeros and cost nothing), and zeros stored through the
    /// cache over the tail the cache can hold.
    pub(crate) fn cpu_zero(&mut self, r: PhysRange) {
        self.cache.invalidate(&mut self.mem, r);
        self.mem.zero(r.addr, r.len);
        let tail = r.len.min(self.cache.capacity_bytes());
        let zeros = vec![0u8; tail.min(1 << 16) as usize];
        let mut at = r.end().raw() - tail;
        while at < r.end().raw() {
            let n = (r.end().raw() - at).min(zeros.len() as u64) as usize;
            self.cpu_store(PhysAddr::new(at), &zeros[..n]);
            at += n as u64;
        }
    }

    /// The CPU copies `len` bytes from `src` to `dst` (as swiotlb does).
    pub(crate) fn cpu_copy(&mut self, src: PhysAddr, dst: PhysAddr, len: u64) {
        let mut buf = vec![0u8; len.min(1 << 16) as usize];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(buf.len() as u64) as usize;
            self.cpu_load(src.unchecked_add(done), &mut buf[..n]);
            self.cpu_store(dst.unchecked_add(done), &buf[..n]);
            done += n as u64;
        }
    }

    /// A device's read of memory: snooping the caches on a coherent machine,
    /// memory alone on a non-coherent one.
    pub(crate) fn dev_load(&mut self, phys: PhysAddr, out: &mut [u8]) {
        if self.coherent() {
            self.cache.snoop_read(&self.mem, phys, out);
        } else {
            self.mem.read(phys, out);
        }
    }

    /// A device's write of memory.
    pub(crate) fn dev_store(&mut self, phys: PhysAddr, data: &[u8]) {
        if self.coherent() {
            self.cache.snoop_write(&mut self.mem, phys, data);
        } else {
            let cacheable = if self.uncached(phys) {
                Cacheable::No
            } else {
                Cacheable::Yes
            };
            self.cache
                .device_write_noncoherent(&mut self.mem, phys, data, cacheable);
        }
    }

    /// Writes the dirty lines of `r` back (`dc cvac`).
    pub(crate) fn clean(&mut self, r: PhysRange) -> Maint {
        self.cache.clean(&mut self.mem, r)
    }

    /// Invalidates `r` (`dcache_inval_poc`).
    pub(crate) fn invalidate(&mut self, r: PhysRange) -> Maint {
        self.cache.invalidate(&mut self.mem, r)
    }

    /// Prepares `r` as coherent memory (`arch_dma_prep_coherent`): no stale
    /// line may shadow it, and it reads as zeros.
    pub(crate) fn prep_coherent(&mut self, r: PhysRange) {
        self.cache.clean_invalidate(&mut self.mem, r);
        self.mem.zero(r.addr, r.len);
        if !self.coherent() {
            self.cpu.set_uncached(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Coherence, Speculation};

    fn machine(c: Coherence) -> Hardware {
        let cfg = MachineConfig {
            coherence: c,
            speculation: Speculation::Off,
            ..MachineConfig::default()
        };
        Hardware::new(&cfg, vec![DeviceConfig::new("d")]).unwrap()
    }

    #[test]
    fn a_non_coherent_device_misses_dirty_lines_until_cleaned() {
        let mut hw = machine(Coherence::NonCoherent);
        let p = PhysAddr::new(0x1_0000_0000);
        hw.cpu_store(p, b"data");
        let mut b = [0u8; 4];
        hw.dev_load(p, &mut b);
        assert_eq!(&b, &[0; 4]);
        hw.clean(PhysRange::new(p, 4));
        hw.dev_load(p, &mut b);
        assert_eq!(&b, b"data");
    }

    #[test]
    fn a_coherent_device_sees_the_cpu_at_once() {
        let mut hw = machine(Coherence::Coherent);
        let p = PhysAddr::new(0x1_0000_0000);
        hw.cpu_store(p, b"data");
        let mut b = [0u8; 4];
        hw.dev_load(p, &mut b);
        assert_eq!(&b, b"data");
    }

    #[test]
    fn coherent_memory_is_uncached_on_a_non_coherent_machine() {
        let mut hw = machine(Coherence::NonCoherent);
        let r = PhysRange::new(PhysAddr::new(0x1_0000_0000), 4096);
        hw.prep_coherent(r);
        hw.cpu_store(r.addr, b"ring");
        let mut b = [0u8; 4];
        hw.dev_load(r.addr, &mut b);
        assert_eq!(&b, b"ring", "no cache between them");
    }

    #[test]
    fn copies_go_through_the_cache() {
        let mut hw = machine(Coherence::NonCoherent);
        let (a, b) = (PhysAddr::new(0x1_0000_0000), PhysAddr::new(0x1_0001_0000));
        hw.cpu_store(a, &[3; 100]);
        hw.cpu_copy(a, b, 100);
        let mut out = [0u8; 100];
        hw.cpu_load(b, &mut out);
        assert_eq!(out, [3; 100]);
    }
}
