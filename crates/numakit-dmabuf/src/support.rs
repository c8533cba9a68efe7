//! What this kernel offers for DMA-BUF, and how to say what is missing.
//!
//! A device node that does not exist is explained with the kernel options
//! behind it, read from the kernel's own configuration
//! (`/proc/config.gz`, or `/boot/config-RELEASE`) when one is readable, and
//! with the module to load when the option is `=m`. Everything is read
//! through a [`Root`].

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

use numakit_root::Root;

/// A DMA-BUF feature a command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// DMA-BUF itself.
    DmaBuf,
    /// `/dev/dma_heap/`: DMA-BUF heaps.
    Heaps,
    /// `/dev/udmabuf`.
    Udmabuf,
    /// Sync files (`DMA_BUF_IOCTL_EXPORT_SYNC_FILE`).
    SyncFile,
    /// A V4L2 capture device (the `vivid` virtual camera).
    Camera,
    /// A DRM device that imports DMA-BUFs (the `vgem` virtual GPU).
    Gpu,
}

impl Feature {
    /// The kernel options it needs.
    pub fn options(self) -> &'static [&'static str] {
        match self {
            Feature::DmaBuf => &["CONFIG_DMA_SHARED_BUFFER"],
            Feature::Heaps => &["CONFIG_DMABUF_HEAPS", "CONFIG_DMABUF_HEAPS_SYSTEM"],
            Feature::Udmabuf => &["CONFIG_UDMABUF"],
            Feature::SyncFile => &["CONFIG_SYNC_FILE"],
            Feature::Camera => &["CONFIG_VIDEO_VIVID"],
            Feature::Gpu => &["CONFIG_DRM_VGEM"],
        }
    }

    /// The module that provides it, when it is usually one.
    pub fn module(self) -> Option<&'static str> {
        match self {
            Feature::Camera => Some("vivid"),
            Feature::Gpu => Some("vgem"),
            _ => None,
        }
    }

    /// What it is, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Feature::DmaBuf => "DMA-BUF support",
            Feature::Heaps => "DMA-BUF heaps",
            Feature::Udmabuf => "udmabuf device",
            Feature::SyncFile => "sync files",
            Feature::Camera => "V4L2 capture device",
            Feature::Gpu => "DRM device that imports DMA-BUFs",
        }
    }
}

/// A kernel option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionValue {
    /// `=y`.
    BuiltIn,
    /// `=m`.
    Module,
    /// `# ... is not set`, or absent from the configuration.
    NotSet,
}

/// The running kernel's configuration, where it could be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelConfig {
    /// The file it came from (`/proc/config.gz`), or `None` when none was
    /// readable.
    pub source: Option<String>,
    options: BTreeMap<String, OptionValue>,
}

impl KernelConfig {
    /// Reads `/proc/config.gz`, else `/boot/config-$(uname -r)`.
    pub fn read(root: &Root) -> KernelConfig {
        if let Ok(gz) = root.read("/proc/config.gz") {
            let mut text = String::new();
            if flate2::read::GzDecoder::new(&gz[..])
                .read_to_string(&mut text)
                .is_ok()
            {
                return KernelConfig::parse("/proc/config.gz", &text);
            }
        }
        if let Some(rel) = root.read_trim("/proc/sys/kernel/osrelease") {
            let path = format!("/boot/config-{rel}");
            if let Ok(text) = root.read_to_string(&path) {
                return KernelConfig::parse(&path, &text);
            }
        }
        KernelConfig::default()
    }

    /// Parses the text of a kernel `.config`.
    pub fn parse(source: &str, text: &str) -> KernelConfig {
        let mut options = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# ")
                && let Some(name) = rest.strip_suffix(" is not set")
            {
                options.insert(name.to_string(), OptionValue::NotSet);
            } else if let Some((name, v)) = line.split_once('=') {
                let v = match v {
                    "y" => OptionValue::BuiltIn,
                    "m" => OptionValue::Module,
                    _ => continue,
                };
                options.insert(name.to_string(), v);
            }
        }
        KernelConfig {
            source: Some(source.to_string()),
            options,
        }
    }

    /// An option's value: `None` when no configuration was readable.
    pub fn get(&self, option: &str) -> Option<OptionValue> {
        self.source.as_ref()?;
        Some(
            self.options
                .get(option)
                .copied()
                .unwrap_or(OptionValue::NotSet),
        )
    }
}

/// Why a feature is missing, as far as the kernel configuration and the
/// loaded modules tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The feature.
    pub feature: Feature,
    /// What was looked for and not found (`/dev/udmabuf`).
    pub looked_for: String,
    /// The options and their values (`None`: the configuration was not
    /// readable).
    pub options: Vec<(&'static str, Option<OptionValue>)>,
    /// Where the configuration came from.
    pub config_source: Option<String>,
    /// Whether the feature's module is loaded (`None`: it has none, or
    /// `/sys/module` was not readable).
    pub module_loaded: Option<bool>,
}

