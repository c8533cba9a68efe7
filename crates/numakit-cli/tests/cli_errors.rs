//! Bad roots: one `numakit: ` line (and at most a `hint:` line) on stderr,
//! exit code 2; an empty root is no machine.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::run;

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("numakit-cli-errors-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    let _ = std::fs::remove_file(&p);
    p
}

/// Exit 2, nothing on stdout, one error line plus an optional hint.
fn assert_one_error(args: &[&str], needle: &str) {
    let (code, out, err) = run(args);
    assert_eq!(code, 2, "{args:?}: stderr {err}");
    assert!(out.is_empty(), "{args:?}: stdout {out}");
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        !lines.is_empty() && lines.len() <= 2,
        "{args:?}: want one error line and an optional hint, got {err:?}"
    );
    assert!(lines[0].starts_with("numakit: "), "{args:?}: {err:?}");
    assert!(
        lines[0].contains(needle),
        "{args:?}: {err:?} lacks {needle:?}"
    );
    if let Some(h) = lines.get(1) {
        assert!(h.starts_with("hint: "), "{args:?}: {err:?}");
    }
}

#[test]
fn root_that_does_not_exist() {
    let p = tmp("missing");
    for args in [
        vec!["topo", "--root", p.to_str().unwrap()],
        vec!["topo", "--json", "--root", p.to_str().unwrap()],
        vec!["topo", "--hardware", "--root", p.to_str().unwrap()],
    ] {
        assert_one_error(&args, "does not exist");
    }
    // the environment variable is the same option
    let out = Command::new(env!("CARGO_BIN_EXE_numakit"))
        .args(["topo"])
        .env("NUMAKIT_ROOT", &p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("numakit: "));
}

#[test]
fn regular_file_that_is_not_a_snapshot() {
    let p = tmp("notes.txt");
    std::fs::write(&p, "this is not a tarball\n").unwrap();
    assert_one_error(&["topo", "--root", p.to_str().unwrap()], "notes.txt");
    let empty = tmp("empty.tar.gz");
    std::fs::write(&empty, "").unwrap();
    assert_one_error(&["topo", "--root", empty.to_str().unwrap()], "empty.tar.gz");
    std::fs::remove_file(&p).unwrap();
    std::fs::remove_file(&empty).unwrap();
}

#[test]
fn corrupt_tarballs() {
    // a gzip header followed by garbage
    let gz = tmp("corrupt.tar.gz");
    let mut bytes = vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0x03];
    bytes.extend((0..4000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
    std::fs::write(&gz, &bytes).unwrap();
    assert_one_error(&["topo", "--root", gz.to_str().unwrap()], "corrupt.tar.gz");
    // a real snapshot cut in half
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/qemu-2node/sysfs.tar.gz");
    let whole = std::fs::read(fixture).unwrap();
    let cut = tmp("cut.tar.gz");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    assert_one_error(
        &["topo", "--json", "--root", cut.to_str().unwrap()],
        "cut.tar.gz",
    );
    // a bzip2 magic and nothing else that makes sense
    let bz = tmp("corrupt.tar.bz2");
    std::fs::write(&bz, b"BZh9garbagegarbagegarbage").unwrap();
    assert_one_error(&["topo", "--root", bz.to_str().unwrap()], "corrupt.tar.bz2");
    for p in [gz, cut, bz] {
        std::fs::remove_file(p).unwrap();
    }
}

#[test]
fn control_characters_in_the_root_name_are_escaped() {
    let p = tmp("bad\x1b[31mname");
    let (code, _, err) = run(&["topo", "--root", p.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(!err.contains('\x1b'), "escape byte printed raw: {err:?}");
    assert_eq!(
        err.lines().next().map(|l| l.starts_with("numakit: ")),
        Some(true)
    );
}

#[test]
fn empty_directory_is_no_machine() {
    let d = tmp("emptydir");
    std::fs::create_dir_all(&d).unwrap();
    assert_one_error(
        &["topo", "--json", "--root", d.to_str().unwrap()],
        "holds neither sys/ nor proc/",
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn numactl_mode_refuses_a_root_that_does_not_open() {
    // never a silent fallback to the live system
    let out = Command::new(env!("CARGO_BIN_EXE_numakit"))
        .args(["numactl", "--hardware"])
        .env("NUMAKIT_ROOT", tmp("no-such-root"))
        .output()
        .expect("run numakit");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("numactl: NUMAKIT_ROOT: root ") && err.contains("does not exist"),
        "{err}"
    );
}
