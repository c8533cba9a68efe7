//! `numactl --show`, byte for byte as numactl 2.0.19 prints it.
//!
//! The lines, from the calling thread's policy and affinity:
//! - `policy: NAME`: `default`, `preferred`, `bind`, `interleave`, `local`,
//!   `preferred-many`, `weighted-interleave` (the kernel's mode number);
//! - `preferred node: ` then, by mode: preferred: its node (0 when none);
//!   default: `current`; interleave: `N (interleave next)`; bind: the first
//!   bound node; preferred-many: `N (preferred-many)` where N is what the
//!   kernel reports as the next interleave node (0 outside interleave).
//!   numactl writes no line end for local and weighted-interleave, so the
//!   next line follows on the same line;
//! - for interleave only: `interleavemask:` and `interleavenode: N`;
//! - mask lines `physcpubind:` (the affinity), `cpubind:` and `nodebind:`
//!   (the allowed nodes with a CPU in the affinity), `membind:` (the bound
//!   nodes under bind, else the allowed nodes) and `preferred:` (the
//!   policy's nodes, empty for default and local). A mask line is the name,
//!   `: `, then `N ` for every member, then a line end.

use std::fmt::Write;

use numakit_placement::Mode;
use numakit_types::{CpuSet, NodeSet};

/// What `--show` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The policy mode.
    pub mode: Mode,
    /// The policy's nodes (empty for default and local).
    pub nodes: NodeSet,
    /// The kernel's next interleave node, 0 when it gives none.
    pub interleave_next: u32,
    /// The thread's CPU affinity.
    pub cpus: CpuSet,
    /// The nodes the process may allocate from.
    pub mems_allowed: NodeSet,
    /// The allowed nodes with a CPU in the affinity.
    pub run_nodes: NodeSet,
}

/// numactl's name for a mode: libnuma's `policy_name` uses the same short
/// names as numakit.
pub fn policy_name(mode: Mode) -> &'static str {
    numakit_placement::mode_name(mode)
}

fn mask(o: &mut String, name: &str, ids: impl Iterator<Item = u32>) {
    o.push_str(name);
    o.push_str(": ");
    for i in ids {
        let _ = write!(o, "{i} ");
    }
    o.push('\n');
}

/// Renders the `--show` text.
pub fn render(s: &Shown) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "policy: {}", policy_name(s.mode));
    o.push_str("preferred node: ");
    let membind = if s.mode == Mode::Bind {
        s.nodes.clone()
    } else {
        s.mems_allowed.clone()
    };
    match s.mode {
        Mode::Preferred => {
            let _ = writeln!(o, "{}", s.nodes.first().map_or(0, |n| n.0));
        }
        Mode::Default => o.push_str("current\n"),
        Mode::Interleave => {
            let _ = writeln!(o, "{} (interleave next)", s.interleave_next);
        }
        Mode::Bind => {
            let _ = writeln!(o, "{}", membind.first().map_or(-1, |n| i64::from(n.0)));
        }
        Mode::PreferredMany => {
            let _ = writeln!(o, "{} (preferred-many)", s.interleave_next);
        }
        Mode::Local | Mode::WeightedInterleave => {}
    }
    if s.mode == Mode::Interleave {
        mask(&mut o, "interleavemask", s.nodes.iter_raw());
        let _ = writeln!(o, "interleavenode: {}", s.interleave_next);
    }
    mask(&mut o, "physcpubind", s.cpus.iter_raw());
    mask(&mut o, "cpubind", s.run_nodes.iter_raw());
    mask(&mut o, "nodebind", s.run_nodes.iter_raw());
    mask(&mut o, "membind", membind.iter_raw());
    let preferred = match s.mode {
        Mode::Default | Mode::Local => NodeSet::new(),
        _ => s.nodes.clone(),
    };
    mask(&mut o, "preferred", preferred.iter_raw());
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(mode: Mode, nodes: &str) -> Shown {
        Shown {
            mode,
            nodes: nodes.parse().unwrap(),
            interleave_next: 1,
            cpus: "0-1".parse().unwrap(),
            mems_allowed: "0-1".parse().unwrap(),
            run_nodes: "0".parse().unwrap(),
        }
    }

    #[test]
    fn each_mode() {
        let tail = "physcpubind: 0 1 \ncpubind: 0 \nnodebind: 0 \n";
        assert_eq!(
            render(&shown(Mode::Default, "")),
            format!("policy: default\npreferred node: current\n{tail}membind: 0 1 \npreferred: \n")
        );
        assert_eq!(
            render(&shown(Mode::Bind, "1")),
            format!("policy: bind\npreferred node: 1\n{tail}membind: 1 \npreferred: 1 \n")
        );
        assert_eq!(
            render(&shown(Mode::Interleave, "0-1")),
            format!(
                "policy: interleave\npreferred node: 1 (interleave next)\ninterleavemask: 0 1 \ninterleavenode: 1\n{tail}membind: 0 1 \npreferred: 0 1 \n"
            )
        );
        assert_eq!(
            render(&shown(Mode::Preferred, "1")),
            format!("policy: preferred\npreferred node: 1\n{tail}membind: 0 1 \npreferred: 1 \n")
        );
        assert_eq!(
            render(&shown(Mode::PreferredMany, "0-1")),
            format!(
                "policy: preferred-many\npreferred node: 1 (preferred-many)\n{tail}membind: 0 1 \npreferred: 0 1 \n"
            )
        );
        assert_eq!(
            render(&shown(Mode::Local, "")),
            format!("policy: local\npreferred node: {tail}membind: 0 1 \npreferred: \n")
        );
        assert_eq!(
            render(&shown(Mode::WeightedInterleave, "0-1")),
            format!(
                "policy: weighted-interleave\npreferred node: {tail}membind: 0 1 \npreferred: 0 1 \n"
            )
        );
    }
}
