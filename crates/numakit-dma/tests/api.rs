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
