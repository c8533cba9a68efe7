//! The CPU's data cache: write-back lines of 64 or 128 bytes, a bounded
//! capacity with first-in first-out eviction (a dirty victim is written back
//! at that moment, as on real hardware), and speculative fills.

use std::collections::VecDeque;

use crate::addr::{PhysAddr, PhysRange};
use crate::config::Speculation;
use crate::hw::memory::Memory;
use crate::intmap::IntMap;
use crate::rng::Rng;

struct Line {
    data: Box<[u8]>,
    dirty: bool,
    stamp: u64,
}

/// Something the cache did on its own, for the timeline.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CacheNote {
    /// Dirty lines were evicted and written back to memory: `lines`
    /// contiguous lines from `first`.
    EvictDirty {
        /// The first line.
        first: PhysAddr,
        /// How many.
        lines: u64,
    },
    /// Lines were filled speculatively: `lines` contiguous lines from
    /// `first`.
    SpecFill {
        /// The first line.
        first: PhysAddr,
        /// How many.
        lines: u64,
    },
}

/// Whether the CPU maps memory cacheable: coherent DMA memory on a
/// non-coherent machine is mapped uncached, and is never filled
/// speculatively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cacheable {
    /// A normal cacheable mapping.
    Yes,
    /// An uncached mapping.
    No,
}

/// What a maintenance operation did, in lines.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Maint {
    pub(crate) written_back: u64,
    pub(crate) dropped: u64,
}

/// The CPU's data cache: the lines it holds, by line index (address
/// divided by the line size).
pub(crate) struct Cache {
    line: u64,
    shift: u32,
    lines: IntMap<u64, Line>,
    fifo: VecDeque<(u64, u64)>,
    capacity: usize,
    stamp: u64,
    spec: Speculation,
    rng: Rng,
    /// Whether to keep [`CacheNote`]s for the timeline.
    pub(crate) record: bool,
    notes: Vec<CacheNote>,
}

/// One piece of an access within one cache line: the line index, the
/// offset in the line, the offset in the caller's buffer, the length.
struct LinePiece {
    idx: u64,
    off: usize,
    at: usize,
    len: usize,
}

impl Cache {
    pub(crate) fn new(line: u32, capacity: usize, spec: Speculation) -> Self {
        let seed = match spec {
            Speculation::Seeded { seed, .. } => seed,
            _ => 0,
        };
        Self {
            line: u64::from(line),
            shift: line.trailing_zeros(),
            lines: IntMap::default(),
            fifo: VecDeque::new(),
            capacity: capacity.max(1),
            stamp: 0,
            spec,
            rng: Rng::new(seed),
            record: false,
            notes: Vec::new(),
        }
    }

    /// Notes a dirty line written back at eviction, extending the last note
    /// when the line follows it.
    fn note_evict(&mut self, at: PhysAddr) {
        let line = self.line;
        if let Some(CacheNote::EvictDirty { first, lines }) = self.notes.last_mut()
            && first.unchecked_add(*lines * line) == at
        {
            *lines += 1;
            return;
        }
        self.notes.push(CacheNote::EvictDirty {
            first: at,
            lines: 1,
        });
    }

    /// Notes a speculative fill, extending the last note when the line
    /// follows it.
    fn note_fill(&mut self, at: PhysAddr) {
        let line = self.line;
        if let Some(CacheNote::SpecFill { first, lines }) = self.notes.last_mut()
            && first.unchecked_add(*lines * line) == at
        {
            *lines += 1;
            return;
        }
        self.notes.push(CacheNote::SpecFill {
            first: at,
            lines: 1,
        });
    }

    /// What the cache did on its own since the last call.
    pub(crate) fn take_notes(&mut self) -> Vec<CacheNote> {
        std::mem::take(&mut self.notes)
    }

    /// Whether notes are waiting to be taken.
    pub(crate) fn has_notes(&self) -> bool {
        !self.notes.is_empty()
    }

    /// The line size in bytes.
    pub(crate) fn line_size(&self) -> u64 {
        self.line
    }

    /// How many bytes the cache holds when full.
    pub(crate) fn capacity_bytes(&self) -> u64 {
        self.capacity as u64 * self.line
    }

