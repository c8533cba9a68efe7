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
    // named as a snapshot, not one: the name's promise is what failed
    let f3 = d.join("corrupt.tar.gz");
    std::fs::write(&f3, b"PK\x03\x04 a zip").unwrap();
    let e = Root::open(&f3).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "snapshot '{}' is named like a gzip tarball but does not start as gzip data does (it starts with bytes [50, 4b, 03]): it is damaged or not a snapshot; take it again with 'numakit snapshot'",
            f3.display()
        )
    );
    let f4 = d.join("empty.tbz2");
    std::fs::write(&f4, b"").unwrap();
    assert!(
        Root::open(&f4)
            .unwrap_err()
            .to_string()
            .contains("bzip2 data does (it is empty)")
    );
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
    let limits = |stream| archive::Limits {
        stream,
        held: 1 << 20,
    };
    assert!(
        archive::load_limited(&f, limits(1 << 20)).is_err(),
        "longer than PATH_MAX"
    );
    assert!(matches!(
        archive::load_limited(&f, limits(16 << 10)),
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

/// Exchanges two paths atomically, again and again, until `stop` is set.
fn keep_swapping(pairs: Vec<(PathBuf, PathBuf)>, stop: Arc<std::sync::atomic::AtomicBool>) {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        for (a, b) in &pairs {
            renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).unwrap();
        }
    }
}

