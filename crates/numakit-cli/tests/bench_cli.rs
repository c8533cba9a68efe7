//! `numakit bench`: bad input is one error line and exit 2; tiny runs of
//! every benchmark on node 0 of this machine print the methodology,
//! valid `numakit.bench/1` JSON and an SVG; `bench gpu` without a GPU
//! measures nothing and exits 0.

mod common;

use common::run;

/// Exit 2, nothing on stdout, `numakit: ...` and at most a hint.
fn refused(args: &[&str], needle: &str) {
    let (code, out, err) = run(args);
    assert_eq!(code, 2, "{args:?}: {err}");
    assert!(out.is_empty(), "{args:?}: stdout {out}");
    let lines: Vec<&str> = err.lines().collect();
    assert!((1..=2).contains(&lines.len()), "{args:?}: {err:?}");
    assert!(
        lines[0].starts_with("numakit: ") && lines[0].contains(needle),
        "{args:?}: {err:?}"
    );
    if let Some(h) = lines.get(1) {
        assert!(h.starts_with("hint: "), "{err:?}");
    }
}

#[test]
fn bad_input_is_refused_before_measuring() {
    refused(
        &["bench", "latency", "--nodes", "77"],
        "node 77 does not exist",
    );
    refused(
        &["bench", "bandwidth", "--initiators", "63"],
        "node 63 does not exist",
    );
    refused(&["bench", "latency", "--size", "0"], "the buffer size is 0");
    refused(
        &["bench", "bandwidth", "--size", "64T"],
        "do not fit on node 0",
    );
    refused(
        &["bench", "latency", "--threads", "2"],
        "one thread per initiator",
    );
    refused(
        &["bench", "bandwidth", "--threads", "100000"],
        "100000 threads on node 0",
    );
    refused(
        &["bench", "policy", "--repeat", "0"],
        "repeat must be at least 1",
    );
    refused(&["bench", "weights", "--nodes", "x"], "--nodes \"x\"");
    // clap's own usage errors: exit 2 too
    let (code, _, err) = run(&["bench", "latency", "--size", "12 apples"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown unit"), "{err}");
    let (code, _, err) = run(&["bench", "bandwidth", "--kernel", "scale"]);
    assert_eq!(code, 2);
    assert!(err.contains("no kernel \"scale\""), "{err}");
}

#[test]
fn a_snapshot_is_not_measured() {
    let snap = common::fixtures().join("qemu-2node/sysfs.tar.gz");
    for b in ["latency", "bandwidth", "weights", "gpu"] {
        refused(
            &["bench", b, "--root", snap.to_str().unwrap()],
            "cannot measure memory on",
        );
    }
}

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("numakit-bench-cli-{}-{name}", std::process::id()))
}

/// Runs a tiny benchmark as text, JSON and SVG; returns the JSON.
fn tiny(bench: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "bench", bench, "--nodes", "0", "--size", "2M", "--repeat", "1",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{args:?}: {err}");
    let mut lines = out.lines();
    lines.next();
    assert!(lines.next().unwrap().starts_with("method: "), "{out}");
    let svg = tmp(&format!("{bench}.svg"));
    let mut j = args.clone();
    j.extend(["--json", "--svg", svg.to_str().unwrap()]);
    let (code, out, err) = run(&j);
    assert_eq!(code, 0, "{j:?}: {err}");
    let pic = std::fs::read_to_string(&svg).unwrap();
    assert!(
        pic.starts_with("<svg") && pic.trim_end().ends_with("</svg>"),
        "{pic}"
    );
    std::fs::remove_file(&svg).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "numakit.bench/1");
    assert_eq!(v["bench"], bench);
    assert!(v["methodology"]["summary"].as_str().unwrap().len() > 40);
    assert!(v["warnings"].is_array());
    v
}

#[test]
fn latency_and_bandwidth() {
    let v = tiny("latency", &["--loads", "5000"]);
    let c = &v["result"]["matrix"]["cells"][0];
    assert_eq!(c["placement"]["on_target_pct"], 100.0);
    assert!(c["ns"]["median"].as_f64().unwrap() > 0.0);
    let v = tiny("bandwidth", &["--kernel", "read,triad,triad-nt"]);
    let k = v["result"]["kernels"].as_array().unwrap();
    let names: Vec<&str> = k.iter().map(|k| k["kernel"].as_str().unwrap()).collect();
    assert!(
        names == ["read", "triad", "triad-nt"] || names == ["read", "triad"],
        "{names:?}"
    );
    assert_eq!(k[1]["bytes_per_run"], 3 * 2 * 1024 * 1024);
}

#[test]
fn loaded_first_touch_policy_weights() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus >= 2 {
        let v = tiny(
            "loaded-latency",
            &["--loads", "5000", "--delays", "64,0", "--threads", "2"],
        );
        let points = v["result"]["curves"][0]["points"].as_array().unwrap();
        assert_eq!(points.len(), 3);
        assert!(points[0]["delay"].is_null());
    }
    let v = tiny("first-touch", &[]);
    assert!(v["result"]["ratio"].as_f64().unwrap() > 0.0);
    let v = tiny("policy", &[]);
    let rows = v["result"]["rows"].as_array().unwrap();
    assert_eq!(rows[0]["name"], "bind-local");
    assert!(
        v["result"]["recommendation"]
            .as_str()
            .unwrap()
            .contains("bandwidth-bound work")
    );
    let v = tiny("weights", &[]);
    assert_eq!(v["result"]["nodes"][0]["weight"], 1);
}

#[test]
fn gpu_without_a_gpu_measures_nothing() {
    let nvidia = std::fs::read_dir("/sys/bus/pci/devices")
        .map(|d| {
            d.flatten().any(|e| {
                std::fs::read_to_string(e.path().join("vendor")).is_ok_and(|v| v.trim() == "0x10de")
            })
        })
        .unwrap_or(false);
    let (code, out, err) = run(&["bench", "gpu", "--json"]);
    if nvidia {
        // a build without GPU support on a machine with NVIDIA GPUs says so
        assert!(code == 0 || code == 2, "{err}");
        return;
    }
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    // no-gpu in a default build; no-driver with feature cuda and no libcuda
    let status = v["result"]["status"].as_str().unwrap();
    assert!(status == "no-gpu" || status == "no-driver", "{out}");
    assert_eq!(v["result"]["gpus"].as_array().map(Vec::len), Some(0));
    let (code, out, _) = run(&["bench", "gpu"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("no GPU"), "{out}");
    assert!(out.contains("nothing measured"), "{out}");
}

#[test]
fn weights_apply_refuses_a_snapshot_before_measuring() {
    let snap = common::fixtures().join("qemu-2node/sysfs.tar.gz");
    refused(
        &[
            "bench",
            "weights",
            "--apply",
            "--root",
            snap.to_str().unwrap(),
        ],
        "cannot measure memory on",
    );
}
