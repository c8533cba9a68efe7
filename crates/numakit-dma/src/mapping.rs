//! The live mappings: one [`MapRecord`] per streaming mapping, scatterlist
//! or coherent buffer, with its entries (CPU memory, where the device really
//! reaches it, its DMA address), its DMA segments and its IOVA leases.
//! [`Mappings`] keeps the records and the index of DMA segments together:
//! only [`Mappings::insert`] and [`Mappings::remove`] change either.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::addr::{Iova, PhysAddr};
use crate::calls::{DmaAttrs, MapFunc};
use crate::direction::DmaDirection;
use crate::hw::iommu::IovaLease;
use crate::ids::DeviceId;
use crate::ids::{BufId, MapId};
use crate::intmap::IntMap;
use crate::trace::Origin;

/// One mapped piece of CPU memory.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The CPU buffer.
    pub(crate) cpu: PhysAddr,
    /// Its length.
    pub(crate) len: u64,
    /// The memory the device really reads and writes: the buffer itself, or
    /// its swiotlb bounce slot.
    pub(crate) target: PhysAddr,
    /// The DMA address of the first byte.
    pub(crate) dma: Iova,
    /// Whether `target` is a bounce slot.
    pub(crate) bounced: bool,
    /// Offset of the entry in the mapping's byte coordinates.
    pub(crate) coord: u64,
}

impl Entry {
    /// The entry as a DMA segment of its own.
    pub(crate) fn segment(&self) -> Segment {
        Segment {
            dma: self.dma,
            len: self.len,
            coord: self.coord,
        }
    }

    /// The part of this entry between mapping coordinates `lo` and `hi`.
    pub(crate) fn slice(&self, lo: u64, hi: u64) -> Option<Slice> {
        let s = lo.max(self.coord);
        let t = hi.min(self.coord + self.len);
        (s < t).then(|| {
            let off = s - self.coord;
            Slice {
                cpu: self.cpu.unchecked_add(off),
                target: self.target.unchecked_add(off),
                len: t - s,
                bounced: self.bounced,
            }
        })
    }
}

/// A part of an entry: where its bytes are for the CPU and for the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slice {
    /// The CPU buffer's bytes.
    pub(crate) cpu: PhysAddr,
    /// The bytes the device accesses (the same, or a bounce slot's).
    pub(crate) target: PhysAddr,
    /// The length.
    pub(crate) len: u64,
    /// Whether `target` is a bounce slot.
    pub(crate) bounced: bool,
}

/// A DMA segment: what `dma_map_sg` reports in `sg_dma_address` and
/// `sg_dma_len`, with where it starts in the mapping's byte coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    /// The DMA address.
    pub(crate) dma: Iova,
    /// The length.
    pub(crate) len: u64,
    /// Offset of its first byte in the mapping.
    pub(crate) coord: u64,
}

impl Segment {
    /// The first DMA address past the segment.
    pub(crate) fn end(self) -> Iova {
        self.dma.unchecked_add(self.len)
    }
    /// The mapping coordinate of DMA address `dma` inside the segment.
    pub(crate) fn coord_of(self, dma: Iova) -> u64 {
        self.coord + dma.unchecked_offset_from(self.dma)
    }
}

/// One DMA segment of a mapped scatterlist, as a driver sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmaSegment {
    /// `sg_dma_address`.
    pub addr: Iova,
    /// `sg_dma_len`.
    pub len: u64,
}

impl From<Segment> for DmaSegment {
    fn from(s: Segment) -> Self {
        Self {
            addr: s.dma,
            len: s.len,
        }
    }
}

/// A live mapping.
pub(crate) struct MapRecord {
    pub(crate) id: MapId,
    pub(crate) dev: DeviceId,
    pub(crate) func: MapFunc,
    pub(crate) dir: DmaDirection,
    pub(crate) label: Arc<str>,
    /// Bytes mapped (coherent buffers: whole pages).
    pub(crate) size: u64,
    /// Entries given to `dma_map_sg` (1 otherwise).
    pub(crate) nents: usize,
    pub(crate) entries: Vec<Entry>,
    /// Never empty.
    pub(crate) segs: Vec<Segment>,
    /// IOVA ranges to give back.
    pub(crate) leases: Vec<IovaLease>,
    /// Where it was made.
    pub(crate) origin: Origin,
    /// The DMA-BUF it maps for an importer, if it does.
    pub(crate) dmabuf: Option<BufId>,
    /// The attributes it was made with.
    pub(crate) attrs: DmaAttrs,
}

