//! The zero-copy stages, and what the copying ones share with them.

use std::os::unix::net::UnixListener;

use numakit_placement::Placer;
use numakit_root::Root;
use numakit_sys::dmabuf::{AccessMode, CpuAccess};
use numakit_sys::fd::{cpu_time_self, monotonic_ns};
use numakit_sys::mm::Protection;
use numakit_types::NodeId;

use super::trace::{Recorder, Step};
use super::{BufferView, Config, FrameSource, Stage, StageReport};
use crate::alloc::{OnNode, Source, allocate, with_policy};
use crate::buffer::{DmaBuf, FenceAccess, MappedDmaBuf};
use crate::camera::{Camera, webcam_size_for};
use crate::checksum::{Checksum, pattern_word};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Import};
use crate::pages::{NodeMap, frames};
use crate::pass::{Channel, FrameFormat, Kind, Message};

/// CPU time and clock over the measured frames.
pub(super) struct Meter {
    from: u64,
    cpu0: Option<u64>,
    pub(super) clock: u64,
}

fn cpu_ns() -> u64 {
    cpu_time_self().map_or(0, |(u, s)| (u + s).as_nanos() as u64)
}

impl Meter {
    pub(super) fn new(cfg: &Config) -> Meter {
        Meter {
            from: cfg.warmup(),
            cpu0: None,
            clock: 0,
        }
    }
    /// Called as frame `seq` starts: the measured part starts at the
    /// warm-up's end.
    pub(super) fn start(&mut self, seq: u64) {
        if seq == self.from && self.cpu0.is_none() {
            self.cpu0 = Some(cpu_ns());
            self.clock = monotonic_ns();
        }
    }
    /// CPU nanoseconds since the measured part started.
    pub(super) fn cpu(&self) -> u64 {
        self.cpu0.map_or(0, |c| cpu_ns().saturating_sub(c))
    }
}

pub(super) fn socket(cfg: &Config, name: &str) -> std::path::PathBuf {
    cfg.dir.join(format!("{name}.sock"))
}

pub(super) fn bind(cfg: &Config, name: &str) -> Result<UnixListener> {
    let p = socket(cfg, name);
    let _ = std::fs::remove_file(&p);
    UnixListener::bind(&p).map_err(|e| Error::io(format!("listening on {}", p.display()), e))
}

pub(super) fn connect(cfg: &Config, name: &str, peer: &str) -> Result<Channel> {
    let c = Channel::connect(&socket(cfg, name), peer, cfg.timeout())?;
    c.set_timeout(Some(cfg.timeout()))?;
    Ok(c)
}

pub(super) fn accept(cfg: &Config, l: &UnixListener, peer: &str) -> Result<Channel> {
    let c = Channel::accept(l, peer, cfg.timeout())?;
    c.set_timeout(Some(cfg.timeout()))?;
    Ok(c)
}

/// The checksum of the first `bytes` bytes of a mapped buffer, read with
/// volatile loads inside the access.
pub(super) fn checksum_mapped<A: AccessMode>(r: &CpuAccess<'_, A>, bytes: usize) -> Result<u64> {
    let oob = |_| Error::Invalid(format!("a {bytes}-byte frame does not fit its buffer"));
    let words = bytes / 8;
    let mut c = r
        .fold_words(0, words, Checksum::default(), Checksum::word)
        .map_err(oob)?;
    if !bytes.is_multiple_of(8) {
        let mut tail = [0u8; 8];
        r.read(words * 8, &mut tail[..bytes % 8]).map_err(oob)?;
        c = c.word(u64::from_le_bytes(tail));
    }
    Ok(c.value())
}

/// The placer, when the buffers go on a node.
pub(super) fn placer_for(cfg: &Config, root: &Root) -> Result<Option<Placer>> {
    match cfg.node {
        Some(_) => Ok(Some(Placer::from_root(root)?)),
        None => Ok(None),
    }
}

/// What a buffer looks like from here.
pub(super) fn view(index: u32, m: &MappedDmaBuf, nodes: Option<&NodeMap>) -> BufferView {
    BufferView {
        index,
        inode: m.buffer().inode(),
        size: m.buffer().size(),
        frames: frames(m, nodes).ok().map(Into::into),
    }
}

