//! Weighted-interleave node weights (Linux 6.9): the files under
//! [`WEIGHTS_DIR`] that `MPOL_WEIGHTED_INTERLEAVE` reads, checked against
//! the machine ([`plan_weights`]) and then written ([`apply_weights`]).
//!
//! The weights are system-wide: every process's weighted-interleave policy
//! uses them. Writing one turns the kernel's automatic weights (`auto`,
//! from HMAT bandwidth, Linux 6.16) off.
//!
//! # Example
//! ```
//! use numakit_placement::{KernelSupport, weights::plan_weights};
//! # let dir = std::env::temp_dir().join(format!("numakit-weights-doc-{}", std::process::id()));
//! # let node = dir.join("sys/devices/system/node");
//! # let wi = dir.join("sys/kernel/mm/mempolicy/weighted_interleave");
//! # std::fs::create_dir_all(node.join("node0")).unwrap();
//! # std::fs::create_dir_all(node.join("node1")).unwrap();
//! # std::fs::create_dir_all(&wi).unwrap();
//! # std::fs::write(node.join("online"), "0-1\n").unwrap();
//! # std::fs::write(wi.join("node0"), "1\n").unwrap();
//! # std::fs::write(wi.join("node1"), "1\n").unwrap();
//! # let root = numakit_root::Root::open(&dir).unwrap();
//! let machine = numakit_topo::Machine::discover(&root);
//! let kernel = KernelSupport::from_release("6.12.9");
//! let writes = plan_weights(&machine, &kernel, &[(0.into(), 3), (1.into(), 1)]).unwrap();
//! assert_eq!(writes[0].to_string(), "echo 3 > /sys/kernel/mm/mempolicy/weighted_interleave/node0");
//! // a weight the kernel cannot take
//! assert!(plan_weights(&machine, &kernel, &[(0.into(), 300)]).is_err());
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::fmt;

use numakit_root::Root;
use numakit_topo::Machine;
use numakit_types::NodeId;

use crate::plan::{check_nodes, require_live};
use crate::{Error, KernelSupport, Mode, Result};

/// Where the kernel keeps the weights.
pub const WEIGHTS_DIR: &str = "/sys/kernel/mm/mempolicy/weighted_interleave";

/// The largest weight the kernel takes (weights are `u8`, 0 is refused).
pub const MAX_WEIGHT: u32 = 255;

/// One write of a node's weight.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WeightWrite {
    /// The node.
    pub node: NodeId,
    /// Its weight, 1 to 255.
    pub weight: u8,
    /// The file (`/sys/kernel/mm/mempolicy/weighted_interleave/node0`).
    pub path: String,
}

impl fmt::Display for WeightWrite {
    /// The write as a shell command (`echo 3 > .../node0`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "echo {} > {}", self.weight, self.path)
    }
}

/// Checks weights for nodes against the machine and the kernel and turns
/// them into writes. Nothing is written.
///
/// Refused: a kernel without weighted interleave (before 6.9, or no
/// [`WEIGHTS_DIR`]), an unknown or offline node, a node the kernel keeps
/// no weight for (a node without memory), a weight of 0 or above 255.
pub fn plan_weights(
    machine: &Machine,
    kernel: &KernelSupport,
    weights: &[(NodeId, u32)],
) -> Result<Vec<WeightWrite>> {
    kernel.check_mode(Mode::WeightedInterleave)?;
    if machine.knobs.weighted_interleave.is_empty() {
        return Err(Error::Unsupported {
            feature: "weighted interleave weights (no /sys/kernel/mm/mempolicy/weighted_interleave)",
            needs: "6.9",
            kernel: kernel.release.clone(),
        });
    }
    let nodes = weights.iter().map(|(n, _)| *n).collect();
    check_nodes(&nodes, machine)?;
    weights
        .iter()
        .map(|&(node, w)| {
            if !machine.knobs.weighted_interleave.contains_key(&node.get()) {
                return Err(Error::NoWeight { node });
            }
            let weight = u8::try_from(w)
                .ok()
                .filter(|w| *w > 0)
                .ok_or(Error::BadWeight { node, weight: w })?;
            Ok(WeightWrite {
                node,
                weight,
                path: format!("{WEIGHTS_DIR}/node{}", node.get()),
            })
        })
        .collect()
}