/// Issue 15: a file or a folder of a directory root swapped for a link to a
/// host file while the root is recorded is refused at open time, never
/// followed: no byte of the host file is read or recorded, whichever reads
/// the race lands on.
#[test]
fn issue15_recording_never_follows_a_link_swapped_in() {
    let d = tmp("swap");
    let secret = d.join("secret");
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(secret.join("data"), "SECRET-HOST-BYTES\n").unwrap();
    let r = d.join("root");
    std::fs::create_dir_all(r.join("sys/f")).unwrap();
    std::fs::create_dir_all(r.join("sys/d")).unwrap();
    std::fs::write(r.join("sys/f/data"), "inside\n").unwrap();
    std::fs::write(r.join("sys/d/data"), "inside\n").unwrap();
    // the other side of each exchange: links to the host's secret
    symlink(secret.join("data"), r.join("sys/f/alt")).unwrap();
    symlink(&secret, r.join("sys/d.alt")).unwrap();
    let root = Root::open(&r).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pairs = vec![
        (r.join("sys/f/data"), r.join("sys/f/alt")),
        (r.join("sys/d"), r.join("sys/d.alt")),
    ];
    let swapper = {
        let stop = stop.clone();
        std::thread::spawn(move || keep_swapping(pairs, stop))
    };
    let mut leaked = Vec::new();
    for _ in 0..4000 {
        let rec = root.start_recording();
        for p in ["/sys/f/data", "/sys/d/data"] {
            if let Ok(b) = rec.read(p)
                && b.starts_with(b"SECRET")
            {
                leaked.push(p);
            }
        }
        let _ = rec.read_dir("/sys/d");
        let _ = rec.exists("/sys/d/data");
        for e in rec.recorded().entries.values() {
            if matches!(e, RecordedEntry::File(b) if b.starts_with(b"SECRET")) {
                leaked.push("a recorded file");
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    swapper.join().unwrap();
    assert!(
        leaked.is_empty(),
        "host bytes read {} times, first through {:?}",
        leaked.len(),
        leaked.first()
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// A small recording to write.
fn small_record() -> Recorded {
    let mut rec = Recorded::default();
    rec.entries.insert("/sys".into(), RecordedEntry::Dir);
    rec.entries
        .insert("/sys/x".into(), RecordedEntry::File(Arc::from(&b"1\n"[..])));
    rec
}

/// The names in `d`, sorted.
fn names(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Issue 15: writing a snapshot never touches a file it did not create: not
/// another user's `X.tar.partial` or `X.partial`, not what a link planted at
/// those names (or at the target's) points at; without `Replace` an
/// existing target is kept; a failed rename leaves nothing behind.
#[test]
fn issue15_snapshot_writes_only_its_own_temporary_file() {
    let d = tmp("snapwrite");
    let victim = d.join("victim");
    std::fs::write(&victim, "root only\n").unwrap();
    for n in ["s.tar.partial", "s.partial", "s.tar.gz.partial"] {
        symlink(&victim, d.join(n)).unwrap();
    }
    std::fs::write(d.join("t.tar.partial"), "someone else's\n").unwrap();
    let out = d.join("s.tar.gz");
    let rec = small_record();
    assert_eq!(write_snapshot(&rec, &out, Existing::Keep).unwrap(), 2);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root only\n");
    assert!(Root::open(&out).unwrap().read("/sys/x").is_ok());
    // kept unless asked to replace, even when the file appeared meanwhile
    let e = write_snapshot(&rec, &out, Existing::Keep).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
    // a link at the target is replaced, never written through
    let t = d.join("t.tar.gz");
    symlink(&victim, &t).unwrap();
    write_snapshot(&rec, &t, Existing::Replace).unwrap();
    assert!(
        !std::fs::symlink_metadata(&t)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root only\n");
    assert_eq!(
        std::fs::read_to_string(d.join("t.tar.partial")).unwrap(),
        "someone else's\n"
    );
    // a rename that fails (a folder at the name) leaves no file behind
    std::fs::create_dir(d.join("dir.tar.gz")).unwrap();
    std::fs::write(d.join("dir.tar.gz/inside"), "x").unwrap();
    assert!(write_snapshot(&rec, &d.join("dir.tar.gz"), Existing::Replace).is_err());
    assert_eq!(
        names(&d),
        [
            "dir.tar.gz",
            "s.partial",
            "s.tar.gz",
            "s.tar.gz.partial",
            "s.tar.partial",
            "t.tar.gz",
            "t.tar.partial",
            "victim"
        ]
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// Issue 15: writers racing to one name each own their temporary file: all
/// succeed, the last rename wins, nothing is left behind.
#[test]
fn issue15_concurrent_snapshots_to_one_name() {
    let d = tmp("snaprace");
    let out = d.join("s.tar.gz");
    let rec = small_record();
    for _ in 0..20 {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..3)
                .map(|_| s.spawn(|| write_snapshot(&rec, &out, Existing::Replace)))
                .collect();
            for h in handles {
                assert_eq!(h.join().unwrap().unwrap(), 2);
            }
        });
        assert_eq!(names(&d), ["s.tar.gz"]);
        assert!(Root::open(&out).unwrap().read("/sys/x").is_ok());
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// Issue 15: a copy that holds no machine is refused: an empty directory, a
/// tarball without `sys/` or `proc/`.
#[test]
fn issue15_a_root_without_sys_or_proc_is_refused() {
    let d = tmp("nomachine");
    let empty = d.join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(matches!(Root::open(&empty), Err(RootError::NoMachine(_))));
    std::fs::create_dir_all(empty.join("etc")).unwrap();
    assert!(matches!(Root::open(&empty), Err(RootError::NoMachine(_))));
    std::fs::create_dir_all(empty.join("proc")).unwrap();
    assert!(Root::open(&empty).is_ok());
    let f = d.join("other.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&f).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        b.append_data(&mut h, "top/etc/hostname", &b"x"[..])
            .unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, "top/etc/", std::io::empty()).unwrap();
        b.finish().unwrap();
    }
    assert!(matches!(Root::open(&f), Err(RootError::NoMachine(_))));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn pieces_put_together_are_the_file_on_every_backend() {
    let d = tmp("pieces");
    sample(&d);
    // longer than one piece of the live reader
    let long: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(d.join("sys/long"), &long).unwrap();
    let glue = |root: &Root, path: &str| {
        let mut v = Vec::new();
        let mut pieces = 0;
        root.read_pieces(path, &mut |p| {
            v.extend_from_slice(p);
            pieces += 1;
        })
        .map(|()| (v, pieces))
    };
    let live = Root::live();
    let (v, pieces) = glue(&live, d.join("sys/long").to_str().unwrap()).unwrap();
    assert_eq!(v, long);
    assert!(pieces > 1, "the live file came in {pieces} piece(s)");
    let dir = Root::open(&d).unwrap();
    assert_eq!(glue(&dir, "/sys/long").unwrap().0, long);
    assert_eq!(
        glue(&dir, "/sys/bus/pci/devices/0000:00:01.0/numa_node")
            .unwrap()
            .0,
        b"1\n"
    );
    assert!(glue(&dir, "/sys/dangling").is_err());
    assert!(glue(&live, "/nonexistent/numakit").is_err());
}
