//! The stable-toolchain driver every fuzz target shares: replays inputs
//! (files, folders of files, or stdin) through a target's checks, each
//! input whole and cut at the points `cuts` picks, as a cheap stand-in for
//! mutation.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Runs `check` on every input named in the arguments (or stdin), and on
/// the prefixes of each at `cuts(data)`; prints how many inputs passed.
pub fn main(name: &str, check: fn(&[u8]), cuts: fn(&[u8]) -> Vec<usize>) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut n = 0usize;
    if args.is_empty() {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).expect("read stdin");
        check(&buf);
        n += 1;
    }
    for a in &args {
        for f in inputs(Path::new(a)) {
            let data = std::fs::read(&f).expect("read input");
            check(&data);
            for cut in cuts(&data) {
                check(&data[..cut]);
            }
            n += 1;
        }
    }
    eprintln!("{name}: {n} inputs passed");
}

/// The files a path names: itself, or the files of a folder, sorted.
fn inputs(p: &Path) -> Vec<PathBuf> {
    if !p.is_dir() {
        return vec![p.to_path_buf()];
    }
    let mut v: Vec<_> = std::fs::read_dir(p)
        .expect("read corpus folder")
        .map(|e| e.expect("corpus entry").path())
        .collect();
    v.sort();
    v
}