    fn addr_of(&self, idx: u64) -> PhysAddr {
        PhysAddr::new(idx << self.shift)
    }

    /// Splits `[addr, addr + len)` at line boundaries.
    fn lines(&self, addr: PhysAddr, len: usize) -> impl Iterator<Item = LinePiece> + use<> {
        let (line, shift) = (self.line, self.shift);
        let mut done = 0usize;
        std::iter::from_fn(move || {
            if done >= len {
                return None;
            }
            let a = addr.raw() + done as u64;
            let off = (a & (line - 1)) as usize;
            let n = (line as usize - off).min(len - done);
            let p = LinePiece {
                idx: a >> shift,
                off,
                at: done,
                len: n,
            };
            done += n;
            Some(p)
        })
    }

    fn evict_one(&mut self, mem: &mut Memory) {
        while let Some((idx, stamp)) = self.fifo.pop_front() {
            if self.lines.get(&idx).is_some_and(|l| l.stamp == stamp) {
                let l = self.lines.remove(&idx).expect("line present");
                if l.dirty {
                    let at = self.addr_of(idx);
                    mem.write(at, &l.data);
                    if self.record {
                        self.note_evict(at);
                    }
                }
                return;
            }
        }
    }

    fn fill(&mut self, mem: &mut Memory, idx: u64) -> &mut Line {
        if !self.lines.contains_key(&idx) {
            if self.lines.len() >= self.capacity {
                self.evict_one(mem);
            }
            let mut data = vec![0u8; self.line as usize].into_boxed_slice();
            mem.read(self.addr_of(idx), &mut data);
            self.stamp += 1;
            self.fifo.push_back((idx, self.stamp));
            self.lines.insert(
                idx,
                Line {
                    data,
                    dirty: false,
                    stamp: self.stamp,
                },
            );
            if self.fifo.len() > self.capacity * 4 {
                let lines = &self.lines;
                self.fifo
                    .retain(|(i, s)| lines.get(i).is_some_and(|l| l.stamp == *s));
            }
        }
        self.lines.get_mut(&idx).expect("line present")
    }

    /// A CPU load through the cache.
    pub(crate) fn cpu_read(&mut self, mem: &mut Memory, addr: PhysAddr, out: &mut [u8]) {
        for p in self.lines(addr, out.len()) {
            let l = self.fill(mem, p.idx);
            out[p.at..p.at + p.len].copy_from_slice(&l.data[p.off..p.off + p.len]);
        }
    }

    /// A CPU store through the cache (write-allocate, write-back).
    pub(crate) fn cpu_write(&mut self, mem: &mut Memory, addr: PhysAddr, data: &[u8]) {
        for p in self.lines(addr, data.len()) {
            let l = self.fill(mem, p.idx);
            l.data[p.off..p.off + p.len].copy_from_slice(&data[p.at..p.at + p.len]);
            l.dirty = true;
        }
    }

    /// Indexes of the cached lines that hold bytes of `r`.
    fn present(&self, r: PhysRange) -> Vec<u64> {
        let (start, end) = (r.addr.raw(), r.end().raw());
        if end <= start {
            return Vec::new();
        }
        let (a, b) = (start >> self.shift, (end - 1) >> self.shift);
        if b - a < self.lines.len() as u64 {
            (a..=b).filter(|i| self.lines.contains_key(i)).collect()
        } else {
            let mut v: Vec<u64> = self
                .lines
                .keys()
                .copied()
                .filter(|i| (a..=b).contains(i))
                .collect();
            v.sort_unstable();
            v
        }
    }

    /// A coherent device read: memory, overlaid with dirty cached lines.
    pub(crate) fn snoop_read(&self, mem: &Memory, at: PhysAddr, out: &mut [u8]) {
        mem.read(at, out);
        let addr = at.raw();
        let end = addr + out.len() as u64;
        for idx in self.present(PhysRange::new(at, out.len() as u64)) {
            let l = &self.lines[&idx];
            if !l.dirty {
                continue;
            }
            let la = idx << self.shift;
            let s = la.max(addr);
            let e = (la + self.line).min(end);
            out[(s - addr) as usize..(e - addr) as usize]
                .copy_from_slice(&l.data[(s - la) as usize..(e - la) as usize]);
        }
    }

