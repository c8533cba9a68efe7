//! A small driver written once against the DMA API (`DmaBackend`) and run
//! on two backends: the model of the kernel's DMA API, and a test double
//! written here, outside numakit, through the handle contract
//! (`numakit::dma::handles`). The driver is run as written and with
//! deliberate mistakes; the model reports each, and both backends refuse a
//! buffer made by another.
//!
//! Run: `cargo run -p numakit --example dma_driver`.

mod common;

use std::collections::BTreeMap;

use common::Checks;
use numakit::dma::handles::{BufParts, CoherentParts, HandleMaker, MapParts, SgParts};
use numakit::dma::{
    Coherence, CoherentBuf, Cpu, CpuBuf, Device, DeviceConfig, DeviceId, DeviceInfo, DmaBackend,
    DmaDirection, DmaMask, DmaSegment, Error, Iova, MapError, MapFunc, ModelBackend, Owner,
    PhysAddr, Result, Rule, SgMap, SgTable, StreamingMap,
};

/// A device's side of a transfer: what the tests play.
trait FakeDevice {
    fn device_write(&mut self, dev: DeviceId, at: Iova, data: &[u8]) -> Result<()>;
    fn device_read(&mut self, dev: DeviceId, at: Iova, out: &mut [u8]) -> Result<()>;
}

impl FakeDevice for ModelBackend {
    fn device_write(&mut self, dev: DeviceId, at: Iova, data: &[u8]) -> Result<()> {
        ModelBackend::device_write(self, dev, at, data)
    }
    fn device_read(&mut self, dev: DeviceId, at: Iova, out: &mut [u8]) -> Result<()> {
        ModelBackend::device_read(self, dev, at, out)
    }
}

/// What the driver gets wrong, on purpose.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mistake {
    None,
    /// The receive buffer mapped to-device.
    WrongDirection,
}

/// The driver: sends `frame` (header and payload in one allocation, split),
/// lets the device echo it into a receive buffer, returns what it received.
fn echo<B: DmaBackend + FakeDevice>(
    dma: &mut B,
    dev: DeviceId,
    frame: &[u8],
    mistake: Mistake,
) -> Result<Vec<u8>> {
    let mut tx = dma.alloc(frame.len() + 16)?;
    dma.write(&mut tx, 16, frame)?;
    let (header, payload) = tx.split_at(16);
    let tx_map = dma
        .map_single(dev, payload, DmaDirection::ToDevice)
        .map_err(|e| e.error)?;
    // the header is not needed any more: its half goes, the payload stays
    dma.free(header);
    let rx_dir = match mistake {
        Mistake::None => DmaDirection::FromDevice,
        Mistake::WrongDirection => DmaDirection::ToDevice,
    };
    let rx = dma.alloc(frame.len())?;
    let rx_map = dma.map_single(dev, rx, rx_dir).map_err(|e| e.error)?;
    // the device reads the frame and writes it back
    let mut wire = vec![0; frame.len()];
    dma.device_read(dev, tx_map.dma_addr(), &mut wire)?;
    dma.device_write(dev, rx_map.dma_addr(), &wire)?;
    let payload = dma.unmap(tx_map);
    dma.free(payload);
    let rx = dma.unmap(rx_map);
    let mut got = vec![0; frame.len()];
    dma.read(&rx, 0, &mut got)?;
    dma.free(rx);
    Ok(got)
}

fn main() {
    let mut c = Checks::new("dma_driver");
    on_the_model(&mut c);
    on_the_double(&mut c);
    c.finish()
}

fn model() -> (ModelBackend, DeviceId) {
    let m = ModelBackend::builder()
        .coherence(Coherence::NonCoherent)
        .device(DeviceConfig::new("nic"))
        .build()
        .expect("a valid machine");
    let nic = m.device_id("nic").expect("the nic");
    (m, nic)
}

