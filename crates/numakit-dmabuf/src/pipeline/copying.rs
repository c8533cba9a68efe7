//! The copying stages: the same frames and the same checks as the
//! zero-copy stages, but every frame's bytes go through the sockets (the
//! kernel copies them from the sender into the socket and from the socket
//! into the receiver: two copies per hop).

use numakit_placement::{Mapping, Placer, Policy};
use numakit_root::Root;
use numakit_sys::fd::monotonic_ns;
use numakit_types::NodeId;

use super::stages::{
    Meter, Producer, accept, bind, camera_format, checksum_mapped, connect, expect_frame,
    next_message, placer_for, unexpected,
};
use super::{Config, FrameSource, StageReport};
use crate::checksum::{Checksum, checksum_bytes, pattern_word};
use crate::error::{Error, Result};
use crate::pass::{Channel, FrameFormat, Kind, Message};

/// A private frame buffer, on the node when one was asked for.
enum Frame {
    Heap(Vec<u8>),
    Placed(Mapping),
}

impl Frame {
    fn new(bytes: usize, placer: Option<&Placer>, node: Option<u32>) -> Result<Frame> {
        match placer.zip(node) {
            Some((p, n)) => Ok(Frame::Placed(
                p.allocate(bytes, &Policy::on_node(NodeId(n)))?,
            )),
            None => Ok(Frame::Heap(vec![0; bytes])),
        }
    }
    fn bytes(&mut self, n: usize) -> &mut [u8] {
        match self {
            Frame::Heap(v) => &mut v[..n],
            Frame::Placed(m) => &mut m.as_mut_slice()[..n],
        }
    }
}

fn frame_message(seq: u64, bytes: usize, sum: u64, format: FrameFormat) -> Message {
    let mut m = Message::new(Kind::Frame);
    m.seq = seq;
    m.bytes = bytes as u64;
    m.checksum = sum;
    m.format = format;
    m
}

/// The copying camera stage: fills a private buffer (heap sources) or
/// checksums the camera's frame, and writes the bytes into the socket.
pub(super) fn camera(cfg: &Config) -> Result<StageReport> {
    let root = Root::live();
    let placer = placer_for(cfg, &root)?;
    let listen = bind(cfg, "to-inference")?;
    let mut report = StageReport {
        pid: std::process::id(),
        ..StageReport::default()
    };
    let mut meter = Meter::new(cfg);
    let next;
    match &cfg.source {
        FrameSource::Camera(_) => {
            let mut p = Producer::open(cfg, &root, placer.as_ref())?;
            next = accept(cfg, &listen, "the inference stage")?;
            let (format, _) = camera_format(cfg, &p);
            report.device = Some(p.device());
            report.format = Some(format);
            for seq in 0..cfg.frames {
                meter.start(seq);
                send_captured(cfg, &mut p, &next, seq, format)?;
                report.frames += 1;
                report.copies += 1;
            }
        }
        _ => {
            let bytes = (cfg.frame_bytes & !7) as usize;
            let mut frame = Frame::new(bytes, placer.as_ref(), cfg.node)?;
            next = accept(cfg, &listen, "the inference stage")?;
            report.device = Some("private memory".into());
            for seq in 0..cfg.frames {
                meter.start(seq);
                let buf = frame.bytes(bytes);
                let mut c = Checksum::default();
                for (k, w) in buf.chunks_exact_mut(8).enumerate() {
                    let v = pattern_word(seq, k);
                    c = c.word(v);
                    w.copy_from_slice(&v.to_le_bytes());
                }
                let msg = frame_message(seq, bytes, c.value(), FrameFormat::default());
                next.send_payload(&msg, buf)?;
                report.frames += 1;
                report.copies += 1;
            }
        }
    }
    next.send(&Message::new(Kind::End), None)?;
    report.cpu_ns = meter.cpu();
    report.clock_ns = meter.clock;
    report.socket_bytes = next.sent();
    Ok(report)
}

