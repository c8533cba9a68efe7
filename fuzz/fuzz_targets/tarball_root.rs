//! Fuzz target for snapshot tarballs as roots: whatever the bytes, opening
//! them as a `--root` and reading a machine from them neither panics nor
//! holds more than the bounds of `numakit_root` (a file, what is held in
//! all, a path's length and depth); what opens gives a model that renders
//! as JSON.
//!
//! Under `cargo fuzz` (which sets `--cfg fuzzing`) this is a libFuzzer
//! target. Built plainly (`cargo run --release --bin tarball_root --
//! FILES|DIRS`, or input on stdin) it replays inputs through the same
//! checks, each whole and cut at 32 points, so the corpus runs on a stable
//! toolchain too.
#![cfg_attr(fuzzing, no_main)]

use numakit_root::{MAX_FILE_BYTES, MAX_PATH_BYTES, Root};
use numakit_topo::Machine;

#[cfg(not(fuzzing))]
mod replay;

/// Where each input is written: the name decides nothing but a plain
/// `.tar` (compressed ones are known by their first bytes).
fn scratch() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("numakit-fuzz-{}.tar", std::process::id()))
}

/// Every invariant a root read from a tarball keeps, for one input.
fn check(data: &[u8]) {
    let path = scratch();
    std::fs::write(&path, data).expect("write the input");
    let Ok(root) = Root::open(&path) else {
        return;
    };
    let m = Machine::discover(&root);
    serde_json::to_string(&m).expect("the model renders as JSON");
    // what the model read is within the bounds
    for p in [
        "/sys/devices/system/node/node0/cpulist",
        "/proc/cpuinfo",
        "/proc/meminfo",
    ] {
        if let Ok(b) = root.read(p) {
            assert!(b.len() as u64 <= MAX_FILE_BYTES, "{p}: {} bytes", b.len());
        }
    }
    if let Ok(c) = root.canonicalize("/sys/bus/pci/devices") {
        assert!(c.len() <= 40 * MAX_PATH_BYTES);
    }
}

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));

#[cfg(not(fuzzing))]
fn main() {
    replay::main("tarball_root", check, |d| {
        (1..32).map(|i| d.len() * i / 32).collect()
    });
    let _ = std::fs::remove_file(scratch());
}
