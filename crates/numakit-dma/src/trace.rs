//! The timeline: what the CPU, the caches, the IOMMU, swiotlb and the
//! devices did, in order ([`Trace`]), and where in the driver each thing
//! was asked for ([`Origin`]).

use std::fmt;
use std::panic::Location;

use crate::addr::PhysAddr;
use crate::hw::cache::CacheNote;

/// Who did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventSource {
    /// The CPU (driver code): loads, stores, allocations.
    Cpu,
    /// The DMA API itself: map, unmap, sync.
    Dma,
    /// The CPU cache: maintenance, evictions, speculative fills.
    Cache,
    /// The IOMMU: page tables, IOTLB, faults, flushes.
    Iommu,
    /// swiotlb: bounce buffers and copies.
    Swiotlb,
    /// A device's memory accesses.
    Device,
    /// A DMA engine: descriptors, completions, interrupts.
    Engine,
    /// DMA-BUF: export, attach, fences, CPU access.
    Dmabuf,
}

impl EventSource {
    /// The name used in the timeline.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Dma => "dma",
            Self::Cache => "cache",
            Self::Iommu => "iommu",
            Self::Swiotlb => "swiotlb",
            Self::Device => "device",
            Self::Engine => "engine",
            Self::Dmabuf => "dmabuf",
        }
    }
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    /// Position in the timeline, from 1.
    pub seq: u64,
    /// The scenario line that caused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Who did it.
    pub source: EventSource,
    /// A short stable word for what happened (`map`, `clean`, `fault`...).
    pub kind: &'static str,
    /// The device involved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// What happened, for people.
    pub text: String,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{l:>4} ")?,
            None => f.write_str("     ")?,
        }
        write!(f, "{:<8}", self.source.as_str())?;
        if let Some(d) = &self.device {
            write!(f, "{d}: ")?;
        }
        f.write_str(&self.text)
    }
}

/// A place in the driver: a Rust source location (from `#[track_caller]`)
/// or a line of a scenario file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum Origin {
    /// A Rust caller.
    Rust {
        /// The source file.
        file: String,
        /// The line.
        line: u32,
        /// The column.
        column: u32,
    },
    /// A scenario line.
    Scenario {
        /// The line, from 1.
        scenario_line: u32,
    },
}

impl Origin {
    pub(crate) fn rust(l: &Location<'_>) -> Self {
        Origin::Rust {
            file: l.file().to_string(),
            line: l.line(),
            column: l.column(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Rust { file, line, column } => write!(f, "{file}:{line}:{column}"),
            Origin::Scenario { scenario_line } => write!(f, "line {scenario_line}"),
        }
    }
}

/// The Rust caller of a model method (`#[track_caller]`).
pub(crate) type Site = &'static Location<'static>;

/// The timeline being recorded, and the scenario line it is at.
#[derive(Default)]
pub(crate) struct Trace {
    enabled: bool,
    events: Vec<Event>,
    seq: u64,
    line: Option<u32>,
}

impl Trace {
    /// A timeline that records (`enabled`) or only keeps the current line.
    pub(crate) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            ..Self::default()
        }
    }

    /// Whether events are recorded.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// How many events are recorded.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// The scenario line the next events belong to.
    pub(crate) fn set_line(&mut self, line: Option<u32>) {
        self.line = line;
    }

    /// The scenario line now, if any.
    pub(crate) fn line(&self) -> Option<u32> {
        self.line
    }

    /// Where a call from `site` was made: the scenario line while one is
    /// set, else the Rust caller.
    pub(crate) fn origin(&self, site: Site) -> Origin {
        origin_at(self.line, site)
    }

    /// Appends an event.
    pub(crate) fn push(
        &mut self,
        source: EventSource,
        kind: &'static str,
        device: Option<String>,
        text: String,
    ) {
        self.seq += 1;
        self.events.push(Event {
            seq: self.seq,
            line: self.line,
            source,
            kind,
            device,
            text,
        });
    }

    /// Appends what the cache did on its own: each dirty eviction, then the
    /// speculative fills as one event.
    pub(crate) fn cache_notes(&mut self, notes: Vec<CacheNote>, line_size: u64) {
        // (first line, end of the last, how many) of every speculative fill
        let mut fills: Option<(PhysAddr, PhysAddr, u64)> = None;
        for n in notes {
            match n {
                CacheNote::EvictDirty { first, lines: 1 } => self.push(
                    EventSource::Cache,
                    "evict",
                    None,
                    format!("dirty line {first} evicted and written back to memory"),
                ),
                CacheNote::EvictDirty { first, lines } => self.push(
                    EventSource::Cache,
                    "evict",
                    None,
                    format!(
                        "{lines} dirty lines {first}..{} evicted and written back to memory",
                        first.unchecked_add(lines * line_size)
                    ),
                ),
                CacheNote::SpecFill { first, lines } => {
                    let end = first.unchecked_add(lines * line_size);
                    fills = Some(match fills {
                        None => (first, end, lines),
                        Some((a, _, n)) => (a, end, n + lines),
                    });
                }
            }
        }
        let Some((first, end, n)) = fills else {
            return;
        };
        let text = if n == 1 {
            format!("line {first} filled speculatively (memory contents before the device's write)")
        } else {
            format!(
                "{n} lines {first}..{end} filled speculatively (memory contents before the device's write)"
            )
        };
        self.push(EventSource::Cache, "speculative-fill", None, text);
    }

    /// The events so far.
    pub(crate) fn events(&self) -> &[Event] {
        &self.events
    }

    /// Takes the events.
    pub(crate) fn take(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}

