//! The pipeline's steps on the DMA model of `numakit-dma`: the same
//! buffers, the same order of accesses per frame, with the model's checker
//! watching every access. The steps are recorded like the real stages
//! record theirs, so the two orders can be compared step by step.

use std::collections::VecDeque;

use numakit_dma::dmabuf::{Accessor, AttachmentMap, DmaBuf as ModelBuf, Fence};
use numakit_dma::{DeviceConfig, DeviceId, DmaDirection, Finding, IommuMode, ModelBackend};
use serde::Serialize;

use super::Stage;
use super::trace::{Event, Recorder, Step};
use crate::error::{Error, Result};

/// Bytes per frame in the model (the order of accesses does not depend on
/// the size).
const FRAME: u64 = 16 << 10;

/// Where the model's frames come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelSource {
    /// A camera device writes each frame.
    Camera,
    /// The camera stage's CPU fills each frame.
    Cpu,
}

/// A mistake to make on purpose, to show the checker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mistake {
    /// None: the pipeline as the stages run it.
    None,
    /// The camera re-queues a buffer without waiting for the GPU's fence.
    NoWaitBeforeQueue,
    /// The display reads the frame outside a CPU access.
    ReadOutsideAccess,
}

/// The model run.
#[derive(Debug, Clone, Serialize)]
pub struct ModelRun {
    /// The recorded steps of the traced frames.
    pub trace: Vec<Event>,
    /// What the checker found.
    pub findings: Vec<Finding>,
}

struct Buf {
    buf: ModelBuf,
    cam_map: Option<AttachmentMap>,
    imported: bool,
    unwaited: Vec<Fence>,
}

struct Run {
    m: ModelBackend,
    cam: DeviceId,
    gpu: DeviceId,
    bufs: Vec<Buf>,
    rec: Recorder,
    source: ModelSource,
    mistake: Mistake,
}

fn model_err(e: numakit_dma::Error) -> Error {
    Error::Invalid(format!("the DMA model refused a step: {e}"))
}

/// Runs `frames` frames over `buffers` buffers, recording the frames of
/// `trace_frames`.
pub fn run(
    source: ModelSource,
    frames: u64,
    buffers: u32,
    trace_frames: &[u64],
    mistake: Mistake,
) -> Result<ModelRun> {
    let exporter = match source {
        ModelSource::Camera => "camera",
        ModelSource::Cpu => "heap",
    };
    let m = ModelBackend::builder()
        .iommu(IommuMode::Strict)
        .device(DeviceConfig::new(exporter))
        .device(DeviceConfig::new("gpu"))
        .build()
        .map_err(model_err)?;
    let cam = m
        .device_id(exporter)
        .ok_or_else(|| Error::Invalid("no camera".into()))?;
    let gpu = m
        .device_id("gpu")
        .ok_or_else(|| Error::Invalid("no gpu".into()))?;
    let mut r = Run {
        m,
        cam,
        gpu,
        bufs: Vec::new(),
        rec: Recorder::new(trace_frames),
        source,
        mistake,
    };
    r.setup(buffers)?;
    let mut queue: VecDeque<u32> = (0..buffers).collect();
    for seq in 0..frames {
        let i = queue
            .pop_front()
            .ok_or_else(|| Error::Invalid("no buffer".into()))?;
        let first = seq < buffers as u64;
        r.camera(seq, i, first)?;
        r.inference(seq, i, first)?;
        r.display(seq, i, first)?;
        r.release(seq, i)?;
        queue.push_back(i);
    }
    Ok(ModelRun {
        trace: super::trace::merge(r.rec.into_events()),
        findings: r.m.findings().to_vec(),
    })
}

impl Run {
    fn setup(&mut self, buffers: u32) -> Result<()> {
        for i in 0..buffers {
            let buf = self
                .m
                .dmabuf_export(self.cam, FRAME, &format!("frame-{i}"))
                .map_err(model_err)?;
            let cam_map = match self.source {
                ModelSource::Camera => {
                    let att = self.m.dmabuf_attach(&buf, self.cam).map_err(model_err)?;
                    Some(
                        self.m
                            .dmabuf_map_attachment(&att, DmaDirection::FromDevice)
                            .map_err(model_err)?,
                    )
                }
                ModelSource::Cpu => None,
            };
            self.bufs.push(Buf {
                buf,
                cam_map,
                imported: false,
                unwaited: Vec::new(),
            });
        }
        Ok(())
    }

