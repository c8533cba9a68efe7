//! The checker: one component the model calls at each DMA API call, CPU
//! access, device access and DMA-BUF access, when it is built with the
//! checker on. It keeps what the kernel's `CONFIG_DMA_API_DEBUG` keeps and
//! more: which CPU bytes each live streaming mapping covers, who owns each
//! mapping's bytes (the CPU after a sync for the CPU, else the device), what
//! the device wrote since the CPU last looked, and which DMA ranges were
//! recently unmapped. It reads the mappings and the machine, and writes
//! nothing but its own state and [`Finding`]s.
//!
//! The hooks are named for the moment they run: `before_*` hooks may stop
//! the call (they return whether it goes ahead), `after_*` and `on_*` hooks
//! only look and remember.

pub(crate) mod access;
pub(crate) mod calls;
pub(crate) mod dmabuf;
pub(crate) mod finding;
pub(crate) mod rules;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::addr::{DMA_MAPPING_ERROR, Iova, PhysAddr, PhysRange};
use crate::dmabuf::{Accessor, DmaBufs};
use crate::hw::cpu::CpuMemory;
use crate::hw::devices::Devices;
use crate::ids::DeviceId;
use crate::ids::MapId;
use crate::intmap::IntMap;
use crate::mapping::{MapRecord, Mappings};
use crate::trace::{Origin, Site, origin_at};
use finding::Finding;
use rules::Rule;

/// What the checker may read while it checks one call: the mappings, the
/// machine, where the call was made; and where its findings go.
pub(crate) struct Ctx<'a> {
    pub(crate) maps: &'a Mappings,
    pub(crate) devices: &'a Devices,
    pub(crate) cpu: &'a CpuMemory,
    pub(crate) dmabufs: &'a DmaBufs,
    /// The cache line size.
    pub(crate) line: u64,
    /// The scenario line being run, if any.
    pub(crate) scenario_line: Option<u32>,
    /// The Rust caller.
    pub(crate) site: Site,
    pub(crate) findings: &'a mut Vec<Finding>,
}

impl Ctx<'_> {
    fn origin(&self) -> Origin {
        origin_at(self.scenario_line, self.site)
    }

    fn name(&self, dev: DeviceId) -> String {
        self.devices.name(dev)
    }

    fn who(&self, a: Accessor) -> String {
        match a {
            Accessor::Cpu => "the CPU".into(),
            Accessor::Device(d) => self.name(d),
        }
    }

    fn finding(&self, rule: Rule, message: String) -> Finding {
        Finding::new(rule, self.origin(), message)
    }

    /// A finding about mapping `r`: its device, buffer, addresses, size and
    /// where it was made.
    fn finding_for(&self, rule: Rule, r: &MapRecord, message: String) -> Finding {
        self.finding(rule, message)
            .device(self.name(r.dev))
            .buffer(r.label.to_string())
            .dma(r.dma())
            .maybe_phys(r.entries.first().map(|e| e.cpu))
            .size(r.size)
            .mapped_at(r.origin.clone())
    }

    fn report(&mut self, f: Finding) {
        self.findings.push(f);
    }
}

/// A range of a mapping's bytes, in the mapping's coordinates (0 is its
/// first byte, entries follow each other).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u64,
    pub(crate) end: u64,
}

impl Span {
    fn hull(a: Option<Span>, b: Span) -> Span {
        match a {
            Some(a) => Span {
                start: a.start.min(b.start),
                end: a.end.max(b.end),
            },
            None => b,
        }
    }
    fn contains(self, s: Span) -> bool {
        self.start <= s.start && s.end <= self.end
    }
    fn overlaps(self, s: Span) -> bool {
        s.start < self.end && self.start < s.end
    }
}