/// Whether this process runs as root (effective user 0), as writing the
/// weights needs.
pub fn is_root() -> bool {
    numakit_sys::process::geteuid() == 0
}

/// Writes planned weights to the running system: all of them, or none
/// (when a write fails, the weights already written get their old values
/// back). Needs root: the weights are system-wide.
pub fn apply_weights(root: &Root, writes: &[WeightWrite]) -> Result<()> {
    require_live(root, "set the weighted-interleave weights")?;
    if !is_root() {
        return Err(Error::NeedsRoot {
            action: "setting the weighted-interleave weights (system-wide)".into(),
        });
    }
    let mut done: Vec<(&str, String)> = Vec::new();
    for w in writes {
        let old = std::fs::read_to_string(&w.path).unwrap_or_default();
        if let Err(e) = std::fs::write(&w.path, format!("{}\n", w.weight)) {
            for (path, value) in done.iter().rev() {
                let _ = std::fs::write(path, value);
            }
            return Err(match e.raw_os_error().map(numakit_sys::Errno::from_raw) {
                Some(numakit_sys::Errno::EACCES | numakit_sys::Errno::EPERM) => Error::NeedsRoot {
                    action: format!("writing {}", w.path),
                },
                _ => Error::Io {
                    path: w.path.clone(),
                    source: e,
                },
            });
        }
        done.push((&w.path, old));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(weights: bool) -> (Machine, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("numakit-weights-{}-{weights}", std::process::id()));
        let node = dir.join("sys/devices/system/node");
        for n in 0..3 {
            std::fs::create_dir_all(node.join(format!("node{n}"))).unwrap();
        }
        std::fs::write(node.join("online"), "0-2\n").unwrap();
        if weights {
            let wi = dir.join("sys/kernel/mm/mempolicy/weighted_interleave");
            std::fs::create_dir_all(&wi).unwrap();
            std::fs::write(wi.join("node0"), "1\n").unwrap();
            std::fs::write(wi.join("node1"), "1\n").unwrap();
        }
        let m = Machine::discover(&Root::open(&dir).unwrap());
        (m, dir)
    }

    #[test]
    fn refusals() {
        let new = KernelSupport::from_release("6.12.0");
        let (m, dir) = machine(true);
        let e = plan_weights(&m, &new, &[(NodeId(2), 1)]).unwrap_err();
        assert!(matches!(e, Error::NoWeight { node: NodeId(2) }), "{e}");
        let e = plan_weights(&m, &new, &[(NodeId(7), 1)]).unwrap_err();
        assert!(matches!(e, Error::UnknownNode { .. }), "{e}");
        let e = plan_weights(&m, &new, &[(NodeId(0), 0)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "weight 0 for node 0 is out of range: the kernel takes 1 to 255"
        );
        let old = KernelSupport::from_release("6.1.0");
        let e = plan_weights(&m, &old, &[(NodeId(0), 1)]).unwrap_err();
        assert!(e.to_string().contains("needs Linux 6.9"), "{e}");
        let w = plan_weights(&m, &new, &[(NodeId(0), 5), (NodeId(1), 2)]).unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w[1].path, format!("{WEIGHTS_DIR}/node1"));
        // a snapshot is never written to
        let root = Root::open(&dir).unwrap();
        assert!(matches!(
            apply_weights(&root, &w).unwrap_err(),
            Error::NotLive { .. }
        ));
        std::fs::remove_dir_all(&dir).unwrap();
        let (m, dir) = machine(false);
        let e = plan_weights(&m, &new, &[(NodeId(0), 1)]).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
