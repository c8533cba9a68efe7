//! Every checker rule has a scenario that breaks it, which must be reported
//! with that rule, and a correct twin, which must report nothing. The seed
//! scenarios give the outcomes their comments promise.

use std::path::PathBuf;

use numakit_dma::Rule;
use numakit_dma::scenario::{Report, run_str};

fn scenarios() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/dma")
}

fn run(path: &std::path::Path) -> Report {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    run_str(&text).unwrap_or_else(|e| panic!("{}:{e}", path.display()))
}

fn rules_of(r: &Report) -> Vec<&'static str> {
    r.findings.iter().map(|f| f.rule.id()).collect()
}

/// Rules only a Rust driver on the typed API can break (a scenario runs on
/// one model): their broken and fixed twins are in `tests/api.rs`.
const TYPED_ONLY: &[Rule] = &[Rule::ForeignHandle];

#[test]
fn every_rule_has_a_broken_and_a_fixed_scenario() {
    let dir = scenarios().join("rules");
    for rule in Rule::ALL.iter().filter(|r| !TYPED_ONLY.contains(r)) {
        let broken = dir.join(format!("{}.broken.dma", rule.id()));
        let fixed = dir.join(format!("{}.fixed.dma", rule.id()));
        let b = run(&broken);
        assert!(
            rules_of(&b).contains(&rule.id()),
            "{} must report {}; it reported {:?}",
            broken.display(),
            rule.id(),
            rules_of(&b)
        );
        let f = run(&fixed);
        assert!(
            f.findings.is_empty() && f.faults.is_empty(),
            "{} must report nothing; it reported {:?} and {} fault(s)",
            fixed.display(),
            rules_of(&f),
            f.faults.len()
        );
    }
}

/// Every scenario in `rules/` is `<rule>[.<case>].broken.dma` or `.fixed.dma`;
/// each broken one reports its rule and its fixed twin reports nothing.
#[test]
fn every_case_twin_breaks_its_rule_and_its_fix_is_clean() {
    let dir = scenarios().join("rules");
    let mut cases = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let id = name.split('.').next().unwrap();
        let rule = Rule::from_id(id).unwrap_or_else(|| panic!("{name} names no rule"));
        let Some(stem) = name.strip_suffix(".broken.dma") else {
            let stem = name.strip_suffix(".fixed.dma");
            let stem = stem.unwrap_or_else(|| panic!("{name}: neither .broken.dma nor .fixed.dma"));
            assert!(
                dir.join(format!("{stem}.broken.dma")).exists(),
                "{name} has no broken twin"
            );
            continue;
        };
        cases += 1;
        let b = run(&dir.join(&name));
        assert!(
            rules_of(&b).contains(&rule.id()),
            "{name} must report {id}; it reported {:?}",
            rules_of(&b)
        );
        let fixed = format!("{stem}.fixed.dma");
        let f = run(&dir.join(&fixed));
        assert!(
            f.findings.is_empty() && f.faults.is_empty(),
            "{fixed} must report nothing; it reported {:?} and {} fault(s)",
            rules_of(&f),
            f.faults.len()
        );
    }
    assert!(cases > Rule::ALL.len(), "the case twins are missing");
}

#[test]
fn seed_scenarios_give_their_promised_outcomes() {
    let expect: &[(&str, &[&str])] = &[
        ("coherent-descriptor-ring.dma", &[]),
        ("streaming-to-device.dma", &[]),
        ("streaming-from-device.dma", &[]),
        (
            "wrong-direction-stale.dma",
            &["device-write-todevice", "expect-mismatch"],
        ),
        (
            "cpu-touches-mapped-buffer.dma",
            &["cpu-access-device-owned", "expect-mismatch"],
        ),
        (
            "unmapped-iova-fault.dma",
            &["use-after-unmap", "device-access-unmapped"],
        ),
        (
            "iommu-lazy-flush-queue.dma",
            &["use-after-unmap", "use-after-unmap"],
        ),
        ("scatter-gather-merge.dma", &[]),
        ("bounce-buffering.dma", &[]),
        ("bounce-untrusted.dma", &[]),
        ("dmabuf-camera-gpu-display.dma", &[]),
        ("speculative-fill-map-only.dma", &["expect-mismatch"]),
    ];
    for (file, rules) in expect {
        let r = run(&scenarios().join(file));
        assert_eq!(rules_of(&r), *rules, "{file}");
    }
    let n = std::fs::read_dir(scenarios())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_file())
        .count();
    assert_eq!(
        n,
        expect.len(),
        "a seed scenario without an expected outcome here"
    );
}

#[test]
fn faults_carry_device_address_access_and_reason() {
    let r = run(&scenarios().join("unmapped-iova-fault.dma"));
    assert_eq!(r.faults.len(), 2);
    let f = &r.faults[1];
    assert_eq!(f.device, "nic");
    assert_eq!(f.iova.raw(), 0xdead_0000);
    assert_eq!(f.access, numakit_dma::Access::Write);
    assert_eq!(f.reason, numakit_dma::iommu::FaultReason::NotMapped);
    assert_eq!(r.findings[1].fault.as_ref(), Some(f));
}

#[test]
fn wrong_direction_is_stale_only_on_the_non_coherent_machine() {
    let text = std::fs::read_to_string(scenarios().join("wrong-direction-stale.dma")).unwrap();
    let nc = run_str(&text).unwrap();
    assert_eq!(rules_of(&nc), ["device-write-todevice", "expect-mismatch"]);
    let coherent = run_str(&text.replace("machine noncoherent", "machine coherent")).unwrap();
    assert_eq!(
        rules_of(&coherent),
        ["device-write-todevice"],
        "snooping keeps the data fresh; the API misuse remains"
    );
}

#[test]
fn map_only_maintenance_is_fine_without_speculation() {
    let text = std::fs::read_to_string(scenarios().join("speculative-fill-map-only.dma")).unwrap();
    let off = run_str(&text.replace("speculation=always", "speculation=off")).unwrap();
    assert!(off.findings.is_empty(), "{:?}", rules_of(&off));
    let arm64 = run_str(&text.replace("maintenance=map-only", "maintenance=arm64")).unwrap();
    assert!(arm64.findings.is_empty(), "{:?}", rules_of(&arm64));
}

#[test]
fn same_scenario_same_timeline() {
    for e in std::fs::read_dir(scenarios()).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            let a = serde_json::to_string(&run(&p)).unwrap();
            let b = serde_json::to_string(&run(&p)).unwrap();
            assert_eq!(a, b, "{}", p.display());
        }
    }
}

#[test]
fn findings_serialise_with_rule_ids_and_scenario_lines() {
    let r = run(&scenarios().join("rules/double-unmap.broken.dma"));
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["schema"], "numakit.dma-simulate/1");
    let f = &v["findings"][0];
    assert_eq!(f["rule"], "double-unmap");
    assert_eq!(f["device"], "nic");
    assert!(f["dma_addr"].as_str().unwrap().starts_with("0x"));
    assert!(f["at"]["scenario_line"].as_u64().unwrap() > 0);
}
