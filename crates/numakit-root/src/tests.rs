//! Tests of `Root` over every backend; each backend's own tests sit in its
//! file. The helpers here are shared with those.

use super::*;
use std::os::unix::fs::symlink;

/// A fresh, empty directory for the test `name`.
pub(crate) fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("numakit-root-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A small copy of sysfs under `d`: a device with a relative link to it,
/// an absolute link, a dangling link and a link to itself.
pub(crate) fn sample(d: &Path) {
    std::fs::create_dir_all(d.join("sys/devices/pci0000:00/0000:00:01.0")).unwrap();
    std::fs::create_dir_all(d.join("sys/bus/pci/devices")).unwrap();
    std::fs::write(
        d.join("sys/devices/pci0000:00/0000:00:01.0/numa_node"),
        "1\n",
    )
    .unwrap();
    symlink(
        "../../../devices/pci0000:00/0000:00:01.0",
        d.join("sys/bus/pci/devices/0000:00:01.0"),
    )
    .unwrap();
    // an absolute link must stay inside the root
    symlink("/sys/devices/pci0000:00", d.join("sys/abs")).unwrap();
    symlink("nowhere/at/all", d.join("sys/dangling")).unwrap();
    symlink("loop", d.join("sys/loop")).unwrap();
}

#[test]
fn dir_root_resolves_links_inside() {
    let d = tmp("dir");
    sample(&d);
    let r = Root::open(&d).unwrap();
    assert_eq!(
        r.read_trim("/sys/bus/pci/devices/0000:00:01.0/numa_node")
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        r.read_trim("/sys/abs/0000:00:01.0/numa_node").as_deref(),
        Some("1")
    );
    assert_eq!(
        r.canonicalize("/sys/bus/pci/devices/0000:00:01.0").unwrap(),
        "/sys/devices/pci0000:00/0000:00:01.0"
    );
    assert!(r.read("/sys/dangling").is_err());
    assert!(r.read("/sys/loop").is_err());
    assert_eq!(
        r.link_name("/sys/bus/pci/devices/0000:00:01.0").as_deref(),
        Some("0000:00:01.0")
    );
    assert!(r.exists("/sys/abs"));
    assert!(!r.exists("/sys/dangling"));
    assert!(r.read_dir("/nope").is_err());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn tarball_root_matches_dir_root() {
    let d = tmp("tar");
    let top = d.join("machine");
    std::fs::create_dir_all(&top).unwrap();
    sample(&top);
    let tgz = d.join("snap.tar.gz");
    let status = std::process::Command::new("tar")
        .arg("czf")
        .arg(&tgz)
        .arg("-C")
        .arg(&d)
        .arg("machine")
        .status();
    if !status.map(|s| s.success()).unwrap_or(false) {
        return; // no tar(1) here
    }
    let r = Root::open(&tgz).unwrap();
    assert!(!r.is_live());
    assert_eq!(
        r.read_trim("/sys/bus/pci/devices/0000:00:01.0/numa_node")
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        r.read_trim("/sys/abs/0000:00:01.0/numa_node").as_deref(),
        Some("1")
    );
    assert!(r.read("/sys/dangling").is_err());
    assert!(r.read("/sys/loop").is_err());
    assert_eq!(
        r.read_dir("/sys/bus/pci/devices").unwrap(),
        vec!["0000:00:01.0"]
    );
    assert!(r.is_dir("/sys/bus/pci/devices/0000:00:01.0"));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn bad_roots() {
    assert!(matches!(
        Root::open("/definitely/not/here"),
        Err(RootError::NotFound(_))
    ));
    let d = tmp("bad");
    let f = d.join("garbage.tar.gz");
    std::fs::write(&f, b"\x1f\x8b\x08garbage garbage").unwrap();
    assert!(matches!(Root::open(&f), Err(RootError::BadSnapshot { .. })));
    let f2 = d.join("text.txt");
    std::fs::write(&f2, b"hello world").unwrap();
    assert!(matches!(Root::open(&f2), Err(RootError::NotARoot(_))));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn recording_uses_resolved_paths() {
    let d = tmp("rec");
    sample(&d);
    let r = Root::open(&d).unwrap().start_recording();
    r.read_trim("/sys/bus/pci/devices/0000:00:01.0/numa_node");
    let rec = r.recorded();
    assert!(matches!(
        rec.entries
            .get("/sys/devices/pci0000:00/0000:00:01.0/numa_node"),
        Some(record::RecordedEntry::File(_))
    ));
    assert!(matches!(
        rec.entries.get("/sys/bus/pci/devices/0000:00:01.0"),
        Some(record::RecordedEntry::Symlink(_))
    ));
    std::fs::remove_dir_all(&d).unwrap();
}

/// A GNU long name is read whole into memory by the tar reader: it must
/// count against the snapshot limit like file contents do.
#[test]
fn tarball_long_names_count_against_the_size_limit() {
    let d = tmp("longname");
    let f = d.join("snap.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&f).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        let long = format!("sys/{}", "x".repeat(64 << 10));
        b.append_data(&mut h, long, &b"1"[..]).unwrap();
        b.finish().unwrap();
    }
    assert!(archive::load_limited(&f, 1 << 20).is_ok());
    assert!(matches!(
        archive::load_limited(&f, 16 << 10),
        Err(RootError::BadSnapshot { .. })
    ));
    std::fs::remove_dir_all(&d).unwrap();
}

/// A FIFO (or a device node) in a directory root is refused at once, by the
/// kernel-resolved reads and by the portable resolver (recording) alike: it
/// must not hang the reader or stream without end.
#[test]
fn dir_root_refuses_fifos_without_blocking() {
    let d = tmp("fifo");
    sample(&d);
    let fifo = d.join("sys/devices/pci0000:00/0000:00:01.0/numa_node");
    std::fs::remove_file(&fifo).unwrap();
    mkfifo(&fifo);
    let root = Root::open(&d).unwrap();
    for r in [root.clone(), root.start_recording()] {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(r.read("/sys/bus/pci/devices/0000:00:01.0/numa_node"));
        });
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("reading a FIFO blocked");
        assert!(got.is_err());
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// Makes a FIFO at `p`.
pub(crate) fn mkfifo(p: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        p,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
}

/// A `Root` is shared between threads and read under `catch_unwind`.
#[test]
fn root_keeps_its_auto_traits() {
    fn check<T: Send + Sync + Unpin + std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    check::<Root>();
}

/// A name missing from an earlier listing is not found, without asking the
/// backend; a recording root asks every time, so that it records.
#[test]
fn listing_cache_answers_absent_names_except_while_recording() {
    let d = tmp("listings");
    sample(&d);
    let dev = "/sys/devices/pci0000:00/0000:00:01.0";
    let root = Root::open(&d).unwrap();
    let rec = root.start_recording();
    assert_eq!(root.read_dir(dev).unwrap(), vec!["numa_node"]);
    assert_eq!(rec.read_dir(dev).unwrap(), vec!["numa_node"]);
    std::fs::write(
        d.join("sys/devices/pci0000:00/0000:00:01.0/local_cpus"),
        "f\n",
    )
    .unwrap();
    let late = format!("{dev}/local_cpus");
    assert_eq!(
        root.read(&late).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    assert!(!root.exists(&late));
    assert!(!root.is_dir(&late));
    assert_eq!(root.read_dir(dev).unwrap(), vec!["numa_node"]);
    // a fresh root, or a recording one, sees the new file
    assert_eq!(
        Root::open(&d).unwrap().read_trim(&late).as_deref(),
        Some("f")
    );
    assert_eq!(rec.read_trim(&late).as_deref(), Some("f"));
    assert_eq!(rec.read_dir(dev).unwrap(), vec!["local_cpus", "numa_node"]);
    std::fs::remove_dir_all(&d).unwrap();
}

/// Recording the live system reads it through the portable resolver, and
/// the recording root is not the live system (actions refuse it).
#[test]
fn live_recording_root_records_links_and_is_not_live() {
    let live = Root::live();
    assert!(live.is_live());
    assert_eq!(live.label(), "/");
    let rec = live.start_recording();
    assert!(!rec.is_live());
    assert_eq!(rec.label(), "/");
    assert!(live.recorded().entries.is_empty());
    // this process's number as its /proc sees it
    let pid = std::fs::read_link("/proc/self")
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(rec.read("/proc/self/comm").is_ok());
    let got = rec.recorded();
    assert_eq!(
        got.entries.get("/proc/self"),
        Some(&RecordedEntry::Symlink(pid.clone()))
    );
    assert!(matches!(
        got.entries.get(&format!("/proc/{pid}/comm")),
        Some(RecordedEntry::File(_))
    ));
    // recording again starts afresh, over the same backend
    let again = rec.start_recording();
    assert!(again.recorded().entries.is_empty());
    assert!(again.exists("/proc"));
    assert_eq!(
        again.recorded().entries.get("/proc"),
        Some(&RecordedEntry::Dir)
    );
    assert!(!rec.recorded().entries.contains_key("/proc"));
}
