//! The Rust APIs: the kernel-shaped one reports the caller's source location;
//! the typed one keeps ownership straight and runs clean.

use numakit_dma::{
    Coherence, DeviceConfig, DmaBackend, DmaDirection, DmaMask, IommuMode, MemKind, ModelBackend,
    Origin, Rule, SgTable, Zone,
};

fn model(c: Coherence, iommu: IommuMode) -> ModelBackend {
    ModelBackend::builder()
        .coherence(c)
        .iommu(iommu)
        .device(DeviceConfig::new("nic").mask(DmaMask::bits(32)))
        .build()
        .unwrap()
}

#[test]
fn findings_name_the_rust_caller() {
    let mut m = model(Coherence::NonCoherent, IommuMode::Strict);
    let nic = m.device_id("nic").unwrap();
    let buf = m
        .kmalloc(4096, 0, Zone::Normal, MemKind::Kmalloc, "rx")
        .unwrap();
    let dma = m.dma_map_single(nic, buf, 4096, DmaDirection::FromDevice);
    assert!(!m.dma_mapping_error(nic, dma));
    m.dma_unmap_single(nic, dma, 4096, DmaDirection::FromDevice);
    let line = line!() + 1;
    m.dma_unmap_single(nic, dma, 4096, DmaDirection::FromDevice);
    let f = &m.findings()[0];
    assert_eq!(f.rule, Rule::DoubleUnmap);
    assert_eq!(f.buffer.as_deref(), Some("rx"));
    assert_eq!(f.dma_addr, Some(dma));
    match &f.at {
        Origin::Rust { file, line: l, .. } => {
            assert!(file.ends_with("tests/api.rs"), "{file}");
            assert_eq!(*l, line);
        }
        o => panic!("{o:?}"),
    }
}

#[test]
fn typed_driver_round_trip_on_every_machine() {
    for c in [Coherence::Coherent, Coherence::NonCoherent] {
        for iommu in [IommuMode::Off, IommuMode::Strict, IommuMode::Lazy] {
            let mut m = model(c, iommu);
            let nic = m.device_id("nic").unwrap();
            // transmit
            let mut tx = m.alloc(1500).unwrap();
            m.write(&mut tx, 0, b"request").unwrap();
            let map = m
                .map_single(nic, tx, DmaDirection::ToDevice)
                .map_err(|e| e.error)
                .unwrap();
            let mut seen = [0u8; 7];
            m.device_read(nic, map.dma_addr(), &mut seen).unwrap();
            assert_eq!(&seen, b"request");
            let tx = m.unmap(map);
            m.free(tx);
            // receive, twice on one mapping
            let rx = m.alloc(2048).unwrap();
            let map = m
                .map_single(nic, rx, DmaDirection::FromDevice)
                .map_err(|e| e.error)
                .unwrap();
            m.device_write(nic, map.dma_addr(), b"one").unwrap();
            let view = m.sync_for_cpu(map);
            let mut got = [0u8; 3];
            m.read_mapped(&view, 0, &mut got).unwrap();
            assert_eq!(&got, b"one");
            let map = m.sync_for_device(view);
            m.device_write(nic, map.dma_addr(), b"two").unwrap();
            let rx = m.unmap(map);
            m.read(&rx, 0, &mut got).unwrap();
            assert_eq!(&got, b"two", "{c:?} {iommu:?}");
            // scatter-gather
            let mut bufs = Vec::new();
            for i in 0..4u8 {
                let mut b = m.alloc(4096).unwrap();
                m.write(&mut b, 0, &[i; 16]).unwrap();
                bufs.push(b);
            }
            let sg = m
                .map_sg(nic, SgTable::new(bufs), DmaDirection::ToDevice)
                .map_err(|e| e.error)
                .unwrap();
            let expect_segs = if iommu == IommuMode::Off { 4 } else { 1 };
            assert_eq!(sg.segments().len(), expect_segs, "{c:?} {iommu:?}");
            assert_eq!(sg.nents(), 4);
            let mut b = [0u8; 16];
            m.device_read(
                nic,
                numakit_dma::Iova::new(sg.segments()[0].addr.raw()),
                &mut b,
            )
            .unwrap();
            assert_eq!(b, [0; 16]);
            let table = m.unmap_sg(sg);
            assert_eq!(table.len(), 4);
            // coherent
            let ring = m.alloc_coherent(nic, 4096).unwrap();
            m.coherent_write(&ring, 0, b"desc").unwrap();
            m.device_write(
                nic,
                numakit_dma::Iova::new(ring.dma_addr().raw() + 8),
                b"done",
            )
            .unwrap();
            let mut st = [0u8; 4];
            m.coherent_read(&ring, 8, &mut st).unwrap();
            assert_eq!(&st, b"done");
            m.free_coherent(ring);
            assert!(
                m.findings().is_empty(),
                "{c:?} {iommu:?}: {:?}",
                m.findings()
            );
            assert_eq!(m.live_mappings(), 0);
        }
    }
}

