//! Memory policies: [`Policy`] (mode, nodes, flags) and what the running
//! kernel supports ([`KernelSupport`]).

use std::fmt;

use numakit_types::{NodeId, NodeSet};

pub use numakit_sys::mempolicy::MpolFlags as PolicyFlags;
pub use numakit_sys::mempolicy::MpolMode as Mode;

/// A NUMA memory policy: a mode, the nodes it names and its flags.
///
/// # Example
/// ```
/// use numakit_placement::{Mode, Policy};
/// let p = Policy::interleave("0-1".parse().unwrap());
/// assert_eq!(p.mode, Mode::Interleave);
/// assert_eq!(p.to_string(), "interleave 0-1");
/// assert_eq!(Policy::local().to_string(), "local");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The mode.
    pub mode: Mode,
    /// The nodes (empty for `Default` and `Local`).
    pub nodes: NodeSet,
    /// Mode flags.
    pub flags: PolicyFlags,
}

impl Policy {
    /// A policy from its parts.
    pub fn new(mode: Mode, nodes: NodeSet, flags: PolicyFlags) -> Policy {
        Policy { mode, nodes, flags }
    }
    /// `MPOL_DEFAULT`: no policy of its own (the process default: local).
    pub fn default_policy() -> Policy {
        Policy::new(Mode::Default, NodeSet::new(), PolicyFlags::empty())
    }
    /// `MPOL_LOCAL`: the node of the CPU that allocates.
    pub fn local() -> Policy {
        Policy::new(Mode::Local, NodeSet::new(), PolicyFlags::empty())
    }
    /// `MPOL_BIND`: only these nodes.
    pub fn bind(nodes: NodeSet) -> Policy {
        Policy::new(Mode::Bind, nodes, PolicyFlags::empty())
    }
    /// `MPOL_BIND` to one node.
    pub fn on_node(node: NodeId) -> Policy {
        Policy::bind(std::iter::once(node).collect())
    }
    /// `MPOL_INTERLEAVE`: page by page over these nodes.
    pub fn interleave(nodes: NodeSet) -> Policy {
        Policy::new(Mode::Interleave, nodes, PolicyFlags::empty())
    }
    /// `MPOL_WEIGHTED_INTERLEAVE` (Linux 6.9): interleave by the weights in
    /// `/sys/kernel/mm/mempolicy/weighted_interleave/`.
    pub fn weighted_interleave(nodes: NodeSet) -> Policy {
        Policy::new(Mode::WeightedInterleave, nodes, PolicyFlags::empty())
    }
    /// `MPOL_PREFERRED`: this node first, others when it is full.
    pub fn preferred(node: NodeId) -> Policy {
        Policy::new(
            Mode::Preferred,
            std::iter::once(node).collect(),
            PolicyFlags::empty(),
        )
    }
    /// `MPOL_PREFERRED_MANY` (Linux 5.15): any of these nodes first.
    pub fn preferred_many(nodes: NodeSet) -> Policy {
        Policy::new(Mode::PreferredMany, nodes, PolicyFlags::empty())
    }
    /// The same policy with `flags` added.
    pub fn with_flags(mut self, flags: PolicyFlags) -> Policy {
        self.flags |= flags;
        self
    }
    /// The short name of the mode, as `numakit show` prints it.
    pub fn mode_name(&self) -> &'static str {
        mode_name(self.mode)
    }
}

/// The short name of a mode (`bind`, `preferred-many`).
pub fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Default => "default",
        Mode::Preferred => "preferred",
        Mode::Bind => "bind",
        Mode::Interleave => "interleave",
        Mode::Local => "local",
        Mode::PreferredMany => "preferred-many",
        Mode::WeightedInterleave => "weighted-interleave",
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mode_name())?;
        if !self.nodes.is_empty() {
            write!(f, " {}", self.nodes)?;
        }
        for (flag, name) in [
            (PolicyFlags::STATIC_NODES, "static"),
            (PolicyFlags::RELATIVE_NODES, "relative"),
            (PolicyFlags::NUMA_BALANCING, "balancing"),
        ] {
            if self.flags.contains(flag) {
                write!(f, " ({name})")?;
            }
        }
        Ok(())
    }
}

