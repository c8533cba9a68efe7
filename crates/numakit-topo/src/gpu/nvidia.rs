//! The NVIDIA driver's per-GPU `information` file under
//! `/proc/driver/nvidia/gpus/ADDR/` (`nv_procfs_read_gpu_info`): one
//! `Key: \t value` line per fact.

use std::collections::BTreeMap;

use numakit_root::Root;
use numakit_types::PciAddress;

const GPUS: &str = "/proc/driver/nvidia/gpus";

/// What one `information` file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Info {
    pub(crate) uuid: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) minor: Option<u32>,
    pub(crate) excluded: Option<bool>,
}

/// Parses an `information` file. A UUID the driver could not read yet
/// (question marks) is unknown.
pub(crate) fn parse(text: &str) -> Info {
    let mut i = Info::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "GPU UUID" if is_uuid(v) => i.uuid = Some(v.to_string()),
            "Model" if !v.is_empty() => i.model = Some(v.to_string()),
            "Device Minor" => i.minor = v.parse().ok(),
            "GPU Excluded" => {
                i.excluded = match v {
                    "Yes" => Some(true),
                    "No" => Some(false),
                    _ => None,
                }
            }
            _ => {}
        }
    }
    i
}

/// `GPU-` and hex digits in dashed groups.
fn is_uuid(v: &str) -> bool {
    v.strip_prefix("GPU-").is_some_and(|h| {
        !h.is_empty()
            && h.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
            && h.bytes().any(|b| b.is_ascii_hexdigit())
    })
}

/// Every GPU the driver lists, by address.
pub(crate) fn read_all(root: &Root) -> BTreeMap<PciAddress, Info> {
    root.read_dir(GPUS)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|name| {
            let addr: PciAddress = name.parse().ok()?;
            let text = root
                .read_to_string(&format!("{GPUS}/{name}/information"))
                .ok()?;
            Some((addr, parse(&text)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drivers_format() {
        let t = "Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   \t\t 10\nGPU UUID: \t GPU-9221d5d1-b60b-a624-bf14-0a1819cfda3b\nVideo BIOS: \t 96.00.99.00.01\nBus Type: \t PCIe\nBus Location: \t 0000:62:00.0\nDevice Minor: \t 5\nGPU Excluded:\t No\n";
        let i = parse(t);
        assert_eq!(
            i.uuid.as_deref(),
            Some("GPU-9221d5d1-b60b-a624-bf14-0a1819cfda3b")
        );
        assert_eq!(i.model.as_deref(), Some("NVIDIA H100 80GB HBM3"));
        assert_eq!(i.minor, Some(5));
        assert_eq!(i.excluded, Some(false));
    }

    #[test]
    fn unknown_values_stay_unknown() {
        let i = parse(
            "GPU UUID: \t GPU-????????-????-????-????-????????????\nDevice Minor: x\nGPU Excluded:\t Maybe\n",
        );
        assert_eq!(i, Info::default());
        assert_eq!(parse("garbage\n\0\n::\n"), Info::default());
        assert_eq!(parse("GPU Excluded:\t Yes\n").excluded, Some(true));
    }
}
