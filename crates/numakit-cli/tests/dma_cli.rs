//! `numakit dma simulate`: every shipped scenario, its exit code and rule ids;
//! bad files exit 2 with FILE:LINE:COLUMN.

use std::path::{Path, PathBuf};
use std::process::Command;

fn numakit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_numakit"))
}

fn scenarios() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/dma")
}

fn simulate_json(path: &Path) -> (i32, serde_json::Value) {
    let out = numakit()
        .args(["dma", "simulate", "--json"])
        .arg(path)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), v)
}

#[test]
fn rule_scenarios_exit_and_name_their_rule() {
    let dir = scenarios().join("rules");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        let rule = name.split('.').next().unwrap();
        let (code, v) = simulate_json(&p);
        assert_eq!(v["schema"], "numakit.dma-simulate/1");
        let rules: Vec<&str> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap())
            .collect();
        if name.contains(".broken.") {
            assert_eq!(code, 1, "{name}");
            assert!(rules.contains(&rule), "{name}: {rules:?}");
        } else {
            assert_eq!(code, 0, "{name}: {rules:?}");
            assert!(rules.is_empty());
        }
        n += 1;
    }
    assert!(n >= 60);
}

#[test]
fn seed_scenarios_exit_codes() {
    let clean = [
        "coherent-descriptor-ring.dma",
        "streaming-to-device.dma",
        "streaming-from-device.dma",
        "scatter-gather-merge.dma",
        "bounce-buffering.dma",
        "bounce-untrusted.dma",
        "dmabuf-camera-gpu-display.dma",
    ];
    for e in std::fs::read_dir(scenarios()).unwrap() {
        let p = e.unwrap().path();
        if !p.is_file() {
            continue;
        }
        let name = p.file_name().unwrap().to_str().unwrap();
        let out = numakit()
            .args(["dma", "simulate"])
            .arg(&p)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.starts_with("machine: "), "{name}: {text}");
        assert!(
            text.contains("\ntimeline:\n") && text.contains("\nfindings: "),
            "{name}"
        );
        let want = if clean.contains(&name) { 0 } else { 1 };
        assert_eq!(out.status.code(), Some(want), "{name}: {text}");
    }
}

#[test]
fn json_timeline_has_sources_and_lines() {
    let (code, v) = simulate_json(&scenarios().join("wrong-direction-stale.dma"));
    assert_eq!(code, 1);
    let events = v["events"].as_array().unwrap();
    let sources: Vec<&str> = events
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    for s in ["cpu", "cache", "dma", "device"] {
        assert!(sources.contains(&s), "{s} missing from {sources:?}");
    }
    assert!(
        events
            .iter()
            .all(|e| e["line"].as_u64().is_some() && e["seq"].as_u64().is_some())
    );
    assert_eq!(v["findings"][0]["rule"], "device-write-todevice");
    assert_eq!(v["findings"][0]["at"]["scenario_line"], 14);
    assert_eq!(v["machine"]["coherence"], "non-coherent");
    assert_eq!(v["summary"]["by_rule"]["expect-mismatch"], 1);
}

#[test]
fn bad_scenario_exits_2_with_file_line_and_column() {
    let dir = std::env::temp_dir().join(format!("numakit-dma-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.dma");
    std::fs::write(&f, "machine coherent\ndevice nic\nmap m nic\n").unwrap();
    let out = numakit()
        .args(["dma", "simulate"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with(&format!("numakit: {}:3:10: too few arguments", f.display())),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    let out = numakit()
        .args(["dma", "simulate"])
        .arg(dir.join("missing.dma"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
