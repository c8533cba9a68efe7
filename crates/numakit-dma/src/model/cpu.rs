//! CPU memory as a driver uses it: `kmalloc`, `kfree`, and loads and stores
//! through the cache, each seen by the checker.

use std::panic::Location;
use std::sync::Arc;

use super::ModelBackend;
use crate::addr::{PAGE_SIZE, PhysAddr};
use crate::check::access::CpuAccess;
use crate::config::{MemKind, Zone};
use crate::direction::Access;
use crate::error::{Error, Result};
use crate::hw::cpu::Alloc;
use crate::trace::EventSource;

impl ModelBackend {
    /// Allocates CPU memory (`kmalloc`): `align` bytes aligned (0: the cache
    /// line size, or a page for a page or more, which is what a DMA-safe
    /// allocation gets), in `zone`, standing for memory of `kind`, named
    /// `label` in findings.
    pub fn kmalloc(
        &mut self,
        size: u64,
        align: u64,
        zone: Zone,
        kind: MemKind,
        label: &str,
    ) -> Result<PhysAddr> {
        if size == 0 {
            return Err(Error::ZeroLength);
        }
        let align = match align {
            0 if size >= PAGE_SIZE => PAGE_SIZE,
            0 => u64::from(self.cfg.line_size),
            a => a.next_power_of_two(),
        };
        let (addr, how) = match kind {
            MemKind::Vmalloc => (self.vmalloc(size, label)?, " (vmalloc)".to_string()),
            MemKind::Rodata => (
                self.hw.cpu.place_image(size, align),
                " (kernel rodata)".into(),
            ),
            MemKind::Mmio => (self.hw.cpu.place_mmio(size, align)?, " (MMIO)".into()),
            MemKind::Stack => (self.hw.cpu.place(size, align, zone)?, " (stack)".into()),
            MemKind::Kmalloc => (self.hw.cpu.place(size, align, zone)?, String::new()),
        };
        self.hw.cpu.insert(
            addr,
            Alloc {
                len: size,
                kind,
                label: Arc::from(label),
            },
        );
        self.ev(EventSource::Cpu, "alloc", None, || {
            format!("alloc {label}: {size} bytes at {addr}{how}")
        });
        Ok(addr)
    }

    /// `vmalloc`: scattered pages, each recorded as an allocation of its own
    /// (`LABEL[page N]`), behind a range of the vmalloc area.
    fn vmalloc(&mut self, size: u64, label: &str) -> Result<PhysAddr> {
        self.room_for_pages(size.div_ceil(PAGE_SIZE), label)?;
        let (addr, pages) = self.hw.cpu.place_vmalloc(size)?;
        for p in &pages {
            self.record_page(p.phys, label, p.index);
        }
        Ok(addr)
    }

    /// Records page `index` of a scattered allocation as an allocation of
    /// its own (`LABEL[page N]`).
    pub(crate) fn record_page(&mut self, phys: PhysAddr, label: &str, index: u64) {
        self.hw.cpu.insert(
            phys,
            Alloc {
                len: PAGE_SIZE,
                kind: MemKind::Kmalloc,
                label: Arc::from(format!("{label}[page {index}]")),
            },
        );
    }

    /// `vmalloc_to_page` (and the page's address plus the offset): the RAM
    /// behind a vmalloc address, `None` for an address outside the vmalloc
    /// area's allocations.
    pub fn vmalloc_to_page(&self, addr: PhysAddr) -> Option<PhysAddr> {
        self.hw.cpu.vmalloc_to_phys(addr)
    }

    /// Frees CPU memory allocated with [`kmalloc`](Self::kmalloc).
    #[track_caller]
    pub fn kfree(&mut self, addr: PhysAddr) {
        let site = Location::caller();
        let Some(a) = self.hw.cpu.remove(addr) else {
            return;
        };
        if let Some(pages) = self.hw.cpu.remove_vmalloc(addr) {
            for p in pages {
                if let Some(pa) = self.hw.cpu.remove(p) {
                    self.check(site, |c, cx| c.on_free(cx, p, &pa));
                }
            }
        }
        self.check(site, |c, cx| c.on_free(cx, addr, &a));
        let label = a.label;
        self.ev(EventSource::Cpu, "free", None, || {
            format!("free {label} at {addr}")
        });
    }

    /// A CPU load of `out.len()` bytes at `addr`, through the cache. The
    /// checker looks at every cache line the load touches.
    #[track_caller]
    pub fn cpu_read(&mut self, addr: PhysAddr, out: &mut [u8]) {
        let site = Location::caller();
        let mut done = 0;
        for r in self.hw.cpu.resolve(addr, out.len() as u64) {
            let a = CpuAccess {
                phys: r.addr,
                len: r.len,
                access: Access::Read,
            };
            self.check(site, |c, cx| c.on_cpu_access(cx, a));
            let n = r.len as usize;
            self.hw.cpu_load(r.addr, &mut out[done..done + n]);
            done += n;
        }
    }

    /// A CPU store of `data` at `addr`, through the cache. The checker looks
    /// at every cache line the store touches.
    #[track_caller]
    pub fn cpu_write(&mut self, addr: PhysAddr, data: &[u8]) {
        let site = Location::caller();
        let mut done = 0;
        for r in self.hw.cpu.resolve(addr, data.len() as u64) {
            let a = CpuAccess {
                phys: r.addr,
                len: r.len,
                access: Access::Write,
            };
            self.check(site, |c, cx| c.on_cpu_access(cx, a));
            let n = r.len as usize;
            self.hw.cpu_store(r.addr, &data[done..done + n]);
            done += n;
        }
    }

    /// The number of live allocations (names the typed API's buffers).
    pub(crate) fn allocations(&self) -> usize {
        self.hw.cpu.count()
    }
}