impl Missing {
    /// Explains why `looked_for` is absent.
    pub fn explain(root: &Root, feature: Feature, looked_for: impl Into<String>) -> Missing {
        let config = KernelConfig::read(root);
        let options = feature
            .options()
            .iter()
            .map(|o| (*o, config.get(o)))
            .collect();
        let module_loaded = feature
            .module()
            .filter(|_| root.is_dir("/sys/module"))
            .map(|m| root.is_dir(&format!("/sys/module/{m}")));
        Missing {
            feature,
            looked_for: looked_for.into(),
            options,
            config_source: config.source,
            module_loaded,
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> String {
        let opts = self.feature.options().join(", ");
        let unset = self
            .options
            .iter()
            .any(|(_, v)| *v == Some(OptionValue::NotSet));
        match (self.feature.module(), self.module_loaded) {
            (Some(m), Some(false)) if !unset => format!("load it: modprobe {m}"),
            _ if unset => {
                format!("boot a kernel built with {opts} (Debian's linux-image-6.12-amd64 is)")
            }
            (Some(m), _) => format!("load it (modprobe {m}) or boot a kernel with {opts}"),
            (None, _) => format!("boot a kernel with {opts}"),
        }
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} does not exist: no {} on this system",
            self.looked_for,
            self.feature.describe()
        )?;
        let Some(src) = &self.config_source else {
            let opts = self.feature.options().join(", ");
            return write!(
                f,
                " (needs {opts}; the kernel configuration is not readable)"
            );
        };
        let said: Vec<String> = self
            .options
            .iter()
            .map(|(o, v)| match v {
                Some(OptionValue::BuiltIn) => format!("{o}=y"),
                Some(OptionValue::Module) => format!("{o}=m"),
                _ => format!("{o} is not set"),
            })
            .collect();
        write!(f, " ({} in {src}", said.join(", "))?;
        match (self.feature.module(), self.module_loaded) {
            (Some(m), Some(false)) => write!(f, "; module {m} is not loaded)"),
            _ => write!(f, ")"),
        }
    }
}

/// The heaps under `/dev/dma_heap`, sorted (empty when there are none).
pub fn heap_names(root: &Root) -> Vec<String> {
    let mut v = root.read_dir("/dev/dma_heap").unwrap_or_default();
    v.sort();
    v
}

/// Whether `/dev/udmabuf` exists.
pub fn has_udmabuf(root: &Root) -> bool {
    root.exists("/dev/udmabuf")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
CONFIG_DMA_SHARED_BUFFER=y
# CONFIG_UDMABUF is not set
CONFIG_DMABUF_HEAPS=y
CONFIG_DRM_VGEM=m
CONFIG_LOCALVERSION=\"-x\"
";

    #[test]
    fn parses_values() {
        let c = KernelConfig::parse("/boot/config-x", CONFIG);
        assert_eq!(
            c.get("CONFIG_DMA_SHARED_BUFFER"),
            Some(OptionValue::BuiltIn)
        );
        assert_eq!(c.get("CONFIG_UDMABUF"), Some(OptionValue::NotSet));
        assert_eq!(c.get("CONFIG_DRM_VGEM"), Some(OptionValue::Module));
        assert_eq!(c.get("CONFIG_NOT_THERE"), Some(OptionValue::NotSet));
        assert_eq!(KernelConfig::default().get("CONFIG_UDMABUF"), None);
    }

    #[test]
    fn explains_a_missing_device() {
        let m = Missing {
            feature: Feature::Udmabuf,
            looked_for: "/dev/udmabuf".into(),
            options: vec![("CONFIG_UDMABUF", Some(OptionValue::NotSet))],
            config_source: Some("/proc/config.gz".into()),
            module_loaded: None,
        };
        assert_eq!(
            m.to_string(),
            "/dev/udmabuf does not exist: no udmabuf device on this system (CONFIG_UDMABUF is not set in /proc/config.gz)"
        );
        assert!(m.hint().contains("CONFIG_UDMABUF"));
        let g = Missing {
            feature: Feature::Gpu,
            looked_for: "/dev/dri/card0".into(),
            options: vec![("CONFIG_DRM_VGEM", Some(OptionValue::Module))],
            config_source: Some("/boot/config-6.12".into()),
            module_loaded: Some(false),
        };
        assert!(g.to_string().ends_with("module vgem is not loaded)"), "{g}");
        assert_eq!(g.hint(), "load it: modprobe vgem");
    }
}
