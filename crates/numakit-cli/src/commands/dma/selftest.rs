//! `numakit dma selftest DEVICE`: the edu driver of numakit-dma on a real
//! QEMU `edu` device through VFIO (or, with `--model`, on the DMA model):
//! round trips completed by MSI, INTx and polling with every byte checked,
//! then DMA the IOMMU must block, reported from the kernel log; and where
//! the DMA memory is.
//!
//! `--json` prints schema `numakit.dma-selftest/1` (docs/vfio.md). Exit
//! status: 0 every step passed, 1 a step failed, 2 the device cannot be
//! used (not an edu device, not bound to vfio-pci, no VFIO, not root).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use numakit_dma::edu::{SelftestOptions, SelftestReport, model_backend, regs, selftest};
use numakit_dma::vfio::{
    FaultWatch, IovaWindow, Placement, ReservedIova, VfioBackend, VfioDeviceSpec,
};
use numakit_dma::{IrqMode, ModelFaults};
use numakit_root::Root;
use numakit_topo::locate::DeviceSpec;
use numakit_topo::{Machine, Parts, PciDevice};
use serde::Serialize;

use crate::commands::common::{IOMMU_PARTS, open_root};
use crate::error::{CliError, CliResult, EXIT_FINDINGS, EXIT_OK};
use crate::output::{print, print_json, sanitize};

/// The schema of the JSON report.
pub const SCHEMA: &str = "numakit.dma-selftest/1";

/// An interrupt mode on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Irq {
    /// Message-signalled interrupts.
    Msi,
    /// The legacy INTx line.
    Intx,
}

/// Arguments of `numakit dma selftest`.
#[derive(Debug, clap::Args)]
pub struct SelftestArgs {
    /// The edu device (a PCI address, 0000:42:00.0), bound to vfio-pci.
    #[arg(required_unless_present = "model", conflicts_with = "model")]
    pub device: Option<String>,
    /// Run the same driver on the DMA model's edu device instead.
    #[arg(long)]
    pub model: bool,
    /// The interrupts to complete round trips with (a polled one always runs).
    #[arg(long, value_delimiter = ',', default_value = "msi,intx")]
    pub irq: Vec<Irq>,
    /// Skip the DMA the IOMMU must block.
    #[arg(long)]
    pub no_faults: bool,
    /// Print JSON (schema numakit.dma-selftest/1).
    #[arg(long)]
    pub json: bool,
}

/// The JSON document.
#[derive(Debug, Serialize)]
struct Out {
    schema: &'static str,
    backend: &'static str,
    #[serde(flatten)]
    report: SelftestReport,
    group: Option<u32>,
    node: Option<u32>,
    memory: Vec<Placement>,
    iova_windows: Option<Vec<IovaWindow>>,
    passed: bool,
}

/// Runs `numakit dma selftest`.
pub fn run(root: Option<PathBuf>, a: SelftestArgs) -> CliResult<u8> {
    let opts = SelftestOptions {
        interrupts: a
            .irq
            .iter()
            .map(|i| match i {
                Irq::Msi => IrqMode::Msi,
                Irq::Intx => IrqMode::Intx,
            })
            .collect(),
        faults: !a.no_faults,
        fault_wait: Duration::from_secs(3),
    };
    let out = if a.model {
        on_model(&opts)?
    } else {
        let root = open_root(root)?;
        on_device(&root, a.device.as_deref().unwrap_or_default(), &opts)?
    };
    if a.json {
        print_json(&out)?;
    } else {
        print(&render(&out))?;
    }
    Ok(if out.passed { EXIT_OK } else { EXIT_FINDINGS })
}

fn on_model(opts: &SelftestOptions) -> CliResult<Out> {
    let (mut m, edu) =
        model_backend("edu").map_err(|e| CliError::new(format!("cannot build the model: {e}")))?;
    let dev = edu.device();
    let report = selftest(&mut m, dev, edu, &mut ModelFaults::default(), opts);
    Ok(Out {
        schema: SCHEMA,
        backend: "model",
        passed: report.passed(),
        report,
        group: None,
        node: None,
        memory: Vec::new(),
        iova_windows: None,
    })
}

/// The device, checked: an edu, in an IOMMU group, bound to vfio-pci.
fn edu_device<'m>(root: &Root, m: &'m Machine, name: &str) -> CliResult<&'m PciDevice> {
    let spec: DeviceSpec = name.parse()?;
    let d = spec.find(m, Some(root)).map_err(|e| {
        CliError::new(format!("cannot test {name}: {e}"))
            .hint("list the devices with 'numakit iommu'")
    })?;
    if (d.vendor_id, d.device_id) != (Some(regs::PCI_ID.0), Some(regs::PCI_ID.1)) {
        return Err(CliError::new(format!(
            "cannot test {}: it is {}, not a QEMU edu device (1234:11e8)",
            d.address,
            d.display_name()
        )));
    }
    let r = numakit_vfio::report::report(root, m);
    if r.vfio.vfio_pci == Some(false) {
        return Err(CliError::new(format!(
            "cannot test {}: the vfio-pci driver is not loaded",
            d.address
        ))
        .hint("modprobe vfio-pci (kernel option CONFIG_VFIO_PCI)"));
    }
    if d.iommu_group.is_none() {
        let (why, hint) = match r.off {
            Some(off) => (format!("no IOMMU: {}", off.detail), off.hint),
            None => (
                "it is in no IOMMU group".into(),
                "see 'numakit iommu'".into(),
            ),
        };
        return Err(CliError::new(format!("cannot test {}: {why}", d.address)).hint(hint));
    }
    if d.driver.as_deref() != Some("vfio-pci") {
        return Err(CliError::new(format!(
            "cannot test {}: it is bound to {}, not vfio-pci",
            d.address,
            d.driver.as_deref().unwrap_or("no driver")
        ))
        .hint(format!("numakit vfio bind {} --apply", d.address)));
    }
    Ok(d)
}

