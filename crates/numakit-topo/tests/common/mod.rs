//! Shared helpers for the fixture tests: where the fixtures are, which hwloc
//! test cases exist, and a parser for hwloc's expected outputs.
#![allow(dead_code)]

pub mod hwloc;

use std::path::{Path, PathBuf};

/// `tests/fixtures` at the top of the repository.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// Every `*.tar.bz2` of the hwloc suites and every `qemu-*/sysfs.tar.gz`.
pub fn all_tarballs() -> Vec<PathBuf> {
    let f = fixtures();
    let mut v = Vec::new();
    for dir in [f.join("hwloc-linux"), f.join("hwloc-linux/v2.x")] {
        for e in std::fs::read_dir(&dir).expect("fixture folder") {
            let p = e.expect("fixture entry").path();
            if p.to_string_lossy().ends_with(".tar.bz2") {
                v.push(p);
            }
        }
    }
    for e in std::fs::read_dir(&f).expect("fixtures") {
        let p = e.expect("fixture entry").path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("qemu-") && p.join("sysfs.tar.gz").is_file() {
            v.push(p.join("sysfs.tar.gz"));
        }
    }
    v.sort();
    v
}

/// One hwloc test case: a tarball, an expected output, options and env.
#[derive(Debug, Clone)]
pub struct Case {
    /// `3.0/NAME` or `2.x/NAME`.
    pub name: String,
    /// The sysfs tarball.
    pub source: PathBuf,
    /// The expected lstopo output.
    pub target: PathBuf,
    /// lstopo options (`-v -` when not given).
    pub options: String,
    /// Shell lines sourced before the run.
    pub env: String,
}

/// Every case of the 3.0 suite (`NAME.test`) and the 2.x suite (`NAME.output`).
pub fn cases() -> Vec<Case> {
    let base = fixtures().join("hwloc-linux");
    let mut v = Vec::new();
    for e in std::fs::read_dir(&base).expect("hwloc fixtures") {
        let p = e.expect("entry").path();
        let Some(stem) = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".test"))
        else {
            continue;
        };
        let text = std::fs::read_to_string(&p).expect("test file");
        let mut source = None;
        let mut target = None;
        let mut options = String::from("-v -");
        let mut env = String::new();
        for line in text.lines() {
            let Some((k, val)) = line.split_once(':') else {
                continue;
            };
            let val = val.trim();
            match k.trim() {
                "source" => source = Some(base.join(val)),
                "target" => target = Some(base.join(val)),
                "options" => options = val.to_string(),
                "env" => {
                    env.push_str(val);
                    env.push('\n');
                }
                _ => {}
            }
        }
        // allowed/test1 uses a synthetic topology, not a tarball: see its own test.
        let (Some(source), Some(target)) = (source, target) else {
            continue;
        };
        v.push(Case {
            name: format!("3.0/{stem}"),
            source,
            target,
            options,
            env,
        });
    }
    let v2 = base.join("v2.x");
    for e in std::fs::read_dir(&v2).expect("v2.x fixtures") {
        let p = e.expect("entry").path();
        let Some(stem) = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".output"))
        else {
            continue;
        };
        let side = |ext: &str| std::fs::read_to_string(v2.join(format!("{stem}.{ext}"))).ok();
        let source = match side("source") {
            Some(s) => v2.join(s.trim()),
            None => v2.join(format!("{stem}.tar.bz2")),
        };
        v.push(Case {
            name: format!("2.x/{stem}"),
            source,
            target: p.clone(),
            options: side("options")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|| "-v -".into()),
            env: side("env").unwrap_or_default(),
        });
    }
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}
