//! Tiny benchmarks on the machine running the tests (any machine has node
//! 0): the reports' shape and JSON, the buffers found where they were put,
//! and the GPU flow through a fake driver. Nothing here checks a figure's
//! size: only that figures exist and are finite.

use std::time::Duration;

use numakit_bench::gpu::{Direction, DriverStatus, GpuDevice, GpuDriver, GpuStatus};
use numakit_bench::{
    BandwidthOptions, Bench, GpuOptions, Kernel, LatencyOptions, NoProgress, Options, SCHEMA,
};
use numakit_placement::Placer;
use numakit_root::Root;
use numakit_types::PciAddress;

fn small() -> Options {
    Options {
        nodes: Some("0".parse().unwrap()),
        size: Some(2 << 20),
        repeat: Some(2),
        ..Default::default()
    }
}

#[test]
fn latency_report_and_json() {
    let placer = Placer::live().unwrap();
    let root = Root::live();
    let bench = Bench::new(&placer, &root, &NoProgress).unwrap();
    let r = bench
        .latency(&LatencyOptions {
            common: small(),
            loads: Some(20_000),
        })
        .unwrap();
    let cell = r.result.matrix.get(0, 0).unwrap();
    assert!(cell.ns.median.is_finite() && cell.ns.median > 0.0);
    assert_eq!(cell.ns.samples.len(), 2);
    assert_eq!(
        cell.placement.on_target_pct,
        Some(100.0),
        "{:?}",
        cell.placement
    );
    assert!(!r.misplaced());
    let j = serde_json::to_value(&r).unwrap();
    assert_eq!(j["schema"], SCHEMA);
    assert_eq!(j["bench"], "latency");
    assert!(
        j["methodology"]["summary"]
            .as_str()
            .unwrap()
            .contains("move_pages")
    );
    assert_eq!(j["methodology"]["repeat"], 2);
    let c = &j["result"]["matrix"]["cells"][0];
    assert_eq!(
        (c["initiator"].as_u64(), c["target"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        c["placement"]["by_node"]["0"],
        j["result"]["lines"].as_u64().unwrap() * 64 / 4096
    );
}

#[test]
fn bandwidth_report_counts_bytes_as_stream() {
    let placer = Placer::live().unwrap();
    let root = Root::live();
    let bench = Bench::new(&placer, &root, &NoProgress).unwrap();
    let o = BandwidthOptions {
        common: small(),
        kernels: Some(vec![Kernel::Read, Kernel::Triad]),
    };
    let r = bench.bandwidth(&o).unwrap();
    assert_eq!(r.result.kernels.len(), 2);
    assert_eq!(r.result.elements, (2 << 20) / 8);
    let triad = &r.result.kernels[1];
    assert_eq!(triad.kernel, Kernel::Triad);
    assert_eq!(triad.bytes_per_run, 3 * (2 << 20));
    let cell = triad.matrix.get(0, 0).unwrap();
    assert!(cell.gbps.max.is_finite() && cell.gbps.max > 0.0);
    assert_eq!(cell.placement.on_target_pct, Some(100.0));
}

/// A GPU that copies at 10 GB/s, on paper.
struct FakeGpu;

impl GpuDevice for FakeGpu {
    fn name(&self) -> String {
        "Fake GPU".into()
    }
    fn pci(&self) -> Option<PciAddress> {
        "0000:3b:00.0".parse().ok()
    }
    fn copies(
        &self,
        host: &mut [u8],
        _: Direction,
        _: bool,
        repeat: u32,
    ) -> numakit_bench::Result<Vec<Duration>> {
        let d = Duration::from_secs_f64(host.len() as f64 / 10e9);
        Ok(vec![d; repeat as usize])
    }
}

struct FakeDriver(DriverStatus);

impl GpuDriver for FakeDriver {
    fn status(&self) -> DriverStatus {
        self.0.clone()
    }
    fn device(&self, _: usize) -> numakit_bench::Result<Box<dyn GpuDevice>> {
        Ok(Box::new(FakeGpu))
    }
}

#[test]
fn gpu_matrices_through_a_driver() {
    let placer = Placer::live().unwrap();
    let root = Root::live();
    let bench = Bench::new(&placer, &root, &NoProgress).unwrap();
    let o = GpuOptions {
        common: small(),
        gpus: None,
    };
    let r = bench.gpu(&o, &FakeDriver(DriverStatus::Ready(2))).unwrap();
    assert_eq!(r.result.status, GpuStatus::Measured);
    assert_eq!(r.result.gpus.len(), 2);
    let g = &r.result.gpus[1];
    assert_eq!((g.ordinal, g.pci.as_deref()), (1, Some("0000:3b:00.0")));
    assert_eq!(g.matrices.len(), 4);
    for m in &g.matrices {
        let c = m.matrix.get(0, 0).unwrap();
        assert!((c.gbps.median - 10.0).abs() < 0.01, "{}", c.gbps.median);
        assert_eq!(c.placement.on_target_pct, Some(100.0));
    }
    let e = bench
        .gpu(
            &GpuOptions {
                common: small(),
                gpus: Some(vec![2]),
            },
            &FakeDriver(DriverStatus::Ready(2)),
        )
        .unwrap_err();
    assert_eq!(e.to_string(), "no GPU 2: the driver sees 2");
}

#[test]
fn no_gpu_and_no_driver_measure_nothing() {
    let placer = Placer::live().unwrap();
    let root = Root::live();
    let bench = Bench::new(&placer, &root, &NoProgress).unwrap();
    let o = GpuOptions {
        common: small(),
        gpus: None,
    };
    for (status, want) in [
        (DriverStatus::Ready(0), GpuStatus::NoGpu),
        (DriverStatus::NoGpu("none".into()), GpuStatus::NoGpu),
        (
            DriverStatus::NoDriver("no libcuda".into()),
            GpuStatus::NoDriver,
        ),
    ] {
        let r = bench.gpu(&o, &FakeDriver(status)).unwrap();
        assert_eq!(r.result.status, want);
        assert!(r.result.gpus.is_empty());
        assert!(r.result.message.as_deref().unwrap().starts_with("no GPU"));
    }
}

#[test]
fn a_snapshot_cannot_be_measured() {
    let placer = Placer::live().unwrap();
    let dir = std::env::temp_dir().join(format!("numakit-bench-live-{}", std::process::id()));
    // a root holds sys/ or proc/: an empty folder is not a machine at all
    std::fs::create_dir_all(dir.join("sys")).unwrap();
    let root = Root::open(&dir).unwrap();
    let e = Bench::new(&placer, &root, &NoProgress).unwrap_err();
    assert!(e.to_string().contains("not the running system"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