fn on_device(root: &Root, name: &str, opts: &SelftestOptions) -> CliResult<Out> {
    if !root.is_live() {
        return Err(CliError::new(format!(
            "cannot drive a device on {}: it needs the running system",
            root.label()
        ))
        .hint("drop --root (or NUMAKIT_ROOT), or use --model"));
    }
    let m = Machine::discover_parts(
        root,
        Parts {
            node_details: true,
            ..IOMMU_PARTS
        },
    );
    let d = edu_device(root, &m, name)?;
    let group = d.iommu_group.ok_or_else(|| {
        CliError::new(format!(
            "cannot test {}: it is in no IOMMU group",
            d.address
        ))
        .hint("VFIO needs the IOMMU on: see 'numakit iommu'")
    })?;
    let reserved = m
        .iommu
        .groups
        .iter()
        .filter(|g| g.id == group)
        .flat_map(|g| g.reserved_regions.iter())
        .map(|r| ReservedIova {
            start: r.start,
            end: r.end,
        })
        .collect();
    let spec = VfioDeviceSpec {
        address: d.address.to_string(),
        group,
        node: d.numa_node.map(|n| n.0),
        reserved,
    };
    let fail = |e: numakit_dma::Error| {
        CliError::new(format!("cannot test {}: {e}", d.address))
            .hint("VFIO needs root, the IOMMU on and vfio-pci loaded: see 'numakit iommu'")
    };
    let mut dma = VfioBackend::open().map_err(fail)?;
    if let Some(n) = spec.node {
        dma.set_hugetlb_free(n, free_2m_pages(&m, n));
    }
    let dev = dma.add_device(&spec).map_err(fail)?;
    dev.enable_bus_master().map_err(fail)?;
    let id = dev.id();
    let mut watch = FaultWatch::open(Path::new("/dev/kmsg")).map_err(|e| {
        CliError::new(format!(
            "cannot read the kernel log /dev/kmsg, where IOMMU faults are reported: {e}"
        ))
        .hint("run as root, or pass --no-faults")
    })?;
    let report = selftest(&mut dma, id, dev, &mut watch, opts);
    let memory = dma.placements();
    let on_node = memory.iter().all(|p| p.pages_on_node() == p.pages());
    Ok(Out {
        schema: SCHEMA,
        backend: "vfio",
        passed: report.passed() && on_node,
        report,
        group: Some(group),
        node: spec.node,
        iova_windows: dma.iova_windows(),
        memory,
    })
}

/// Free 2 MiB hugetlb pages on `node`.
fn free_2m_pages(m: &Machine, node: u32) -> u64 {
    m.nodes
        .iter()
        .filter(|n| n.id.0 == node)
        .flat_map(|n| n.hugepages.iter())
        .filter(|p| p.size_bytes == 2 << 20)
        .filter_map(|p| p.free)
        .sum()
}

fn render(o: &Out) -> String {
    let mut s = String::new();
    let r = &o.report;
    let place = match (o.group, o.node) {
        (Some(g), Some(n)) => format!(", IOMMU group {g}, node {n}"),
        (Some(g), None) => format!(", IOMMU group {g}, no node"),
        _ => String::new(),
    };
    let _ = writeln!(
        s,
        "edu self-test of {} on {}{place}",
        sanitize(&r.device),
        o.backend
    );
    for st in &r.steps {
        let mark = match (st.passed, st.informational) {
            (_, true) => "info",
            (true, false) => "ok  ",
            (false, false) => "FAIL",
        };
        let _ = writeln!(s, "  {mark} {:<34} {}", st.name, sanitize(&st.detail));
        if let Some(d) = &st.digest {
            let _ = writeln!(s, "       {:<34} data digest {d}", "");
        }
        for f in &st.faults {
            let _ = writeln!(s, "       {:<34} fault: {}", "", sanitize(&f.to_string()));
        }
    }
    for p in &o.memory {
        let node = p
            .node
            .map_or_else(|| "no node".to_string(), |n| format!("node {n}"));
        let _ = writeln!(
            s,
            "DMA memory: {} KiB for {node}: {} of {} pages there ({})",
            p.bytes >> 10,
            p.pages_on_node(),
            p.pages(),
            p.kind
        );
    }
    let decides: Vec<_> = r.steps.iter().filter(|x| !x.informational).collect();
    let passed = decides.iter().filter(|x| x.passed).count();
    let _ = writeln!(
        s,
        "result: {passed} of {} steps passed{}",
        decides.len(),
        if o.passed { "" } else { "; FAILED" }
    );
    s
}