    /// A coherent device write: cached copies are written back if dirty and
    /// dropped, then memory is written.
    pub(crate) fn snoop_write(&mut self, mem: &mut Memory, at: PhysAddr, data: &[u8]) {
        for idx in self.present(PhysRange::new(at, data.len() as u64)) {
            let l = self.lines.remove(&idx).expect("line present");
            if l.dirty {
                mem.write(self.addr_of(idx), &l.data);
            }
        }
        mem.write(at, data);
    }

    /// A non-coherent device write: memory only. Lines the CPU does not hold
    /// may have been filled speculatively before the write, from the memory
    /// as it was then.
    pub(crate) fn device_write_noncoherent(
        &mut self,
        mem: &mut Memory,
        at: PhysAddr,
        data: &[u8],
        cacheable: Cacheable,
    ) {
        let addr = at.raw();
        if cacheable == Cacheable::Yes && self.spec != Speculation::Off && !data.is_empty() {
            let end = addr + data.len() as u64;
            for idx in (addr >> self.shift)..=((end - 1) >> self.shift) {
                if self.lines.contains_key(&idx) {
                    continue;
                }
                let take = match self.spec {
                    Speculation::Off => false,
                    Speculation::Always => true,
                    Speculation::Seeded { percent, .. } => {
                        self.rng.next_u64() % 100 < u64::from(percent)
                    }
                };
                if take {
                    self.fill(mem, idx);
                    if self.record {
                        self.note_fill(self.addr_of(idx));
                    }
                }
            }
        }
        mem.write(at, data);
    }

    /// Writes dirty lines of `[start, end)` back; they stay cached, clean
    /// (`dc cvac`).
    pub(crate) fn clean(&mut self, mem: &mut Memory, r: PhysRange) -> Maint {
        let mut m = Maint::default();
        for idx in self.present(r) {
            let at = self.addr_of(idx);
            let l = self.lines.get_mut(&idx).expect("line present");
            if l.dirty {
                mem.write(at, &l.data);
                l.dirty = false;
                m.written_back += 1;
            }
        }
        m
    }

    /// Invalidates `[start, end)` as `dcache_inval_poc` does: partial lines
    /// at either edge are cleaned and invalidated (`dc civac`), whole lines
    /// are dropped without write-back (`dc ivac`).
    pub(crate) fn invalidate(&mut self, mem: &mut Memory, r: PhysRange) -> Maint {
        let (start, end) = (r.addr.raw(), r.end().raw());
        let mut m = Maint::default();
        if end <= start {
            return m;
        }
        let first = start >> self.shift;
        let last = (end - 1) >> self.shift;
        let partial_first = start & (self.line - 1) != 0;
        let partial_last = end & (self.line - 1) != 0;
        for idx in self.present(r) {
            let l = self.lines.remove(&idx).expect("line present");
            let edge = (idx == first && partial_first) || (idx == last && partial_last);
            if edge && l.dirty {
                mem.write(self.addr_of(idx), &l.data);
                m.written_back += 1;
            }
            m.dropped += 1;
        }
        m
    }

