//! The proof that DMA, interrupts and the IOMMU work, on any backend: round
//! trips through the device's buffer with each completion mode (every byte
//! compared), then DMA that the IOMMU must block, checked twice: no byte
//! reached memory, and the fault was reported for the right device, address
//! and access.

use std::time::Duration;

use serde::Serialize;

use super::{Completion, Edu, EduId, Toward, Transfer, regs};
use crate::addr::Iova;
use crate::direction::{Access, DmaDirection};
use crate::error::Result;
use crate::ids::DeviceId;
use crate::io::{DeviceIo, FaultLog, IrqMode, ObservedFault};
use crate::typed::{DmaBackend, SgTable};

/// The bytes of each transfer: half the device's buffer, well inside what
/// every QEMU accepts (up to 7.2 a transfer may not end at its last byte).
const N: usize = regs::BUF_SIZE as usize / 2;
const POISON: u8 = 0x5a;

/// What the self-test does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelftestOptions {
    /// A round trip completed by each of these interrupts (a polled round
    /// trip always runs).
    pub interrupts: Vec<IrqMode>,
    /// Whether to show the IOMMU blocking DMA.
    pub faults: bool,
    /// How long to wait for a fault to be reported.
    pub fault_wait: Duration,
}

impl Default for SelftestOptions {
    fn default() -> Self {
        Self {
            interrupts: vec![IrqMode::Msi, IrqMode::Intx],
            faults: true,
            fault_wait: Duration::from_secs(3),
        }
    }
}

/// One step and what it showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What was done (`round-trip-msi`).
    pub name: String,
    /// Whether it showed what it should.
    pub passed: bool,
    /// What happened, in words.
    pub detail: String,
    /// FNV-1a 64 of the bytes that came back, for round trips: the same
    /// driver on any backend gives the same digests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The faults reported during the step.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<ObservedFault>,
    /// The step shows what the IOMMU does without deciding the result:
    /// whether a device may read a from-device (write-only) mapping depends
    /// on the IOMMU driver (Linux's VT-d driver maps every page readable).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub informational: bool,
}

/// Everything the self-test did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SelftestReport {
    /// The device.
    pub device: String,
    /// Its version, when the probe read it.
    pub version: Option<EduId>,
    /// The steps in order.
    pub steps: Vec<Step>,
}

impl SelftestReport {
    /// Whether every step that decides the result passed.
    pub fn passed(&self) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(|s| s.passed || s.informational)
    }
}

/// The bytes of round trip `seed`.
fn pattern(seed: u8) -> Vec<u8> {
    (0..N)
        .map(|i| ((i * 131 + seed as usize * 17) ^ (i >> 8)) as u8 ^ seed)
        .collect()
}

