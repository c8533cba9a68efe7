//! `numakit iommu`: the IOMMU units and mode, why an IOMMU is off, what
//! VFIO needs, and every group with its devices and whether VFIO can take it.
//!
//! `--json` prints one document, schema `numakit.iommu/1`
//! (docs/iommu-json.md). Exit status: 0, or 1 when the IOMMU is off or
//! vfio-pci is not loaded (the report then says why and what to do).

use std::fmt::Write as _;
use std::path::PathBuf;

use numakit_topo::Machine;
use numakit_topo::iommu::ReservedRegion;
use numakit_vfio::report::{GroupReport, IommuReport, State, Translation, VfioSupport, report};

use crate::commands::common::{IOMMU_PARTS, open_root};
use crate::error::{CliResult, EXIT_FINDINGS, EXIT_OK};
use crate::output::{print, print_json, sanitize};

const IOMMU_HELP: &str = "\
A group is viable when none of its devices is bound to a driver that could do
DMA behind VFIO's back (no driver, vfio-pci, pci-stub, and pcieport on
bridges are fine); 'numakit vfio bind' moves devices to vfio-pci.

Exit status: 0; 1 when the IOMMU is off or vfio-pci is not loaded (the report
says why and what to do).";

/// Arguments of `numakit iommu`.
#[derive(Debug, clap::Args)]
#[command(after_help = IOMMU_HELP)]
pub struct IommuArgs {
    /// Print JSON (schema numakit.iommu/1, see docs/iommu-json.md).
    #[arg(long)]
    pub json: bool,
}

/// Runs `numakit iommu`.
pub fn run(root: Option<PathBuf>, args: IommuArgs) -> CliResult<u8> {
    let root = open_root(root)?;
    let m = Machine::discover_parts(&root, IOMMU_PARTS);
    let r = report(&root, &m);
    if args.json {
        print_json(&r)?;
    } else {
        print(&render(&r))?;
    }
    Ok(if r.state == State::Off || r.vfio.vfio_pci == Some(false) {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}

fn translation(t: Translation) -> &'static str {
    match t {
        Translation::Passthrough => "passthrough (identity: devices see physical addresses)",
        Translation::Strict => "translated, strict invalidation",
        Translation::Lazy => "translated, lazy invalidation (flush queue)",
        Translation::Blocked => "DMA blocked",
        Translation::Mixed => "differs between groups",
        Translation::Unknown => "unknown",
    }
}

fn region(r: &ReservedRegion) -> String {
    format!("{:#018x}-{:#018x} {}", r.start, r.end, sanitize(&r.kind))
}

fn fact(v: Option<bool>, yes: &str, no: &str) -> String {
    match v {
        Some(true) => yes.into(),
        Some(false) => no.into(),
        None => format!("{} unknown", yes.split(' ').next().unwrap_or(yes)),
    }
}

fn vfio_line(v: &VfioSupport) -> String {
    let mut parts = vec![
        fact(
            v.vfio_pci,
            "vfio-pci loaded",
            "vfio-pci not loaded (modprobe vfio-pci)",
        ),
        fact(
            v.type1,
            "type1 IOMMU driver loaded",
            "type1 IOMMU driver not loaded (modprobe vfio_iommu_type1)",
        ),
    ];
    if v.container.is_some() {
        parts.push(fact(
            v.container,
            "/dev/vfio/vfio present",
            "/dev/vfio/vfio missing",
        ));
    }
    if v.iommufd.is_some() {
        parts.push(fact(
            v.iommufd,
            "iommufd (/dev/iommu) present",
            "no iommufd (/dev/iommu missing: kernel without CONFIG_IOMMUFD, or not loaded); the VFIO container is used",
        ));
    }
    parts.join(", ")
}

/// The text report.
fn render(r: &IommuReport) -> String {
    let mut s = String::new();
    let units: Vec<String> = r
        .units
        .iter()
        .map(|u| format!("{} ({})", u.kind.as_str(), sanitize(&u.name)))
        .collect();
    match r.state {
        State::On => {
            let _ = writeln!(s, "IOMMU: on: {}", units.join(", "));
        }
        State::Off => {
            let _ = writeln!(s, "IOMMU: off");
        }
        State::Unknown => {
            let _ = writeln!(
                s,
                "IOMMU: unknown (the root holds no /sys/kernel/iommu_groups)"
            );
        }
    }
    if let Some(mode) = &r.mode {
        let _ = writeln!(
            s,
            "mode: {}; from {}",
            translation(mode.translation),
            sanitize(&mode.source)
        );
    }
    if let Some(off) = &r.off {
        if r.state == State::Off {
            let _ = writeln!(s, "why: {}", sanitize(&off.detail));
            let _ = writeln!(s, "to turn it on: {}", sanitize(&off.hint));
        } else {
            let _ = writeln!(s, "note: {}", sanitize(&off.detail));
        }
    }
    let flags = if r.cmdline_flags.is_empty() {
        "none".to_string()
    } else {
        sanitize(&r.cmdline_flags.join(" "))
    };
    let _ = writeln!(s, "kernel command line: {flags}");
    let _ = writeln!(s, "VFIO: {}", vfio_line(&r.vfio));
    let common = if r.groups.len() > 1 {
        common_regions(&r.groups)
    } else {
        Vec::new()
    };
    if !common.is_empty() {
        let list: Vec<String> = common.iter().map(region).collect();
        let _ = writeln!(s, "reserved in every group: {}", list.join(", "));
    }
    for g in &r.groups {
        render_group(&mut s, g, &common);
    }
    s
}

fn common_regions(groups: &[GroupReport]) -> Vec<ReservedRegion> {
    let Some(first) = groups.first() else {
        return Vec::new();
    };
    first
        .reserved_regions
        .iter()
        .filter(|r| groups.iter().all(|g| g.reserved_regions.contains(r)))
        .cloned()
        .collect()
}

fn render_group(s: &mut String, g: &GroupReport, common: &[ReservedRegion]) {
    let ty = g
        .domain_type
        .as_deref()
        .map(sanitize)
        .unwrap_or_else(|| "?".into());
    let _ = writeln!(s, "\n{} (default domain {ty})", sanitize(&g.vfio.summary));
    for d in &g.devices {
        let node = d.node.map_or_else(|| "-".to_string(), |n| n.to_string());
        let _ = writeln!(
            s,
            "  {}  {:<9} {:<12} node {node:<2} {}",
            sanitize(&d.address),
            sanitize(&d.kind),
            sanitize(d.driver.as_deref().unwrap_or("no driver")),
            sanitize(d.name.as_deref().unwrap_or(""))
        );
    }
    let own: Vec<String> = g
        .reserved_regions
        .iter()
        .filter(|r| !common.contains(r))
        .map(region)
        .collect();
    if !own.is_empty() {
        let _ = writeln!(s, "  reserved: {}", own.join(", "));
    }
    if let Some(why) = &g.sharing {
        let _ = writeln!(s, "  shared: {}", sanitize(why));
    }
}
