//! Moving devices to vfio-pci and back.
//!
//! A [`Plan`] is made from the machine as read through a [`Root`] (so a dry
//! run works on a snapshot) and lists the exact sysfs writes. Binding, per
//! device: `driver_override` ← `vfio-pci`; unbind from its driver; `drivers_probe`
//! ← the address (the kernel binds vfio-pci, the only driver the override
//! lets match). Unbinding: unbind from vfio-pci; `driver_override` ← what it
//! was (usually empty); bind the driver it had, remembered in the
//! [`State`] file (`/run/numakit/vfio-bind.json`), or let the kernel probe
//! when there is no record.
//!
//! [`apply`] performs a plan through a [`Sysfs`]: after each device it
//! checks which driver is bound, and when a write or that check fails it
//! puts every device it touched back as it was, so nothing is left half
//! done.

use std::collections::BTreeMap;

use numakit_root::Root;
use numakit_topo::pci::DeviceKind;
use numakit_topo::{Machine, PciDevice};
use numakit_types::PciAddress;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::report::{Off, State as IommuState, report};
use crate::usage::{Holder, usage};

/// Where the original drivers are remembered.
pub const STATE_FILE: &str = "/run/numakit/vfio-bind.json";
/// The schema of the state file.
pub const STATE_SCHEMA: &str = "numakit.vfio-state/1";
/// The schema of a plan's JSON form.
pub const PLAN_SCHEMA: &str = "numakit.vfio-plan/1";

/// Bind to vfio-pci, or give back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// To vfio-pci.
    Bind,
    /// Back to the original driver.
    Unbind,
}

/// What to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One PCI function.
    Device(PciAddress),
    /// Every device of an IOMMU group (bridges stay on their port driver).
    Group(u32),
}

/// One sysfs write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Write {
    /// The file.
    pub path: String,
    /// What is written (a newline follows).
    pub value: String,
}

impl std::fmt::Display for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.value.is_empty() {
            write!(f, "echo > {}", self.path)
        } else {
            write!(f, "echo {} > {}", self.value, self.path)
        }
    }
}

/// What happens to one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DevicePlan {
    /// The device.
    pub address: PciAddress,
    /// Its driver now.
    pub driver: Option<String>,
    /// Its `driver_override` now (`None`: not set).
    pub driver_override: Option<String>,
    /// The driver it should have afterwards (`None`: none, or the kernel's choice).
    pub driver_after: Option<String>,
    /// The writes, in order.
    pub writes: Vec<Write>,
}

/// A plan: what would be written, and why it may not be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// [`PLAN_SCHEMA`].
    pub schema: &'static str,
    /// Bind or unbind.
    pub action: Action,
    /// The IOMMU group.
    pub group: u32,
    /// The devices that change, in order.
    pub devices: Vec<DevicePlan>,
    /// What holds those devices (binding refuses unless forced).
    pub holders: Vec<Holder>,
    /// Facts the root could not show (files missing from it).
    pub unknown: Vec<String>,
    /// Things worth knowing that do not stop the plan.
    pub notes: Vec<String>,
}

impl Plan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.devices.iter().all(|d| d.writes.is_empty())
    }
}

/// One device's original driver, as remembered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    /// The driver it was bound to.
    pub driver: Option<String>,
    /// Its `driver_override` before.
    pub driver_override: Option<String>,
}

/// The state file: the original driver of every device numakit bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// [`STATE_SCHEMA`].
    pub schema: String,
    /// By PCI address.
    pub devices: BTreeMap<String, Remembered>,
}

impl Default for State {
    fn default() -> Self {
        State {
            schema: STATE_SCHEMA.into(),
            devices: BTreeMap::new(),
        }
    }
}

impl State {
    /// Reads the state file through `root`: empty when there is none, an
    /// error when it is not ours.
    pub fn read(root: &Root) -> Result<State> {
        match root.read_to_string(STATE_FILE) {
            Ok(t) => serde_json::from_str::<State>(&t)
                .ok()
                .filter(|s| s.schema == STATE_SCHEMA)
                .ok_or_else(|| Error::BadState {
                    path: STATE_FILE.into(),
                }),
            Err(_) => Ok(State::default()),
        }
    }
}

fn dev_dir(a: PciAddress) -> String {
    format!("/sys/bus/pci/devices/{a}")
}