    fn frame_bytes(seq: u64) -> Vec<u8> {
        let mut v = vec![0u8; FRAME as usize];
        crate::checksum::fill_pattern(&mut v, seq);
        v
    }

    fn camera(&mut self, seq: u64, i: u32, first: bool) -> Result<()> {
        const C: Stage = Stage::Camera;
        let b = &self.bufs[i as usize];
        let data = Self::frame_bytes(seq);
        match (&b.cam_map, self.source) {
            (Some(map), ModelSource::Camera) => {
                let dma = map.segments()[0].addr;
                self.m
                    .device_write(self.cam, dma, &data)
                    .map_err(model_err)?;
                self.rec.step(C, 0, seq, i, Step::DeviceWrite);
                self.cpu_read(C, 0, seq, i, true)?;
            }
            _ => {
                let buf = &self.bufs[i as usize].buf;
                self.m
                    .dmabuf_begin_cpu_access(buf, DmaDirection::ToDevice)
                    .map_err(model_err)?;
                self.rec.step(C, 0, seq, i, Step::BeginWrite);
                self.m.dmabuf_write(buf, 0, &data).map_err(model_err)?;
                self.rec.step(C, 0, seq, i, Step::CpuWrite);
                self.m
                    .dmabuf_end_cpu_access(buf, DmaDirection::ToDevice)
                    .map_err(model_err)?;
                self.rec.step(C, 0, seq, i, Step::EndWrite);
            }
        }
        if first {
            self.rec.step(C, 0, seq, i, Step::SendBuffer);
        }
        self.rec.step(C, 0, seq, i, Step::SendFrame);
        Ok(())
    }

    /// A CPU read of the frame inside (or, by mistake, outside) an access.
    fn cpu_read(&mut self, s: Stage, phase: u8, seq: u64, i: u32, bracket: bool) -> Result<()> {
        let buf = &self.bufs[i as usize].buf;
        let mut out = vec![0u8; FRAME as usize];
        if bracket {
            self.m
                .dmabuf_begin_cpu_access(buf, DmaDirection::FromDevice)
                .map_err(model_err)?;
            self.rec.step(s, phase, seq, i, Step::BeginRead);
        }
        self.m.dmabuf_read(buf, 0, &mut out).map_err(model_err)?;
        self.rec.step(s, phase, seq, i, Step::CpuRead);
        if bracket {
            self.m
                .dmabuf_end_cpu_access(buf, DmaDirection::FromDevice)
                .map_err(model_err)?;
            self.rec.step(s, phase, seq, i, Step::EndRead);
        }
        if out != Self::frame_bytes(seq) {
            return Err(Error::Invalid(format!(
                "the model's frame {seq} came out different"
            )));
        }
        Ok(())
    }

    fn inference(&mut self, seq: u64, i: u32, first: bool) -> Result<()> {
        const S: Stage = Stage::Inference;
        if first {
            self.rec.step(S, 1, seq, i, Step::ReceiveBuffer);
            let b = &mut self.bufs[i as usize];
            let att = self.m.dmabuf_attach(&b.buf, self.gpu).map_err(model_err)?;
            self.m
                .dmabuf_map_attachment(&att, DmaDirection::Bidirectional)
                .map_err(model_err)?;
            b.imported = true;
            self.rec.step(S, 1, seq, i, Step::Import);
            self.rec.step(S, 1, seq, i, Step::Map);
            self.rec.step(S, 1, seq, i, Step::SendBuffer);
        }
        self.rec.step(S, 1, seq, i, Step::ReceiveFrame);
        let fence = self
            .m
            .dmabuf_read_fence(
                &self.bufs[i as usize].buf,
                Accessor::Device(self.gpu),
                &format!("gpu-{seq}"),
            )
            .map_err(model_err)?;
        self.rec.step(S, 1, seq, i, Step::FenceRead);
        self.cpu_read(S, 1, seq, i, true)?;
        self.m.fence_signal(&fence).map_err(model_err)?;
        self.bufs[i as usize].unwaited.push(fence);
        self.rec.step(S, 1, seq, i, Step::Signal);
        self.rec.step(S, 1, seq, i, Step::SendFrame);
        Ok(())
    }

