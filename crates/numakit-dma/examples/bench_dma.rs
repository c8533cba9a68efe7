//! Throughput of the model with and without the checker: map/sync/unmap
//! cycles of one buffer, and a 1 GiB scatter-gather workload.
//!
//! Run in release mode (`scripts/bench-dma.sh`). Arguments: `[cycles]
//! [sg-entry-KiB]` (defaults 200000 and 64). `--one MACHINE on|off
//! [cycles]` runs just the cycles of one machine (`coherent`,
//! `noncoherent`, `strict`, `lazy`) with the checker on or off, for
//! timing whole processes with hyperfine or `/usr/bin/time`.
//!
//! What is measured: model time, not hardware time. One cycle is
//! `dma_map_single` of a 4 KiB from-device buffer, a 64-byte device write,
//! `dma_sync_single_for_cpu` and `dma_unmap_single`. The 1 GiB workload maps
//! a scatterlist of 1 GiB in entries of the given size (16384 entries of
//! 64 KiB by default) with `dma_map_sg`, lets the device write 64 bytes at
//! the start of every DMA segment, syncs the list for the CPU and unmaps it.
//! Model memory is allocated lazily: only the pages written (a line per
//! entry by the CPU before the map, 64 bytes per segment by the device) hold
//! data, so the workload does not need 1 GiB of RAM; the IOMMU page tables
//! (262144 entries), the cache maintenance over the whole 1 GiB range and the
//! checker's bookkeeping are done in full.

use std::time::Instant;

use numakit_dma::{
    Coherence, DeviceConfig, DmaBackend, DmaDirection, IommuMode, Iova, ModelBackend, SgTable,
};

fn machine(c: Coherence, iommu: IommuMode, checker: bool) -> ModelBackend {
    ModelBackend::builder()
        .coherence(c)
        .iommu(iommu)
        .checker(checker)
        .device(DeviceConfig::new("dev"))
        .build()
        .expect("model")
}

fn cycles(c: Coherence, iommu: IommuMode, checker: bool, n: u64) -> f64 {
    let mut m = machine(c, iommu, checker);
    let dev = m.device_id("dev").expect("device");
    let mut buf = Some(m.alloc(4096).expect("alloc"));
    let payload = [0xa5u8; 64];
    let t = Instant::now();
    for _ in 0..n {
        let map = m
            .map_single(dev, buf.take().expect("buffer"), DmaDirection::FromDevice)
            .expect("map");
        m.device_write(dev, map.dma_addr(), &payload)
            .expect("device write");
        let view = m.sync_for_cpu(map);
        buf = Some(m.unmap(view));
    }
    let s = t.elapsed().as_secs_f64();
    assert!(m.findings().is_empty());
    n as f64 / s
}

fn sg_gib(c: Coherence, iommu: IommuMode, checker: bool, entry_kib: u64) -> (f64, usize, usize) {
    let mut m = machine(c, iommu, checker);
    let dev = m.device_id("dev").expect("device");
    let entry = entry_kib * 1024;
    let n = (1u64 << 30) / entry;
    let mut bufs = Vec::with_capacity(n as usize);
    for i in 0..n {
        let mut b = m.alloc(entry as usize).expect("alloc");
        m.write(&mut b, 0, &i.to_le_bytes()).expect("write");
        bufs.push(b);
    }
    let payload = [0x5au8; 64];
    let t = Instant::now();
    let sg = m
        .map_sg(dev, SgTable::new(bufs), DmaDirection::Bidirectional)
        .map_err(|e| e.error)
        .expect("map_sg");
    let segs: Vec<Iova> = sg.segments().iter().map(|s| s.addr).collect();
    for a in &segs {
        m.device_write(dev, *a, &payload).expect("device write");
    }
    let view = m.sync_sg_for_cpu(sg);
    let table = m.unmap_sg(view);
    let s = t.elapsed().as_secs_f64();
    assert_eq!(table.len() as u64, n);
    assert!(m.findings().is_empty());
    (s, segs.len(), m.resident_pages())
}

/// `--one MACHINE on|off [cycles]`.
fn one(mut args: impl Iterator<Item = String>) {
    let (c, iommu) = match args.next().as_deref() {
        Some("coherent") => (Coherence::Coherent, IommuMode::Off),
        Some("noncoherent") => (Coherence::NonCoherent, IommuMode::Off),
        Some("strict") => (Coherence::NonCoherent, IommuMode::Strict),
        Some("lazy") => (Coherence::NonCoherent, IommuMode::Lazy),
        _ => {
            eprintln!("bench-dma --one: MACHINE is coherent, noncoherent, strict or lazy");
            std::process::exit(2);
        }
    };
    let checker = match args.next().as_deref() {
        Some("on") => true,
        Some("off") => false,
        _ => {
            eprintln!("bench-dma --one MACHINE on|off [cycles]");
            std::process::exit(2);
        }
    };
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    println!("{:.0} cycles/s", cycles(c, iommu, checker, n));
}

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--one") {
        args.next();
        return one(args);
    }
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let entry_kib: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    println!(
        "map/sync/unmap cycles ({n} per run, 4 KiB buffer, from-device, 64-byte device write)"
    );
    println!(
        "{:<28} {:>14} {:>14} {:>7}",
        "machine", "checker off/s", "checker on/s", "ratio"
    );
    for (name, c, iommu) in [
        ("coherent, no IOMMU", Coherence::Coherent, IommuMode::Off),
        (
            "non-coherent, no IOMMU",
            Coherence::NonCoherent,
            IommuMode::Off,
        ),
        (
            "non-coherent, IOMMU strict",
            Coherence::NonCoherent,
            IommuMode::Strict,
        ),
        (
            "non-coherent, IOMMU lazy",
            Coherence::NonCoherent,
            IommuMode::Lazy,
        ),
    ] {
        // Best of five runs each, alternating, to damp the noise of a busy machine.
        let (mut off, mut on) = (0f64, 0f64);
        for _ in 0..5 {
            off = off.max(cycles(c, iommu, false, n));
            on = on.max(cycles(c, iommu, true, n));
        }
        println!("{name:<28} {off:>14.0} {on:>14.0} {:>6.2}x", off / on);
    }
    println!();
    println!(
        "1 GiB scatter-gather: map_sg, a 64-byte device write per segment, sync_sg_for_cpu, unmap_sg ({entry_kib} KiB entries)"
    );
    println!(
        "{:<28} {:>8} {:>13} {:>13} {:>7} {:>9}",
        "machine", "segments", "checker off", "checker on", "ratio", "resident"
    );
    for (name, c, iommu) in [
        (
            "non-coherent, IOMMU strict",
            Coherence::NonCoherent,
            IommuMode::Strict,
        ),
        ("coherent, no IOMMU", Coherence::Coherent, IommuMode::Off),
    ] {
        let (mut off, mut on) = (f64::MAX, f64::MAX);
        let (mut segs, mut pages) = (0, 0);
        for _ in 0..2 {
            let (t, s, p) = sg_gib(c, iommu, false, entry_kib);
            (off, segs, pages) = (off.min(t), s, p);
            on = on.min(sg_gib(c, iommu, true, entry_kib).0);
        }
        println!(
            "{name:<28} {segs:>8} {:>11.1}ms {:>11.1}ms {:>6.2}x {:>6} MiB",
            off * 1e3,
            on * 1e3,
            on / off,
            (pages * 4096) >> 20
        );
    }
}
