//! `numakit vfio bind|unbind DEVICE|--group N`: moves devices to vfio-pci
//! and back with the `driver_override` flow.
//!
//! Without `--apply` it is a dry run that prints the exact sysfs writes (on
//! any root, snapshots too). With `--apply` it writes them on the running
//! system, checks the driver each device ends up with, and puts every
//! device back when a step fails. Binding refuses a device that something
//! uses (a mounted filesystem, swap, a block holder, a network interface
//! that is up with addresses, the console's display) unless `--force`.
//! `--json` prints schema `numakit.vfio-plan/1` (docs/vfio.md).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use numakit_root::Root;
use numakit_topo::Machine;
use numakit_topo::locate::DeviceSpec;
use numakit_vfio::{
    Action, LiveSysfs, Plan, STATE_FILE, State, Target, apply, plan_bind, plan_unbind,
};
use serde::Serialize;

use crate::commands::common::{IOMMU_PARTS, open_root};
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::output::{eprint, print, print_json, sanitize};

const VFIO_HELP: &str = "\
DEVICE is a PCI address (0000:42:00.0), net:IFACE, block:DEV, nvme:N or gpu:N.
Without --apply nothing is written: the sysfs writes are printed.

Exit status: 0 done (or the dry run printed); 2 refused (the device is in use,
no IOMMU, vfio-pci not loaded, not root) or a step failed, in which case every
device touched is put back as it was.";

/// `numakit vfio` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum VfioCommand {
    /// Move a device (or every device of an IOMMU group) to vfio-pci.
    #[command(after_help = VFIO_HELP)]
    Bind(BindArgs),
    /// Give a device (or a group) back to the driver it had before `bind`.
    #[command(after_help = VFIO_HELP)]
    Unbind(UnbindArgs),
}

/// A device or a group: one of the two.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct Selection {
    /// The device: a PCI address, net:IFACE, block:DEV, nvme:N or gpu:N.
    pub device: Option<String>,
    /// Every device of IOMMU group N (bridges stay on their port driver).
    #[arg(long, value_name = "N")]
    pub group: Option<u32>,
}

