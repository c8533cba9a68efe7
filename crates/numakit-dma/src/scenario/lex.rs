//! The scenario language's words: a line split into tokens (bare words,
//! quoted strings, `key=value` options), and the typed values a command's
//! arguments are read as (numbers, names, directions, data, references),
//! each error at the line and column of its token.

use std::fmt;

use super::ast::{Data, Name, Ref, Who};
use crate::calls::DmaAttrs;
use crate::direction::DmaDirection;
use crate::engine::MAX_TRANSFER;

/// Longest byte string or read a scenario may ask for (64 MiB, the longest
/// copy a DMA engine descriptor may ask for).
pub const MAX_DATA: u64 = MAX_TRANSFER;

/// The most data all the steps of a scenario may write, read and compare
/// together (256 MiB): the model is for driver flows, not bulk copies, and
/// a few kilobytes of text must not keep it busy for minutes.
pub const MAX_SCENARIO_DATA: u64 = 256 << 20;

/// A problem in a scenario file, at a line and column (both from 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    /// The line.
    pub line: u32,
    /// The column.
    pub column: u32,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// A token of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tok {
    /// The text (unescaped for quoted strings).
    pub text: String,
    /// Its column, from 1.
    pub col: u32,
    /// Whether it was a quoted string.
    pub quoted: bool,
}

impl Tok {
    /// An error at this token on line `line`.
    pub(crate) fn err(&self, line: u32, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            line,
            column: self.col,
            message: message.into(),
        }
    }
}

/// Splits line `no` into tokens; a `#` starting a token starts a comment.
pub(crate) fn tokenize(line: &str, no: u32) -> Result<Vec<Tok>, ScenarioError> {
    let mut toks = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '#' && (i == 0 || chars[i - 1].is_whitespace()) {
            break;
        }
        let col = i as u32 + 1;
        if c == '"' {
            let (s, next) = quoted(&chars, i + 1, col, no)?;
            i = next;
            toks.push(Tok {
                text: s,
                col,
                quoted: true,
            });
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() {
                if chars[i] == '"' {
                    return Err(ScenarioError {
                        line: no,
                        column: i as u32 + 1,
                        message: "a quote may only start a token".into(),
                    });
                }
                i += 1;
            }
            toks.push(Tok {
                text: chars[start..i].iter().collect(),
                col,
                quoted: false,
            });
        }
    }
    Ok(toks)
}

/// Reads a quoted string whose text starts at `chars[i]` (just past the
/// opening quote at column `col`); returns it unescaped and the index past
/// the closing quote.
fn quoted(
    chars: &[char],
    mut i: usize,
    col: u32,
    no: u32,
) -> Result<(String, usize), ScenarioError> {
    let mut s = String::new();
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(ScenarioError {
                line: no,
                column: col,
                message: "unterminated string: add the closing \"".into(),
            });
        };
        i += 1;
        match c {
            '"' => return Ok((s, i)),
            '\\' => {
                let Some(&e) = chars.get(i) else {
                    return Err(ScenarioError {
                        line: no,
                        column: i as u32,
                        message: "unterminated escape".into(),
                    });
                };
                i += 1;
                match e {
                    'n' => s.push('\n'),
                    't' => s.push('\t'),
                    '0' => s.push('\0'),
                    '\\' => s.push('\\'),
                    '"' => s.push('"'),
                    'x' => {
                        let h: String = chars.iter().skip(i).take(2).collect();
                        let v = u8::from_str_radix(&h, 16)
                            .ok()
                            .filter(|_| h.len() == 2)
                            .ok_or_else(|| ScenarioError {
                                line: no,
                                column: i as u32 - 1,
                                message: "\\x needs two hexadecimal digits".into(),
                            })?;
                        s.push(char::from(v));
                        i += 2;
                    }
                    other => {
                        return Err(ScenarioError {
                            line: no,
                            column: i as u32 - 1,
                            message: format!(
                                "unknown escape \\{other}: use \\n \\t \\0 \\\\ \\\" or \\xNN"
                            ),
                        });
                    }
                }
            }
            c => s.push(c),
        }
    }
}

/// Parses a number: decimal, `0x` hexadecimal, with an optional binary
/// suffix `K`, `M`, `G` (or `KiB`, `MiB`, `GiB`).
pub fn parse_number(s: &str) -> Option<u64> {
    let (digits, mult) = [
        ("KiB", 1u64 << 10),
        ("MiB", 1 << 20),
        ("GiB", 1 << 30),
        ("K", 1 << 10),
        ("M", 1 << 20),
        ("G", 1 << 30),
    ]
    .iter()
    .find_map(|(suf, m)| s.strip_suffix(suf).map(|d| (d, *m)))
    .unwrap_or((s, 1));
    let digits = digits.replace('_', "");
    let v = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None => digits.parse::<u64>().ok()?,
    };
    v.checked_mul(mult)
}