pub(super) fn expect_frame(stage: &str, seq: u64, index: u32, want: u64, got: u64) -> Result<()> {
    if want == got {
        Ok(())
    } else {
        Err(Error::FrameMismatch {
            stage: stage.into(),
            seq,
            index,
            expected: want,
            got,
        })
    }
}

/// Buffers the camera stage produces frames in.
pub(super) enum Producer {
    /// Heap or udmabuf buffers the CPU fills.
    Cpu {
        bufs: Vec<MappedDmaBuf>,
        free: std::collections::VecDeque<u32>,
        what: String,
    },
    /// A camera's buffers.
    Device {
        cam: Camera,
        bufs: Vec<MappedDmaBuf>,
    },
}

impl Producer {
    pub(super) fn open(cfg: &Config, root: &Root, placer: Option<&Placer>) -> Result<Producer> {
        let on = placer.zip(cfg.node).map(|(p, n)| OnNode {
            placer: p,
            node: NodeId(n),
        });
        let source = match &cfg.source {
            FrameSource::Camera(path) => return open_camera(cfg, root, path, on),
            FrameSource::Heap(h) => Source::Heap(h.clone()),
            FrameSource::Udmabuf => Source::Udmabuf,
        };
        let mut bufs = Vec::new();
        for i in 0..cfg.buffers {
            let name = format!("frame-{i}");
            let a = allocate(root, &source, cfg.frame_bytes, on, Some(&name))?;
            bufs.push(a.buf.map(Protection::ReadWrite)?);
        }
        Ok(Producer::Cpu {
            bufs,
            free: (0..cfg.buffers).collect(),
            what: match source {
                Source::Heap(h) => h,
                Source::Udmabuf => "udmabuf".into(),
            },
        })
    }

    pub(super) fn buffers(&self) -> &[MappedDmaBuf] {
        match self {
            Producer::Cpu { bufs, .. } | Producer::Device { bufs, .. } => bufs,
        }
    }

    pub(super) fn device(&self) -> String {
        match self {
            Producer::Cpu { what, .. } => what.clone(),
            Producer::Device { cam, .. } => cam.driver().to_string(),
        }
    }
}

/// Opens the camera: its webcam input, 32-bit pixels at the size nearest
/// the frame size asked for, up to 60 frames/s, its buffers allocated (on
/// the node, under a bind policy for the call) and exported.
fn open_camera(cfg: &Config, root: &Root, path: &str, on: Option<OnNode<'_>>) -> Result<Producer> {
    let mut cam = Camera::open(root, path)?;
    let _ = cam.select_input(0);
    let (w, h) = webcam_size_for(cfg.frame_bytes);
    let fmt = cam.set_format(numakit_sys::v4l2::fourcc(b"XR24"), w, h)?;
    let _ = cam.set_rate(60);
    let (n, _len) = match on {
        Some(o) => with_policy(o, || cam.request_buffers(cfg.buffers))??,
        None => cam.request_buffers(cfg.buffers)?,
    };
    let mut bufs = Vec::new();
    for i in 0..n {
        let b = cam.export(i)?;
        let _ = b.set_name(&format!("cam-{i}"));
        bufs.push(b.map(Protection::Read)?);
    }
    for i in 0..n {
        cam.queue(i)?;
    }
    cam.start()?;
    let _ = fmt;
    Ok(Producer::Device { cam, bufs })
}

/// The frame layout of the camera's format, or raw bytes.
pub(super) fn camera_format(cfg: &Config, p: &Producer) -> (FrameFormat, usize) {
    match p {
        Producer::Device { .. } => {
            let (w, h) = webcam_size_for(cfg.frame_bytes);
            let f = FrameFormat {
                fourcc: numakit_sys::v4l2::fourcc(b"XR24"),
                width: w,
                height: h,
                stride: w * 4,
            };
            (f, (w * h * 4) as usize)
        }
        Producer::Cpu { .. } => (FrameFormat::default(), (cfg.frame_bytes & !7) as usize),
    }
}

