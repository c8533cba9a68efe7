//! The I/O part of the hwloc XML: host bridges, PCI bridges, PCI devices
//! and their OS devices.

use std::fmt::Write;

use numakit_topo::PciDevice;
use numakit_types::PciAddress;

use super::{Writer, downstream_buses, host_of, is_bridge, source_name};
use crate::xml::escape;

/// hwloc 2's OS device types: block 0, GPU 1, network 2, OpenFabrics 3,
/// DMA 4. `None` for names hwloc does not show (NVMe controllers).
fn osdev_type(class: &str) -> Option<u32> {
    match class {
        "block" => Some(0),
        "drm" => Some(1),
        "net" => Some(2),
        "infiniband" => Some(3),
        "dma" => Some(4),
        _ => None,
    }
}

/// A link's speed as hwloc gives it: GB/s, after the line encoding
/// (8b/10b up to 5 GT/s, 128b/130b above).
fn link_gbps(d: &PciDevice) -> f64 {
    match (d.link.current_gts(), d.link.current_width) {
        (Some(gts), Some(w)) => {
            let enc = if gts <= 5.0 { 0.8 } else { 128.0 / 130.0 };
            gts * f64::from(w) * enc / 8.0
        }
        _ => 0.0,
    }
}

impl<'a> Writer<'a> {
    /// The devices whose closest upstream bridge is `parent` (or, with
    /// `None`, that have no bridge above them under `host`).
    fn children(&self, host: &str, parent: Option<PciAddress>) -> Vec<&'a PciDevice> {
        let m: &'a numakit_topo::Machine = self.m;
        m.pci_devices
            .iter()
            .filter(|d| host_of(d) == host)
            .filter(|d| {
                // the nearest upstream bridge numakit knows as a device
                let up = d.upstream.iter().find(|u| m.pci_device(**u).is_some());
                up.copied() == parent
            })
            .collect()
    }

    pub(super) fn host_bridge(&mut self, host: &str, depth: usize) {
        let m = self.m;
        let all: Vec<u8> = m
            .pci_devices
            .iter()
            .filter(|d| host_of(d) == host)
            .map(|d| d.address.bus)
            .collect();
        let domain = m
            .pci_devices
            .iter()
            .find(|d| host_of(d) == host)
            .map_or(0, |d| d.address.domain);
        let (lo, hi) = (
            all.iter().min().copied().unwrap_or(0),
            all.iter().max().copied().unwrap_or(0),
        );
        self.indent(depth);
        let gp = self.next_gp();
        let _ = writeln!(
            self.out,
            "<object type=\"Bridge\" gp_index=\"{gp}\" bridge_type=\"0-1\" depth=\"0\" bridge_pci=\"{domain:04x}:[{lo:02x}-{hi:02x}]\">"
        );
        for d in self.children(host, None) {
            self.pci(d, 1, depth + 1);
        }
        self.indent(depth);
        self.out.push_str("</object>\n");
    }

    fn pci(&mut self, d: &PciDevice, bridge_depth: u32, depth: usize) {
        let bridge = is_bridge(d);
        self.indent(depth);
        let gp = self.next_gp();
        let a = d.address;
        if bridge {
            let _ = write!(
                self.out,
                "<object type=\"Bridge\" gp_index=\"{gp}\" bridge_type=\"1-1\" depth=\"{bridge_depth}\""
            );
            if let Some((lo, hi)) = downstream_buses(self.m, a) {
                let _ = write!(
                    self.out,
                    " bridge_pci=\"{:04x}:[{lo:02x}-{hi:02x}]\"",
                    a.domain
                );
            }
        } else {
            let _ = write!(self.out, "<object type=\"PCIDev\" gp_index=\"{gp}\"");
        }
        let _ = writeln!(
            self.out,
            " pci_busid=\"{a}\" pci_type=\"{:04x} [{:04x}:{:04x}] [{:04x}:{:04x}] 00\" pci_link_speed=\"{:.6}\">",
            d.class_code.map_or(0, |c| c >> 8),
            d.vendor_id.unwrap_or(0),
            d.device_id.unwrap_or(0),
            d.subsystem_vendor_id.unwrap_or(0),
            d.subsystem_device_id.unwrap_or(0),
            link_gbps(d),
        );
        self.pci_infos(d, depth + 1);
        if bridge {
            let host = host_of(d);
            for k in self.children(&host, Some(a)) {
                self.pci(k, bridge_depth + 1, depth + 1);
            }
        }
        for os in &d.os_names {
            if let Some(t) = osdev_type(&os.class) {
                self.indent(depth + 1);
                let gp = self.next_gp();
                let _ = writeln!(
                    self.out,
                    "<object type=\"OSDev\" gp_index=\"{gp}\" name=\"{}\" osdev_type=\"{t}\"/>",
                    escape(&os.name)
                );
            }
        }
        self.indent(depth);
        self.out.push_str("</object>\n");
    }

    fn pci_infos(&mut self, d: &PciDevice, depth: usize) {
        if let Some(v) = &d.vendor_name {
            self.info(depth, "PCIVendor", v);
        }
        if let Some(v) = &d.device_name {
            self.info(depth, "PCIDevice", v);
        }
        if let Some(n) = d.numa_node {
            self.info(depth, "NumakitNUMANode", &n.to_string());
        }
        self.info(
            depth,
            "NumakitNUMANodeSource",
            source_name(d.numa_node_source),
        );
        if let Some(g) = d.iommu_group {
            self.info(depth, "NumakitIOMMUGroup", &g.to_string());
        }
        if d.link.degraded {
            let l = &d.link;
            let text = format!(
                "x{} {} of x{} {}",
                l.current_width.unwrap_or(0),
                l.current_speed.as_deref().unwrap_or("?"),
                l.max_width.unwrap_or(0),
                l.max_speed.as_deref().unwrap_or("?")
            );
            self.info(depth, "NumakitLinkDegraded", &text);
        }
        if let Some(n) = d.gpu_memory_node {
            self.info(depth, "NumakitGPUMemoryNode", &n.to_string());
        }
    }
}