/// FNV-1a, 64 bits.
fn fnv(data: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn failed(name: &str, e: impl std::fmt::Display) -> Step {
    Step {
        name: name.into(),
        passed: false,
        detail: format!("failed: {e}"),
        digest: None,
        faults: Vec::new(),
        informational: false,
    }
}

/// Runs the self-test on device `dev` of `dma`, with its registers and
/// interrupts `io` and its faults reported to `log`.
///
/// # Example
/// ```
/// use numakit_dma::ModelFaults;
/// use numakit_dma::edu::{SelftestOptions, model_backend, selftest};
/// let (mut m, edu) = model_backend("edu").unwrap();
/// let dev = edu.device();
/// let r = selftest(&mut m, dev, edu, &mut ModelFaults::default(), &SelftestOptions::default());
/// assert!(r.passed(), "{r:?}");
/// ```
pub fn selftest<B, D, F>(
    dma: &mut B,
    dev: DeviceId,
    io: D,
    log: &mut F,
    opts: &SelftestOptions,
) -> SelftestReport
where
    B: DmaBackend,
    D: DeviceIo<B>,
    F: FaultLog<B>,
{
    let device = dma.device_info(dev).map(|i| i.name).unwrap_or_default();
    let mut r = SelftestReport {
        device: device.clone(),
        version: None,
        steps: Vec::new(),
    };
    let mut edu = match Edu::probe(dma, dev, io) {
        Ok((edu, id)) => {
            r.version = Some(id);
            r.steps.push(Step {
                name: "probe".into(),
                passed: true,
                detail: format!(
                    "edu {}.{}: identification and liveness registers answer; 28-bit DMA mask set",
                    id.major, id.minor
                ),
                digest: None,
                faults: Vec::new(),
                informational: false,
            });
            edu
        }
        Err(e) => {
            r.steps.push(failed("probe", e));
            return r;
        }
    };
    for (i, mode) in opts.interrupts.iter().enumerate() {
        let name = format!("round-trip-{}", mode.to_string().to_lowercase());
        let step = match edu.use_interrupts::<B>(Some(*mode)) {
            Ok(()) => {
                let how = format!("completion by {mode} interrupt");
                round_trip(
                    &mut edu,
                    dma,
                    &name,
                    1 + i as u8,
                    Completion::Interrupt,
                    &how,
                )
            }
            Err(e) => failed(&name, e),
        };
        r.steps.push(step);
    }
    let _ = edu.use_interrupts::<B>(None);
    r.steps.push(round_trip(
        &mut edu,
        dma,
        "round-trip-polled",
        0x40,
        Completion::Poll,
        "completion polled",
    ));
    let t = coherent_trip(&mut edu, dma, 0x50);
    r.steps.push(trip_step("round-trip-coherent", 0x50, t));
    let t = sg_trip(&mut edu, dma, 0x60);
    r.steps.push(trip_step("round-trip-scatterlist", 0x60, t));
    if opts.faults {
        for kind in [Blocked::Unmapped, Blocked::ReadOnly, Blocked::WriteOnly] {
            r.steps
                .push(blocked(&mut edu, dma, log, kind, opts.fault_wait));
        }
    }
    r
}

fn round_trip<B: DmaBackend, D: DeviceIo<B>>(
    edu: &mut Edu<D>,
    dma: &mut B,
    name: &str,
    seed: u8,
    completion: Completion,
    how: &str,
) -> Step {
    let t = try_round_trip(edu, dma, seed, completion).map(|got| Trip {
        got,
        what: format!("{N} bytes to the device and back, {how}"),
    });
    trip_step(name, seed, t)
}

/// The bytes a round trip brought back, and what it did.
struct Trip {
    got: Vec<u8>,
    what: String,
}

/// A round trip's step: every byte compared with the pattern of `seed`.
fn trip_step(name: &str, seed: u8, t: Result<Trip>) -> Step {
    let t = match t {
        Ok(t) => t,
        Err(e) => return failed(name, e),
    };
    let want = pattern(seed);
    let bad: Vec<usize> = (0..N).filter(|&i| t.got.get(i) != want.get(i)).collect();
    let detail = match bad.first() {
        None => format!("{}: every byte matches", t.what),
        Some(&i) => format!(
            "{}: {} of {N} bytes differ, the first at offset {i} (sent {:#04x}, got {:#04x})",
            t.what,
            bad.len(),
            want[i],
            t.got.get(i).copied().unwrap_or(0)
        ),
    };
    Step {
        name: name.into(),
        passed: bad.is_empty(),
        detail,
        digest: Some(fnv(&t.got)),
        faults: Vec::new(),
        informational: false,
    }
}

/// Memory → device buffer → coherent memory (mapped both ways for its
/// whole life, read by the CPU without a sync).
fn coherent_trip<B: DmaBackend, D: DeviceIo<B>>(
    edu: &mut Edu<D>,
    dma: &mut B,
    seed: u8,
) -> Result<Trip> {
    let dev = edu.device();
    let mut src = dma.alloc(N)?;
    dma.write(&mut src, 0, &pattern(seed))?;
    let dst = dma.alloc_coherent(dev, N)?;
    dma.coherent_write(&dst, 0, &[POISON; N])?;
    let s = dma
        .map_single(dev, src, DmaDirection::ToDevice)
        .map_err(|e| e.error)?;
    edu.load(dma, &s, 0, Completion::Poll)?;
    let t = Transfer {
        toward: Toward::Memory,
        iova: dst.dma_addr(),
        at: 0,
        len: N as u32,
    };
    edu.transfer(dma, t, Completion::Poll)?;
    let mut got = vec![0u8; N];
    dma.coherent_read(&dst, 0, &mut got)?;
    let src = dma.unmap(s);
    dma.free(src);
    dma.free_coherent(dst);
    Ok(Trip {
        got,
        what: format!("{N} bytes to the device and back into coherent memory, completion polled"),
    })
}

/// Two buffers mapped as one scatterlist, gathered segment by segment into
/// the device's buffer, then back into one buffer.
fn sg_trip<B: DmaBackend, D: DeviceIo<B>>(edu: &mut Edu<D>, dma: &mut B, seed: u8) -> Result<Trip> {
    let dev = edu.device();
    let data = pattern(seed);
    let (lo, hi) = data.split_at(N / 2);
    let mut b0 = dma.alloc(N / 2)?;
    dma.write(&mut b0, 0, lo)?;
    let mut b1 = dma.alloc(N / 2)?;
    dma.write(&mut b1, 0, hi)?;
    let sg = dma
        .map_sg(dev, SgTable::new(vec![b0, b1]), DmaDirection::ToDevice)
        .map_err(|e| e.error)?;
    let mut at = 0u32;
    for seg in sg.segments() {
        let t = Transfer {
            toward: Toward::Device,
            iova: seg.addr,
            at,
            len: seg.len as u32,
        };
        edu.transfer(dma, t, Completion::Poll)?;
        at += seg.len as u32;
    }
    let segments = sg.segments().len();
    let mut dst = dma.alloc(N)?;
    dma.write(&mut dst, 0, &[POISON; N])?;
    let d = dma
        .map_single(dev, dst, DmaDirection::FromDevice)
        .map_err(|e| e.error)?;
    edu.store(dma, &d, 0, Completion::Poll)?;
    for b in dma.unmap_sg(sg).into_entries() {
        dma.free(b);
    }
    let dst = dma.unmap(d);
    let mut got = vec![0u8; N];
    dma.read(&dst, 0, &mut got)?;
    dma.free(dst);
    Ok(Trip {
        got,
        what: format!(
            "{N} bytes gathered from a 2-entry scatterlist ({segments} DMA segment(s)) and back, completion polled"
        ),
    })
}

/// Memory → device buffer → a second buffer; the bytes that arrived.
fn try_round_trip<B: DmaBackend, D: DeviceIo<B>>(
    edu: &mut Edu<D>,
    dma: &mut B,
    seed: u8,
    how: Completion,
) -> Result<Vec<u8>> {
    let dev = edu.device();
    let mut src = dma.alloc(N)?;
    dma.write(&mut src, 0, &pattern(seed))?;
    let mut dst = dma.alloc(N)?;
    dma.write(&mut dst, 0, &[POISON; N])?;
    let s = dma
        .map_single(dev, src, DmaDirection::ToDevice)
        .map_err(|e| e.error)?;
    let d = dma
        .map_single(dev, dst, DmaDirection::FromDevice)
        .map_err(|e| e.error)?;
    edu.load(dma, &s, 0, how)?;
    edu.store(dma, &d, 0, how)?;
    let src = dma.unmap(s);
    let dst = dma.unmap(d);
    let mut got = vec![0u8; N];
    dma.read(&dst, 0, &mut got)?;
    dma.free(src);
    dma.free(dst);
    Ok(got)
}

/// A DMA the IOMMU must block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blocked {
    /// The device writes an IOVA that was unmapped.
    Unmapped,
    /// The device writes a to-device (read-only) mapping.
    ReadOnly,
    /// The device reads a from-device (write-only) mapping.
    WriteOnly,
}

