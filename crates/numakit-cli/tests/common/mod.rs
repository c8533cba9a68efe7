//! What the CLI tests share: the binary with a clean environment, and the
//! project's fixtures.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `numakit` with no `NUMAKIT_ROOT` from the caller and no colour.
pub fn numakit() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_numakit"));
    c.env_remove("NUMAKIT_ROOT").env("NO_COLOR", "1");
    c
}

/// Runs `numakit ARGS`: exit code (-1 if killed), stdout, stderr.
#[allow(dead_code)] // not every test file runs it this way
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = numakit().args(args).output().expect("run numakit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `tests/fixtures/` of the project.
#[allow(dead_code)]
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}