fn w(path: String, value: impl Into<String>) -> Write {
    Write {
        path,
        value: value.into(),
    }
}

/// What a target names.
struct Targets<'m> {
    group: u32,
    devices: Vec<&'m PciDevice>,
    notes: Vec<String>,
}

/// The devices a target names: the device, or the group's non-bridges.
fn targets(m: &Machine, target: Target) -> Result<Targets<'_>> {
    let mut notes = Vec::new();
    let (group, devs) = match target {
        Target::Device(a) => {
            let d = m.pci_device(a).ok_or(Error::UnknownDevice { address: a })?;
            let g = d.iommu_group.ok_or(Error::NoGroup { address: a })?;
            (g, vec![d])
        }
        Target::Group(g) => {
            let grp = m
                .iommu
                .groups
                .iter()
                .find(|x| x.id == g)
                .ok_or(Error::UnknownGroup { group: g })?;
            let devs: Vec<&PciDevice> = grp
                .devices
                .iter()
                .filter_map(|n| m.pci_device(n.parse().ok()?))
                .collect();
            let (bridges, ends): (Vec<&PciDevice>, Vec<&PciDevice>) =
                devs.into_iter().partition(|d| d.kind == DeviceKind::Bridge);
            for b in bridges {
                let stays = match &b.driver {
                    Some(d) => format!("stays on {d}"),
                    None => "stays without a driver".into(),
                };
                notes.push(format!(
                    "{} is a bridge: it {stays} (a bridge does not keep VFIO from the group)",
                    b.address
                ));
            }
            (g, ends)
        }
    };
    Ok(Targets {
        group,
        devices: devs,
        notes,
    })
}

/// Checks that VFIO can work at all: an IOMMU, and vfio-pci loaded.
fn preflight(root: &Root, m: &Machine) -> Result<()> {
    let r = report(root, m);
    if r.state == IommuState::Off
        && let Some(Off { detail, hint, .. }) = r.off
    {
        return Err(Error::NoIommu { detail, hint });
    }
    if r.vfio.vfio_pci == Some(false) {
        return Err(Error::NoVfioPci);
    }
    Ok(())
}

/// Plans binding `target` to vfio-pci.
pub fn plan_bind(root: &Root, m: &Machine, target: Target) -> Result<Plan> {
    preflight(root, m)?;
    let Targets {
        group,
        devices: devs,
        mut notes,
    } = targets(m, target)?;
    let mut plan = Plan {
        schema: PLAN_SCHEMA,
        action: Action::Bind,
        group,
        devices: Vec::new(),
        holders: Vec::new(),
        unknown: Vec::new(),
        notes: Vec::new(),
    };
    for d in devs {
        let ovr = read_override(root, d.address);
        let mut writes = Vec::new();
        if d.driver.as_deref() != Some("vfio-pci") {
            let u = usage(root, d);
            plan.holders.extend(u.holders);
            plan.unknown.extend(u.unknown);
            let dir = dev_dir(d.address);
            writes.push(w(format!("{dir}/driver_override"), "vfio-pci"));
            if let Some(drv) = &d.driver {
                writes.push(w(
                    format!("/sys/bus/pci/drivers/{drv}/unbind"),
                    d.address.to_string(),
                ));
            }
            writes.push(w(
                "/sys/bus/pci/drivers_probe".into(),
                d.address.to_string(),
            ));
        } else {
            notes.push(format!("{} is already bound to vfio-pci", d.address));
        }
        plan.devices.push(DevicePlan {
            address: d.address,
            driver: d.driver.clone(),
            driver_override: ovr,
            driver_after: Some("vfio-pci".into()),
            writes,
        });
    }
    if let Target::Device(a) = target {
        notes.extend(others_in_group(m, group, a));
    }
    plan.unknown.sort();
    plan.unknown.dedup();
    plan.notes = notes;
    Ok(plan)
}