/// What to act on, and how.
#[derive(Debug, clap::Args)]
pub struct Which {
    /// The device or group.
    #[command(flatten)]
    pub sel: Selection,
    /// Write to sysfs (without it: print the writes).
    #[arg(long)]
    pub apply: bool,
    /// Print JSON (schema numakit.vfio-plan/1, see docs/vfio.md).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `numakit vfio bind`.
#[derive(Debug, clap::Args)]
pub struct BindArgs {
    /// The device or group.
    #[command(flatten)]
    pub which: Which,
    /// Bind even a device that is in use (each use is printed as a warning).
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `numakit vfio unbind`.
#[derive(Debug, clap::Args)]
pub struct UnbindArgs {
    /// The device or group.
    #[command(flatten)]
    pub which: Which,
}

/// The JSON document: the plan, whether it was applied, and the drivers after.
#[derive(Debug, Serialize)]
struct Out<'a> {
    #[serde(flatten)]
    plan: &'a Plan,
    applied: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    drivers_after: Option<BTreeMap<String, Option<String>>>,
}

/// Runs a `numakit vfio` subcommand.
pub fn run(root: Option<PathBuf>, cmd: VfioCommand) -> CliResult<u8> {
    let root = open_root(root)?;
    let m = Machine::discover_parts(&root, IOMMU_PARTS);
    let (action, which, force) = match &cmd {
        VfioCommand::Bind(a) => (Action::Bind, &a.which, a.force),
        VfioCommand::Unbind(a) => (Action::Unbind, &a.which, false),
    };
    let verb = match action {
        Action::Bind => "bind",
        Action::Unbind => "unbind",
    };
    let target = target(&root, &m, which, verb)?;
    let plan = match action {
        Action::Bind => plan_bind(&root, &m, target),
        Action::Unbind => plan_unbind(&root, &m, target),
    }
    .map_err(|e| CliError::from(e).prefix(&format!("cannot {verb} with vfio-pci")))?;
    if !plan.holders.is_empty() {
        let uses: Vec<String> = plan.holders.iter().map(|h| h.to_string()).collect();
        if !force {
            return Err(CliError::new(format!(
                "refusing to move {} to vfio-pci: {}",
                devices(&plan),
                uses.join("; ")
            ))
            .hint(
                "stop using it first (unmount, swapoff, take the interface down), or pass --force",
            ));
        }
        for u in &uses {
            eprint(&format!("numakit: warning: --force: {}\n", sanitize(u)));
        }
    }
    if !which.apply || plan.is_empty() {
        return show(&plan, None, which.json);
    }
    if !root.is_live() {
        return Err(CliError::new(format!(
            "cannot {verb} devices on {}: it needs the running system",
            root.label()
        ))
        .hint("drop --root (or NUMAKIT_ROOT), or leave out --apply for a dry run"));
    }
    let mut state = State::read(&root)?;
    let done = apply(&plan, &mut state, &mut LiveSysfs)
        .map_err(|e| CliError::from(e).prefix(&format!("cannot {verb} {}", devices(&plan))))?;
    let after = done
        .drivers
        .iter()
        .map(|b| (b.address.to_string(), b.driver.clone()))
        .collect();
    show(&plan, Some(after), which.json)
}

fn devices(plan: &Plan) -> String {
    let v: Vec<String> = plan.devices.iter().map(|d| d.address.to_string()).collect();
    v.join(", ")
}

fn target(root: &Root, m: &Machine, which: &Which, verb: &str) -> CliResult<Target> {
    if let Some(g) = which.sel.group {
        return Ok(Target::Group(g));
    }
    let name = which.sel.device.as_deref().unwrap_or_default();
    let spec: DeviceSpec = name.parse()?;
    let d = spec.find(m, Some(root)).map_err(|e| {
        CliError::new(format!("cannot {verb} {name}: {e}"))
            .hint("list the devices with 'numakit iommu'")
    })?;
    Ok(Target::Device(d.address))
}

fn show(plan: &Plan, after: Option<BTreeMap<String, Option<String>>>, json: bool) -> CliResult<u8> {
    if json {
        print_json(&Out {
            plan,
            applied: after.is_some(),
            drivers_after: after,
        })?;
        return Ok(EXIT_OK);
    }
    let mut s = String::new();
    let to = match plan.action {
        Action::Bind => "to vfio-pci",
        Action::Unbind => "back to their drivers",
    };
    match &after {
        None if plan.is_empty() => {
            let _ = writeln!(s, "nothing to write for group {}", plan.group);
        }
        None => {
            let _ = writeln!(
                s,
                "dry run: these writes would move {} (IOMMU group {}) {to}; add --apply to make them",
                devices(plan),
                plan.group
            );
            for d in &plan.devices {
                for w in &d.writes {
                    let _ = writeln!(s, "  {}", sanitize(&w.to_string()));
                }
            }
        }
        Some(after) => {
            for d in &plan.devices {
                let a = d.address.to_string();
                let now = after.get(&a).cloned().flatten();
                let _ = writeln!(
                    s,
                    "{a}: {} -> {}",
                    sanitize(d.driver.as_deref().unwrap_or("no driver")),
                    sanitize(now.as_deref().unwrap_or("no driver"))
                );
            }
            if plan.action == Action::Bind {
                let _ = writeln!(
                    s,
                    "IOMMU group {} is at /dev/vfio/{}; the original drivers are remembered in {STATE_FILE}",
                    plan.group, plan.group
                );
            }
        }
    }
    for n in &plan.notes {
        let _ = writeln!(s, "note: {}", sanitize(n));
    }
    if !plan.unknown.is_empty() {
        let _ = writeln!(
            s,
            "not checked (the root lacks {}): whether something uses the device",
            sanitize(&plan.unknown.join(", "))
        );
    }
    print(&s)?;
    Ok(EXIT_OK)
}