/// Who owns a mapping's bytes, and what happened to them, as far as the
/// checker can tell.
#[derive(Debug, Clone, Copy, Default)]
struct Ownership {
    /// Bytes the CPU owns after a sync for the CPU.
    cpu_window: Option<Span>,
    /// Bytes the device wrote since the last sync for the CPU.
    dev_dirty: Option<Span>,
    /// The CPU wrote into the mapping while it owned it, and has not synced
    /// it for the device since.
    cpu_wrote: bool,
    /// `dma_mapping_error` was consulted (or the API made it unnecessary).
    error_checked: bool,
    /// Made with `DMA_ATTR_SKIP_CPU_SYNC` and not synced for the device
    /// since: the device must not touch it yet.
    unsynced: bool,
}

/// A DMA range unmapped recently, to tell a use after unmap or a double
/// unmap from an address never mapped.
struct Unmapped {
    end: Iova,
    label: Arc<str>,
    at: Origin,
}

/// Where each live streaming mapping's entries lie in CPU memory.
#[derive(Default)]
struct CpuIndex {
    /// `(start, mapping, entry)` to end.
    ranges: BTreeMap<(PhysAddr, MapId, usize), PhysAddr>,
    /// The longest entry ever indexed: how far below a range a lookup looks.
    max_len: u64,
}