/// Where a call from `site` was made while the scenario is at `line`.
pub(crate) fn origin_at(line: Option<u32>, site: Site) -> Origin {
    match line {
        Some(l) => Origin::Scenario { scenario_line: l },
        None => Origin::rust(site),
    }
}

/// The first bytes of a buffer in hex, for the timeline.
pub(crate) fn hex_preview(b: &[u8]) -> String {
    let mut s: String = b
        .iter()
        .take(16)
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ");
    if b.len() > 16 {
        s.push_str(" ...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_numbered_and_carry_the_line() {
        let mut t = Trace::new(true);
        t.set_line(Some(4));
        t.push(EventSource::Dma, "map", Some("nic".into()), "x".into());
        t.set_line(None);
        t.push(EventSource::Cpu, "note", None, "y".into());
        let e = t.take();
        assert_eq!((e[0].seq, e[0].line), (1, Some(4)));
        assert_eq!((e[1].seq, e[1].line), (2, None));
        assert_eq!(e[0].to_string(), "   4 dma     nic: x");
        assert!(t.events().is_empty());
    }

    #[test]
    fn speculative_fills_are_one_event_evictions_one_per_run() {
        let mut t = Trace::new(true);
        let a = |x| PhysAddr::new(x);
        t.cache_notes(
            vec![
                CacheNote::SpecFill {
                    first: a(0x1000),
                    lines: 1,
                },
                CacheNote::EvictDirty {
                    first: a(0x40),
                    lines: 1,
                },
                CacheNote::SpecFill {
                    first: a(0x1040),
                    lines: 1,
                },
                CacheNote::EvictDirty {
                    first: a(0x2000),
                    lines: 3,
                },
            ],
            64,
        );
        let texts: Vec<String> = t.take().into_iter().map(|e| e.text).collect();
        assert_eq!(
            texts,
            [
                "dirty line 0x40 evicted and written back to memory",
                "3 dirty lines 0x2000..0x20c0 evicted and written back to memory",
                "2 lines 0x1000..0x1080 filled speculatively (memory contents before the device's write)"
            ]
        );
    }

    #[test]
    fn origins_prefer_the_scenario_line() {
        let site = Location::caller();
        assert_eq!(
            origin_at(Some(3), site),
            Origin::Scenario { scenario_line: 3 }
        );
        assert!(matches!(origin_at(None, site), Origin::Rust { .. }));
        assert_eq!(hex_preview(&[1, 2]), "01 02");
        assert!(hex_preview(&[0; 17]).ends_with(" ..."));
    }
}