impl MapRecord {
    /// The DMA address the mapping call returned (its first segment's).
    pub(crate) fn dma(&self) -> Iova {
        self.segs[0].dma
    }
    /// The CPU address of its first byte.
    pub(crate) fn cpu(&self) -> PhysAddr {
        self.entries[0].cpu
    }

    /// The CPU address of the byte at mapping coordinate `coord`.
    /// The DMA address of byte `coord` (in the mapping's coordinates).
    pub(crate) fn dma_at(&self, coord: u64) -> Iova {
        let s = self
            .segs
            .iter()
            .rfind(|s| s.coord <= coord)
            .unwrap_or(&self.segs[0]);
        s.dma.unchecked_add(coord - s.coord.min(coord))
    }

    /// The DMA address the device uses for CPU byte `cpu`, when an entry
    /// holds it.
    pub(crate) fn dma_of_cpu(&self, cpu: PhysAddr) -> Option<Iova> {
        self.entries
            .iter()
            .find(|e| e.cpu <= cpu && cpu < e.cpu.unchecked_add(e.len))
            .map(|e| e.dma.unchecked_add(cpu.unchecked_offset_from(e.cpu)))
    }

    pub(crate) fn cpu_at(&self, coord: u64) -> Option<PhysAddr> {
        self.entries
            .iter()
            .find(|e| e.coord <= coord && coord < e.coord + e.len)
            .map(|e| e.cpu.unchecked_add(coord - e.coord))
    }
}

/// Key of the segment index: a device's DMA address, then the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct SegKey {
    dev: DeviceId,
    start: Iova,
    id: MapId,
}

/// What the index knows of a segment.
#[derive(Debug, Clone, Copy)]
struct SegVal {
    end: Iova,
    index: usize,
}

/// How many segments starting below an address a lookup examines: the
/// segments of one device do not overlap unless a driver maps the same IOVA
/// twice, which the IOMMU's allocator never hands out.
const CONTAINING_SCAN: usize = 32;

/// The live mappings and the index of their DMA segments per device.
#[derive(Default)]
pub(crate) struct Mappings {
    recs: IntMap<MapId, MapRecord>,
    segs: BTreeMap<SegKey, SegVal>,
}

impl Mappings {
    /// Adds a mapping and indexes its segments.
    pub(crate) fn insert(&mut self, rec: MapRecord) {
        for (index, s) in rec.segs.iter().enumerate() {
            self.segs.insert(
                SegKey {
                    dev: rec.dev,
                    start: s.dma,
                    id: rec.id,
                },
                SegVal {
                    end: s.end(),
                    index,
                },
            );
        }
        self.recs.insert(rec.id, rec);
    }

    /// Removes a mapping and its segments from the index.
    pub(crate) fn remove(&mut self, id: MapId) -> Option<MapRecord> {
        let rec = self.recs.remove(&id)?;
        for s in &rec.segs {
            self.segs.remove(&SegKey {
                dev: rec.dev,
                start: s.dma,
                id,
            });
        }
        Some(rec)
    }

    /// The mapping `id`, if alive.
    pub(crate) fn get(&self, id: MapId) -> Option<&MapRecord> {
        self.recs.get(&id)
    }

    /// The live mapping `id`; the caller holds its id from a lookup.
    pub(crate) fn live(&self, id: MapId) -> &MapRecord {
        &self.recs[&id]
    }

    /// How many mappings are alive.
    pub(crate) fn len(&self) -> usize {
        self.recs.len()
    }

