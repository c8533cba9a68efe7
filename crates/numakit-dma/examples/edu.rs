//! A user-space driver for QEMU's `edu` device on the typed DMA API: one
//! buffer to the device and back through its DMA engine, completed by an
//! MSI interrupt, every byte compared.
//!
//! ```text
//! cargo run -p numakit-dma --example edu                  # on the DMA model
//! cargo run -p numakit-dma --example edu -- 0000:42:00.0  # the real device, as root,
//!                                                         # bound to vfio-pci first:
//!                                                         # numakit vfio bind 0000:42:00.0 --apply
//! ```
//!
//! The driver (`copy_through`) is written once against `DmaBackend` and
//! `DeviceIo`; `main` only picks the backend. On the real device it then
//! shows the handle contract VFIO keeps (`handle_contract`): a buffer of
//! another backend instance is refused, and the halves of a split buffer
//! are freed one by one, the memory with the last.

use std::process::ExitCode;

use numakit_dma::edu::{Completion, Edu, model_backend, regs};
use numakit_dma::vfio::{ReservedIova, VfioBackend, VfioDeviceSpec};
use numakit_dma::{DeviceId, DeviceIo, DmaBackend, DmaDirection, Error, IrqMode, Result};
use numakit_root::Root;
use numakit_topo::Machine;

/// Sends `data` to the device's buffer and back into a second buffer.
fn copy_through<B: DmaBackend, D: DeviceIo<B>>(
    dma: &mut B,
    dev: DeviceId,
    io: D,
    data: &[u8],
) -> Result<Vec<u8>> {
    let (mut edu, id) = Edu::probe(dma, dev, io)?;
    println!("edu {}.{} answers", id.major, id.minor);
    edu.use_interrupts::<B>(Some(IrqMode::Msi))?;
    let mut src = dma.alloc(data.len())?;
    dma.write(&mut src, 0, data)?;
    let dst = dma.alloc(data.len())?;
    let to = dma
        .map_single(dev, src, DmaDirection::ToDevice)
        .map_err(|e| e.error)?;
    let from = dma
        .map_single(dev, dst, DmaDirection::FromDevice)
        .map_err(|e| e.error)?;
    println!(
        "mapped: to-device at IOVA {}, from-device at IOVA {}",
        to.dma_addr(),
        from.dma_addr()
    );
    edu.load(dma, &to, 0, Completion::Interrupt)?;
    edu.store(dma, &from, 0, Completion::Interrupt)?;
    // The device owned both buffers until now: only here can the CPU read.
    let src = dma.unmap(to);
    let dst = dma.unmap(from);
    let mut back = vec![0u8; data.len()];
    dma.read(&dst, 0, &mut back)?;
    dma.free(src);
    dma.free(dst);
    Ok(back)
}

/// What the VFIO backend does with handles it did not make and with the
/// halves of a split buffer; one `handles:` line per fact, an error for a
/// fact that does not hold.
fn handle_contract(dma: &mut VfioBackend, dev: DeviceId) -> Result<()> {
    let broken = |what: &str| Error::Device {
        device: "handle contract".into(),
        what: what.into(),
    };
    // a second backend (a container of its own, no device): its buffer is
    // the same type, and refused by instance
    let mut other = VfioBackend::open()?;
    let theirs = other.alloc(64)?;
    let refused = match dma.map_single(dev, theirs, DmaDirection::ToDevice) {
        Ok(_) => return Err(broken("another backend's buffer was mapped")),
        Err(e) => e,
    };
    println!("handles: another backend's buffer is refused: {refused}");
    other.free(refused.buf);
    if !other.take_errors().is_empty() {
        return Err(broken("the buffer did not go back to its own backend"));
    }
    // halves of one allocation: the memory stays while one half lives
    let mut buf = dma.alloc(8192)?;
    let at = buf.virt();
    dma.write(&mut buf, 4196, b"tail")?;
    let (head, tail) = buf.split_at(4196);
    dma.free(head);
    let probe = dma.alloc(8192)?;
    if probe.virt() == at {
        return Err(broken("freeing one half gave the whole allocation back"));
    }
    let map = dma
        .map_single(dev, tail, DmaDirection::ToDevice)
        .map_err(|e| e.error)?;
    let tail = dma.unmap(map);
    let mut got = [0u8; 4];
    dma.read(&tail, 0, &mut got)?;
    if &got != b"tail" {
        return Err(broken("the second half lost its bytes"));
    }
    println!("handles: one half freed, the other still maps and reads");
    dma.free(tail);
    dma.free(probe);
    // the arena gives the lowest free run that fits, and none below `at`
    // did when `buf` was taken: only its memory back makes one there
    let again = dma.alloc(8192)?;
    if again.virt() > at {
        return Err(broken("the allocation did not go back with its last half"));
    }
    dma.free(again);
    println!("handles: the allocation went back with its last half");
    match dma.take_errors().as_slice() {
        [] => Ok(()),
        e => Err(broken(&format!("calls reported errors: {e:?}"))),
    }
}

fn real(address: &str, data: &[u8]) -> Result<Vec<u8>> {
    let root = Root::live();
    let m = Machine::discover(&root);
    let d = address
        .parse()
        .ok()
        .and_then(|a| m.pci_device(a))
        .ok_or_else(|| numakit_dma::Error::Device {
            device: address.into(),
            what: "no such PCI device".into(),
        })?;
    let group = d.iommu_group.ok_or_else(|| numakit_dma::Error::Device {
        device: address.into(),
        what: "in no IOMMU group (is the IOMMU on?)".into(),
    })?;
    let reserved = m
        .iommu
        .groups
        .iter()
        .filter(|g| g.id == group)
        .flat_map(|g| g.reserved_regions.iter())
        .map(|r| ReservedIova {
            start: r.start,
            end: r.end,
        })
        .collect();
    let spec = VfioDeviceSpec {
        address: d.address.to_string(),
        group,
        node: d.numa_node.map(|n| n.0),
        reserved,
    };
    let mut dma = VfioBackend::open()?;
    let dev = dma.add_device(&spec)?;
    dev.enable_bus_master()?;
    let id = dev.id();
    let back = copy_through(&mut dma, id, dev, data)?;
    handle_contract(&mut dma, id)?;
    for p in dma.placements() {
        match p.node {
            Some(n) => println!(
                "DMA memory: {} of {} pages on node {n}, the device's ({})",
                p.pages_on_node(),
                p.pages(),
                p.kind
            ),
            None => println!(
                "DMA memory: {} pages, the device has no node ({})",
                p.pages(),
                p.kind
            ),
        }
    }
    Ok(back)
}

fn main() -> ExitCode {
    // As much as one transfer can carry: the device's buffer less the last
    // byte, which QEMU up to 7.2 refuses to reach.
    let data: Vec<u8> = (0..regs::BUF_USABLE).map(|i| (i * 7 + 3) as u8).collect();
    let r = match std::env::args().nth(1) {
        Some(address) => real(&address, &data),
        None => model_backend("edu").and_then(|(mut m, io)| {
            let dev = io.device();
            copy_through(&mut m, dev, io, &data)
        }),
    };
    match r {
        Ok(back) if back == data => {
            println!(
                "{} bytes through the device: every byte matches",
                data.len()
            );
            ExitCode::SUCCESS
        }
        Ok(_) => {
            eprintln!("edu: the bytes that came back differ");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("edu: {e}");
            ExitCode::from(2)
        }
    }
}