    fn display(&mut self, seq: u64, i: u32, first: bool) -> Result<()> {
        const S: Stage = Stage::Display;
        if first {
            self.rec.step(S, 2, seq, i, Step::ReceiveBuffer);
            self.rec.step(S, 2, seq, i, Step::Map);
        }
        self.rec.step(S, 2, seq, i, Step::ReceiveFrame);
        let bracket = self.mistake != Mistake::ReadOutsideAccess;
        self.cpu_read(S, 2, seq, i, bracket)?;
        self.rec.step(S, 2, seq, i, Step::Release);
        Ok(())
    }

    fn release(&mut self, seq: u64, i: u32) -> Result<()> {
        const C: Stage = Stage::Camera;
        self.rec.step(C, 3, seq, i, Step::ReceiveRelease);
        if self.source != ModelSource::Camera {
            return Ok(());
        }
        let fences = std::mem::take(&mut self.bufs[i as usize].unwaited);
        if self.mistake != Mistake::NoWaitBeforeQueue {
            for f in &fences {
                self.m
                    .fence_wait(Accessor::Device(self.cam), f)
                    .map_err(model_err)?;
            }
        }
        self.rec.step(C, 3, seq, i, Step::WaitIdle);
        self.rec.step(C, 3, seq, i, Step::Queue);
        Ok(())
    }
}

/// Whether two traces take the same steps in the same order (buffer
/// indices aside).
pub fn same_order(a: &[Event], b: &[Event]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x.seq, x.phase, x.stage, x.step) == (y.seq, y.phase, y.stage, y.step))
}

#[cfg(test)]
mod tests {
    use super::*;
    use numakit_dma::Rule;

    #[test]
    fn the_pipeline_breaks_no_rule() {
        for source in [ModelSource::Camera, ModelSource::Cpu] {
            let r = run(source, 10, 4, &[0, 4], Mistake::None).unwrap();
            assert!(r.findings.is_empty(), "{source:?}: {:?}", r.findings);
            assert!(r.trace.iter().any(|e| e.seq == 4));
        }
    }

    #[test]
    fn skipping_the_wait_is_found() {
        let r = run(ModelSource::Camera, 6, 2, &[], Mistake::NoWaitBeforeQueue).unwrap();
        assert!(
            r.findings
                .iter()
                .any(|f| f.rule == Rule::DmabufFenceNotWaited),
            "{:?}",
            r.findings
        );
    }

    #[test]
    fn reading_outside_an_access_is_found() {
        let r = run(ModelSource::Cpu, 2, 2, &[], Mistake::ReadOutsideAccess).unwrap();
        assert!(
            r.findings
                .iter()
                .any(|f| f.rule == Rule::DmabufCpuAccessOutside),
            "{:?}",
            r.findings
        );
    }

    #[test]
    fn first_use_and_reuse_differ() {
        let r = run(ModelSource::Camera, 5, 4, &[0, 4], Mistake::None).unwrap();
        let steps = |s| {
            r.trace
                .iter()
                .filter(|e| e.seq == s)
                .map(|e| e.step)
                .collect::<Vec<_>>()
        };
        assert!(steps(0).contains(&Step::Import));
        assert!(!steps(4).contains(&Step::Import));
        assert_eq!(steps(4).first(), Some(&Step::DeviceWrite));
        assert_eq!(steps(4).last(), Some(&Step::Queue));
        assert!(same_order(&r.trace, &r.trace.clone()));
        assert!(!same_order(&r.trace, &r.trace[1..]));
    }
}
