//! `docs/libnuma.md` against the code: every libnuma and hwloc name of the
//! table is the `#[doc(alias)]` of exactly one item, that item is the one
//! the row names, no item carries a libnuma or hwloc alias the table lacks,
//! and every symbol the installed `libnuma.so.1` exports is in the table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `(name, numakit path)` of every table row, in order.
fn table() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(workspace().join("docs/libnuma.md")).unwrap();
    text.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let path = cells.get(2)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((name.to_string(), path.to_string()))
        })
        .collect()
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The name of the item an attribute at line `i` belongs to: the first line
/// after it that is not an attribute or a doc comment (`pub fn NAME`,
/// `pub struct NAME`, `pub NAME: T` for a field).
fn item_name(lines: &[&str], i: usize) -> String {
    let line = lines[i..]
        .iter()
        .map(|l| l.trim())
        .find(|l| !l.starts_with("#[") && !l.starts_with("///") && !l.is_empty())
        .unwrap_or_else(|| panic!("no item after line {}", i + 1));
    let words: Vec<&str> = line
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let skip = [
        "pub", "crate", "const", "fn", "struct", "enum", "type", "trait",
    ];
    words
        .iter()
        .find(|w| !skip.contains(w))
        .unwrap_or_else(|| panic!("no name in {line:?}"))
        .to_string()
}

/// Every `#[doc(alias = "X")]` in the libraries: alias → items (file:line
/// and the item's name).
fn aliases() -> BTreeMap<String, Vec<(String, String)>> {
    let mut files = Vec::new();
    sources(&workspace().join("crates"), &mut files);
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for f in files
        .iter()
        .filter(|f| f.components().any(|c| c.as_os_str() == "src"))
    {
        let text = std::fs::read_to_string(f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let Some(rest) = l.trim().strip_prefix("#[doc(alias = \"") else {
                continue;
            };
            let alias = rest.split('"').next().unwrap().to_string();
            let at = format!("{}:{}", f.display(), i + 1);
            out.entry(alias)
                .or_default()
                .push((at, item_name(&lines, i + 1)));
        }
    }
    out
}

fn is_libnuma_or_hwloc(alias: &str, table: &[(String, String)]) -> bool {
    ["numa_", "hwloc_", "copy_bitmask", "copy_nodemask"]
        .iter()
        .any(|p| alias.starts_with(p))
        || table.iter().any(|(n, _)| n == alias)
}

#[test]
fn every_name_of_the_table_is_the_alias_of_exactly_the_item_it_names() {
    let table = table();
    assert!(table.len() > 100, "the table has {} rows", table.len());
    let aliases = aliases();
    let mut seen = std::collections::BTreeSet::new();
    for (name, path) in &table {
        assert!(seen.insert(name), "{name} is in the table twice");
        let items = aliases
            .get(name)
            .unwrap_or_else(|| panic!("{name}: no item carries #[doc(alias = \"{name}\")]"));
        assert_eq!(
            items.len(),
            1,
            "{name} is the alias of several items: {items:?}"
        );
        let want = path.rsplit("::").next().unwrap();
        assert_eq!(
            items[0].1, want,
            "{name}: the table says {path}, the alias is on {} ({})",
            items[0].1, items[0].0
        );
    }
    for (alias, items) in &aliases {
        if is_libnuma_or_hwloc(alias, &table) {
            assert!(
                table.iter().any(|(n, _)| n == alias),
                "{alias} (on {items:?}) is missing from docs/libnuma.md"
            );
        }
    }
}

/// The dynamic symbols of the installed libnuma, when there is one (CI
/// installs numactl, which brings it).
#[test]
fn every_symbol_libnuma_exports_is_in_the_table() {
    let lib = [
        "/usr/lib/x86_64-linux-gnu/libnuma.so.1",
        "/usr/lib/aarch64-linux-gnu/libnuma.so.1",
        "/usr/lib64/libnuma.so.1",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists());
    let Some(lib) = lib else {
        eprintln!("skipped: no libnuma.so.1 installed (apt-get install numactl)");
        return;
    };
    let out = std::process::Command::new("nm")
        .args(["-D", "--defined-only", lib])
        .output();
    let Ok(out) = out else {
        eprintln!("skipped: no nm (apt-get install binutils)");
        return;
    };
    assert!(out.status.success(), "nm -D {lib} failed");
    let table = table();
    let mut missing = Vec::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(sym) = l.split_whitespace().nth(2) else {
            continue;
        };
        let name = sym.split('@').next().unwrap();
        if name.starts_with("libnuma_") || name.is_empty() {
            continue; // version nodes
        }
        if !table.iter().any(|(n, _)| n == name) && !missing.contains(&name.to_string()) {
            missing.push(name.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "{lib} exports {missing:?}, which docs/libnuma.md lacks"
    );
}