#[test]
fn a_failed_mapping_gives_the_buffer_back() {
    let mut m = ModelBackend::builder()
        .swiotlb(0)
        .device(DeviceConfig::new("old").mask(DmaMask::bits(32)))
        .build()
        .unwrap();
    let old = m.device_id("old").unwrap();
    let buf = m.alloc(64).unwrap();
    let err = m.map_single(old, buf, DmaDirection::ToDevice).unwrap_err();
    assert!(
        matches!(err.error, numakit_dma::Error::Unreachable { .. }),
        "{}",
        err.error
    );
    m.free(err.buf);
}

#[test]
fn split_buffers_sharing_a_line_are_caught() {
    let mut m = model(Coherence::NonCoherent, IommuMode::Strict);
    let nic = m.device_id("nic").unwrap();
    let whole = m.alloc(128).unwrap();
    let (mut hdr, data) = whole.split_at(32);
    let map = m
        .map_single(nic, data, DmaDirection::FromDevice)
        .map_err(|e| e.error)
        .unwrap();
    m.write(&mut hdr, 0, b"x").unwrap();
    assert_eq!(m.findings()[0].rule, Rule::CpuAccessDeviceOwned);
    let _ = m.unmap(map);
}

#[test]
fn engine_interrupt_callback() {
    use std::sync::{Arc, Mutex};
    let mut m = model(Coherence::NonCoherent, IommuMode::Strict);
    let nic = m.device_id("nic").unwrap();
    let ring = m.alloc_coherent(nic, 4096).unwrap();
    let mut src = m.alloc(64).unwrap();
    m.write(&mut src, 0, b"copy me").unwrap();
    let dst = m.alloc(64).unwrap();
    let s = m
        .map_single(nic, src, DmaDirection::ToDevice)
        .map_err(|e| e.error)
        .unwrap();
    let d = m
        .map_single(nic, dst, DmaDirection::FromDevice)
        .map_err(|e| e.error)
        .unwrap();
    let desc = numakit_dma::engine::Descriptor::new(s.dma_addr(), d.dma_addr(), 7, true);
    m.coherent_write(&ring, 0, &desc.encode()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    m.engine_configure(nic, ring.dma_addr(), 8).unwrap();
    let s2 = seen.clone();
    m.engine_on_interrupt(nic, move |c| s2.lock().unwrap().push(c))
        .unwrap();
    assert_eq!(m.engine_doorbell(nic, 1).unwrap(), 1);
    assert_eq!(seen.lock().unwrap().len(), 1);
    let mut raw = [0u8; 32];
    m.coherent_read(&ring, 0, &mut raw).unwrap();
    assert_eq!(
        numakit_dma::engine::Descriptor::decode(&raw).status,
        numakit_dma::engine::Descriptor::DONE
    );
    let _ = m.unmap(s);
    let dst = m.unmap(d);
    let mut out = [0u8; 7];
    m.read(&dst, 0, &mut out).unwrap();
    assert_eq!(&out, b"copy me");
    assert!(m.findings().is_empty(), "{:?}", m.findings());
}

#[test]
fn the_checker_can_be_turned_off() {
    let mut m = ModelBackend::builder()
        .checker(false)
        .device(DeviceConfig::new("nic"))
        .build()
        .unwrap();
    let nic = m.device_id("nic").unwrap();
    let buf = m
        .kmalloc(64, 0, Zone::Normal, MemKind::Kmalloc, "b")
        .unwrap();
    let dma = m.dma_map_single(nic, buf, 64, DmaDirection::ToDevice);
    m.dma_unmap_single(nic, dma, 64, DmaDirection::ToDevice);
    m.dma_unmap_single(nic, dma, 64, DmaDirection::ToDevice);
    assert!(m.findings().is_empty());
}

/// Issue 16: each half of a split buffer is freed on its own; the
/// allocation goes back with the last half, and the other half stays
/// usable until then.
#[test]
fn split_halves_are_freed_independently() {
    let mut m = model(Coherence::NonCoherent, IommuMode::Strict);
    let nic = m.device_id("nic").unwrap();
    let buf = m.alloc(256).unwrap();
    let (mut head, tail) = buf.split_at(64);
    // the tail is mapped while the head is freed: nothing is freed yet
    let map = m
        .map_single(nic, tail, DmaDirection::FromDevice)
        .map_err(|e| e.error)
        .unwrap();
    m.write(&mut head, 0, &[1; 64]).unwrap();
    m.free(head);
    m.device_write(nic, map.dma_addr(), &[7; 192]).unwrap();
    let tail = m.unmap(map);
    let mut seen = [0u8; 192];
    m.read(&tail, 0, &mut seen).unwrap();
    assert_eq!(seen, [7; 192]);
    assert!(m.findings().is_empty(), "{:?}", m.findings());
    m.free(tail);
    assert!(m.findings().is_empty(), "{:?}", m.findings());
    // the broken twin, as it was before: the whole freed with one half
    // still mapped is `free-while-mapped`
    let buf = m
        .kmalloc(256, 0, Zone::Normal, MemKind::Kmalloc, "raw")
        .unwrap();
    let tail = numakit_dma::PhysAddr::new(buf.raw() + 64);
    let dma = m.dma_map_single(nic, tail, 192, DmaDirection::FromDevice);
    assert!(!m.dma_mapping_error(nic, dma));
    m.kfree(buf);
    assert_eq!(m.findings()[0].rule, Rule::FreeWhileMapped);
}

/// Issue 16: a handle of another model instance is refused: an error from
/// the calls that can fail, a `foreign-handle` finding from the others,
/// and neither model's memory is touched.
#[test]
fn handles_of_another_instance_are_refused() {
    let mut a = model(Coherence::Coherent, IommuMode::Strict);
    let mut b = model(Coherence::Coherent, IommuMode::Strict);
    let nic_a = a.device_id("nic").unwrap();
    let nic_b = b.device_id("nic").unwrap();
    let mut buf = a.alloc(64).unwrap();
    a.write(&mut buf, 0, b"mine").unwrap();
    let e = b.write(&mut buf, 0, b"theirs").unwrap_err();
    assert!(matches!(e, numakit_dma::Error::ForeignHandle { .. }), "{e}");
    let e = b
        .map_single(nic_b, buf, DmaDirection::ToDevice)
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("DMA mapping failed: this CPU buffer was made by DMA backend instance")
    );
    let (none, buf) = e.buf.split_at(0);
    b.free(none);
    assert_eq!(b.findings().len(), 1);
    assert_eq!(b.findings()[0].rule, Rule::ForeignHandle);
    let map = a
        .map_single(nic_a, buf, DmaDirection::ToDevice)
        .map_err(|e| e.error)
        .unwrap();
    // an infallible call on a foreign mapping: reported, a refused handle back
    let cpu_owned = b.sync_for_cpu(map);
    assert_eq!(cpu_owned.len(), 0);
    assert_eq!(b.findings().len(), 2);
    let back = b.unmap(cpu_owned);
    assert_eq!(back.len(), 0);
    assert_eq!(b.findings().len(), 2, "a refused handle is ignored");
    b.free(back);
    // model a kept its mapping: it leaks it, and says so when the device goes
    assert!(a.findings().is_empty());
    assert_eq!(a.live_mappings(), 1);
}

/// Issue 16: a failed mapping says why in its own message.
#[test]
fn map_error_shows_its_cause() {
    let mut m = model(Coherence::Coherent, IommuMode::Off);
    let nic = m.device_id("nic").unwrap();
    let buf = m.alloc(16).unwrap();
    let e = m.map_single(nic, buf, DmaDirection::None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "DMA mapping failed: DMA_NONE is not a valid direction for a mapping"
    );
    assert!(
        std::error::Error::source(&e).is_none(),
        "the cause is said once"
    );
}