/// The other devices of the group that keep VFIO from it.
fn others_in_group(m: &Machine, group: u32, own: PciAddress) -> Vec<String> {
    let r = m.iommu.groups.iter().find(|g| g.id == group);
    r.map(|g| {
        g.devices
            .iter()
            .filter_map(|n| m.pci_device(n.parse().ok()?))
            .filter(|d| d.address != own)
            .filter(|d| {
                !crate::report::driver_allows_vfio(d.driver.as_deref(), d.kind == DeviceKind::Bridge)
            })
            .map(|d| {
                format!(
                    "group {group} also holds {} (bound to {}): VFIO cannot use the group until it moves too (numakit vfio bind --group {group})",
                    d.address,
                    d.driver.as_deref().unwrap_or("?")
                )
            })
            .collect()
    })
    .unwrap_or_default()
}

fn read_override(root: &Root, a: PciAddress) -> Option<String> {
    root.read_trim(&format!("{}/driver_override", dev_dir(a)))
        .filter(|s| !s.is_empty() && s != "(null)")
}

/// Plans giving `target` back to the drivers it had.
pub fn plan_unbind(root: &Root, m: &Machine, target: Target) -> Result<Plan> {
    let Targets {
        group,
        devices: devs,
        notes,
    } = targets(m, target)?;
    let state = State::read(root)?;
    let mut plan = Plan {
        schema: PLAN_SCHEMA,
        action: Action::Unbind,
        group,
        devices: Vec::new(),
        holders: Vec::new(),
        unknown: Vec::new(),
        notes,
    };
    for d in devs {
        let key = d.address.to_string();
        let dir = dev_dir(d.address);
        let was = state.devices.get(&key);
        let mut writes = Vec::new();
        let on_vfio = d.driver.as_deref() == Some("vfio-pci");
        if on_vfio {
            writes.push(w(
                "/sys/bus/pci/drivers/vfio-pci/unbind".into(),
                key.clone(),
            ));
        } else {
            plan.notes.push(format!(
                "{key} is not bound to vfio-pci (driver: {}): left alone",
                d.driver.as_deref().unwrap_or("none")
            ));
        }
        let after = match was {
            Some(r) if on_vfio => {
                writes.push(w(
                    format!("{dir}/driver_override"),
                    r.driver_override.clone().unwrap_or_default(),
                ));
                match &r.driver {
                    Some(drv) if root.is_dir(&format!("/sys/bus/pci/drivers/{drv}")) => {
                        writes.push(w(format!("/sys/bus/pci/drivers/{drv}/bind"), key.clone()));
                    }
                    Some(drv) => {
                        plan.notes.push(format!(
                            "{drv}, the driver {key} had, is not loaded: the kernel probes for one"
                        ));
                        writes.push(w("/sys/bus/pci/drivers_probe".into(), key.clone()));
                    }
                    None => {}
                }
                r.driver.clone()
            }
            None if on_vfio => {
                plan.notes.push(format!("no record of {key}'s original driver in {STATE_FILE}: the kernel probes for one"));
                writes.push(w(format!("{dir}/driver_override"), ""));
                writes.push(w("/sys/bus/pci/drivers_probe".into(), key.clone()));
                None
            }
            _ => d.driver.clone(),
        };
        plan.devices.push(DevicePlan {
            address: d.address,
            driver: d.driver.clone(),
            driver_override: read_override(root, d.address),
            driver_after: after,
            writes,
        });
    }
    Ok(plan)
}

/// Where plans are carried out: the live sysfs, or a test's fake.
pub trait Sysfs {
    /// Writes `value` and a newline to `path`.
    fn write(&mut self, path: &str, value: &str) -> std::io::Result<()>;
    /// The driver bound to `address` now.
    fn driver(&self, address: PciAddress) -> Option<String>;
    /// Saves the state file.
    fn save_state(&mut self, state: &State) -> std::io::Result<()>;
}

/// The running system's sysfs and `/run`.
#[derive(Debug, Default)]
pub struct LiveSysfs;

impl Sysfs for LiveSysfs {
    fn write(&mut self, path: &str, value: &str) -> std::io::Result<()> {
        std::fs::write(path, format!("{value}\n"))
    }
    fn driver(&self, address: PciAddress) -> Option<String> {
        let l = std::fs::read_link(format!("{}/driver", dev_dir(address))).ok()?;
        Some(l.file_name()?.to_string_lossy().into_owned())
    }
    fn save_state(&mut self, state: &State) -> std::io::Result<()> {
        let p = std::path::Path::new(STATE_FILE);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        let tmp = p.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(state).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, text + "\n")?;
        std::fs::rename(tmp, p)
    }
}

