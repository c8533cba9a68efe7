//! Scenario files: a machine and a driver's steps in a small text format,
//! run on the model into a timeline and the checker's findings.
//!
//! The format is described in `docs/dma-model.md`; in short, one command per
//! line, `#` starts a comment, the machine comes first:
//!
//! ```text
//! machine noncoherent line=64
//! iommu strict
//! device nic mask=32
//!
//! alloc rx 2048
//! map rxm nic rx from-device
//! mapping-error rxm
//! device-write nic rxm "hello"
//! sync-for-cpu rxm
//! expect rx "hello"
//! unmap rxm
//! ```
//!
//! # Example
//! ```
//! let text = "machine noncoherent\ndevice nic\nalloc rx 64\nmap m nic rx to-device\n\
//!             mapping-error m\ndevice-write nic m \"oops\"\nunmap m\n";
//! let report = numakit_dma::scenario::run_str(text).unwrap();
//! assert_eq!(report.findings[0].rule.id(), "device-write-todevice");
//! let err = numakit_dma::scenario::parse("machine coherent\nmap m\n").unwrap_err();
//! assert_eq!((err.line, err.column), (2, 6));
//! ```

mod ast;
mod commands;
mod lex;
mod objects;
mod parse;
mod report;
mod run;

pub use ast::{Data, DeviceLine, Name, Op, Ref, Scenario, SgEntry, SgSet, Step, SyncFor, Who};
pub use commands::reference;
pub use lex::{MAX_DATA, ScenarioError, Tok, parse_number};
pub use parse::parse;
pub use report::{DeviceSummary, MachineSummary, Report, SCHEMA, Summary};
pub use run::run;

/// Parses and runs a scenario.
pub fn run_str(text: &str) -> Result<Report, ScenarioError> {
    run(&parse(text)?)
}
