//! `numakit show`: this process's memory policy, CPUs and allowed nodes.

use std::path::PathBuf;

use numakit_placement::{Mode, PolicyFlags};
use numakit_topo::{Machine, Parts};
use numakit_types::{CpuSet, NodeSet};
use serde::Serialize;

use crate::commands::common::{LiveAction, open_root, require_live};
use crate::error::CliResult;
use crate::output;

/// Arguments of `numakit show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Print JSON (schema `numakit.show/1`).
    #[arg(long)]
    pub json: bool,
}

/// The `numakit.show/1` document.
#[derive(Debug, Serialize)]
pub struct Show {
    /// Always `numakit.show/1`.
    pub schema: &'static str,
    /// The memory policy mode (`default`, `bind`, ...).
    pub policy: &'static str,
    /// The policy's nodes (empty for default and local).
    pub policy_nodes: NodeSet,
    /// Policy flags (`static`, `relative`, `balancing`).
    pub policy_flags: Vec<&'static str>,
    /// The CPUs this thread may run on (affinity).
    pub cpus: CpuSet,
    /// The nodes those CPUs belong to.
    pub cpu_nodes: NodeSet,
    /// The nodes this thread may allocate from (`MPOL_F_MEMS_ALLOWED`).
    pub mems_allowed: NodeSet,
    /// The cpuset's CPUs (`Cpus_allowed_list`), when known.
    pub cpuset_cpus: Option<CpuSet>,
    /// The cpuset's nodes (`Mems_allowed_list`), when known.
    pub cpuset_mems: Option<NodeSet>,
    /// The cpuset/cgroup path, when known.
    pub cgroup: Option<String>,
}

/// Runs `numakit show`.
pub fn run(root: Option<PathBuf>, args: ShowArgs) -> CliResult<u8> {
    let root = open_root(root)?;
    require_live(&root, LiveAction::ShowPolicy)?;
    let cur = numakit_placement::current_policy()?;
    let m = Machine::discover_parts(
        &root,
        Parts {
            cpus: true,
            ..Parts::NODES
        },
    );
    let cpu_nodes: NodeSet = m
        .nodes
        .iter()
        .filter(|n| n.cpus.intersects(&cur.cpus))
        .map(|n| n.id)
        .collect();
    let flags = [
        (PolicyFlags::STATIC_NODES, "static"),
        (PolicyFlags::RELATIVE_NODES, "relative"),
        (PolicyFlags::NUMA_BALANCING, "balancing"),
    ]
    .into_iter()
    .filter(|(f, _)| cur.policy.flags.contains(*f))
    .map(|(_, n)| n)
    .collect();
    let s = Show {
        schema: "numakit.show/1",
        policy: cur.policy.mode_name(),
        policy_nodes: cur.policy.nodes.clone(),
        policy_flags: flags,
        cpus: cur.cpus.clone(),
        cpu_nodes,
        mems_allowed: cur.mems_allowed.clone(),
        cpuset_cpus: m.allowed.cpus.clone(),
        cpuset_mems: m.allowed.mems.clone(),
        cgroup: m.allowed.cgroup.clone(),
    };
    if args.json {
        output::print_json(&s)?;
        return Ok(0);
    }
    let mut t = String::new();
    let pol = match cur.policy.mode {
        Mode::Default | Mode::Local => s.policy.to_string(),
        _ => format!("{} {}", s.policy, s.policy_nodes),
    };
    t.push_str(&format!("policy:        {pol}"));
    if !s.policy_flags.is_empty() {
        t.push_str(&format!(" ({})", s.policy_flags.join(", ")));
    }
    t.push('\n');
    t.push_str(&format!("cpus:          {}\n", s.cpus));
    t.push_str(&format!("cpu nodes:     {}\n", s.cpu_nodes));
    t.push_str(&format!("mems allowed:  {}\n", s.mems_allowed));
    let unknown = || "unknown".to_string();
    t.push_str(&format!(
        "cpuset cpus:   {}\n",
        s.cpuset_cpus
            .as_ref()
            .map_or_else(unknown, |c| c.to_string())
    ));
    t.push_str(&format!(
        "cpuset mems:   {}\n",
        s.cpuset_mems
            .as_ref()
            .map_or_else(unknown, |c| c.to_string())
    ));
    if let Some(c) = &s.cgroup {
        t.push_str(&format!("cgroup:        {}\n", output::sanitize(c)));
    }
    output::print(&t)?;
    Ok(0)
}
