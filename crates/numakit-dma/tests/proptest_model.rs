//! Property tests: random sequences of valid DMA API use never produce a
//! finding and keep the data intact, on every machine; the IOVA allocator
//! never hands out overlapping or reserved ranges; garbage scenario files get
//! an error with a line and column, never a panic.

use numakit_dma::iommu::{IovaAllocator, IovaRange};
use numakit_dma::{
    Coherence, CpuBuf, Device, DeviceConfig, DmaBackend, DmaDirection, DmaMask, IommuMode, Iova,
    ModelBackend, Speculation, StreamingMap,
};
use proptest::prelude::*;

enum Slot {
    Cpu(CpuBuf),
    Dev(StreamingMap<Device>),
    View(StreamingMap<numakit_dma::Cpu>),
    Gone,
}

struct Buf {
    slot: Slot,
    data: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Op {
    kind: u8,
    idx: u8,
    arg: u16,
    byte: u8,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        (0u8..9, any::<u8>(), any::<u16>(), any::<u8>()).prop_map(|(kind, idx, arg, byte)| Op {
            kind,
            idx,
            arg,
            byte,
        }),
        1..60,
    )
}

fn dir_of(b: u8) -> DmaDirection {
    match b % 3 {
        0 => DmaDirection::ToDevice,
        1 => DmaDirection::FromDevice,
        _ => DmaDirection::Bidirectional,
    }
}

fn run_valid(cfg: (Coherence, IommuMode, u32, bool, u8), ops: &[Op]) -> Result<(), TestCaseError> {
    let (coherence, iommu, mask, untrusted, line) = cfg;
    let mut m = ModelBackend::builder()
        .coherence(coherence)
        .iommu(iommu)
        .line_size(if line % 2 == 0 { 64 } else { 128 })
        .speculation(Speculation::Seeded {
            seed: u64::from(line),
            percent: 50,
        })
        .device(
            DeviceConfig::new("dev")
                .mask(DmaMask::bits(mask))
                .untrusted(untrusted),
        )
        .build()
        .unwrap();
    let dev = m.device_id("dev").unwrap();
    let mut bufs: Vec<Buf> = Vec::new();
    for op in ops {
        let n = bufs.len();
        let i = if n == 0 { 0 } else { op.idx as usize % n };
        match op.kind {
            0 => {
                let size = 1 + (op.arg as usize % 5000);
                let b = m.alloc(size).unwrap();
                bufs.push(Buf {
                    slot: Slot::Cpu(b),
                    data: vec![0; size],
                });
            }
            _ if n == 0 => {}
            1 => {
                // CPU writes a CPU-owned buffer.
                let b = &mut bufs[i];
                if let Slot::Cpu(cb) = &mut b.slot {
                    let off = op.arg as usize % b.data.len();
                    let len = (b.data.len() - off).min(1 + op.byte as usize);
                    let d = vec![op.byte; len];
                    m.write(cb, off, &d).unwrap();
                    b.data[off..off + len].copy_from_slice(&d);
                }
            }
            2 => {
                // Map with a random direction.
                let b = &mut bufs[i];
                if let Slot::Cpu(_) = b.slot {
                    let Slot::Cpu(cb) = std::mem::replace(&mut b.slot, Slot::Gone) else {
                        unreachable!()
                    };
                    match m.map_single(dev, cb, dir_of(op.byte)) {
                        Ok(map) => b.slot = Slot::Dev(map),
                        Err(e) => b.slot = Slot::Cpu(e.buf),
                    }
                }
            }
            3 => {
                // The device writes a mapping it may write.
                let b = &mut bufs[i];
                if let Slot::Dev(map) = &b.slot
                    && map.direction().device_writes()
                {
                    let off = op.arg as usize % b.data.len();
                    let len = (b.data.len() - off).min(1 + op.byte as usize);
                    let d = vec![op.byte ^ 0x5a; len];
                    m.device_write(dev, Iova::new(map.dma_addr().raw() + off as u64), &d)
                        .unwrap();
                    b.data[off..off + len].copy_from_slice(&d);
                }
            }
            4 => {
                // The device reads a mapping it may read and sees the CPU's data.
                let b = &bufs[i];
                if let Slot::Dev(map) = &b.slot
                    && map.direction().device_reads()
                {
                    let mut got = vec![0u8; b.data.len()];
                    m.device_read(dev, map.dma_addr(), &mut got).unwrap();
                    prop_assert_eq!(&got, &b.data);
                }
            }
            5 => {
                let b = &mut bufs[i];
                if let Slot::Dev(_) = b.slot {
                    let Slot::Dev(map) = std::mem::replace(&mut b.slot, Slot::Gone) else {
                        unreachable!()
                    };
                    let view = m.sync_for_cpu(map);
                    let mut got = vec![0u8; b.data.len()];
                    m.read_mapped(&view, 0, &mut got).unwrap();
                    prop_assert_eq!(&got, &b.data);
                    b.slot = Slot::View(view);
                }
            }
            6 => {
                let b = &mut bufs[i];
                if let Slot::View(_) = b.slot {
                    let Slot::View(view) = std::mem::replace(&mut b.slot, Slot::Gone) else {
                        unreachable!()
                    };
                    b.slot = Slot::Dev(m.sync_for_device(view));
                }
            }
            7 => {
                let b = &mut bufs[i];
                let cb = match std::mem::replace(&mut b.slot, Slot::Gone) {
                    Slot::Dev(map) => m.unmap(map),
                    Slot::View(view) => m.unmap(view),
                    other => {
                        b.slot = other;
                        continue;
                    }
                };
                let mut got = vec![0u8; b.data.len()];
                m.read(&cb, 0, &mut got).unwrap();
                prop_assert_eq!(&got, &b.data);
                b.slot = Slot::Cpu(cb);
            }
            _ => {
                let b = &bufs[i];
                if let Slot::Cpu(cb) = &b.slot {
                    let mut got = vec![0u8; b.data.len()];
                    m.read(cb, 0, &mut got).unwrap();
                    prop_assert_eq!(&got, &b.data);
                }
            }
        }
        prop_assert!(m.findings().is_empty(), "{:?}", m.findings());
    }
    for b in bufs {
        match b.slot {
            Slot::Dev(map) => drop(m.unmap(map)),
            Slot::View(v) => drop(m.unmap(v)),
            _ => {}
        }
    }
    prop_assert!(m.findings().is_empty(), "{:?}", m.findings());
    prop_assert!(m.faults().is_empty());
    Ok(())
}