/// One line, split: the command, its positional arguments and its
/// `key=value` options.
pub(crate) struct Line {
    /// The line number.
    pub(crate) no: u32,
    /// The column just past the line's last character.
    pub(crate) end_col: u32,
    /// The command word.
    pub(crate) cmd: Tok,
    /// Positional arguments and flags, in order.
    pub(crate) pos: Vec<Tok>,
    /// Options, in order.
    pub(crate) kv: Vec<(Tok, Tok)>,
    /// How many leading positional tokens are arguments whatever they say:
    /// a flag word counts as a flag only after them, so that a buffer may
    /// be named like a flag (`map m nic page to-device page`).
    pub(crate) fixed: usize,
}

impl Line {
    /// Splits a line that holds a command; `None` for a blank or comment line.
    pub(crate) fn read(raw: &str, no: u32) -> Result<Option<Line>, ScenarioError> {
        let toks = tokenize(raw, no)?;
        let mut it = toks.into_iter();
        let Some(cmd) = it.next() else {
            return Ok(None);
        };
        if cmd.quoted {
            return Err(cmd.err(no, "a line starts with a command, not a string"));
        }
        let mut pos = Vec::new();
        let mut kv = Vec::new();
        for t in it {
            match (t.quoted, t.text.split_once('=')) {
                (false, Some((k, v))) if !k.is_empty() => {
                    let vcol = t.col + k.chars().count() as u32 + 1;
                    kv.push((
                        Tok {
                            text: k.to_string(),
                            col: t.col,
                            quoted: false,
                        },
                        Tok {
                            text: v.to_string(),
                            col: vcol,
                            quoted: false,
                        },
                    ));
                }
                _ => pos.push(t),
            }
        }
        Ok(Some(Line {
            no,
            end_col: raw.trim_end().chars().count() as u32 + 1,
            cmd,
            pos,
            kv,
            fixed: 0,
        }))
    }

    /// An error at token `t`.
    pub(crate) fn err(&self, t: &Tok, m: impl Into<String>) -> ScenarioError {
        t.err(self.no, m)
    }

    /// Checks the shape of the line against a command's: `npos` positional
    /// arguments (flags not counted), only `keys` as options.
    pub(crate) fn check(
        &self,
        npos: std::ops::RangeInclusive<usize>,
        keys: &[&str],
        flags: &[&str],
        usage: &str,
    ) -> Result<(), ScenarioError> {
        let nonflag = self.args(flags);
        if nonflag.len() < *npos.start() {
            return Err(ScenarioError {
                line: self.no,
                column: self.end_col,
                message: format!("too few arguments: {usage}"),
            });
        }
        if nonflag.len() > *npos.end() {
            let t = nonflag[*npos.end()];
            let hint = if flags.is_empty() {
                String::new()
            } else {
                format!(" (flags: {})", flags.join(", "))
            };
            return Err(self.err(
                t,
                format!("unexpected argument '{}': {usage}{hint}", t.text),
            ));
        }
        for (k, _) in &self.kv {
            if !keys.contains(&k.text.as_str()) {
                let allowed = if keys.is_empty() {
                    "none".to_string()
                } else {
                    keys.join(", ")
                };
                return Err(self.err(
                    k,
                    format!("unknown option '{}' (options here: {allowed})", k.text),
                ));
            }
        }
        Ok(())
    }

    /// Whether the positional token at `i` is one of `flags`.
    fn is_flag(&self, i: usize, t: &Tok, flags: &[&str]) -> bool {
        i >= self.fixed && !t.quoted && flags.contains(&t.text.as_str())
    }

    /// The positional arguments that are not `flags`.
    pub(crate) fn args(&self, flags: &[&str]) -> Vec<&Tok> {
        self.pos
            .iter()
            .enumerate()
            .filter(|(i, t)| !self.is_flag(*i, t, flags))
            .map(|(_, t)| t)
            .collect()
    }

    /// Whether flag `f` is given.
    pub(crate) fn flag(&self, f: &str) -> bool {
        self.pos
            .iter()
            .enumerate()
            .any(|(i, t)| self.is_flag(i, t, &[f]))
    }

    /// The value of option `k` (the last one given).
    pub(crate) fn kv(&self, k: &str) -> Option<&Tok> {
        self.kv
            .iter()
            .rev()
            .find(|(key, _)| key.text == k)
            .map(|(_, v)| v)
    }

    /// `t` as a number.
    pub(crate) fn num(&self, t: &Tok) -> Result<u64, ScenarioError> {
        if t.quoted {
            return Err(self.err(t, "expected a number, found a string"));
        }
        parse_number(&t.text).ok_or_else(|| {
            self.err(
                t,
                format!("'{}' is not a number: write 4096, 0x1000 or 4K", t.text),
            )
        })
    }

    /// `t` as a number no larger than `max`.
    pub(crate) fn num_max(&self, t: &Tok, max: u64, what: &str) -> Result<u64, ScenarioError> {
        let v = self.num(t)?;
        if v > max {
            return Err(self.err(t, format!("{what} {v} is too large (at most {max})")));
        }
        Ok(v)
    }

    /// Option `k` as a number, if given.
    pub(crate) fn opt_num(&self, k: &str) -> Result<Option<u64>, ScenarioError> {
        self.kv(k).map(|t| self.num(t)).transpose()
    }

