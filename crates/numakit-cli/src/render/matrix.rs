//! The device-to-device matrix (`numakit topo --matrix`), laid out like
//! `nvidia-smi topo -m`: one row and column per device, then the CPU and NUMA
//! affinity columns, a table of what each label is, and the legend. The
//! classification itself lives in `numakit_topo::matrix`.

use std::fmt::Write;

use numakit_topo::Machine;
use numakit_topo::gpu::LinkKind;
use numakit_topo::matrix::{Connection, Matrix};

use crate::output::sanitize;

/// Renders the matrix of `m`.
pub fn render(m: &Machine) -> String {
    render_matrix(&Matrix::build(m))
}

/// Renders a built matrix.
pub fn render_matrix(mx: &Matrix) -> String {
    let mut out = String::new();
    if mx.devices.is_empty() {
        out.push_str("No GPUs, NICs, NVMe drives, accelerators or CXL memory devices found.\n");
        return out;
    }
    let w = mx
        .devices
        .iter()
        .map(|e| e.label.len())
        .max()
        .unwrap_or(4)
        .max(4)
        + 2;
    let _ = write!(out, "{:w$}", "");
    for e in &mx.devices {
        let _ = write!(out, "{:<w$}", e.label);
    }
    out.push_str("CPU Affinity    NUMA Affinity\n");
    for ((e, row), links) in mx.devices.iter().zip(&mx.cells).zip(&mx.links) {
        let _ = write!(out, "{:<w$}", e.label);
        for (c, l) in row.iter().zip(links) {
            let code = match (c, l) {
                (Connection::X, _) => " X".to_string(),
                (_, Some(l)) => l.code(),
                (c, None) => c.code().to_string(),
            };
            let _ = write!(out, "{code:<w$}");
        }
        let cpus = e
            .cpu_affinity
            .as_ref()
            .map_or_else(|| "N/A".to_string(), |c| c.to_string());
        let node = e
            .numa_affinity
            .map_or_else(|| "N/A".to_string(), |n| n.to_string());
        let _ = writeln!(out, "{cpus:<16}{node}");
    }
    out.push_str("\nDevices:\n");
    let lw = w.saturating_sub(2);
    for e in &mx.devices {
        let mut line = format!(
            "  {:<lw$}  {}  {:<11}  {}",
            e.label,
            e.address,
            e.kind.as_str(),
            sanitize(&e.name)
        );
        if !e.os_names.is_empty() {
            let names: Vec<String> = e.os_names.iter().map(|n| sanitize(n)).collect();
            let _ = write!(line, "  ({})", names.join(", "));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&legend(mx));
    out
}

/// The legend: every PCIe level, the link kinds present, and which GPUs'
/// links are unknown.
fn legend(mx: &Matrix) -> String {
    let mut out = String::new();
    out.push_str("\nLegend:\n\n");
    for c in Connection::ALL {
        let _ = writeln!(out, "  {:<4} = {}", c.code(), c.meaning());
    }
    let kinds: std::collections::BTreeSet<LinkKind> = mx
        .links
        .iter()
        .flatten()
        .flatten()
        .map(|l| l.kind)
        .collect();
    for k in kinds {
        let _ = writeln!(
            out,
            "  {}",
            match k {
                LinkKind::Nvlink => "NV#  = Connection traversing a bonded set of # NVLinks",
                LinkKind::Xgmi => "XGMI = Connection traversing AMD xGMI (Infinity Fabric) links",
            }
        );
    }
    if !mx.links_unknown.is_empty() {
        let _ = write!(
            out,
            "\nGPU-to-GPU links of {} are unknown: NVIDIA publishes NVLink only through NVML,\n\
             which numakit does not load, AMD xGMI through the kernel's KFD topology, other\n\
             vendors nowhere; these GPUs are shown with their PCIe path.\n",
            mx.links_unknown.join(", ")
        );
    }
    out
}
