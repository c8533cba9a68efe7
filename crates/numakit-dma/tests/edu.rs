//! The edu driver on the model: the same code that drives the real device
//! behind VFIO (tests/vm), here against the modelled device and IOMMU.

use numakit_dma::edu::{
    Completion, Edu, EduModel, SelftestOptions, Toward, Transfer, model_backend, selftest,
};
use numakit_dma::{
    Access, DeviceConfig, DmaBackend, DmaDirection, DmaMask, Error, IommuMode, Iova, IrqMode,
    ModelBackend, ModelFaults,
};

#[test]
fn selftest_passes_on_the_model() {
    let (mut m, edu) = model_backend("0000:42:00.0").unwrap();
    let dev = edu.device();
    let r = selftest(
        &mut m,
        dev,
        edu,
        &mut ModelFaults::default(),
        &SelftestOptions::default(),
    );
    let names: Vec<&str> = r.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "probe",
            "round-trip-msi",
            "round-trip-intx",
            "round-trip-polled",
            "round-trip-coherent",
            "round-trip-scatterlist",
            "blocked-write-unmapped",
            "blocked-write-to-device-mapping",
            "blocked-read-from-device-mapping"
        ]
    );
    assert!(r.passed(), "{r:#?}");
    for s in r.steps.iter().filter(|s| s.name.starts_with("blocked")) {
        let want = if s.name.contains("read") {
            Access::Read
        } else {
            Access::Write
        };
        assert!(s.faults.iter().all(|f| f.access == want), "{s:?}");
        assert_eq!(s.faults[0].device, "0000:42:00.0");
    }
    // Five round trips with five patterns: five different digests.
    let mut d: Vec<&String> = r.steps.iter().filter_map(|s| s.digest.as_ref()).collect();
    assert_eq!(d.len(), 5);
    d.sort();
    d.dedup();
    assert_eq!(d.len(), 5);
}

/// Without an IOMMU nothing blocks the device: the fault steps must fail,
/// which shows they test something.
#[test]
fn without_an_iommu_the_blocked_steps_fail() {
    let mut m = ModelBackend::builder()
        .iommu(IommuMode::Off)
        .device(DeviceConfig::new("edu").hw_mask(DmaMask::bits(28)))
        .build()
        .unwrap();
    let dev = m.device_id("edu").unwrap();
    let r = selftest(
        &mut m,
        dev,
        EduModel::new(dev),
        &mut ModelFaults::default(),
        &SelftestOptions::default(),
    );
    assert!(!r.passed());
    // (round-trip-coherent is left out: without an IOMMU the model does not
    // retry a coherent allocation in ZONE_DMA for a 28-bit mask, as the
    // kernel's dma-direct does.)
    for s in r.steps[..6]
        .iter()
        .filter(|s| s.name != "round-trip-coherent")
    {
        assert!(s.passed, "{s:?}");
    }
    let blocked: Vec<_> = r.steps[6..].iter().map(|s| s.passed).collect();
    assert_eq!(blocked, [false, false, false], "{r:#?}");
    assert!(r.steps[8].informational && r.steps[8].detail.contains("not blocked"));
}

#[test]
fn the_driver_refuses_a_transfer_outside_the_device_buffer() {
    let (mut m, io) = model_backend("edu").unwrap();
    let dev = io.device();
    let (mut edu, id) = Edu::probe(&mut m, dev, io).unwrap();
    assert_eq!((id.major, id.minor), (1, 0));
    assert_eq!(m.device_info(dev).unwrap().dma_mask, DmaMask::bits(28));
    // QEMU up to 7.2 stops on a transfer that ends at the buffer's end.
    for (at, len) in [(4000, 200), (0, 4096), (0, 0), (u32::MAX, 2)] {
        let t = Transfer {
            toward: Toward::Memory,
            iova: Iova::new(0x1000),
            at,
            len,
        };
        let e = edu.transfer(&mut m, t, Completion::Poll).unwrap_err();
        assert!(matches!(e, Error::Device { .. }), "{e}");
    }
    // Interrupt completion without an interrupt enabled is refused too.
    let buf = m.alloc(64).unwrap();
    let map = m
        .map_single(dev, buf, DmaDirection::ToDevice)
        .map_err(|e| e.error)
        .unwrap();
    assert!(edu.load(&mut m, &map, 0, Completion::Interrupt).is_err());
    edu.use_interrupts::<ModelBackend>(Some(IrqMode::Msi))
        .unwrap();
    edu.load(&mut m, &map, 0, Completion::Interrupt).unwrap();
    let buf = m.unmap(map);
    m.free(buf);
    assert!(m.findings().is_empty(), "{:?}", m.findings());
}
