//! The scenario runner: executes the steps on a [`ModelBackend`], C-style
//! (raw addresses, the kernel's calls), so that every mistake a C driver can
//! make can be written down. It talks to the model through its public API
//! only; one executor per family of steps.

mod device;
mod dmabuf;
mod map;
mod memory;

use super::ast::{Name, Op, Ref, Scenario, Who};
use super::lex::ScenarioError;
use super::objects::{Obj, Objects, Target};
use super::report::{MachineSummary, Report, SCHEMA, Summary};
use crate::dmabuf::Accessor;
use crate::engine::Status;
use crate::error::Error;
use crate::ids::DeviceId;
use crate::model::ModelBackend;
use crate::trace::{EventSource, hex_preview};

type Ran = Result<(), ScenarioError>;

struct Runner {
    m: ModelBackend,
    objs: Objects,
}

impl Runner {
    fn err(&self, col: u32, msg: impl Into<String>) -> ScenarioError {
        self.objs.err(col, msg)
    }

    /// A model error, at column `col`.
    /// A mapping call failed: the timeline says why, unless the model ran
    /// out of its host-memory budget, which ends the scenario.
    fn map_failed(&mut self, col: u32, d: DeviceId, what: String, result: &str) -> Ran {
        let e = self.m.last_error().cloned();
        if let Some(e @ Error::ModelMemory { .. }) = e {
            return Err(self.failed(col, e));
        }
        let why = e.map(|e| e.to_string()).unwrap_or_default();
        self.m.note(EventSource::Dma, "map-error", Some(d), || {
            format!("{what} {result}: {why}")
        });
        Ok(())
    }

    /// Refuses a step whose data would take the model past its host-memory
    /// budget, before any of it is generated.
    fn room_for(&self, op: &Op) -> Ran {
        let (col, room) = match op {
            Op::Write { at, data } | Op::DeviceWrite { at, data, .. } => {
                (at.col, self.m.room_for_write(data.len()))
            }
            Op::Expect { at, data } | Op::DeviceExpect { at, data, .. } => {
                (at.col, self.m.room_for_read(data.len()))
            }
            Op::Read { at, len } | Op::DeviceRead { at, len, .. } => {
                (at.col, self.m.room_for_read(*len))
            }
            _ => return Ok(()),
        };
        room.map_err(|e| self.failed(col, e))
    }

    fn failed(&self, col: u32, e: Error) -> ScenarioError {
        self.err(col, e.to_string())
    }

    fn dev(&self, n: &Name) -> Result<DeviceId, ScenarioError> {
        self.m
            .device_id(&n.text)
            .ok_or_else(|| self.err(n.col, format!("no device named '{}'", n.text)))
    }

    /// Names a new object; a name already used, or a device's, is refused.
    fn define(&mut self, n: &Name, o: Obj) -> Ran {
        self.objs.ensure_new(n)?;
        if self.m.device_id(&n.text).is_some() {
            return Err(self.err(n.col, format!("'{}' is a device", n.text)));
        }
        self.objs.insert(n, o);
        Ok(())
    }

    fn who(&self, w: &Who) -> Result<Accessor, ScenarioError> {
        Ok(match w {
            Who::Cpu => Accessor::Cpu,
            Who::Device(n) => Accessor::Device(self.dev(n)?),
        })
    }

    fn cpu_read(&mut self, t: &Target, col: u32, out: &mut [u8]) -> Ran {
        match t {
            Target::Phys(p) => {
                self.m.cpu_read(*p, out);
                Ok(())
            }
            Target::DmaBuf(b, off) => self
                .m
                .dmabuf_read(b, *off, out)
                .map_err(|e| self.failed(col, e)),
        }
    }