impl CpuIndex {
    /// Mappings whose CPU bytes meet `r`, in address order.
    fn hits(&self, r: PhysRange) -> Vec<MapId> {
        let (lo, hi) = (r.addr, r.end());
        let mut ids: Vec<MapId> = Vec::new();
        if self.ranges.is_empty() || hi <= lo {
            return ids;
        }
        let from = PhysAddr::new(lo.raw().saturating_sub(self.max_len));
        for (&(_, id, _), &end) in self.ranges.range((from, MapId(0), 0)..(hi, MapId(0), 0)) {
            if end > lo && !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    fn insert(&mut self, r: &MapRecord) {
        for (i, e) in r.entries.iter().enumerate() {
            self.max_len = self.max_len.max(e.len);
            self.ranges
                .insert((e.cpu, r.id, i), e.cpu.unchecked_add(e.len));
        }
    }

    fn remove(&mut self, r: &MapRecord) {
        for (i, e) in r.entries.iter().enumerate() {
            self.ranges.remove(&(e.cpu, r.id, i));
        }
    }

    fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// The cache lines `[addr, addr + len)` touches, as a byte range.
fn line_hull(addr: PhysAddr, len: u64, line: u64) -> PhysRange {
    let start = addr.align_down(line);
    let end = (addr.raw() + len).next_multiple_of(line);
    PhysRange::new(start, end - start.raw())
}

/// The checker's state.
#[derive(Default)]
pub(crate) struct Checker {
    unmapped: BTreeMap<(DeviceId, Iova), Unmapped>,
    cpu_index: CpuIndex,
    owners: IntMap<MapId, Ownership>,
    /// Per device, mappings that failed (returned `DMA_MAPPING_ERROR`)
    /// since `dma_mapping_error` last said so.
    failed: BTreeMap<DeviceId, u32>,
}

impl Checker {
    fn owner(&self, id: MapId) -> Ownership {
        self.owners.get(&id).copied().unwrap_or_default()
    }

    fn owner_mut(&mut self, id: MapId) -> &mut Ownership {
        self.owners.entry(id).or_default()
    }

    fn unmapped_at(&self, dev: DeviceId, dma: Iova) -> Option<&Unmapped> {
        self.unmapped
            .range((dev, Iova::new(0))..=(dev, dma))
            .next_back()
            .map(|(_, u)| u)
            .filter(|u| dma < u.end)
    }

    /// Forgets the recently unmapped ranges of `dev` that `[lo, hi)` meets:
    /// the addresses are live again.
    fn clear_unmapped(&mut self, dev: DeviceId, lo: Iova, hi: Iova) {
        if self.unmapped.is_empty() {
            return;
        }
        let mut dead: Vec<(DeviceId, Iova)> = self
            .unmapped
            .range((dev, lo)..(dev, hi))
            .map(|(k, _)| *k)
            .collect();
        if let Some((k, u)) = self
            .unmapped
            .range((dev, Iova::new(0))..(dev, lo))
            .next_back()
            && u.end > lo
        {
            dead.push(*k);
        }
        for k in dead {
            self.unmapped.remove(&k);
        }
    }

    /// A mapping is gone (unmapped, freed, or torn down with its device):
    /// its CPU bytes are free of it and its DMA ranges are remembered as
    /// unmapped at `cx`'s call.
    pub(crate) fn forget(&mut self, cx: &Ctx<'_>, rec: &MapRecord) {
        self.cpu_index.remove(rec);
        self.owners.remove(&rec.id);
        let at = cx.origin();
        for s in &rec.segs {
            self.unmapped.insert(
                (rec.dev, s.dma),
                Unmapped {
                    end: s.end(),
                    label: rec.label.clone(),
                    at: at.clone(),
                },
            );
        }
    }

    /// `dma_mapping_error(dev, dma)` was called; `ids` are the mappings
    /// `dma` names. Asked about `DMA_MAPPING_ERROR`, it tells the driver
    /// its failed mappings failed.
    pub(crate) fn on_mapping_error(&mut self, dev: DeviceId, dma: Iova, ids: &[MapId]) {
        for id in ids {
            self.owner_mut(*id).error_checked = true;
        }
        if dma == DMA_MAPPING_ERROR {
            self.failed.remove(&dev);
        }
    }

    /// A mapping of `dev` that must be checked with `dma_mapping_error`
    /// failed.
    pub(crate) fn on_map_failed(&mut self, dev: DeviceId) {
        *self.failed.entry(dev).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::panic::Location;

    use super::access::{CpuAccess, DeviceAccess};
    use super::*;
    use crate::calls::{DmaAttrs, ErrorCheck, Toward, UnmapArgs};
    use crate::calls::{MapFunc, UnmapCall};
    use crate::config::DeviceConfig;
    use crate::direction::{Access, DmaDirection};
    use crate::fault::{Fault, FaultReason};
    use crate::mapping::{Entry, Segment};

    /// The checker's world, built by hand: one device, the mappings given.
    struct World {
        maps: Mappings,
        devices: Devices,
        cpu: CpuMemory,
        dmabufs: DmaBufs,
        findings: Vec<Finding>,
    }

    impl World {
        fn new() -> Self {
            Self {
                maps: Mappings::default(),
                devices: Devices::new(vec![DeviceConfig::new("nic")]).unwrap(),
                cpu: CpuMemory::default(),
                dmabufs: DmaBufs::default(),
                findings: Vec::new(),
            }
        }

        /// A mapping `id` of `len` bytes of CPU memory at `cpu`, DMA address
        /// `dma`, direction `dir`.
        fn map(&mut self, id: u64, cpu: u64, len: u64, dma: u64, dir: DmaDirection) {
            let (cpu, dma) = (PhysAddr::new(cpu), Iova::new(dma));
            self.maps.insert(MapRecord {
                id: MapId(id),
                dev: DeviceId(0),
                func: MapFunc::Single,
                dir,
                label: Arc::from(format!("buf{id}")),
                size: len,
                nents: 1,
                entries: vec![Entry {
                    cpu,
                    len,
                    target: cpu,
                    dma,
                    bounced: false,
                    coord: 0,
                }],
                segs: vec![Segment { dma, len, coord: 0 }],
                leases: Vec::new(),
                origin: Origin::Scenario { scenario_line: 1 },
                dmabuf: None,
                attrs: DmaAttrs::NONE,
            });
        }

        fn cx(&mut self) -> Ctx<'_> {
            Ctx {
                maps: &self.maps,
                devices: &self.devices,
                cpu: &self.cpu,
                dmabufs: &self.dmabufs,
                line: 64,
                scenario_line: Some(9),
                site: Location::caller(),
                findings: &mut self.findings,
            }
        }

        fn rules(&self) -> Vec<&'static str> {
            self.findings.iter().map(|f| f.rule.id()).collect()
        }
    }

    fn cpu(phys: u64, len: u64, access: Access) -> CpuAccess {
        CpuAccess {
            phys: PhysAddr::new(phys),
            len,
            access,
        }
    }

    fn write(dma: u64, len: u64) -> DeviceAccess {
        DeviceAccess {
            dev: DeviceId(0),
            dma: Iova::new(dma),
            len,
            access: Access::Write,
        }
    }

    #[test]
    fn overlapping_and_line_sharing_mappings() {
        let mut w = World::new();
        let mut c = Checker::default();
        w.map(2, 0x1000, 64, 0xa000, DmaDirection::FromDevice);
        c.after_map(&mut w.cx(), MapId(2), ErrorCheck::Done);
        w.map(3, 0x1020, 64, 0xb000, DmaDirection::ToDevice);
        c.after_map(&mut w.cx(), MapId(3), ErrorCheck::Done);
        w.map(4, 0x1070, 16, 0xc000, DmaDirection::FromDevice);
        c.after_map(&mut w.cx(), MapId(4), ErrorCheck::Done);
        assert_eq!(w.rules(), ["overlapping-mapping", "shared-cache-line"]);
        assert_eq!(w.findings[0].at, Origin::Scenario { scenario_line: 9 });
    }

    #[test]
    fn the_cpu_may_touch_a_mapping_only_while_it_owns_it() {
        let mut w = World::new();
        let mut c = Checker::default();
        w.map(2, 0x2000, 128, 0xa000, DmaDirection::FromDevice);
        c.after_map(&mut w.cx(), MapId(2), ErrorCheck::Done);
        c.on_device_access(&mut w.cx(), write(0xa000, 16));
        c.on_cpu_access(&mut w.cx(), cpu(0x2000, 4, Access::Read));
        assert_eq!(w.rules(), ["missing-sync-for-cpu"]);
        c.after_sync(MapId(2), 0, 128, Toward::Cpu);
        c.on_cpu_access(&mut w.cx(), cpu(0x2000, 4, Access::Write));
        assert_eq!(w.findings.len(), 1, "the CPU owns it now");
        c.on_device_access(&mut w.cx(), write(0xa000, 16));
        assert_eq!(w.rules()[1], "device-access-cpu-owned");
    }

    #[test]
    fn unmap_of_an_unchecked_mapping_then_use_after_unmap() {
        let mut w = World::new();
        let mut c = Checker::default();
        w.map(2, 0x3000, 64, 0xa000, DmaDirection::ToDevice);
        c.after_map(&mut w.cx(), MapId(2), ErrorCheck::Pending);
        c.on_device_access(&mut w.cx(), write(0xa000, 8));
        let call = UnmapCall {
            dev: DeviceId(0),
            dma: Iova::new(0xa000),
            args: UnmapArgs::Size(32),
            dir: DmaDirection::ToDevice,
            func: MapFunc::Single,
            attrs: DmaAttrs::NONE,
        };
        let go = c.before_unmap(&mut w.cx(), MapId(2), &call);
        assert!(go);
        let rec = w.maps.remove(MapId(2)).unwrap();
        c.forget(&w.cx(), &rec);
        c.on_device_access(&mut w.cx(), write(0xa010, 8));
        assert_eq!(
            w.rules(),
            [
                "device-write-todevice",
                "unmap-size-mismatch",
                "unchecked-mapping-error",
                "use-after-unmap"
            ]
        );
        c.on_unmap_unknown(
            &mut w.cx(),
            DeviceId(0),
            Iova::new(0xa000),
            UnmapArgs::Size(64),
            MapFunc::Single,
        );
        assert_eq!(w.rules()[4], "double-unmap");
    }

    #[test]
    fn a_fault_is_attached_to_the_access_s_first_finding() {
        let mut w = World::new();
        let mut c = Checker::default();
        let a = write(0xdead_0000, 4);
        let fault = Fault {
            device: "nic".into(),
            device_id: DeviceId(0),
            iova: a.dma,
            access: Access::Write,
            reason: FaultReason::NotMapped,
        };
        c.on_device_access(&mut w.cx(), a);
        c.on_fault(&mut w.cx(), 0, a, &fault);
        assert_eq!(w.rules(), ["device-access-unmapped"]);
        assert_eq!(w.findings[0].fault.as_ref(), Some(&fault));
    }

    #[test]
    fn syncs_with_the_wrong_count_range_or_direction() {
        use crate::calls::{SyncCall, SyncTarget};
        let mut w = World::new();
        let mut c = Checker::default();
        w.map(2, 0x4000, 64, 0xa000, DmaDirection::FromDevice);
        c.after_map(&mut w.cx(), MapId(2), ErrorCheck::Done);
        let call = SyncCall {
            dev: DeviceId(0),
            target: SyncTarget::Single {
                dma: Iova::new(0xa020),
                size: 64,
            },
            dir: DmaDirection::ToDevice,
            toward: Toward::Cpu,
        };
        c.before_sync(&mut w.cx(), MapId(2), 0, &call);
        assert_eq!(
            w.rules(),
            ["sync-outside-mapping", "sync-direction-mismatch"]
        );
        let sg = SyncCall {
            target: SyncTarget::Sg {
                dma: Iova::new(0xa000),
                nents: 3,
            },
            dir: DmaDirection::FromDevice,
            ..call
        };
        c.before_sync(&mut w.cx(), MapId(2), 0, &sg);
        assert_eq!(w.rules()[2], "sg-count-mismatch");
    }

    #[test]
    fn coherent_frees_with_the_wrong_size_or_address() {
        let mut w = World::new();
        let mut c = Checker::default();
        w.map(2, 0x5000, 4096, 0xb000, DmaDirection::Bidirectional);
        assert!(!c.before_free(
            &mut w.cx(),
            MapId(2),
            MapFunc::Coherent,
            4096,
            PhysAddr::new(0x5000)
        ));
        assert_eq!(
            w.rules(),
            ["unmap-function-mismatch"],
            "a streaming mapping is no coherent buffer"
        );
    }

    #[test]
    fn dmabuf_cpu_access_needs_begin_and_the_writer_s_fence() {
        use super::dmabuf::BufAccess;
        use crate::dmabuf::{Accessor, FenceUsage};
        use crate::ids::{BufId, FenceId};
        let mut w = World::new();
        let mut c = Checker::default();
        let buf = BufId(7);
        w.dmabufs
            .add(buf, Arc::from("frame"), vec![PhysAddr::new(0x8000)]);
        let a = BufAccess {
            buf,
            offset: 0,
            len: 16,
            access: Access::Read,
        };
        let pieces = [PhysRange::new(PhysAddr::new(0x8000), 16)];
        c.on_dmabuf_cpu_access(&mut w.cx(), a, &pieces);
        assert_eq!(w.rules(), ["dmabuf-cpu-access-outside-begin-end"]);
        w.dmabufs.add_fence(
            buf,
            FenceId(8),
            "cam",
            FenceUsage::Write,
            Accessor::Device(DeviceId(0)),
        );
        c.on_dmabuf_begin(&mut w.cx(), buf, DmaDirection::FromDevice);
        assert_eq!(w.rules()[1], "dmabuf-fence-not-waited");
        w.dmabufs.open_cpu_access(buf, DmaDirection::FromDevice);
        c.on_dmabuf_begin(&mut w.cx(), buf, DmaDirection::FromDevice);
        assert_eq!(w.rules()[2], "dmabuf-begin-end-mismatch", "nested begin");
        c.on_dmabuf_end(&mut w.cx(), buf, DmaDirection::ToDevice);
        assert_eq!(
            w.rules()[4],
            "dmabuf-begin-end-mismatch",
            "end with another direction"
        );
    }
}
