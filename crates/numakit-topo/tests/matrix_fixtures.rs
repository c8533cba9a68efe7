//! The device matrix on the GPU server snapshot: per node a root port with a
//! switch holding two GPU-like devices and a NIC, an NVMe drive on a second
//! root port of the same host bridge, and a second node built the same way.

use std::path::PathBuf;

use numakit_root::Root;
use numakit_topo::Machine;
use numakit_topo::matrix::{Connection, Matrix};
use numakit_types::NodeId;

fn matrix(name: &str) -> Matrix {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
        .join("sysfs.tar.gz");
    Matrix::build(&Machine::discover(&Root::open(p).unwrap()))
}

#[test]
fn gpuserver_matrix() {
    let mx = matrix("qemu-gpuserver");
    let labels: Vec<(&str, String)> = mx
        .devices
        .iter()
        .map(|e| (e.label.as_str(), e.address.to_string()))
        .collect();
    assert_eq!(
        labels,
        [
            ("GPU0", "0000:23:00.0".to_string()),
            ("GPU1", "0000:24:00.0".into()),
            ("GPU2", "0000:43:00.0".into()),
            ("GPU3", "0000:44:00.0".into()),
            ("NIC0", "0000:25:00.0".into()),
            ("NIC1", "0000:45:00.0".into()),
            ("NVME0", "0000:26:00.0".into()),
            ("NVME1", "0000:46:00.0".into()),
        ]
    );
    let c = |a: &str, b: &str| mx.get(a, b).unwrap();
    assert_eq!(c("GPU0", "GPU0"), Connection::X);
    // Two downstream ports of one switch: one switch crossed (NVML "SINGLE").
    assert_eq!(c("GPU0", "GPU1"), Connection::Pix);
    assert_eq!(c("GPU2", "GPU3"), Connection::Pix);
    assert_eq!(c("GPU0", "NIC0"), Connection::Pix);
    // NVMe on another root port of the same host bridge.
    assert_eq!(c("GPU0", "NVME0"), Connection::Phb);
    assert_eq!(c("NIC1", "NVME1"), Connection::Phb);
    // Across the two pxb host bridges, on different nodes.
    assert_eq!(c("GPU0", "GPU2"), Connection::Sys);
    assert_eq!(c("NVME0", "NVME1"), Connection::Sys);
    // Symmetric.
    for i in 0..mx.devices.len() {
        for j in 0..mx.devices.len() {
            assert_eq!(mx.cells[i][j], mx.cells[j][i]);
        }
    }
    let g2 = &mx.devices[2];
    assert_eq!(g2.numa_affinity, Some(NodeId(1)));
    assert_eq!(g2.cpu_affinity.as_ref().unwrap().to_string(), "2-3");
    // Serialises with the nvidia-smi codes.
    let j = serde_json::to_value(&mx).unwrap();
    assert_eq!(j["cells"][0][1], "PIX");
    assert_eq!(j["devices"][6]["label"], "NVME0");
}

#[test]
fn two_node_matrix() {
    let mx = matrix("qemu-2node");
    assert_eq!(mx.devices.len(), 2);
    assert_eq!(mx.get("NIC0", "NVME0"), Some(Connection::Sys));
}
