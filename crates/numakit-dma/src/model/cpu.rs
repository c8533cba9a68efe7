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
            0 => self.hw.cache.line_size(),
            a => a.next_power_of_two(),
        };
        let addr = self.hw.cpu.place(size, align, zone)?;
        self.hw.cpu.insert(
            addr,
            Alloc {
                len: size,
                kind,
                label: Arc::from(label),
            },
        );
        let kind_s = match kind {
            MemKind::Kmalloc => "",
            MemKind::Stack => " (stack)",
            MemKind::Vmalloc => " (vmalloc)",
        };
        self.ev(EventSource::Cpu, "alloc", None, || {
            format!("alloc {label}: {size} bytes at {addr}{kind_s}")
        });
        Ok(addr)
    }

    /// Frees CPU memory allocated with [`kmalloc`](Self::kmalloc).
    #[track_caller]
    pub fn kfree(&mut self, addr: PhysAddr) {
        let site = Location::caller();
        let Some(a) = self.hw.cpu.remove(addr) else {
            return;
        };
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
        let len = out.len() as u64;
        self.check(site, |c, cx| {
            c.on_cpu_access(
                cx,
                CpuAccess {
                    phys: addr,
                    len,
                    access: Access::Read,
                },
            )
        });
        self.hw.cpu_load(addr, out);
    }

    /// A CPU store of `data` at `addr`, through the cache. The checker looks
    /// at every cache line the store touches.
    #[track_caller]
    pub fn cpu_write(&mut self, addr: PhysAddr, data: &[u8]) {
        let site = Location::caller();
        let len = data.len() as u64;
        self.check(site, |c, cx| {
            c.on_cpu_access(
                cx,
                CpuAccess {
                    phys: addr,
                    len,
                    access: Access::Write,
                },
            )
        });
        self.hw.cpu_store(addr, data);
    }

    /// The number of live allocations (names the typed API's buffers).
    pub(crate) fn allocations(&self) -> usize {
        self.hw.cpu.count()
    }
}