impl Blocked {
    fn name(self) -> &'static str {
        match self {
            Blocked::Unmapped => "blocked-write-unmapped",
            Blocked::ReadOnly => "blocked-write-to-device-mapping",
            Blocked::WriteOnly => "blocked-read-from-device-mapping",
        }
    }
    fn access(self) -> Access {
        match self {
            Blocked::WriteOnly => Access::Read,
            _ => Access::Write,
        }
    }
    fn what(self, iova: Iova) -> String {
        match self {
            Blocked::Unmapped => format!("the device wrote to IOVA {iova}, which was unmapped"),
            Blocked::ReadOnly => format!(
                "the device wrote into a to-device (device-read-only) mapping at IOVA {iova}"
            ),
            Blocked::WriteOnly => {
                format!("the device read a from-device (device-write-only) mapping at IOVA {iova}")
            }
        }
    }
}

fn blocked<B: DmaBackend, D: DeviceIo<B>, F: FaultLog<B>>(
    edu: &mut Edu<D>,
    dma: &mut B,
    log: &mut F,
    kind: Blocked,
    wait: Duration,
) -> Step {
    match try_blocked(edu, dma, log, kind, wait) {
        Ok((iova, intact, faults)) => {
            let hit = faults.iter().any(|f| {
                f.access == kind.access()
                    && f.iova.raw() >= iova.align_down(4096).raw()
                    && f.iova.raw() < iova.raw() + N as u64
            });
            let data = match intact {
                Some(true) => ", no byte reached memory",
                Some(false) => ", but memory was changed",
                None => "",
            };
            let informational = kind == Blocked::WriteOnly;
            let seen = match (hit, informational) {
                (true, _) => format!("the IOMMU reported a {} fault in the range", kind.access()),
                (false, true) => "not blocked: the IOMMU let the read through (an IOMMU driver that maps every page readable, as Linux's VT-d driver does, cannot enforce write-only)".to_string(),
                (false, false) => format!("no {} fault in the range was reported", kind.access()),
            };
            Step {
                name: kind.name().into(),
                passed: hit && intact != Some(false),
                detail: format!("{}: {seen}{data}", kind.what(iova)),
                digest: None,
                faults,
                informational,
            }
        }
        Err(e) => failed(kind.name(), e),
    }
}

