//! The numakit machine model in the formats other tools read, so that a
//! cluster sees what numakit sees:
//!
//! - [`hwloc_xml`]: hwloc's v2 XML (`lstopo --input`, `HWLOC_XMLFILE`,
//!   Slurm, Open MPI and Flux load it);
//! - [`nrt`]: a Kubernetes `NodeResourceTopology` object
//!   (`topology.node.k8s.io/v1alpha2`), what the topology-aware scheduler
//!   reads;
//! - [`nfd`]: Node Feature Discovery labels as a local feature file;
//! - [`svg`]: a picture of the machine.
//!
//! Each reads only a [`numakit_topo::Machine`], so every export is the same
//! for the live system and for a snapshot of it. Nothing here prints or
//! reads files.
//!
//! # Example
//! ```
//! use numakit_root::Root;
//! use numakit_topo::Machine;
//! let dir = std::env::temp_dir().join(format!("numakit-export-doc-{}", std::process::id()));
//! let node = dir.join("sys/devices/system/node");
//! std::fs::create_dir_all(node.join("node0")).unwrap();
//! std::fs::write(node.join("online"), "0\n").unwrap();
//! std::fs::write(node.join("node0/cpulist"), "0-1\n").unwrap();
//! std::fs::write(node.join("node0/distance"), "10\n").unwrap();
//! let m = Machine::discover(&Root::open(&dir).unwrap());
//! let xml = numakit_export::hwloc_xml::render(&m);
//! assert!(xml.contains(r#"<object type="NUMANode" os_index="0""#));
//! let labels = numakit_export::nfd::labels(&m);
//! assert!(labels.iter().any(|l| l.name == "numakit.feature.node.kubernetes.io/numa-nodes" && l.value == "1"));
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```
#![deny(missing_docs)]

pub mod hwloc_xml;
pub mod nfd;
pub mod nrt;
pub mod svg;
mod xml;