    fn starting_at(&self, dev: DeviceId, dma: Iova) -> impl Iterator<Item = MapId> + '_ {
        let lo = SegKey {
            dev,
            start: dma,
            id: MapId(0),
        };
        let hi = SegKey {
            dev,
            start: dma,
            id: MapId(u64::MAX),
        };
        self.segs.range(lo..=hi).map(|(k, _)| k.id)
    }

    /// The mappings of `dev` whose returned DMA address is `dma`.
    pub(crate) fn returned_at(&self, dev: DeviceId, dma: Iova) -> Vec<MapId> {
        self.starting_at(dev, dma)
            .filter(|id| self.recs[id].dma() == dma)
            .collect()
    }

    /// The record an unmap or free of `dma` refers to: the mapping of `dev`
    /// whose returned DMA address is `dma`, made with `func` if there is
    /// one, else any.
    pub(crate) fn find_exact(&self, dev: DeviceId, dma: Iova, func: MapFunc) -> Option<MapId> {
        let mut best = None;
        for id in self.starting_at(dev, dma) {
            let r = &self.recs[&id];
            if r.dma() == dma {
                if r.func == func {
                    return Some(id);
                }
                best = best.or(Some(id));
            }
        }
        best
    }

    /// The live mapping of `dev` and its segment holding `dma`.
    pub(crate) fn find_containing(&self, dev: DeviceId, dma: Iova) -> Option<(MapId, usize)> {
        let lo = SegKey {
            dev,
            start: Iova::new(0),
            id: MapId(0),
        };
        let hi = SegKey {
            dev,
            start: dma,
            id: MapId(u64::MAX),
        };
        self.segs
            .range(lo..=hi)
            .rev()
            .take(CONTAINING_SCAN)
            .find(|(_, v)| dma < v.end)
            .map(|(k, v)| (k.id, v.index))
    }

    /// The mappings of `dev`, oldest first.
    pub(crate) fn of_device(&self, dev: DeviceId) -> Vec<MapId> {
        let mut ids: Vec<MapId> = self
            .recs
            .values()
            .filter(|r| r.dev == dev)
            .map(|r| r.id)
            .collect();
        ids.sort_unstable();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: u64, dev: u32, func: MapFunc, segs: &[(u64, u64)]) -> MapRecord {
        let segs: Vec<Segment> = segs
            .iter()
            .scan(0, |c, &(dma, len)| {
                let s = Segment {
                    dma: Iova::new(dma),
                    len,
                    coord: *c,
                };
                *c += len;
                Some(s)
            })
            .collect();
        MapRecord {
            id: MapId(id),
            dev: DeviceId(dev),
            func,
            dir: DmaDirection::ToDevice,
            label: Arc::from("b"),
            size: segs.iter().map(|s| s.len).sum(),
            nents: segs.len(),
            entries: Vec::new(),
            segs,
            leases: Vec::new(),
            origin: Origin::Scenario { scenario_line: 1 },
            dmabuf: None,
            attrs: DmaAttrs::NONE,
        }
    }

    #[test]
    fn insert_and_remove_keep_the_index() {
        let mut m = Mappings::default();
        m.insert(rec(2, 0, MapFunc::Sg, &[(0x1000, 0x100), (0x8000, 0x200)]));
        assert_eq!(
            m.find_containing(DeviceId(0), Iova::new(0x80ff)),
            Some((MapId(2), 1))
        );
        assert_eq!(m.find_containing(DeviceId(0), Iova::new(0x1100)), None);
        assert_eq!(
            m.find_containing(DeviceId(1), Iova::new(0x1000)),
            None,
            "per device"
        );
        assert!(m.remove(MapId(2)).is_some());
        assert_eq!(m.len(), 0);
        assert_eq!(m.find_containing(DeviceId(0), Iova::new(0x8000)), None);
        assert!(m.remove(MapId(2)).is_none());
    }

    #[test]
    fn exact_lookup_prefers_the_same_function() {
        let mut m = Mappings::default();
        m.insert(rec(2, 0, MapFunc::Single, &[(0x1000, 64)]));
        m.insert(rec(3, 0, MapFunc::Page, &[(0x1000, 64)]));
        let d = DeviceId(0);
        assert_eq!(
            m.find_exact(d, Iova::new(0x1000), MapFunc::Page),
            Some(MapId(3))
        );
        assert_eq!(
            m.find_exact(d, Iova::new(0x1000), MapFunc::Sg),
            Some(MapId(2))
        );
        assert_eq!(m.find_exact(d, Iova::new(0x1001), MapFunc::Single), None);
        assert_eq!(m.returned_at(d, Iova::new(0x1000)).len(), 2);
        assert_eq!(m.of_device(d), vec![MapId(2), MapId(3)]);
    }

    #[test]
    fn entries_slice_by_mapping_coordinates() {
        let e = Entry {
            cpu: PhysAddr::new(0x1000),
            len: 0x100,
            target: PhysAddr::new(0x9000),
            dma: Iova::new(0x5000),
            bounced: true,
            coord: 0x40,
        };
        assert_eq!(
            e.slice(0, 0x80),
            Some(Slice {
                cpu: PhysAddr::new(0x1000),
                target: PhysAddr::new(0x9000),
                len: 0x40,
                bounced: true
            })
        );
        assert_eq!(e.slice(0x140, 0x200), None);
        assert!(MapFunc::Single.same_kind(MapFunc::Page));
        assert!(!MapFunc::Single.same_kind(MapFunc::Sg));
    }
}
