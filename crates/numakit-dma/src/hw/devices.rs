//! The devices of the model machine: their configuration, IOMMU group and
//! whether they are still present.

use crate::addr::DmaMask;
use crate::config::DeviceConfig;
use crate::error::{Error, Result};
use crate::ids::DeviceId;

/// One device as the machine has it.
pub(crate) struct DeviceState {
    /// How it was set up (masks change with `dma_set_mask`).
    pub(crate) cfg: DeviceConfig,
    /// False once removed.
    pub(crate) present: bool,
    /// Its IOMMU group (a group of its own unless configured).
    pub(crate) group: u32,
}

/// The device table.
#[derive(Default)]
pub(crate) struct Devices {
    list: Vec<DeviceState>,
}

impl Devices {
    /// The table of `configs`, in order; names must be unique.
    pub(crate) fn new(configs: Vec<DeviceConfig>) -> Result<Self> {
        let mut list: Vec<DeviceState> = Vec::with_capacity(configs.len());
        for (i, cfg) in configs.into_iter().enumerate() {
            if list.iter().any(|x| x.cfg.name == cfg.name) {
                return Err(Error::InvalidConfig(format!(
                    "two devices are named {}",
                    cfg.name
                )));
            }
            let group = if cfg.iommu_group == u32::MAX {
                1000 + i as u32
            } else {
                cfg.iommu_group
            };
            list.push(DeviceState {
                cfg,
                present: true,
                group,
            });
        }
        Ok(Self { list })
    }

    /// Every device, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &DeviceState> {
        self.list.iter()
    }

    /// The device named `name`.
    pub(crate) fn find(&self, name: &str) -> Option<DeviceId> {
        self.list
            .iter()
            .position(|d| d.cfg.name == name)
            .map(|i| DeviceId(i as u32))
    }

    /// The device, present or not.
    pub(crate) fn get(&self, dev: DeviceId) -> Option<&DeviceState> {
        self.list.get(dev.0 as usize)
    }

    /// The device, which must exist and be present.
    pub(crate) fn present(&self, dev: DeviceId) -> Result<&DeviceState> {
        let d = self.get(dev).ok_or(Error::NoDevice(dev.0))?;
        if !d.present {
            return Err(Error::DeviceGone(d.cfg.name.clone()));
        }
        Ok(d)
    }

    /// The device's name, or `devN` for an unknown index.
    pub(crate) fn name(&self, dev: DeviceId) -> String {
        self.get(dev)
            .map_or_else(|| format!("dev{}", dev.0), |d| d.cfg.name.clone())
    }

    /// Sets one of the device's DMA masks.
    pub(crate) fn set_mask(&mut self, dev: DeviceId, which: MaskKind, mask: DmaMask) -> Result<()> {
        self.present(dev)?;
        let cfg = &mut self.list[dev.0 as usize].cfg;
        match which {
            MaskKind::Streaming => cfg.dma_mask = mask,
            MaskKind::Coherent => cfg.coherent_mask = mask,
        }
        Ok(())
    }

    /// Marks the device removed.
    pub(crate) fn remove(&mut self, dev: DeviceId) {
        if let Some(d) = self.list.get_mut(dev.0 as usize) {
            d.present = false;
        }
    }
}

/// Which DMA mask of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MaskKind {
    /// `dma_set_mask`.
    Streaming,
    /// `dma_set_coherent_mask`.
    Coherent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_names_and_removal() {
        let mut d = Devices::new(vec![
            DeviceConfig::new("nic"),
            DeviceConfig::new("gpu").group(3),
        ])
        .unwrap();
        let nic = d.find("nic").unwrap();
        let gpu = d.find("gpu").unwrap();
        assert_eq!(d.get(nic).unwrap().group, 1000);
        assert_eq!(d.get(gpu).unwrap().group, 3);
        assert_eq!(d.name(DeviceId(9)), "dev9");
        d.remove(nic);
        assert!(matches!(d.present(nic), Err(Error::DeviceGone(n)) if n == "nic"));
        assert!(d.present(gpu).is_ok());
    }

    #[test]
    fn duplicate_names_are_refused_and_masks_set_apart() {
        assert!(Devices::new(vec![DeviceConfig::new("a"), DeviceConfig::new("a")]).is_err());
        let mut d = Devices::new(vec![DeviceConfig::new("a")]).unwrap();
        let a = d.find("a").unwrap();
        d.set_mask(a, MaskKind::Coherent, DmaMask::bits(32))
            .unwrap();
        assert_eq!(d.get(a).unwrap().cfg.coherent_mask, DmaMask::bits(32));
        assert_eq!(d.get(a).unwrap().cfg.dma_mask, DmaMask::bits(64));
    }
}