/// Takes a frame from the camera, checksums it and has the kernel copy it
/// into the socket inside the same read access; then re-queues the buffer.
fn send_captured(
    cfg: &Config,
    p: &mut Producer,
    next: &Channel,
    seq: u64,
    format: FrameFormat,
) -> Result<()> {
    let Producer::Device { cam, bufs } = p else {
        return Err(Error::Invalid("not a camera".into()));
    };
    let got = cam.dequeue(std::time::Duration::from_secs(cfg.timeout_secs))?;
    let m = bufs
        .get(got.index as usize)
        .ok_or_else(|| Error::Invalid("unknown buffer index".into()))?;
    let n = got.bytes as usize;
    let r = m.read()?;
    let sum = checksum_mapped(&r, n)?;
    next.send_payload_header(&frame_message(seq, n, sum, format))?;
    use std::os::fd::AsFd;
    r.write_to(next.socket().as_fd(), 0, n)
        .map_err(|e| match e {
            numakit_sys::Errno::EPIPE | numakit_sys::Errno::ECONNRESET => Error::PeerClosed {
                peer: next.peer().into(),
                when: "while a frame was being sent".into(),
            },
            e => Error::os("copying a frame into the socket", e),
        })?;
    next.note_sent(n as u64);
    r.end().map_err(|e| Error::os("ending the CPU read", e))?;
    cam.queue(got.index)
}

/// Receives a frame's bytes into `buf` and checks them.
fn receive(prev: &Channel, msg: &Message, buf: &mut Vec<u8>, stage: &str) -> Result<()> {
    prev.recv_payload(buf, msg.bytes)?;
    expect_frame(stage, msg.seq, msg.index, msg.checksum, checksum_bytes(buf))
}

/// The copying inference stage: receives each frame's bytes, checks them,
/// and sends them on.
pub(super) fn inference(cfg: &Config) -> Result<StageReport> {
    let listen = bind(cfg, "to-display")?;
    let prev = connect(cfg, "to-inference", "the camera stage")?;
    let next = accept(cfg, &listen, "the display stage")?;
    let mut report = StageReport {
        pid: std::process::id(),
        ..StageReport::default()
    };
    let mut meter = Meter::new(cfg);
    let mut buf = Vec::new();
    loop {
        let r = next_message(&prev)?;
        match r.msg.kind {
            Kind::Frame if r.payload => {
                meter.start(r.msg.seq);
                receive(&prev, &r.msg, &mut buf, "the inference stage")?;
                report.checked += 1;
                next.send_payload(&r.msg, &buf)?;
                report.copies += 2;
                report.frames += 1;
            }
            Kind::End => {
                next.send(&r.msg, None)?;
                break;
            }
            _ => return Err(unexpected(&prev, "a message without frame bytes")),
        }
    }
    report.cpu_ns = meter.cpu();
    report.socket_bytes = next.sent();
    Ok(report)
}

/// The copying display stage: receives each frame's bytes and checks them.
pub(super) fn display(cfg: &Config) -> Result<StageReport> {
    let prev = connect(cfg, "to-display", "the inference stage")?;
    let mut report = StageReport {
        pid: std::process::id(),
        ..StageReport::default()
    };
    let mut meter = Meter::new(cfg);
    let mut buf = Vec::new();
    loop {
        let r = next_message(&prev)?;
        match r.msg.kind {
            Kind::Frame if r.payload => {
                meter.start(r.msg.seq);
                receive(&prev, &r.msg, &mut buf, "the display stage")?;
                report.checked += 1;
                report.copies += 1;
                report.frames += 1;
                report.clock_ns = monotonic_ns();
            }
            Kind::End => break,
            _ => return Err(unexpected(&prev, "a message without frame bytes")),
        }
    }
    report.cpu_ns = meter.cpu();
    Ok(report)
}
