//! The device-to-device matrix (`nvidia-smi topo -m`, for any vendor).
