//! Binding and unbinding against a fake PCI bus that follows the kernel's
//! rules for `driver_override`, `unbind`, `bind` and `drivers_probe`: plans
//! made from a real machine's snapshot, carried out, failed at every step
//! in turn, and rolled back.

use std::collections::BTreeMap;

use numakit_root::Root;
use numakit_topo::Machine;
use numakit_types::PciAddress;
use numakit_vfio::{Action, Error, State, Sysfs, Target, apply, plan_bind, plan_unbind};

fn fixture() -> (Root, Machine) {
    let root = Root::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/qemu-2node/sysfs.tar.gz"
    ))
    .unwrap();
    let m = Machine::discover(&root);
    (root, m)
}

#[derive(Debug, Clone)]
struct Dev {
    driver: Option<String>,
    over: Option<String>,
    /// The driver whose ID table matches the device.
    native: Option<String>,
}

/// The kernel's PCI binding rules, in memory.
#[derive(Debug, Default)]
struct FakeBus {
    devs: BTreeMap<String, Dev>,
    loaded: Vec<String>,
    /// Fail the write with this index (0-based), counting every write.
    fail_at: Option<usize>,
    writes: usize,
    log: Vec<String>,
    saved: Option<State>,
}

fn err(code: i32) -> std::io::Error {
    std::io::Error::from_raw_os_error(code)
}

impl FakeBus {
    fn probe(&mut self, a: &str) {
        let d = self.devs.get_mut(a).unwrap();
        if d.driver.is_some() {
            return;
        }
        let pick = d.over.clone().or(d.native.clone());
        if let Some(p) = pick
            && self.loaded.contains(&p)
            && (d.over.is_some() || Some(&p) == d.native.as_ref())
        {
            d.driver = Some(p);
        }
    }
}

impl Sysfs for FakeBus {
    fn write(&mut self, path: &str, value: &str) -> std::io::Result<()> {
        let n = self.writes;
        self.writes += 1;
        self.log.push(format!("{value} > {path}"));
        if self.fail_at == Some(n) {
            return Err(err(13));
        }
        if let Some(rest) = path.strip_prefix("/sys/bus/pci/devices/") {
            let (a, file) = rest.split_once('/').unwrap();
            assert_eq!(file, "driver_override");
            let d = self.devs.get_mut(a).unwrap();
            d.over = (!value.is_empty()).then(|| value.to_string());
            return Ok(());
        }
        if path == "/sys/bus/pci/drivers_probe" {
            self.probe(value);
            return Ok(());
        }
        let rest = path.strip_prefix("/sys/bus/pci/drivers/").unwrap();
        let (drv, op) = rest.split_once('/').unwrap();
        let d = self.devs.get_mut(value).ok_or_else(|| err(19))?;
        match op {
            "unbind" if d.driver.as_deref() == Some(drv) => d.driver = None,
            "unbind" => return Err(err(19)),
            "bind" if d.driver.is_some() => return Err(err(16)),
            "bind" if d.over.as_deref().is_some_and(|o| o != drv) => return Err(err(19)),
            "bind" if d.native.as_deref() == Some(drv) || d.over.as_deref() == Some(drv) => {
                d.driver = Some(drv.into())
            }
            _ => return Err(err(19)),
        }
        Ok(())
    }
    fn driver(&self, address: PciAddress) -> Option<String> {
        self.devs[&address.to_string()].driver.clone()
    }
    fn save_state(&mut self, state: &State) -> std::io::Result<()> {
        self.saved = Some(state.clone());
        Ok(())
    }
}

fn bus(m: &Machine) -> FakeBus {
    let mut b = FakeBus {
        loaded: vec![
            "vfio-pci".into(),
            "nvme".into(),
            "virtio-pci".into(),
            "pcieport".into(),
        ],
        ..Default::default()
    };
    for d in &m.pci_devices {
        b.devs.insert(
            d.address.to_string(),
            Dev {
                driver: d.driver.clone(),
                over: None,
                native: d.driver.clone(),
            },
        );
    }
    b
}

const NVME: &str = "0000:41:00.0";

