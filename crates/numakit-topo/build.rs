//! Indexes `data/pci.ids` at build time: two sorted tables of fixed-width
//! records (vendor id → line offset; vendor and device id → line offset), so
//! that a name lookup is a binary search with no start-up cost and no
//! relocations.

use std::io::Write;

fn main() {
    let src = "data/pci.ids";
    println!("cargo::rerun-if-changed={src}");
    let text = std::fs::read_to_string(src).expect("data/pci.ids");
    let mut vendors: Vec<(u16, u32)> = Vec::new();
    let mut devices: Vec<(u32, u32)> = Vec::new();
    let mut off = 0usize;
    let mut vendor: Option<u16> = None;
    for line in text.split_inclusive('\n') {
        let (tab, rest) = match line.strip_prefix('\t') {
            Some(r) => (true, r),
            None => (false, line),
        };
        let b = rest.as_bytes();
        let id = if b.len() >= 7 && b[..4].iter().all(u8::is_ascii_hexdigit) && &b[4..6] == b"  " {
            u16::from_str_radix(&rest[..4], 16).ok()
        } else {
            None
        };
        match (tab, id) {
            (false, Some(v)) => {
                vendor = Some(v);
                vendors.push((v, off as u32));
            }
            (true, Some(d)) if !rest.starts_with('\t') => {
                if let Some(v) = vendor {
                    devices.push(((u32::from(v) << 16) | u32::from(d), (off + 1) as u32));
                }
            }
            (false, None) if !line.starts_with('#') && !line.trim().is_empty() => vendor = None,
            _ => {}
        }
        off += line.len();
    }
    vendors.sort_by_key(|e| e.0);
    vendors.dedup_by_key(|e| e.0);
    devices.sort_by_key(|e| e.0);
    devices.dedup_by_key(|e| e.0);
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let mut v = std::fs::File::create(out.join("pci_vendors.bin")).expect("create");
    for (id, o) in &vendors {
        v.write_all(&id.to_le_bytes())
            .and_then(|_| v.write_all(&o.to_le_bytes()))
            .expect("write");
    }
    let mut d = std::fs::File::create(out.join("pci_devices.bin")).expect("create");
    for (key, o) in &devices {
        d.write_all(&key.to_le_bytes())
            .and_then(|_| d.write_all(&o.to_le_bytes()))
            .expect("write");
    }
}
