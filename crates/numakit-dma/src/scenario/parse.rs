//! The scenario parser: each line is split, its command looked up in the
//! table, its shape checked and its arguments read; header lines build the
//! machine, the others become the driver's steps.

use super::ast::{Scenario, Step};
use super::commands::{self, Action, Header};
use super::lex::{Line, MAX_SCENARIO_DATA, ScenarioError};

/// Parses a scenario.
pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    let mut header = Header::default();
    let mut steps = Vec::new();
    // the bytes the steps write, read and compare, all together
    let mut data = 0u64;
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
                let op = read(&line)?;
                data += op.data_len();
                if data > MAX_SCENARIO_DATA {
                    return Err(line.err(
                        &line.cmd,
                        format!(
                            "the steps so far move {} MiB of data, more than the {} MiB a scenario may: the model is for driver flows, not bulk copies",
                            data >> 20,
                            MAX_SCENARIO_DATA >> 20
                        ),
                    ));
                }
                steps.push(Step { line: no, op });
            }
        }
    }
    Ok(Scenario {
        machine: header.machine,
        devices: header.devices,
        steps,
    })
}