fn on_the_model(c: &mut Checks) {
    let frame = b"hello, device";
    let (mut m, nic) = model();
    let got = c.ok(echo(&mut m, nic, frame, Mistake::None), "echo");
    c.eq(
        got.as_deref(),
        Some(frame.as_slice()),
        "model: the frame comes back",
    );
    c.eq(
        m.findings().len(),
        0,
        "model: no finding (split halves freed on their own)",
    );
    let (mut m, nic) = model();
    let got = c.ok(echo(&mut m, nic, frame, Mistake::WrongDirection), "echo");
    c.check(
        got.as_deref() != Some(frame.as_slice()),
        "model, wrong direction: the CPU reads stale bytes",
    );
    let rules: Vec<Rule> = m.findings().iter().map(|f| f.rule).collect();
    c.check(
        rules.contains(&Rule::DeviceWriteToDevice),
        format!("model, wrong direction: reported {rules:?}"),
    );
    // a buffer of one model given to another
    let (mut a, _) = model();
    let (mut b, nic_b) = model();
    let Some(buf) = c.ok(a.alloc(64), "alloc") else {
        return;
    };
    let e = b.map_single(nic_b, buf, DmaDirection::ToDevice);
    let refused = matches!(&e, Err(e) if matches!(e.error, Error::ForeignHandle { .. }));
    c.check(refused, "model: another model's buffer is refused");
    if let Err(e) = e {
        println!("  {e}");
        b.free(e.buf);
        let f = b.findings().last().map(|f| f.rule);
        c.eq(
            f,
            Some(Rule::ForeignHandle),
            "model: freeing it there is reported, not done",
        );
    }
}

fn on_the_double(c: &mut Checks) {
    let mut d = Recorder::new();
    let dev = d.add_device("nic");
    let frame = b"hello, double";
    let got = c.ok(echo(&mut d, dev, frame, Mistake::None), "echo");
    c.eq(
        got.as_deref(),
        Some(frame.as_slice()),
        "double: the frame comes back",
    );
    println!("  double saw: {}", d.log.join(", "));
    c.eq(
        d.live.len(),
        0,
        "double: every allocation freed, halves included",
    );
    let (mut m, nic) = model();
    let Some(buf) = c.ok(m.alloc(8), "alloc") else {
        return;
    };
    let e = d.map_single(dev, buf, DmaDirection::ToDevice);
    c.check(e.is_err(), "double: the model's buffer is refused");
    if let Err(e) = e {
        println!("  {e}");
        let back = m.map_single(nic, e.buf, DmaDirection::ToDevice);
        c.check(
            back.is_ok(),
            "the refused buffer still maps on its own model",
        );
        if let Ok(map) = back {
            let buf = m.unmap(map);
            m.free(buf);
        }
    }
}

/// A test double written outside numakit: CPU memory is plain vectors, the
/// "device" reads and writes them directly, and every call is logged.
struct Recorder {
    handles: HandleMaker,
    devices: Vec<String>,
    /// Bytes of each allocation, and how many of them its pieces still hold.
    live: BTreeMap<u64, (Vec<u8>, u64)>,
    /// What each DMA address maps: the piece and its direction.
    mapped: BTreeMap<u64, (BufParts, DmaDirection)>,
    next: u64,
    log: Vec<String>,
}

impl Recorder {
    fn new() -> Recorder {
        Recorder {
            handles: HandleMaker::new(),
            devices: Vec::new(),
            live: BTreeMap::new(),
            mapped: BTreeMap::new(),
            next: 0x1000,
            log: Vec::new(),
        }
    }

    fn add_device(&mut self, name: &str) -> DeviceId {
        self.devices.push(name.to_string());
        self.handles.device(self.devices.len() as u32 - 1)
    }

    fn key(&mut self, len: u64) -> u64 {
        let k = self.next;
        self.next += len.max(1).next_multiple_of(0x1000);
        k
    }

    /// The bytes of a piece, if it lies in a live allocation.
    fn bytes(&mut self, p: BufParts, offset: usize, len: usize) -> Result<&mut [u8]> {
        let size = p.len;
        let (mem, _) = self
            .live
            .get_mut(&p.alloc.raw())
            .ok_or(Error::StaleHandle("CPU buffer"))?;
        let start = p.offset as usize + offset;
        match offset.checked_add(len) {
            Some(end) if end as u64 <= size => Ok(&mut mem[start..start + len]),
            _ => Err(Error::OutOfBounds {
                offset: offset as u64,
                len: len as u64,
                size,
            }),
        }
    }

    /// The piece mapped at `at`, and the offset of `at` in it.
    fn at(&self, at: Iova) -> Result<(BufParts, usize)> {
        let (&base, &(p, _)) = self
            .mapped
            .range(..=at.raw())
            .next_back()
            .ok_or(Error::StaleHandle("DMA address"))?;
        Ok((p, (at.raw() - base) as usize))
    }
}