#[test]
fn nvme_to_vfio_and_back() {
    let (root, m) = fixture();
    let a: PciAddress = NVME.parse().unwrap();
    let plan = plan_bind(&root, &m, Target::Device(a)).unwrap();
    let shown: Vec<String> = plan.devices[0]
        .writes
        .iter()
        .map(|w| w.to_string())
        .collect();
    assert_eq!(
        shown,
        [
            "echo vfio-pci > /sys/bus/pci/devices/0000:41:00.0/driver_override",
            "echo 0000:41:00.0 > /sys/bus/pci/drivers/nvme/unbind",
            "echo 0000:41:00.0 > /sys/bus/pci/drivers_probe",
        ]
    );
    // The snapshot cannot list the NVMe's block devices: that is said, not
    // taken as free.
    assert_eq!(plan.unknown, ["/sys/class/block"]);
    let mut sys = bus(&m);
    let mut state = State::default();
    let done = apply(&plan, &mut state, &mut sys).unwrap();
    assert_eq!(done.writes.len(), 3);
    assert_eq!(sys.devs[NVME].driver.as_deref(), Some("vfio-pci"));
    assert_eq!(state.devices[NVME].driver.as_deref(), Some("nvme"));
    assert_eq!(sys.saved.as_ref(), Some(&state));

    // Unbinding is planned from the machine as it is now (on vfio-pci) and
    // the state file.
    let mut now = m.clone();
    now.pci_devices
        .iter_mut()
        .find(|d| d.address == a)
        .unwrap()
        .driver = Some("vfio-pci".into());
    let back = plan_unbind(&root, &now, Target::Device(a)).unwrap();
    let _ = back; // the fixture root has no state file: see below
    let dir = std::env::temp_dir().join(format!("numakit-vfio-state-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("run/numakit")).unwrap();
    std::fs::write(
        dir.join("run/numakit/vfio-bind.json"),
        serde_json::to_string(&state).unwrap(),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("sys/bus/pci/drivers/nvme")).unwrap();
    let sroot = Root::open(&dir).unwrap();
    let back = plan_unbind(&sroot, &now, Target::Device(a)).unwrap();
    assert_eq!(back.action, Action::Unbind);
    let shown: Vec<String> = back.devices[0]
        .writes
        .iter()
        .map(|w| w.to_string())
        .collect();
    assert_eq!(
        shown,
        [
            "echo 0000:41:00.0 > /sys/bus/pci/drivers/vfio-pci/unbind",
            "echo > /sys/bus/pci/devices/0000:41:00.0/driver_override",
            "echo 0000:41:00.0 > /sys/bus/pci/drivers/nvme/bind",
        ]
    );
    apply(&back, &mut state, &mut sys).unwrap();
    assert_eq!(sys.devs[NVME].driver.as_deref(), Some("nvme"));
    assert_eq!(sys.devs[NVME].over, None);
    assert!(state.devices.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Whichever write fails, the device ends as it began and the error says so.
#[test]
fn a_failure_at_any_step_rolls_back() {
    let (root, m) = fixture();
    let a: PciAddress = NVME.parse().unwrap();
    let plan = plan_bind(&root, &m, Target::Device(a)).unwrap();
    for k in 0..3 {
        let mut sys = bus(&m);
        sys.fail_at = Some(k);
        let mut state = State::default();
        let e = apply(&plan, &mut state, &mut sys).unwrap_err();
        match &e {
            Error::Failed { restored, .. } => assert!(restored.is_empty(), "step {k}: {e}"),
            other => panic!("step {k}: {other}"),
        }
        assert!(e.to_string().contains("permission denied"), "{e}");
        assert!(
            e.to_string()
                .ends_with("every device touched is back as it was"),
            "{e}"
        );
        assert_eq!(
            sys.devs[NVME].driver.as_deref(),
            Some("nvme"),
            "step {k}: {:?}",
            sys.log
        );
        assert_eq!(sys.devs[NVME].over, None, "step {k}");
        assert!(state.devices.is_empty(), "step {k}");
    }
}

/// vfio-pci not taking the device is noticed, and undone.
#[test]
fn a_device_vfio_does_not_take_is_put_back() {
    let (root, m) = fixture();
    let plan = plan_bind(&root, &m, Target::Device(NVME.parse().unwrap())).unwrap();
    let mut sys = bus(&m);
    sys.loaded.retain(|d| d != "vfio-pci");
    let e = apply(&plan, &mut State::default(), &mut sys).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("0000:41:00.0 is on no driver after the writes, not vfio-pci"),
        "{e}"
    );
    assert_eq!(sys.devs[NVME].driver.as_deref(), Some("nvme"));
}

#[test]
fn refusals_and_group_targets() {
    let (root, m) = fixture();
    let e = plan_bind(&root, &m, Target::Device("0000:99:00.0".parse().unwrap())).unwrap_err();
    assert_eq!(e.to_string(), "no PCI device 0000:99:00.0");
    let e = plan_bind(&root, &m, Target::Group(999)).unwrap_err();
    assert_eq!(e.to_string(), "no IOMMU group 999");
    // The edu device has no driver: binding it is two writes.
    let p = plan_bind(&root, &m, Target::Device("0000:42:00.0".parse().unwrap())).unwrap();
    assert_eq!(p.devices[0].writes.len(), 2);
    // A group of a root port alone holds only a bridge: nothing to do.
    let port = m
        .iommu
        .groups
        .iter()
        .find(|g| g.devices == ["0000:40:00.0"])
        .unwrap();
    let p = plan_bind(&root, &m, Target::Group(port.id)).unwrap();
    assert!(p.is_empty());
    assert!(p.notes[0].contains("is a bridge"), "{:?}", p.notes);
}