/// Produces frame `seq` in a buffer: its index and checksum.
pub(super) fn produce(
    cfg: &Config,
    p: &mut Producer,
    seq: u64,
    bytes: usize,
    rec: &mut Recorder,
) -> Result<(u32, u64, usize)> {
    const C: Stage = Stage::Camera;
    match p {
        Producer::Cpu { bufs, free, .. } => {
            let i = free
                .pop_front()
                .ok_or_else(|| Error::Invalid("no free buffer".into()))?;
            let w = bufs[i as usize].write()?;
            rec.step(C, 0, seq, i, Step::BeginWrite);
            let mut c = Checksum::default();
            w.fill_words(0, bytes / 8, |k| {
                let v = pattern_word(seq, k);
                c = c.word(v);
                v
            })
            .map_err(|_| Error::Invalid("the frame does not fit its buffer".into()))?;
            rec.step(C, 0, seq, i, Step::CpuWrite);
            w.end().map_err(|e| Error::os("ending the CPU write", e))?;
            rec.step(C, 0, seq, i, Step::EndWrite);
            Ok((i, c.value(), bytes))
        }
        Producer::Device { cam, bufs } => {
            let got = cam.dequeue(cfg.timeout())?;
            let i = got.index;
            rec.step(C, 0, seq, i, Step::DeviceWrite);
            let m = bufs
                .get(i as usize)
                .ok_or_else(|| Error::Invalid("unknown buffer index".into()))?;
            let r = m.read()?;
            rec.step(C, 0, seq, i, Step::BeginRead);
            let n = got.bytes as usize;
            let sum = checksum_mapped(&r, n)?;
            rec.step(C, 0, seq, i, Step::CpuRead);
            r.end().map_err(|e| Error::os("ending the CPU read", e))?;
            rec.step(C, 0, seq, i, Step::EndRead);
            Ok((i, sum, n))
        }
    }
}

/// Buffer `i` came back after frame `seq`.
fn reuse(cfg: &Config, p: &mut Producer, i: u32, seq: u64, rec: &mut Recorder) -> Result<()> {
    match p {
        Producer::Cpu { free, .. } => {
            free.push_back(i);
            Ok(())
        }
        Producer::Device { cam, bufs } => {
            let m = bufs
                .get(i as usize)
                .ok_or_else(|| Error::Invalid("unknown buffer index".into()))?;
            let idle = m.buffer().export_sync_file(FenceAccess::Write)?;
            if !idle.wait(cfg.timeout())? {
                return Err(Error::Timeout {
                    what: format!("waiting for the fences on buffer {i}"),
                    secs: cfg.timeout_secs,
                });
            }
            rec.step(Stage::Camera, 3, seq, i, Step::WaitIdle);
            cam.queue(i)?;
            rec.step(Stage::Camera, 3, seq, i, Step::Queue);
            Ok(())
        }
    }
}

/// The zero-copy camera stage.
pub(super) fn camera(cfg: &Config) -> Result<StageReport> {
    let root = Root::live();
    let placer = placer_for(cfg, &root)?;
    let nodes = NodeMap::read(&root);
    let listen_next = bind(cfg, "to-inference")?;
    let listen_back = bind(cfg, "release")?;
    let mut p = Producer::open(cfg, &root, placer.as_ref())?;
    let next = accept(cfg, &listen_next, "the inference stage")?;
    let back = accept(cfg, &listen_back, "the display stage")?;
    let (format, bytes) = camera_format(cfg, &p);
    let mut report = StageReport {
        pid: std::process::id(),
        device: Some(p.device()),
        format: Some(format),
        buffers: (0..)
            .zip(p.buffers())
            .map(|(i, m)| view(i, m, nodes.as_ref()))
            .collect(),
        ..StageReport::default()
    };
    let mut rec = Recorder::new(&cfg.trace_frames);
    let mut meter = Meter::new(cfg);
    let mut sent = vec![false; p.buffers().len()];
    let mut in_flight = 0usize;
    for seq in 0..cfg.frames {
        while in_flight == p.buffers().len() || (in_flight > 0 && back.ready()?) {
            take_release(cfg, &back, &mut p, &mut rec)?;
            in_flight -= 1;
        }
        meter.start(seq);
        let (i, sum, n) = produce(cfg, &mut p, seq, bytes, &mut rec)?;
        let m = &p.buffers()[i as usize];
        let mut msg = Message::new(Kind::Buffer);
        msg.index = i;
        msg.seq = seq;
        msg.size = m.buffer().size();
        msg.format = format;
        msg.name = format!("frame-{i}");
        if !sent[i as usize] {
            next.send(&msg, Some(m.buffer()))?;
            rec.step(Stage::Camera, 0, seq, i, Step::SendBuffer);
            sent[i as usize] = true;
        }
        msg.kind = Kind::Frame;
        msg.bytes = n as u64;
        msg.checksum = sum;
        next.send(&msg, None)?;
        rec.step(Stage::Camera, 0, seq, i, Step::SendFrame);
        in_flight += 1;
        report.frames += 1;
    }
    while in_flight > 0 {
        take_release(cfg, &back, &mut p, &mut rec)?;
        in_flight -= 1;
    }
    next.send(&Message::new(Kind::End), None)?;
    report.cpu_ns = meter.cpu();
    report.clock_ns = meter.clock;
    report.socket_bytes = next.sent();
    report.trace = rec.into_events();
    Ok(report)
}

