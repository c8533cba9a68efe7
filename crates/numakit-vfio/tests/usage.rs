//! What holds a device, from a directory root laid out as the kernel lays
//! out sysfs and procfs.

use std::path::Path;

use numakit_root::Root;
use numakit_topo::Machine;
use numakit_topo::pci::OsName;
use numakit_vfio::usage::{Holder, usage};

fn put(base: &Path, rel: &str, text: &str) {
    let p = base.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn name(class: &str, n: &str) -> OsName {
    OsName {
        class: class.into(),
        name: n.into(),
    }
}

#[test]
fn mounts_swap_holders_and_network() {
    let fx = Root::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/qemu-2node/sysfs.tar.gz"
    ))
    .unwrap();
    let m = Machine::discover(&fx);
    let d = std::env::temp_dir().join(format!("numakit-usage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    put(&d, "sys/class/block/nvme0n1/dev", "259:0\n");
    put(&d, "sys/class/block/nvme0n1/nvme0n1p1/partition", "1\n");
    put(&d, "sys/class/block/nvme0n1/nvme0n1p1/dev", "259:1\n");
    put(&d, "sys/class/block/nvme0n1/nvme0n1p2/partition", "2\n");
    put(&d, "sys/class/block/nvme0n1/nvme0n1p2/dev", "259:2\n");
    std::fs::create_dir_all(d.join("sys/class/block/nvme0n1/holders/dm-0")).unwrap();
    put(
        &d,
        "proc/self/mountinfo",
        "22 1 0:21 / /proc rw - proc proc rw\n40 1 259:1 / /mnt/data\\040disk rw - ext2 /dev/nvme0n1p1 rw\n",
    );
    put(
        &d,
        "proc/swaps",
        "Filename Type Size Used Priority\n/dev/nvme0n1p2 partition 1024 0 -2\n",
    );
    put(&d, "sys/class/net/eth0/flags", "0x1003\n");
    put(&d, "sys/class/net/eth1/flags", "0x1002\n");
    put(
        &d,
        "proc/net/route",
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\neth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n",
    );
    put(
        &d,
        "proc/net/if_inet6",
        "fe800000000000000000000000000001 02 40 20 80 eth0\n",
    );
    let root = Root::open(&d).unwrap();

    let mut nvme = m
        .pci_device("0000:41:00.0".parse().unwrap())
        .unwrap()
        .clone();
    nvme.os_names = vec![name("block", "nvme0n1")];
    let u = usage(&root, &nvme);
    assert_eq!(u.unknown, Vec::<String>::new());
    let said: Vec<String> = u.holders.iter().map(|h| h.to_string()).collect();
    assert_eq!(
        said,
        [
            "nvme0n1p1 is mounted on /mnt/data disk",
            "nvme0n1p2 is in use as swap",
            "nvme0n1 is held by dm-0 (LVM, MD or dm)",
        ]
    );

    let mut nic = m
        .pci_device("0000:21:00.0".parse().unwrap())
        .unwrap()
        .clone();
    nic.os_names = vec![name("net", "eth0")];
    let u = usage(&root, &nic);
    assert_eq!(
        u.holders,
        [Holder::NetworkUp {
            interface: "eth0".into(),
            addresses: "IPv4 (1 route(s) in /proc/net/route)".into()
        }]
    );
    // Down, or up with only a link-local address: nothing holds it.
    nic.os_names = vec![name("net", "eth1")];
    assert!(usage(&root, &nic).holders.is_empty());

    // The boot display, while a driver drives it.
    put(&d, "sys/bus/pci/devices/0000:21:00.0/boot_vga", "1\n");
    nic.os_names.clear();
    nic.driver = Some("bochs".into());
    assert_eq!(
        usage(&root, &nic).holders[0].to_string(),
        "it drives the console's display (boot VGA, driver bochs)"
    );
    nic.driver = None;
    assert!(usage(&root, &nic).holders.is_empty());
    std::fs::remove_dir_all(&d).unwrap();
}