/// What the running kernel supports, from its release (or probed).
///
/// # Example
/// ```
/// use numakit_placement::{KernelSupport, Mode};
/// let k = KernelSupport::from_release("5.10.0-30-amd64");
/// assert!(!k.supports(Mode::WeightedInterleave));
/// assert!(k.supports(Mode::Bind));
/// assert!(KernelSupport::from_release("6.12.9").supports(Mode::WeightedInterleave));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelSupport {
    /// The release string, or `unknown`.
    pub release: String,
    /// `MPOL_PREFERRED_MANY` (5.15).
    #[doc(alias = "numa_has_preferred_many")]
    pub preferred_many: bool,
    /// `MPOL_WEIGHTED_INTERLEAVE` (6.9).
    pub weighted_interleave: bool,
    /// `set_mempolicy_home_node` (5.17).
    pub home_node: bool,
    /// `MPOL_F_NUMA_BALANCING` with `MPOL_BIND` (5.12).
    pub numa_balancing: bool,
}

impl KernelSupport {
    /// Everything supported (an unknown kernel: the kernel itself decides).
    pub fn all(release: impl Into<String>) -> KernelSupport {
        KernelSupport {
            release: release.into(),
            preferred_many: true,
            weighted_interleave: true,
            home_node: true,
            numa_balancing: true,
        }
    }

    /// From a release string (`6.12.9-cloud-amd64`). An unreadable release
    /// supports everything, and the kernel's own answer decides.
    pub fn from_release(release: &str) -> KernelSupport {
        let Some(v) = parse_version(release) else {
            return KernelSupport::all(release);
        };
        KernelSupport {
            release: release.to_string(),
            preferred_many: v >= (5, 15),
            weighted_interleave: v >= (6, 9),
            home_node: v >= (5, 17),
            numa_balancing: v >= (5, 12),
        }
    }

    /// From the machine model's kernel release.
    pub fn from_machine(m: &numakit_topo::Machine) -> KernelSupport {
        match &m.kernel.release {
            Some(r) => KernelSupport::from_release(r),
            None => KernelSupport::all("unknown"),
        }
    }

    /// Whether `mode` is supported.
    pub fn supports(&self, mode: Mode) -> bool {
        match mode {
            Mode::PreferredMany => self.preferred_many,
            Mode::WeightedInterleave => self.weighted_interleave,
            _ => true,
        }
    }

    /// The error for a missing `mode`, if it is missing.
    pub fn check_mode(&self, mode: Mode) -> crate::Result<()> {
        let needs = match mode {
            Mode::PreferredMany if !self.preferred_many => ("preferred-many policy", "5.15"),
            Mode::WeightedInterleave if !self.weighted_interleave => ("weighted interleave", "6.9"),
            _ => return Ok(()),
        };
        Err(crate::Error::Unsupported {
            feature: needs.0,
            needs: needs.1,
            kernel: self.release.clone(),
        })
    }
}

/// `(major, minor)` from `6.12.9-cloud-amd64`.
pub fn parse_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("6.18.44-fc-v657"), Some((6, 18)));
        assert_eq!(parse_version("5.10.0-30-amd64"), Some((5, 10)));
        assert_eq!(parse_version("garbage"), None);
        let k = KernelSupport::from_release("5.16.1");
        assert!(k.preferred_many && !k.home_node && !k.weighted_interleave);
        let e = KernelSupport::from_release("5.10.0")
            .check_mode(Mode::WeightedInterleave)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "this kernel (5.10.0) has no weighted interleave (needs Linux 6.9 or later)"
        );
    }

    #[test]
    fn display() {
        let p = Policy::bind("1".parse().unwrap()).with_flags(PolicyFlags::NUMA_BALANCING);
        assert_eq!(p.to_string(), "bind 1 (balancing)");
        assert_eq!(Policy::preferred(NodeId(2)).to_string(), "preferred 2");
    }
}
