//! The scenario parser: each line is split, its command looked up in the
//! table, its shape checked and its arguments read; header lines build the
//! machine, the others become the driver's steps.

use super::ast::{Scenario, Step};
use super::commands::{self, Action, Header};
use super::lex::{Line, ScenarioError};

/// Parses a scenario.
pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    let mut header = Header::default();
    let mut steps = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let no = i as u32 + 1;
        let Some(mut line) = Line::read(raw, no)? else {
            continue;
        };
        let Some(cmd) = commands::find(&line.cmd.text) else {
            let name = &line.cmd.text;
            return Err(line.err(
                &line.cmd,
                format!("unknown command '{name}'{}", commands::suggest(name)),
            ));
        };
        line.fixed = cmd.args.0;
        let name = cmd.name;
        match cmd.action {
            Action::Header(read) => {
                if !steps.is_empty() {
                    return Err(
                        line.err(&line.cmd, format!("'{name}' belongs before the first step"))
                    );
                }
                cmd.check(&line)?;
                read(&line, &mut header)?;
            }
            Action::Step(read) => {
                cmd.check(&line)?;
                steps.push(Step {
                    line: no,
                    op: read(&line)?,
                });
            }
        }
    }
    Ok(Scenario {
        machine: header.machine,
        devices: header.devices,
        steps,
    })
}