    /// `t` as a name.
    pub(crate) fn name(&self, t: &Tok) -> Result<Name, ScenarioError> {
        let ok = !t.quoted
            && t.text
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && t.text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
        if !ok {
            return Err(self.err(t, format!("'{}' is not a name: use letters, digits, '_', '-' and '.', starting with a letter", t.text)));
        }
        Ok(Name {
            text: t.text.clone(),
            col: t.col,
        })
    }

    /// `t` as a direction.
    pub(crate) fn dir(&self, t: &Tok) -> Result<DmaDirection, ScenarioError> {
        t.text
            .parse::<DmaDirection>()
            .map_err(|e| self.err(t, e.to_string()))
    }

    /// Option `k` as a direction, if given.
    pub(crate) fn opt_dir(&self, k: &str) -> Result<Option<DmaDirection>, ScenarioError> {
        self.kv(k).map(|t| self.dir(t)).transpose()
    }

    /// Option `attrs` as DMA attributes (`skip-cpu-sync,weak-ordering`).
    pub(crate) fn attrs(&self) -> Result<DmaAttrs, ScenarioError> {
        let Some(t) = self.kv("attrs") else {
            return Ok(DmaAttrs::NONE);
        };
        let mut a = DmaAttrs::NONE;
        for w in t.text.split(',') {
            a = a | match w {
                "skip-cpu-sync" => DmaAttrs::SKIP_CPU_SYNC,
                "weak-ordering" => DmaAttrs::WEAK_ORDERING,
                _ => {
                    return Err(self.err(
                        t,
                        format!("unknown DMA attribute '{w}': use skip-cpu-sync or weak-ordering"),
                    ));
                }
            };
        }
        Ok(a)
    }

    /// `t` as data: a string, `hex:...` or `fill:BYTE*COUNT`.
    pub(crate) fn bytes(&self, t: &Tok) -> Result<Data, ScenarioError> {
        if t.quoted {
            return Ok(Data::Bytes(
                t.text.chars().map(|c| c as u32 as u8).collect(),
            ));
        }
        if let Some(h) = t.text.strip_prefix("hex:") {
            let h: String = h.chars().filter(|c| *c != '_' && *c != ':').collect();
            if h.is_empty()
                || !h.len().is_multiple_of(2)
                || !h.chars().all(|c| c.is_ascii_hexdigit())
            {
                return Err(self.err(
                    t,
                    "hex: needs an even number of hexadecimal digits, like hex:deadbeef",
                ));
            }
            let v = (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).expect("hex digits"))
                .collect();
            return Ok(Data::Bytes(v));
        }
        if let Some(f) = t.text.strip_prefix("fill:") {
            let (b, n) = f.split_once('*').ok_or_else(|| {
                self.err(t, "fill: is written fill:BYTE*COUNT, like fill:0xab*64")
            })?;
            let b = parse_number(b)
                .filter(|v| *v <= 255)
                .ok_or_else(|| self.err(t, "fill: byte must be 0 to 255"))?;
            let n = parse_number(n).filter(|v| *v <= MAX_DATA).ok_or_else(|| {
                self.err(t, format!("fill: count must be a number up to {MAX_DATA}"))
            })?;
            return Ok(Data::Fill {
                byte: b as u8,
                len: n,
            });
        }
        Err(self.err(
            t,
            format!(
                "'{}' is not data: write \"text\", hex:0a0b0c or fill:0xab*64",
                t.text
            ),
        ))
    }

    /// `t` as a reference: `NAME[#SEG][+OFF]` or a raw address.
    pub(crate) fn reference(&self, t: &Tok) -> Result<Ref, ScenarioError> {
        if t.quoted {
            return Err(self.err(t, "expected a name or an address, found a string"));
        }
        if t.text.starts_with(|c: char| c.is_ascii_digit()) {
            let off = self.num(t)?;
            return Ok(Ref {
                name: None,
                seg: None,
                off,
                col: t.col,
            });
        }
        let (head, off) = match t.text.split_once('+') {
            Some((h, o)) => {
                let off = parse_number(o)
                    .ok_or_else(|| self.err(t, format!("'{o}' is not an offset")))?;
                (h, off)
            }
            None => (t.text.as_str(), 0),
        };
        let (name, seg) = match head.split_once('#') {
            Some((n, s)) => {
                let seg = s
                    .parse::<usize>()
                    .ok()
                    .ok_or_else(|| self.err(t, format!("'{s}' is not a segment number")))?;
                (n, Some(seg))
            }
            None => (head, None),
        };
        let n = self.name(&Tok {
            text: name.to_string(),
            col: t.col,
            quoted: false,
        })?;
        Ok(Ref {
            name: Some(n.text),
            seg,
            off,
            col: t.col,
        })
    }

    /// `t` as `cpu` or a device name.
    pub(crate) fn who(&self, t: &Tok) -> Result<Who, ScenarioError> {
        if t.text == "cpu" {
            return Ok(Who::Cpu);
        }
        Ok(Who::Device(self.name(t)?))
    }
}