impl FakeDevice for Recorder {
    fn device_write(&mut self, _dev: DeviceId, at: Iova, data: &[u8]) -> Result<()> {
        let (p, off) = self.at(at)?;
        self.bytes(p, off, data.len())?.copy_from_slice(data);
        Ok(())
    }
    fn device_read(&mut self, _dev: DeviceId, at: Iova, out: &mut [u8]) -> Result<()> {
        let (p, off) = self.at(at)?;
        out.copy_from_slice(self.bytes(p, off, out.len())?);
        Ok(())
    }
}

/// Its buffers are at made-up physical addresses, the same kind as the
/// model's: a buffer of either type-checks on the other, and it is the
/// instance each handle carries that refuses it.
impl DmaBackend for Recorder {
    type CpuAddr = PhysAddr;

    fn device_info(&self, dev: DeviceId) -> Result<DeviceInfo> {
        let name = self
            .devices
            .get(dev.index() as usize)
            .ok_or(Error::NoDevice(dev.index()))?;
        Ok(DeviceInfo {
            name: name.clone(),
            dma_mask: DmaMask::bits(64),
            coherent_mask: DmaMask::bits(64),
        })
    }
    fn set_mask(&mut self, _dev: DeviceId, _mask: DmaMask) -> Result<()> {
        Ok(())
    }
    fn alloc(&mut self, size: usize) -> Result<CpuBuf> {
        let k = self.key(size as u64);
        self.live.insert(k, (vec![0; size], size as u64));
        self.log.push(format!("alloc {size}"));
        Ok(self.handles.cpu_buf(BufParts {
            alloc: PhysAddr::new(k),
            offset: 0,
            len: size as u64,
        }))
    }
    fn free(&mut self, buf: CpuBuf) {
        let Ok(p) = self.handles.buf_parts(&buf) else {
            self.log.push("free refused (foreign)".into());
            return;
        };
        self.log.push(format!("free {}", p.len));
        if let Some((_, held)) = self.live.get_mut(&p.alloc.raw()) {
            *held -= p.len.min(*held);
            if *held == 0 {
                self.live.remove(&p.alloc.raw());
            }
        }
    }
    fn read(&mut self, buf: &CpuBuf, offset: usize, out: &mut [u8]) -> Result<()> {
        let p = self.handles.buf_parts(buf)?;
        out.copy_from_slice(self.bytes(p, offset, out.len())?);
        Ok(())
    }
    fn write(&mut self, buf: &mut CpuBuf, offset: usize, data: &[u8]) -> Result<()> {
        let p = self.handles.buf_parts(buf)?;
        self.bytes(p, offset, data.len())?.copy_from_slice(data);
        Ok(())
    }
    fn alloc_coherent(&mut self, dev: DeviceId, size: usize) -> Result<CoherentBuf> {
        let k = self.key(size as u64);
        self.live.insert(k, (vec![0; size], size as u64));
        let dma = Iova::new(k);
        Ok(self.handles.coherent_buf(CoherentParts {
            dev,
            cpu: PhysAddr::new(k),
            dma,
            len: size as u64,
        }))
    }
    fn free_coherent(&mut self, buf: CoherentBuf) {
        if let Ok(p) = self.handles.coherent_parts(&buf) {
            self.live.remove(&p.cpu.raw());
        }
    }
    fn coherent_read(&mut self, buf: &CoherentBuf, offset: usize, out: &mut [u8]) -> Result<()> {
        let p = self.handles.coherent_parts(buf)?;
        let piece = BufParts {
            alloc: p.cpu,
            offset: 0,
            len: p.len,
        };
        out.copy_from_slice(self.bytes(piece, offset, out.len())?);
        Ok(())
    }
    fn coherent_write(&mut self, buf: &CoherentBuf, offset: usize, data: &[u8]) -> Result<()> {
        let p = self.handles.coherent_parts(buf)?;
        let piece = BufParts {
            alloc: p.cpu,
            offset: 0,
            len: p.len,
        };
        self.bytes(piece, offset, data.len())?.copy_from_slice(data);
        Ok(())
    }
    fn map_single(
        &mut self,
        dev: DeviceId,
        buf: CpuBuf,
        dir: DmaDirection,
    ) -> Result<StreamingMap<Device>, MapError<CpuBuf>> {
        let p = match self.handles.buf_parts(&buf) {
            Ok(p) => p,
            Err(error) => return Err(MapError { error, buf }),
        };
        let dma = self.key(p.len) | 0x8000_0000_0000;
        self.mapped.insert(dma, (p, dir));
        self.log.push(format!("map {} {dir:?}", p.len));
        let parts = MapParts {
            dev,
            dma: Iova::new(dma),
            dir,
            func: MapFunc::Single,
        };
        self.handles
            .streaming_map(parts, buf)
            .map_err(|f| MapError {
                error: f.error("CPU buffer"),
                buf: f.into_handle(),
            })
    }
    fn map_page(
        &mut self,
        dev: DeviceId,
        buf: CpuBuf,
        dir: DmaDirection,
    ) -> Result<StreamingMap<Device>, MapError<CpuBuf>> {
        self.map_single(dev, buf, dir)
    }
    fn unmap<O: Owner>(&mut self, map: StreamingMap<O>) -> CpuBuf {
        if let Ok((mp, _)) = self.handles.map_parts(&map) {
            self.mapped.remove(&mp.dma.raw());
            self.log.push("unmap".into());
        }
        self.handles
            .unmapped(map)
            .unwrap_or_else(|_| self.handles.refused_buf())
    }
    fn sync_for_cpu(&mut self, map: StreamingMap<Device>) -> StreamingMap<Cpu> {
        let (dev, dir) = (map.device(), map.direction());
        self.handles
            .hand_over(map)
            .unwrap_or_else(|_| self.handles.refused_map(dev, dir))
    }
    fn sync_for_device(&mut self, map: StreamingMap<Cpu>) -> StreamingMap<Device> {
        let (dev, dir) = (map.device(), map.direction());
        self.handles
            .hand_over(map)
            .unwrap_or_else(|_| self.handles.refused_map(dev, dir))
    }
    fn read_mapped(
        &mut self,
        map: &StreamingMap<Cpu>,
        offset: usize,
        out: &mut [u8],
    ) -> Result<()> {
        let (_, p) = self.handles.map_parts(map)?;
        out.copy_from_slice(self.bytes(p, offset, out.len())?);
        Ok(())
    }
    fn write_mapped(
        &mut self,
        map: &mut StreamingMap<Cpu>,
        offset: usize,
        data: &[u8],
    ) -> Result<()> {
        let (_, p) = self.handles.map_parts(map)?;
        self.bytes(p, offset, data.len())?.copy_from_slice(data);
        Ok(())
    }
    fn map_sg(
        &mut self,
        dev: DeviceId,
        table: SgTable,
        dir: DmaDirection,
    ) -> Result<SgMap<Device>, MapError<SgTable>> {
        if let Err(error) = self.handles.check_table(&table) {
            return Err(MapError { error, buf: table });
        }
        let mut segs = Vec::new();
        for b in table.entries() {
            let p = self
                .handles
                .buf_parts(b)
                .map_err(|_| Error::StaleHandle("CPU buffer"));
            if let Ok(p) = p {
                let dma = self.key(p.len) | 0x8000_0000_0000;
                self.mapped.insert(dma, (p, dir));
                segs.push(DmaSegment {
                    addr: Iova::new(dma),
                    len: p.len,
                });
            }
        }
        let parts = SgParts { dev, dir, segs };
        self.handles.sg_map(parts, table).map_err(|f| MapError {
            error: f.error("CPU buffer"),
            buf: f.into_handle(),
        })
    }
    fn unmap_sg<O: Owner>(&mut self, map: SgMap<O>) -> SgTable {
        for s in map.segments() {
            self.mapped.remove(&s.addr.raw());
        }
        self.handles.unmapped_sg(map).unwrap_or_default()
    }
    fn sync_sg_for_cpu(&mut self, map: SgMap<Device>) -> SgMap<Cpu> {
        let (dev, dir) = (map.device(), map.direction());
        self.handles
            .hand_over_sg(map)
            .unwrap_or_else(|_| self.handles.refused_sg(dev, dir))
    }
    fn sync_sg_for_device(&mut self, map: SgMap<Cpu>) -> SgMap<Device> {
        let (dev, dir) = (map.device(), map.direction());
        self.handles
            .hand_over_sg(map)
            .unwrap_or_else(|_| self.handles.refused_sg(dev, dir))
    }
    fn read_sg(
        &mut self,
        map: &SgMap<Cpu>,
        index: usize,
        offset: usize,
        out: &mut [u8],
    ) -> Result<()> {
        let (_, entries) = self.handles.sg_parts(map)?;
        let p = *entries.get(index).ok_or(Error::OutOfBounds {
            offset: index as u64,
            len: 1,
            size: entries.len() as u64,
        })?;
        out.copy_from_slice(self.bytes(p, offset, out.len())?);
        Ok(())
    }
}
