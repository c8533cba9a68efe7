//! The order of accesses to the shared buffers: each stage records the
//! steps it takes for chosen frames, and the pipeline merges them in the
//! order the messages impose (camera, inference, display, then the camera
//! again when the buffer comes back). The model run records the same steps,
//! so the two orders can be compared.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Stage;

/// One step of one stage on one buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// The device filled the buffer (the camera's `DQBUF` returned it).
    DeviceWrite,
    /// CPU access begins for reading (`DMA_BUF_SYNC_START | READ`).
    BeginRead,
    /// The CPU reads the frame.
    CpuRead,
    /// CPU read access ends.
    EndRead,
    /// CPU access begins for writing (waits for every fence).
    BeginWrite,
    /// The CPU writes the frame.
    CpuWrite,
    /// CPU write access ends.
    EndWrite,
    /// A buffer's descriptor is sent with its name and size.
    SendBuffer,
    /// A buffer's descriptor is received and checked.
    ReceiveBuffer,
    /// The GPU imports the buffer (PRIME: attach and map for the device).
    Import,
    /// The process maps the buffer for its CPU.
    Map,
    /// A frame message is sent.
    SendFrame,
    /// A frame message is received.
    ReceiveFrame,
    /// The GPU puts a read fence on the buffer (its job starts).
    FenceRead,
    /// The GPU signals its fence (its job is done).
    Signal,
    /// The display hands the buffer back.
    Release,
    /// The camera receives the buffer back.
    ReceiveRelease,
    /// The camera waits for every fence on the buffer (a sync file).
    WaitIdle,
    /// The camera gives the buffer to the device again (`QBUF`).
    Queue,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self).ok();
        f.write_str(s.as_ref().and_then(|v| v.as_str()).unwrap_or("?"))
    }
}

/// When a step happens in a frame's life, in the order the messages
/// impose: 0 the camera produces it, 1 the inference stage, 2 the display,
/// 3 the camera after the buffer came back.
pub type Phase = u8;

/// A recorded step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Frame number.
    pub seq: u64,
    /// Order in the frame's life.
    pub phase: Phase,
    /// The stage that took it.
    pub stage: Stage,
    /// Buffer index.
    pub index: u32,
    /// The step.
    pub step: Step,
}

/// A stage's recorder: keeps the steps of the frames asked for.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    frames: Vec<u64>,
    events: Vec<Event>,
}

impl Recorder {
    /// Records the steps of `frames`.
    pub fn new(frames: &[u64]) -> Recorder {
        Recorder {
            frames: frames.to_vec(),
            events: Vec::new(),
        }
    }

    /// Records a step, if its frame is one of those asked for.
    pub fn step(&mut self, stage: Stage, phase: Phase, seq: u64, index: u32, step: Step) {
        if self.frames.contains(&seq) {
            self.events.push(Event {
                seq,
                phase,
                stage,
                index,
                step,
            });
        }
    }

    /// The steps recorded.
    pub fn into_events(self) -> Vec<Event> {
        self.events
    }
}

/// The steps of several stages in the order of each frame's life: by
/// frame, then phase; each stage's own order is kept.
pub fn merge(mut events: Vec<Event>) -> Vec<Event> {
    events.sort_by_key(|e| (e.seq, e.phase));
    events
}

/// The frames whose steps a pipeline of `frames` frames over `buffers`
/// buffers records: the first (every buffer's first use looks like it) and
/// the first that reuses a buffer.
pub fn traced_frames(frames: u64, buffers: u32) -> Vec<u64> {
    let mut v = vec![0];
    if frames > buffers as u64 {
        v.push(buffers as u64);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_by_frame_then_phase() {
        let mut r = Recorder::new(&[0]);
        r.step(Stage::Display, 2, 0, 0, Step::CpuRead);
        r.step(Stage::Camera, 0, 0, 0, Step::DeviceWrite);
        r.step(Stage::Camera, 0, 1, 0, Step::DeviceWrite);
        r.step(Stage::Camera, 3, 0, 0, Step::Queue);
        r.step(Stage::Camera, 0, 0, 0, Step::SendFrame);
        let m = merge(r.into_events());
        let steps: Vec<Step> = m.iter().map(|e| e.step).collect();
        assert_eq!(
            steps,
            [
                Step::DeviceWrite,
                Step::SendFrame,
                Step::CpuRead,
                Step::Queue
            ]
        );
        assert_eq!(Step::WaitIdle.to_string(), "wait-idle");
        assert_eq!(traced_frames(10, 4), [0, 4]);
        assert_eq!(traced_frames(3, 4), [0]);
    }
}