fn machines() -> impl Strategy<Value = (Coherence, IommuMode, u32, bool, u8)> {
    (
        prop_oneof![Just(Coherence::Coherent), Just(Coherence::NonCoherent)],
        prop_oneof![
            Just(IommuMode::Off),
            Just(IommuMode::Strict),
            Just(IommuMode::Lazy)
        ],
        prop_oneof![Just(32u32), Just(64u32)],
        any::<bool>(),
        any::<u8>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn valid_use_is_clean_and_keeps_data(cfg in machines(), ops in ops()) {
        run_valid(cfg, &ops)?;
    }

    #[test]
    fn iova_allocator_never_overlaps_or_hits_reserved(
        steps in prop::collection::vec((any::<bool>(), 1u64..200, any::<u16>(), 0usize..3), 1..200)
    ) {
        let limits = [0xfffff_u64, 0xfeeff, 0x3ffff];
        let mut a = IovaAllocator::new();
        prop_assert!(a.reserve(0xfee00, 0xfeeff));
        let mut live: Vec<(IovaRange, u64)> = Vec::new();
        for (alloc, pages, pick, li) in steps {
            if alloc || live.is_empty() {
                let limit = limits[li];
                if let Some(r) = a.alloc(pages, limit) {
                    prop_assert_eq!(r.pages, IovaAllocator::rounded(pages));
                    prop_assert!(r.lo_pfn >= 1 && r.lo_pfn + r.pages - 1 <= limit);
                    prop_assert_eq!(r.lo_pfn % r.pages.next_power_of_two(), 0, "size-aligned");
                    prop_assert!(r.lo_pfn + r.pages <= 0xfee00 || r.lo_pfn > 0xfeeff, "reserved range handed out");
                    for (o, _) in &live {
                        prop_assert!(r.lo_pfn + r.pages <= o.lo_pfn || o.lo_pfn + o.pages <= r.lo_pfn, "overlap");
                    }
                    live.push((r, limit));
                }
            } else {
                let (r, _) = live.swap_remove(pick as usize % live.len());
                prop_assert_eq!(a.free(r.lo_pfn), Some(r.pages));
            }
        }
    }

    #[test]
    fn garbage_scenarios_never_panic(lines in prop::collection::vec(scenario_line(), 0..25)) {
        let text = lines.join("\n");
        match numakit_dma::scenario::parse(&text) {
            Ok(s) => {
                if let Err(e) = numakit_dma::scenario::run(&s) {
                    prop_assert!(e.line >= 1 && e.column >= 1, "{e}");
                }
            }
            Err(e) => {
                prop_assert!(e.line >= 1 && e.line as usize <= lines.len().max(1), "{e}");
                prop_assert!(e.column >= 1, "{e}");
            }
        }
    }

    #[test]
    fn scatterlist_entries_are_judged_against_each_other(
        ents in prop::collection::vec((0u64..4000, 1u64..300), 2..6),
        dir in 0u8..3,
        line in prop_oneof![Just(64u64), Just(128u64)],
        iommu in any::<bool>(),
    ) {
        sg_layout(&ents, dir_of(dir), line, iommu)?;
    }

    #[test]
    fn partial_syncs_give_the_cpu_exactly_the_synced_bytes(
        sync in (0u64..4096, 1u64..4096),
        access in (0u64..4096, 1u64..512),
        write in any::<bool>(),
        line in prop_oneof![Just(64u64), Just(128u64)],
    ) {
        partial_sync(sync, access, write, line)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(text in "\\PC{0,300}") {
        if let Ok(s) = numakit_dma::scenario::parse(&text) {
            let _ = numakit_dma::scenario::run(&s);
        }
    }
}

/// A list of entries `(offset, length)` of one 4 KiB buffer mapped in one
/// `map-sg`: overlapping-mapping exactly when two entries share a byte,
/// some finding exactly when two share a cache line (unless nothing is
/// device-written), nothing else.
fn sg_layout(
    ents: &[(u64, u64)],
    dir: DmaDirection,
    line: u64,
    iommu: bool,
) -> Result<(), TestCaseError> {
    let ents: Vec<(u64, u64)> = ents.iter().map(|&(o, l)| (o, l.min(4096 - o))).collect();
    let list: Vec<String> = ents.iter().map(|(o, l)| format!("b+{o}:{l}")).collect();
    let text = format!(
        "machine noncoherent line={line}\niommu {}\ndevice d max-segment=65536\n\
         alloc b 4096\nmap-sg m d {} {}\nmapping-error m\nunmap-sg m\nfree b\n",
        if iommu { "strict" } else { "off" },
        dir.as_str(),
        list.join(" ")
    );
    let r = numakit_dma::scenario::run_str(&text)
        .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    let rules: Vec<&str> = r.findings.iter().map(|f| f.rule.id()).collect();
    let mut overlap = false;
    let mut meet = false;
    for (i, &(a, al)) in ents.iter().enumerate() {
        for &(b, bl) in &ents[i + 1..] {
            overlap |= a < b + bl && b < a + al;
            meet |= a / line <= (b + bl - 1) / line && b / line <= (a + al - 1) / line;
        }
    }
    let writes = dir != DmaDirection::ToDevice;
    prop_assert_eq!(
        rules.contains(&"overlapping-mapping"),
        writes && overlap,
        "{:?}\n{}",
        rules,
        text
    );
    prop_assert_eq!(!rules.is_empty(), writes && meet, "{:?}\n{}", rules, text);
    prop_assert!(
        rules
            .iter()
            .all(|r| *r == "overlapping-mapping" || *r == "shared-cache-line"),
        "{:?}\n{}",
        rules,
        text
    );
    Ok(())
}

/// A 4 KiB from-device mapping the device wrote whole, synced for the CPU
/// over `sync` (offset, length): a CPU load of bytes inside the synced range
/// is clean and sees the device's data; one reaching outside it is
/// missing-sync-for-cpu; a store into a cache line holding any byte outside
/// it is cpu-access-device-owned.
fn partial_sync(
    sync: (u64, u64),
    access: (u64, u64),
    write: bool,
    line: u64,
) -> Result<(), TestCaseError> {
    let (so, sl) = (sync.0, sync.1.min(4096 - sync.0));
    let (ao, al) = (access.0, access.1.min(4096 - access.0));
    let cpu = if write {
        format!("write b+{ao} fill:0x99*{al}")
    } else {
        format!("expect b+{ao} fill:0x5a*{al}")
    };
    let text = format!(
        "machine noncoherent line={line}\niommu strict\ndevice d\nalloc b 4096 align=4096\n\
         map m d b bidirectional\nmapping-error m\ndevice-write d m fill:0x5a*4096\n\
         sync-for-cpu m+{so} size={sl}\n{cpu}\n"
    );
    let r = numakit_dma::scenario::run_str(&text)
        .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    let rules: Vec<&str> = r.findings.iter().map(|f| f.rule.id()).collect();
    let (lo, hi) = if write {
        (ao / line * line, (ao + al).div_ceil(line) * line)
    } else {
        (ao, ao + al)
    };
    let inside = so <= lo && hi <= so + sl;
    if inside {
        prop_assert!(rules.is_empty(), "{:?}\n{}", rules, text);
    } else {
        // the device wrote every byte: a load of bytes not synced reads
        // device-written data without a sync (and may see stale bytes); a
        // store into a line the device still owns part of is the hazard
        let want = if write {
            "cpu-access-device-owned"
        } else {
            "missing-sync-for-cpu"
        };
        prop_assert_eq!(rules.first().copied(), Some(want), "{:?}\n{}", rules, text);
        prop_assert!(
            rules[1..].iter().all(|r| *r == "expect-mismatch"),
            "{:?}\n{}",
            rules,
            text
        );
    }
    Ok(())
}

fn scenario_line() -> impl Strategy<Value = String> {
    let words = prop_oneof![
        Just("machine"),
        Just("noncoherent"),
        Just("coherent"),
        Just("iommu"),
        Just("strict"),
        Just("lazy"),
        Just("device"),
        Just("d"),
        Just("e"),
        Just("alloc"),
        Just("b"),
        Just("c"),
        Just("map"),
        Just("m"),
        Just("unmap"),
        Just("map-sg"),
        Just("unmap-sg"),
        Just("sync-for-cpu"),
        Just("sync-for-device"),
        Just("to-device"),
        Just("from-device"),
        Just("bidirectional"),
        Just("none"),
        Just("device-write"),
        Just("device-read"),
        Just("write"),
        Just("read"),
        Just("expect"),
        Just("\"hi\""),
        Just("fill:0xab*64"),
        Just("hex:00ff"),
        Just("64"),
        Just("4096"),
        Just("0x1000"),
        Just("4K"),
        Just("size=32"),
        Just("dir=to-device"),
        Just("nents=3"),
        Just("m+8"),
        Just("m#1"),
        Just("alloc-coherent"),
        Just("engine"),
        Just("desc"),
        Just("doorbell"),
        Just("1"),
        Just("irq"),
        Just("dmabuf"),
        Just("attach"),
        Just("map-attachment"),
        Just("fence"),
        Just("signal"),
        Just("wait"),
        Just("cpu"),
        Just("begin-cpu-access"),
        Just("end-cpu-access"),
        Just("free"),
        Just("remove-device"),
        Just("iommu-flush"),
        Just("#"),
        Just("\"unterminated"),
        Just("="),
        Just("page"),
        Just("mask=32"),
        Just("untrusted"),
        Just("line=128"),
        Just("0xffffffffffffffff"),
        Just("expect-status"),
        Just("done"),
        Just("unmap-addr"),
        Just("kind=stack"),
        Just("kind=vmalloc"),
        Just("kind=mmio"),
        Just("kind=rodata"),
        Just("alloc-noncoherent"),
        Just("free-noncoherent"),
        Just("dma-pool"),
        Just("pool-alloc"),
        Just("pool-free"),
        Just("pool-destroy"),
        Just("pool=p"),
        Just("map-resource"),
        Just("attrs=skip-cpu-sync"),
        Just("attrs=skip-cpu-sync,weak-ordering"),
        Just("entries=page"),
        Just("usage=read"),
        Just("system-line=128"),
        Just("addr-bits=32"),
        Just("seg-boundary=0xfff"),
        Just("max-segment=4096"),
        Just("pages"),
        Just("mapping-error"),
        Just("swiotlb"),
        Just("off")
    ];
    prop::collection::vec(words, 0..8).prop_map(|w| w.join(" "))
}