/// Sets the case up, lets the device try, and reads what happened: the
/// IOVA, whether the memory kept its bytes (for writes), and the faults.
fn try_blocked<B: DmaBackend, D: DeviceIo<B>, F: FaultLog<B>>(
    edu: &mut Edu<D>,
    dma: &mut B,
    log: &mut F,
    kind: Blocked,
    wait: Duration,
) -> Result<(Iova, Option<bool>, Vec<ObservedFault>)> {
    let dev = edu.device();
    let name = dma.device_info(dev)?.name;
    let mut buf = dma.alloc(N)?;
    let before = pattern(0x77);
    dma.write(&mut buf, 0, &before)?;
    let dir = match kind {
        Blocked::ReadOnly => DmaDirection::ToDevice,
        _ => DmaDirection::FromDevice,
    };
    let map = dma.map_single(dev, buf, dir).map_err(|e| e.error)?;
    let iova = map.dma_addr();
    let toward = match kind.access() {
        Access::Write => Toward::Memory,
        Access::Read => Toward::Device,
    };
    let t = Transfer {
        toward,
        iova,
        at: 0,
        len: N as u32,
    };
    let buf = if kind == Blocked::Unmapped {
        let buf = dma.unmap(map);
        log.mark(dma)?;
        edu.transfer(dma, t, Completion::Poll)?;
        buf
    } else {
        log.mark(dma)?;
        edu.transfer(dma, t, Completion::Poll)?;
        dma.unmap(map)
    };
    let faults = log.since_mark(dma, &name, wait)?;
    let mut after = vec![0u8; N];
    dma.read(&buf, 0, &mut after)?;
    dma.free(buf);
    let intact = (kind.access() == Access::Write).then(|| after == before);
    Ok((iova, intact, faults))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_differ_and_digests_are_stable() {
        assert_ne!(pattern(1), pattern(2));
        assert_eq!(pattern(1).len(), N);
        assert_eq!(fnv(b""), "cbf29ce484222325");
        assert_eq!(fnv(b"a"), "af63dc4c8601ec8c");
    }
}
