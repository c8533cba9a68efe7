//! The CPU's data cache: write-back lines of 64 or 128 bytes, a bounded
//! capacity with first-in first-out eviction (a dirty victim is written back
//! at that moment, as on real hardware), and speculative fills.

use std::collections::VecDeque;

use crate::hash::{IntMap, Rng};
use crate::memory::Memory;
use crate::types::Speculation;

struct Line {
    data: Box<[u8]>,
    dirty: bool,
    stamp: u64,
}

/// Something the cache did on its own, for the timeline.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CacheNote {
    /// A dirty line was evicted and written back to memory.
    EvictDirty(u64),
    /// A line was filled speculatively.
    SpecFill(u64),
}

/// What a maintenance operation did, in lines.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Maint {
    pub(crate) written_back: u64,
    pub(crate) dropped: u64,
}

pub(crate) struct Cache {
    line: u64,
    shift: u32,
    lines: IntMap<u64, Line>,
    fifo: VecDeque<(u64, u64)>,
    capacity: usize,
    stamp: u64,
    spec: Speculation,
    rng: Rng,
    pub(crate) record: bool,
    pub(crate) notes: Vec<CacheNote>,
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

    fn evict_one(&mut self, mem: &mut Memory) {
        while let Some((idx, stamp)) = self.fifo.pop_front() {
            if self.lines.get(&idx).is_some_and(|l| l.stamp == stamp) {
                let l = self.lines.remove(&idx).expect("line present");
                if l.dirty {
                    mem.write(idx << self.shift, &l.data);
                    if self.record {
                        self.notes.push(CacheNote::EvictDirty(idx << self.shift));
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
            mem.read(idx << self.shift, &mut data);
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
    pub(crate) fn cpu_read(&mut self, mem: &mut Memory, addr: u64, out: &mut [u8]) {
        let mut done = 0usize;
        while done < out.len() {
            let a = addr + done as u64;
            let off = (a & (self.line - 1)) as usize;
            let n = (self.line as usize - off).min(out.len() - done);
            let l = self.fill(mem, a >> self.shift);
            out[done..done + n].copy_from_slice(&l.data[off..off + n]);
            done += n;
        }
    }

    /// A CPU store through the cache (write-allocate, write-back).
    pub(crate) fn cpu_write(&mut self, mem: &mut Memory, addr: u64, data: &[u8]) {
        let mut done = 0usize;
        while done < data.len() {
            let a = addr + done as u64;
            let off = (a & (self.line - 1)) as usize;
            let n = (self.line as usize - off).min(data.len() - done);
            let l = self.fill(mem, a >> self.shift);
            l.data[off..off + n].copy_from_slice(&data[done..done + n]);
            l.dirty = true;
            done += n;
        }
    }

    /// Indexes of the cached lines in `[start, end)`.
    fn present(&self, start: u64, end: u64) -> Vec<u64> {
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
    pub(crate) fn snoop_read(&self, mem: &Memory, addr: u64, out: &mut [u8]) {
        mem.read(addr, out);
        let end = addr + out.len() as u64;
        for idx in self.present(addr, end) {
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
    pub(crate) fn snoop_write(&mut self, mem: &mut Memory, addr: u64, data: &[u8]) {
        let end = addr + data.len() as u64;
        for idx in self.present(addr, end) {
            let l = self.lines.remove(&idx).expect("line present");
            if l.dirty {
                mem.write(idx << self.shift, &l.data);
            }
        }
        mem.write(addr, data);
    }

    /// A non-coherent device write: memory only. Lines the CPU does not hold
    /// may have been filled speculatively before the write, from the memory
    /// as it was then.
    pub(crate) fn device_write_noncoherent(
        &mut self,
        mem: &mut Memory,
        addr: u64,
        data: &[u8],
        cacheable: bool,
    ) {
        if cacheable && self.spec != Speculation::Off && !data.is_empty() {
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
                        self.notes.push(CacheNote::SpecFill(idx << self.shift));
                    }
                }
            }
        }
        mem.write(addr, data);
    }

    /// Writes dirty lines of `[start, end)` back; they stay cached, clean
    /// (`dc cvac`).
    pub(crate) fn clean(&mut self, mem: &mut Memory, start: u64, end: u64) -> Maint {
        let mut m = Maint::default();
        for idx in self.present(start, end) {
            let l = self.lines.get_mut(&idx).expect("line present");
            if l.dirty {
                mem.write(idx << self.shift, &l.data);
                l.dirty = false;
                m.written_back += 1;
            }
        }
        m
    }

    /// Invalidates `[start, end)` as `dcache_inval_poc` does: partial lines
    /// at either edge are cleaned and invalidated (`dc civac`), whole lines
    /// are dropped without write-back (`dc ivac`).
    pub(crate) fn invalidate(&mut self, mem: &mut Memory, start: u64, end: u64) -> Maint {
        let mut m = Maint::default();
        if end <= start {
            return m;
        }
        let first = start >> self.shift;
        let last = (end - 1) >> self.shift;
        let partial_first = start & (self.line - 1) != 0;
        let partial_last = end & (self.line - 1) != 0;
        for idx in self.present(start, end) {
            let l = self.lines.remove(&idx).expect("line present");
            let edge = (idx == first && partial_first) || (idx == last && partial_last);
            if edge && l.dirty {
                mem.write(idx << self.shift, &l.data);
                m.written_back += 1;
            }
            m.dropped += 1;
        }
        m
    }

    /// Cleans and invalidates `[start, end)` (`dc civac`).
    pub(crate) fn clean_invalidate(&mut self, mem: &mut Memory, start: u64, end: u64) -> Maint {
        let mut m = Maint::default();
        for idx in self.present(start, end) {
            let l = self.lines.remove(&idx).expect("line present");
            if l.dirty {
                mem.write(idx << self.shift, &l.data);
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

    #[test]
    fn write_back_and_invalidate() {
        let mut mem = Memory::default();
        let mut c = Cache::new(64, 1024, Speculation::Off);
        c.cpu_write(&mut mem, 0x1000, &[1, 2, 3, 4]);
        let mut b = [0u8; 4];
        mem.read(0x1000, &mut b);
        assert_eq!(b, [0; 4], "write-back: memory not updated yet");
        c.clean(&mut mem, 0x1000, 0x1004);
        mem.read(0x1000, &mut b);
        assert_eq!(b, [1, 2, 3, 4]);
        mem.write(0x1000, &[9, 9, 9, 9]);
        c.cpu_read(&mut mem, 0x1000, &mut b);
        assert_eq!(b, [1, 2, 3, 4], "stale line still cached");
        c.invalidate(&mut mem, 0x1000, 0x1040);
        c.cpu_read(&mut mem, 0x1000, &mut b);
        assert_eq!(b, [9, 9, 9, 9]);
    }

    #[test]
    fn partial_edge_lines_are_cleaned() {
        let mut mem = Memory::default();
        let mut c = Cache::new(64, 1024, Speculation::Off);
        c.cpu_write(&mut mem, 0x1000, &[7; 64]);
        // Invalidate only the second half of the line: it is an edge line, so
        // it is cleaned first and the CPU's bytes survive.
        c.invalidate(&mut mem, 0x1020, 0x1040);
        let mut b = [0u8; 64];
        mem.read(0x1000, &mut b);
        assert_eq!(b, [7; 64]);
    }

    #[test]
    fn eviction_writes_back() {
        let mut mem = Memory::default();
        let mut c = Cache::new(64, 2, Speculation::Off);
        c.cpu_write(&mut mem, 0, &[1]);
        c.cpu_write(&mut mem, 64, &[2]);
        c.cpu_write(&mut mem, 128, &[3]);
        let mut b = [0u8; 1];
        mem.read(0, &mut b);
        assert_eq!(b, [1]);
    }
}