fn take_release(cfg: &Config, back: &Channel, p: &mut Producer, rec: &mut Recorder) -> Result<()> {
    let r = back.recv()?.ok_or_else(|| Error::PeerClosed {
        peer: back.peer().into(),
        when: "with frames still in flight".into(),
    })?;
    if r.msg.kind != Kind::Release || r.msg.index as usize >= p.buffers().len() {
        return Err(Error::Protocol {
            peer: back.peer().into(),
            why: format!(
                "expected a release of a buffer, got {:?} {}",
                r.msg.kind, r.msg.index
            ),
        });
    }
    rec.step(
        Stage::Camera,
        3,
        r.msg.seq,
        r.msg.index,
        Step::ReceiveRelease,
    );
    reuse(cfg, p, r.msg.index, r.msg.seq, rec)
}

/// A buffer the inference or display stage holds.
struct Held {
    map: MappedDmaBuf,
    import: Option<Import>,
}

/// Receives the next message from `ch`, which must not end before `End`.
pub(super) fn next_message(ch: &Channel) -> Result<crate::pass::Received> {
    ch.recv()?.ok_or_else(|| Error::PeerClosed {
        peer: ch.peer().into(),
        when: "before the end of the stream".into(),
    })
}

/// Takes a `Buffer` message's descriptor (maps it, imports it into `gpu`).
fn hold(
    held: &mut Vec<Option<Held>>,
    r: crate::pass::Received,
    gpu: Option<&mut Gpu>,
    nodes: Option<&NodeMap>,
    report: &mut StageReport,
) -> Result<(u32, DmaBuf)> {
    let i = r.msg.index;
    let buf = r
        .buf
        .ok_or_else(|| Error::Invalid("a buffer message without a buffer".into()))?;
    let fwd = buf.try_clone()?;
    let import = match gpu {
        Some(g) => Some(g.import(&buf)?),
        None => None,
    };
    let map = buf.map(Protection::Read)?;
    report.buffers.push(view(i, &map, nodes));
    if held.len() <= i as usize {
        held.resize_with(i as usize + 1, || None);
    }
    held[i as usize] = Some(Held { map, import });
    Ok((i, fwd))
}

/// The zero-copy inference stage: imports each buffer into the GPU, puts
/// the GPU's read fence on it for each frame, reads and checks the frame,
/// signals the fence and passes the frame on.
pub(super) fn inference(cfg: &Config) -> Result<StageReport> {
    const S: Stage = Stage::Inference;
    let root = Root::live();
    let nodes = NodeMap::read(&root);
    let mut gpu = Gpu::open(&root, &cfg.gpu)?;
    let listen = bind(cfg, "to-display")?;
    let prev = connect(cfg, "to-inference", "the camera stage")?;
    let next = accept(cfg, &listen, "the display stage")?;
    let mut report = StageReport {
        pid: std::process::id(),
        device: Some(gpu.driver().to_string()),
        ..StageReport::default()
    };
    let mut rec = Recorder::new(&cfg.trace_frames);
    let mut meter = Meter::new(cfg);
    let mut held: Vec<Option<Held>> = Vec::new();
    loop {
        let r = next_message(&prev)?;
        let msg = r.msg.clone();
        match msg.kind {
            Kind::Buffer => {
                rec.step(S, 1, msg.seq, msg.index, Step::ReceiveBuffer);
                let (i, fwd) = hold(&mut held, r, Some(&mut gpu), nodes.as_ref(), &mut report)?;
                rec.step(S, 1, msg.seq, i, Step::Import);
                rec.step(S, 1, msg.seq, i, Step::Map);
                next.send(&msg, Some(&fwd))?;
                rec.step(S, 1, msg.seq, i, Step::SendBuffer);
            }
            Kind::Frame => {
                meter.start(msg.seq);
                rec.step(S, 1, msg.seq, msg.index, Step::ReceiveFrame);
                let h = held_buffer(&held, msg.index, &prev)?;
                let import = h
                    .import
                    .ok_or_else(|| Error::Invalid("buffer not imported".into()))?;
                let fence = gpu.fence(import, FenceAccess::Read)?;
                rec.step(S, 1, msg.seq, msg.index, Step::FenceRead);
                let r = h.map.read()?;
                rec.step(S, 1, msg.seq, msg.index, Step::BeginRead);
                let sum = checksum_mapped(&r, msg.bytes as usize)?;
                rec.step(S, 1, msg.seq, msg.index, Step::CpuRead);
                r.end().map_err(|e| Error::os("ending the CPU read", e))?;
                rec.step(S, 1, msg.seq, msg.index, Step::EndRead);
                gpu.signal(fence)?;
                rec.step(S, 1, msg.seq, msg.index, Step::Signal);
                expect_frame("the inference stage", msg.seq, msg.index, msg.checksum, sum)?;
                report.checked += 1;
                next.send(&msg, None)?;
                rec.step(S, 1, msg.seq, msg.index, Step::SendFrame);
                report.frames += 1;
            }
            Kind::End => {
                next.send(&msg, None)?;
                break;
            }
            Kind::Release => return Err(unexpected(&prev, "a release")),
        }
    }
    report.cpu_ns = meter.cpu();
    report.socket_bytes = next.sent();
    report.trace = rec.into_events();
    Ok(report)
}