    fn expect_failed(&mut self, what: String, want: &[u8], got: &[u8]) {
        let first = want.iter().zip(got).position(|(a, b)| a != b).unwrap_or(0);
        self.m.expectation_failed(format!(
            "{what}: byte {first} is {:#04x}, expected {:#04x} (read {}, expected {})",
            got[first],
            want[first],
            hex_preview(got),
            hex_preview(want)
        ));
    }

    fn step(&mut self, op: &Op) -> Ran {
        self.room_for(op)?;
        match op {
            Op::Alloc { .. }
            | Op::Free { .. }
            | Op::Write { .. }
            | Op::Read { .. }
            | Op::Expect { .. } => self.cpu_step(op),
            Op::AllocCoherent { .. } | Op::FreeCoherent { .. } | Op::SetMask { .. } => {
                self.coherent_step(op)
            }
            Op::AllocNoncoherent { .. } | Op::FreeNoncoherent { .. } | Op::MapResource { .. } => {
                self.noncoherent_step(op)
            }
            Op::DmaPool { .. }
            | Op::PoolAlloc { .. }
            | Op::PoolFree { .. }
            | Op::PoolDestroy { .. } => self.pool_step(op),
            Op::Map { .. }
            | Op::MappingError { .. }
            | Op::Unmap { .. }
            | Op::UnmapAddr { .. }
            | Op::Sync { .. } => self.map_step(op),
            Op::MapSg { .. } | Op::UnmapSg { .. } | Op::SyncSg { .. } => self.sg_step(op),
            Op::DeviceRead { .. }
            | Op::DeviceWrite { .. }
            | Op::DeviceExpect { .. }
            | Op::IommuFlush
            | Op::RemoveDevice { .. }
            | Op::Note { .. } => self.device_step(op),
            Op::Engine { .. }
            | Op::Desc { .. }
            | Op::Doorbell { .. }
            | Op::ExpectStatus { .. }
            | Op::ExpectIrqs { .. } => self.engine_step(op),
            Op::DmaBuf { .. }
            | Op::Attach { .. }
            | Op::MapAttachment { .. }
            | Op::UnmapAttachment { .. }
            | Op::Detach { .. }
            | Op::Fence { .. }
            | Op::Signal { .. }
            | Op::Wait { .. }
            | Op::BeginCpuAccess { .. }
            | Op::EndCpuAccess { .. } => self.dmabuf_step(op),
        }
    }
}

fn show_ref(r: &Ref) -> String {
    match (&r.name, r.off) {
        (Some(n), 0) => n.clone(),
        (Some(n), o) => format!("{n}+{o}"),
        (None, o) => format!("{o:#x}"),
    }
}

fn status_name(word: u32) -> &'static str {
    Status::from_word(word).map_or("unknown", Status::name)
}

/// Runs a parsed scenario. Errors are problems of the scenario itself (a
/// name that does not exist, an allocation the machine cannot satisfy, a
/// wait that would never return), at the step's line; what the driver does
/// wrong is in the report's findings.
pub fn run(s: &Scenario) -> Result<Report, ScenarioError> {
    let mut cfg = s.machine.clone();
    cfg.trace = true;
    let devices: Vec<_> = s.devices.iter().map(|d| d.config.clone()).collect();
    let m = ModelBackend::new(cfg, devices).map_err(|e| ScenarioError {
        line: 1,
        column: 1,
        message: e.to_string(),
    })?;
    let machine = MachineSummary::of(&m);
    let mut r = Runner {
        m,
        objs: Objects::default(),
    };
    for st in &s.steps {
        r.objs.line = st.line;
        r.m.set_scenario_line(Some(st.line));
        r.step(&st.op)?;
    }
    r.m.set_scenario_line(None);
    let events = r.m.take_events();
    let findings = r.m.take_findings();
    let faults = r.m.faults().to_vec();
    let summary = Summary::new(s.steps.len(), &events, &findings, &faults);
    Ok(Report {
        schema: SCHEMA,
        file: None,
        machine,
        events,
        findings,
        faults,
        summary,
    })
}