    /// Cleans and invalidates `[start, end)` (`dc civac`).
    pub(crate) fn clean_invalidate(&mut self, mem: &mut Memory, r: PhysRange) -> Maint {
        let mut m = Maint::default();
        for idx in self.present(r) {
            let l = self.lines.remove(&idx).expect("line present");
            if l.dirty {
                mem.write(self.addr_of(idx), &l.data);
                m.written_back += 1;
            }
            m.dropped += 1;
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pa(a: u64) -> PhysAddr {
        PhysAddr::new(a)
    }

    fn span(start: u64, end: u64) -> PhysRange {
        PhysRange::new(PhysAddr::new(start), end - start)
    }

    #[test]
    fn write_back_and_invalidate() {
        let mut mem = Memory::default();
        let mut c = Cache::new(64, 1024, Speculation::Off);
        c.cpu_write(&mut mem, pa(0x1000), &[1, 2, 3, 4]);
        let mut b = [0u8; 4];
        mem.read(pa(0x1000), &mut b);
        assert_eq!(b, [0; 4], "write-back: memory not updated yet");
        c.clean(&mut mem, span(0x1000, 0x1004));
        mem.read(pa(0x1000), &mut b);
        assert_eq!(b, [1, 2, 3, 4]);
        mem.write(pa(0x1000), &[9, 9, 9, 9]);
        c.cpu_read(&mut mem, pa(0x1000), &mut b);
        assert_eq!(b, [1, 2, 3, 4], "stale line still cached");
        c.invalidate(&mut mem, span(0x1000, 0x1040));
        c.cpu_read(&mut mem, pa(0x1000), &mut b);
        assert_eq!(b, [9, 9, 9, 9]);
    }

    #[test]
    fn partial_edge_lines_are_cleaned() {
        let mut mem = Memory::default();
        let mut c = Cache::new(64, 1024, Speculation::Off);
        c.cpu_write(&mut mem, pa(0x1000), &[7; 64]);
        // Invalidate only the second half of the line: it is an edge line, so
        // it is cleaned first and the CPU's bytes survive.
        c.invalidate(&mut mem, span(0x1020, 0x1040));
        let mut b = [0u8; 64];
        mem.read(pa(0x1000), &mut b);
        assert_eq!(b, [7; 64]);
    }

    #[test]
    fn eviction_writes_back() {
        let mut mem = Memory::default();
        let mut c = Cache::new(64, 2, Speculation::Off);
        c.cpu_write(&mut mem, pa(0), &[1]);
        c.cpu_write(&mut mem, pa(64), &[2]);
        c.cpu_write(&mut mem, pa(128), &[3]);
        let mut b = [0u8; 1];
        mem.read(pa(0), &mut b);
        assert_eq!(b, [1]);
    }

    #[test]
    fn a_coherent_device_sees_dirty_lines_and_drops_them_on_write() {
        let mut mem = Memory::default();
        let mut c = Cache::new(64, 1024, Speculation::Off);
        c.cpu_write(&mut mem, pa(0x2000), &[5; 8]);
        let mut b = [0u8; 8];
        c.snoop_read(&mem, pa(0x2000), &mut b);
        assert_eq!(b, [5; 8], "snooped from the dirty line");
        c.snoop_write(&mut mem, pa(0x2000), &[6; 8]);
        c.cpu_read(&mut mem, pa(0x2000), &mut b);
        assert_eq!(b, [6; 8], "the line was dropped, the CPU refetches");
    }

    #[test]
    fn speculative_fills_keep_stale_data_until_invalidated() {
        let mut mem = Memory::default();
        let mut c = Cache::new(64, 1024, Speculation::Always);
        c.record = true;
        c.device_write_noncoherent(&mut mem, pa(0x3000), &[1; 64], Cacheable::Yes);
        assert!(matches!(
            c.take_notes()[..],
            [CacheNote::SpecFill { first, lines: 1 }] if first == pa(0x3000)
        ));
        let mut b = [9u8; 4];
        c.cpu_read(&mut mem, pa(0x3000), &mut b);
        assert_eq!(b, [0; 4], "the line was filled before the device wrote");
        c.invalidate(&mut mem, span(0x3000, 0x3040));
        c.cpu_read(&mut mem, pa(0x3000), &mut b);
        assert_eq!(b, [1; 4]);
        c.device_write_noncoherent(&mut mem, pa(0x4000), &[1; 64], Cacheable::No);
        assert!(!c.has_notes(), "uncached memory is never filled");
    }

    #[test]
    fn accesses_split_at_line_boundaries() {
        let c = Cache::new(64, 16, Speculation::Off);
        let v: Vec<(u64, usize, usize, usize)> = c
            .lines(pa(0x30), 0x60)
            .map(|p| (p.idx, p.off, p.at, p.len))
            .collect();
        assert_eq!(
            v,
            vec![(0, 0x30, 0, 0x10), (1, 0, 0x10, 0x40), (2, 0, 0x50, 0x10)]
        );
    }
}