fn held_buffer<'a>(held: &'a [Option<Held>], i: u32, from: &Channel) -> Result<&'a Held> {
    held.get(i as usize)
        .and_then(|h| h.as_ref())
        .ok_or_else(|| Error::Protocol {
            peer: from.peer().into(),
            why: format!("a frame in buffer {i}, which was never sent"),
        })
}

pub(super) fn unexpected(from: &Channel, what: &str) -> Error {
    Error::Protocol {
        peer: from.peer().into(),
        why: format!("{what} where frames were expected"),
    }
}

/// The zero-copy display stage: maps each buffer, checks each frame, and
/// hands the buffer back to the camera stage.
pub(super) fn display(cfg: &Config) -> Result<StageReport> {
    const S: Stage = Stage::Display;
    let root = Root::live();
    let nodes = NodeMap::read(&root);
    let prev = connect(cfg, "to-display", "the inference stage")?;
    let back = connect(cfg, "release", "the camera stage")?;
    let mut report = StageReport {
        pid: std::process::id(),
        ..StageReport::default()
    };
    let mut rec = Recorder::new(&cfg.trace_frames);
    let mut meter = Meter::new(cfg);
    let mut held: Vec<Option<Held>> = Vec::new();
    loop {
        let r = next_message(&prev)?;
        let msg = r.msg.clone();
        match msg.kind {
            Kind::Buffer => {
                rec.step(S, 2, msg.seq, msg.index, Step::ReceiveBuffer);
                hold(&mut held, r, None, nodes.as_ref(), &mut report)?;
                rec.step(S, 2, msg.seq, msg.index, Step::Map);
            }
            Kind::Frame => {
                meter.start(msg.seq);
                rec.step(S, 2, msg.seq, msg.index, Step::ReceiveFrame);
                let h = held_buffer(&held, msg.index, &prev)?;
                let r = h.map.read()?;
                rec.step(S, 2, msg.seq, msg.index, Step::BeginRead);
                let sum = checksum_mapped(&r, msg.bytes as usize)?;
                rec.step(S, 2, msg.seq, msg.index, Step::CpuRead);
                r.end().map_err(|e| Error::os("ending the CPU read", e))?;
                rec.step(S, 2, msg.seq, msg.index, Step::EndRead);
                expect_frame("the display stage", msg.seq, msg.index, msg.checksum, sum)?;
                report.checked += 1;
                report.frames += 1;
                let mut rel = Message::new(Kind::Release);
                rel.index = msg.index;
                rel.seq = msg.seq;
                back.send(&rel, None)?;
                rec.step(S, 2, msg.seq, msg.index, Step::Release);
                report.clock_ns = monotonic_ns();
            }
            Kind::End => break,
            Kind::Release => return Err(unexpected(&prev, "a release")),
        }
    }
    report.cpu_ns = meter.cpu();
    report.socket_bytes = back.sent();
    report.trace = rec.into_events();
    Ok(report)
}