/// A device and the driver it is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoundTo {
    /// The device.
    pub address: PciAddress,
    /// Its driver (`None`: none).
    pub driver: Option<String>,
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// Every write made, in order.
    pub writes: Vec<Write>,
    /// The driver of each device afterwards.
    pub drivers: Vec<BoundTo>,
}

/// Carries `plan` out through `sys`, keeping `state` (read beforehand with
/// [`State::read`]) up to date. A failed write or a device that ends up on
/// the wrong driver rolls back every device touched (their writes undone in
/// reverse), and the error says what failed and what was put back.
pub fn apply(plan: &Plan, state: &mut State, sys: &mut dyn Sysfs) -> Result<Applied> {
    let mut done: Vec<Write> = Vec::new();
    let mut touched: Vec<&DevicePlan> = Vec::new();
    for d in plan.devices.iter().filter(|d| !d.writes.is_empty()) {
        touched.push(d);
        if plan.action == Action::Bind {
            state.devices.insert(
                d.address.to_string(),
                Remembered {
                    driver: d.driver.clone(),
                    driver_override: d.driver_override.clone(),
                },
            );
            sys.save_state(state).map_err(|e| Error::State {
                path: STATE_FILE.into(),
                why: write_meaning(&e),
            })?;
        }
        let r = run_device(d, sys, &mut done);
        if let Err(failure) = r {
            let restored = rollback(&touched, sys);
            if plan.action == Action::Bind {
                for t in &touched {
                    state.devices.remove(&t.address.to_string());
                }
                let _ = sys.save_state(state);
            }
            return Err(Error::Failed {
                failure: Box::new(failure),
                restored,
            });
        }
    }
    if plan.action == Action::Unbind {
        for d in &touched {
            state.devices.remove(&d.address.to_string());
        }
        sys.save_state(state).map_err(|e| Error::State {
            path: STATE_FILE.into(),
            why: write_meaning(&e),
        })?;
    }
    let drivers = plan
        .devices
        .iter()
        .map(|d| BoundTo {
            address: d.address,
            driver: sys.driver(d.address),
        })
        .collect();
    Ok(Applied {
        writes: done,
        drivers,
    })
}

fn run_device(d: &DevicePlan, sys: &mut dyn Sysfs, done: &mut Vec<Write>) -> Result<()> {
    for wr in &d.writes {
        sys.write(&wr.path, &wr.value).map_err(|e| Error::Write {
            write: wr.to_string(),
            why: write_meaning(&e),
        })?;
        done.push(wr.clone());
    }
    let now = sys.driver(d.address);
    match &d.driver_after {
        Some(want) if now.as_deref() != Some(want.as_str()) => Err(Error::WrongDriver {
            address: d.address,
            want: want.clone(),
            got: now,
        }),
        _ => Ok(()),
    }
}

fn write_meaning(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(13) | Some(1) => "permission denied: binding devices needs root".into(),
        Some(19) => "no such device, or the driver does not take it (ENODEV)".into(),
        Some(16) => "busy (EBUSY)".into(),
        _ => e.to_string(),
    }
}

/// Puts every touched device back: off whatever driver it has now, its
/// override as it was, its old driver bound. Returns what it could not
/// restore, in words (empty when everything is back).
fn rollback(touched: &[&DevicePlan], sys: &mut dyn Sysfs) -> Vec<String> {
    let mut problems = Vec::new();
    for d in touched.iter().rev() {
        let a = d.address.to_string();
        let now = sys.driver(d.address);
        if now != d.driver
            && let Some(cur) = &now
        {
            let _ = sys.write(&format!("/sys/bus/pci/drivers/{cur}/unbind"), &a);
        }
        let ovr = d.driver_override.clone().unwrap_or_default();
        let _ = sys.write(&format!("{}/driver_override", dev_dir(d.address)), &ovr);
        if sys.driver(d.address) != d.driver
            && let Some(old) = &d.driver
        {
            let _ = sys.write(&format!("/sys/bus/pci/drivers/{old}/bind"), &a);
        }
        let after = sys.driver(d.address);
        if after != d.driver {
            problems.push(format!(
                "{a} is on {} instead of {}",
                after.as_deref().unwrap_or("no driver"),
                d.driver.as_deref().unwrap_or("no driver")
            ));
        }
    }
    problems
}
