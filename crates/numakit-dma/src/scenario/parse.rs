//! The scenario parser: lines into steps, with line and column on every
//! error.

use std::fmt;

use crate::model::MachineConfig;
use crate::types::{Coherence, DeviceConfig, IommuMode, Maintenance, MemKind, Speculation, Zone};
use crate::{DmaDirection, DmaMask};

/// Longest byte string or read a scenario may ask for (64 MiB).
pub const MAX_DATA: u64 = 64 << 20;

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
    fn err(&self, line: u32, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            line,
            column: self.col,
            message: message.into(),
        }
    }
}

/// Bytes given in a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

/// A reference to a named object plus an offset: `NAME`, `NAME+OFF`,
/// `NAME#SEG`, `NAME#SEG+OFF`, or a raw address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    /// The name, or `None` for a raw number.
    pub name: Option<String>,
    /// The DMA segment (`#N`).
    pub seg: Option<usize>,
    /// The offset, or the raw address.
    pub off: u64,
    /// The token's column.
    pub col: u32,
}

/// Who accesses a DMA-BUF in a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// The CPU.
    Cpu,
    /// A device by name.
    Device(String, u32),
}

/// A named object with the column of its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(pub String, pub u32);

/// One step of the driver.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Alloc {
        name: Name,
        size: u64,
        align: u64,
        zone: Zone,
        kind: MemKind,
    },
    Free {
        name: Name,
    },
    Write {
        at: Ref,
        data: Bytes,
    },
    Read {
        at: Ref,
        len: u64,
    },
    Expect {
        at: Ref,
        data: Bytes,
    },
    AllocCoherent {
        name: Name,
        dev: Name,
        size: u64,
    },
    FreeCoherent {
        name: Name,
        size: Option<u64>,
        cpu_offset: u64,
    },
    SetMask {
        dev: Name,
        bits: u32,
    },
    Map {
        map: Name,
        dev: Name,
        buf: Ref,
        dir: DmaDirection,
        size: Option<u64>,
        page: bool,
    },
    MappingError {
        map: Name,
    },
    Unmap {
        map: Name,
        size: Option<u64>,
        dir: Option<DmaDirection>,
        func: Option<String>,
    },
    MapSg {
        map: Name,
        dev: Name,
        dir: DmaDirection,
        entries: Vec<(Ref, Option<u64>)>,
    },
    UnmapSg {
        map: Name,
        nents: Option<usize>,
        dir: Option<DmaDirection>,
    },
    UnmapAddr {
        dev: Name,
        at: Ref,
        size: u64,
        dir: DmaDirection,
    },
    Sync {
        at: Ref,
        size: Option<u64>,
        dir: Option<DmaDirection>,
        for_cpu: bool,
    },
    SyncSg {
        map: Name,
        nents: Option<usize>,
        dir: Option<DmaDirection>,
        for_cpu: bool,
    },
    DeviceRead {
        dev: Name,
        at: Ref,
        len: u64,
    },
    DeviceWrite {
        dev: Name,
        at: Ref,
        data: Bytes,
    },
    DeviceExpect {
        dev: Name,
        at: Ref,
        data: Bytes,
    },
    Engine {
        dev: Name,
        ring: Name,
        entries: u32,
    },
    Desc {
        ring: Name,
        index: u32,
        src: Ref,
        dst: Ref,
        len: u32,
        irq: bool,
    },
    Doorbell {
        dev: Name,
        tail: u32,
    },
    ExpectStatus {
        ring: Name,
        index: u32,
        status: u32,
    },
    ExpectIrqs {
        dev: Name,
        count: u64,
    },
    IommuFlush,
    RemoveDevice {
        dev: Name,
    },
    DmaBuf {
        name: Name,
        exporter: Name,
        size: u64,
    },
    Attach {
        att: Name,
        buf: Name,
        dev: Name,
    },
    MapAttachment {
        map: Name,
        att: Name,
        dir: DmaDirection,
    },
    UnmapAttachment {
        map: Name,
    },
    Detach {
        att: Name,
    },
    Fence {
        fence: Name,
        buf: Name,
        who: Who,
    },
    Signal {
        fence: Name,
    },
    Wait {
        who: Who,
        fence: Name,
    },
    BeginCpuAccess {
        buf: Name,
        dir: DmaDirection,
    },
    EndCpuAccess {
        buf: Name,
        dir: DmaDirection,
    },
    Note {
        text: String,
    },
}

/// A step and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Its line.
    pub line: u32,
    /// What it does.
    pub op: Op,
}

/// A parsed scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// The machine.
    pub machine: MachineConfig,
    /// The devices, with their lines.
    pub devices: Vec<(DeviceConfig, u32)>,
    /// The driver's steps.
    pub steps: Vec<Step>,
}

fn tokenize(line: &str, no: u32) -> Result<Vec<Tok>, ScenarioError> {
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
            let mut s = String::new();
            i += 1;
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
                    '"' => break,
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

struct Line {
    no: u32,
    end_col: u32,
    cmd: Tok,
    pos: Vec<Tok>,
    kv: Vec<(Tok, Tok)>,
}

impl Line {
    fn err(&self, t: &Tok, m: impl Into<String>) -> ScenarioError {
        t.err(self.no, m)
    }

    fn check(
        &self,
        npos: std::ops::RangeInclusive<usize>,
        keys: &[&str],
        flags: &[&str],
        usage: &str,
    ) -> Result<(), ScenarioError> {
        let nonflag: Vec<&Tok> = self
            .pos
            .iter()
            .filter(|t| t.quoted || !flags.contains(&t.text.as_str()))
            .collect();
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

    fn args(&self, flags: &[&str]) -> Vec<&Tok> {
        self.pos
            .iter()
            .filter(|t| t.quoted || !flags.contains(&t.text.as_str()))
            .collect()
    }

    fn flag(&self, f: &str) -> bool {
        self.pos.iter().any(|t| !t.quoted && t.text == f)
    }

    fn kv(&self, k: &str) -> Option<&Tok> {
        self.kv
            .iter()
            .rev()
            .find(|(key, _)| key.text == k)
            .map(|(_, v)| v)
    }

    fn num(&self, t: &Tok) -> Result<u64, ScenarioError> {
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

    fn num_max(&self, t: &Tok, max: u64, what: &str) -> Result<u64, ScenarioError> {
        let v = self.num(t)?;
        if v > max {
            return Err(self.err(t, format!("{what} {v} is too large (at most {max})")));
        }
        Ok(v)
    }

    fn opt_num(&self, k: &str) -> Result<Option<u64>, ScenarioError> {
        self.kv(k).map(|t| self.num(t)).transpose()
    }

    fn name(&self, t: &Tok) -> Result<Name, ScenarioError> {
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
        Ok(Name(t.text.clone(), t.col))
    }

    fn dir(&self, t: &Tok) -> Result<DmaDirection, ScenarioError> {
        t.text
            .parse::<DmaDirection>()
            .map_err(|e| self.err(t, e.to_string()))
    }

    fn opt_dir(&self, k: &str) -> Result<Option<DmaDirection>, ScenarioError> {
        self.kv(k).map(|t| self.dir(t)).transpose()
    }

    fn bytes(&self, t: &Tok) -> Result<Bytes, ScenarioError> {
        if t.quoted {
            return Ok(Bytes(t.text.chars().map(|c| c as u32 as u8).collect()));
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
            return Ok(Bytes(v));
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
            return Ok(Bytes(vec![b as u8; n as usize]));
        }
        Err(self.err(
            t,
            format!(
                "'{}' is not data: write \"text\", hex:0a0b0c or fill:0xab*64",
                t.text
            ),
        ))
    }

    fn reference(&self, t: &Tok) -> Result<Ref, ScenarioError> {
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
            name: Some(n.0),
            seg,
            off,
            col: t.col,
        })
    }

    fn who(&self, t: &Tok) -> Result<Who, ScenarioError> {
        if t.text == "cpu" {
            return Ok(Who::Cpu);
        }
        let n = self.name(t)?;
        Ok(Who::Device(n.0, n.1))
    }
}

/// Parses a scenario.
pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    let mut machine = MachineConfig {
        trace: true,
        ..MachineConfig::default()
    };
    let mut devices: Vec<(DeviceConfig, u32)> = Vec::new();
    let mut steps = Vec::new();
    let mut saw_machine = false;
    for (i, raw) in text.lines().enumerate() {
        let no = i as u32 + 1;
        let toks = tokenize(raw, no)?;
        let mut it = toks.into_iter();
        let Some(cmd) = it.next() else { continue };
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
        let end_col = raw.trim_end().chars().count() as u32 + 1;
        let l = Line {
            no,
            end_col,
            cmd,
            pos,
            kv,
        };
        let header = matches!(
            l.cmd.text.as_str(),
            "machine" | "iommu" | "swiotlb" | "device"
        );
        if header {
            if !steps.is_empty() {
                return Err(l.err(
                    &l.cmd,
                    format!("'{}' belongs before the first step", l.cmd.text),
                ));
            }
            header_line(&l, &mut machine, &mut devices, &mut saw_machine)?;
        } else {
            steps.push(Step {
                line: no,
                op: step_line(&l)?,
            });
        }
    }
    Ok(Scenario {
        machine,
        devices,
        steps,
    })
}

fn header_line(
    l: &Line,
    m: &mut MachineConfig,
    devices: &mut Vec<(DeviceConfig, u32)>,
    saw: &mut bool,
) -> Result<(), ScenarioError> {
    match l.cmd.text.as_str() {
        "machine" => {
            let usage = "machine coherent|noncoherent [line=64|128] [cache=LINES] [speculation=always|off|SEED:PERCENT] [maintenance=arm64|map-only] [checker=on|off]";
            l.check(
                1..=1,
                &["line", "cache", "speculation", "maintenance", "checker"],
                &[],
                usage,
            )?;
            if *saw {
                return Err(l.err(&l.cmd, "a second 'machine' line"));
            }
            *saw = true;
            let t = &l.pos[0];
            m.coherence = match t.text.as_str() {
                "coherent" => Coherence::Coherent,
                "noncoherent" | "non-coherent" => Coherence::NonCoherent,
                _ => {
                    return Err(l.err(t, format!("'{}': expected coherent or noncoherent", t.text)));
                }
            };
            if let Some(t) = l.kv("line") {
                let v = l.num(t)?;
                if !matches!(v, 16 | 32 | 64 | 128 | 256) {
                    return Err(l.err(t, "line size must be 16, 32, 64, 128 or 256"));
                }
                m.line_size = v as u32;
            }
            if let Some(t) = l.kv("cache") {
                m.cache_lines = l.num_max(t, 1 << 24, "cache size")?.max(1) as usize;
            }
            if let Some(t) = l.kv("speculation") {
                m.speculation = match t.text.as_str() {
                    "always" => Speculation::Always,
                    "off" => Speculation::Off,
                    s => {
                        let bad =
                            || l.err(t, "speculation is always, off or SEED:PERCENT (like 7:50)");
                        let (a, b) = s.split_once(':').ok_or_else(bad)?;
                        let seed = parse_number(a).ok_or_else(bad)?;
                        let percent = parse_number(b).filter(|p| *p <= 100).ok_or_else(bad)?;
                        Speculation::Seeded {
                            seed,
                            percent: percent as u8,
                        }
                    }
                };
            }
            if let Some(t) = l.kv("maintenance") {
                m.maintenance = match t.text.as_str() {
                    "arm64" => Maintenance::Arm64,
                    "map-only" => Maintenance::InvalidateAtMapOnly,
                    _ => return Err(l.err(t, "maintenance is arm64 or map-only")),
                };
            }
            if let Some(t) = l.kv("checker") {
                m.checker = match t.text.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => return Err(l.err(t, "checker is on or off")),
                };
            }
        }
        "iommu" => {
            l.check(
                1..=1,
                &["flush-queue"],
                &[],
                "iommu off|strict|lazy [flush-queue=N]",
            )?;
            let t = &l.pos[0];
            m.iommu = match t.text.as_str() {
                "off" => IommuMode::Off,
                "strict" => IommuMode::Strict,
                "lazy" => IommuMode::Lazy,
                _ => return Err(l.err(t, format!("'{}': expected off, strict or lazy", t.text))),
            };
            if let Some(t) = l.kv("flush-queue") {
                m.flush_queue = l.num_max(t, 1 << 20, "flush queue")?.max(1) as usize;
            }
        }
        "swiotlb" => {
            l.check(1..=1, &[], &[], "swiotlb off|SIZE")?;
            let t = &l.pos[0];
            m.swiotlb_bytes = if t.text == "off" {
                0
            } else {
                l.num_max(t, 0x0c00_0000, "swiotlb size")?
            };
        }
        "device" => {
            let usage = "device NAME [mask=BITS] [coherent-mask=BITS] [group=N] [max-segment=BYTES] [untrusted]";
            l.check(
                1..=1,
                &["mask", "coherent-mask", "group", "max-segment"],
                &["untrusted"],
                usage,
            )?;
            let name = l.name(l.args(&["untrusted"])[0])?;
            if name.0 == "cpu" {
                return Err(l.err(&l.pos[0], "'cpu' is reserved for the CPU"));
            }
            if devices.iter().any(|(d, _)| d.name == name.0) {
                return Err(l.err(&l.pos[0], format!("device {} is declared twice", name.0)));
            }
            let mut d = DeviceConfig::new(name.0);
            if let Some(t) = l.kv("mask") {
                d.dma_mask = DmaMask::bits(l.num_max(t, 64, "mask width")? as u32);
                d.coherent_mask = d.dma_mask;
            }
            if let Some(t) = l.kv("coherent-mask") {
                d.coherent_mask = DmaMask::bits(l.num_max(t, 64, "mask width")? as u32);
            }
            if let Some(t) = l.kv("group") {
                d.iommu_group = l.num_max(t, 999, "group")? as u32;
            }
            if let Some(t) = l.kv("max-segment") {
                d.max_segment = l.num(t)?.max(1);
            }
            d.untrusted = l.flag("untrusted");
            devices.push((d, l.no));
        }
        _ => unreachable!("header commands only"),
    }
    Ok(())
}

const COMMANDS: &[&str] = &[
    "alloc",
    "free",
    "write",
    "read",
    "expect",
    "alloc-coherent",
    "free-coherent",
    "set-mask",
    "map",
    "mapping-error",
    "unmap",
    "unmap-addr",
    "map-sg",
    "unmap-sg",
    "sync-for-cpu",
    "sync-for-device",
    "sync-sg-for-cpu",
    "sync-sg-for-device",
    "device-read",
    "device-write",
    "device-expect",
    "engine",
    "desc",
    "doorbell",
    "expect-status",
    "expect-irqs",
    "iommu-flush",
    "remove-device",
    "dmabuf",
    "attach",
    "map-attachment",
    "unmap-attachment",
    "detach",
    "fence",
    "signal",
    "wait",
    "begin-cpu-access",
    "end-cpu-access",
    "note",
    "machine",
    "iommu",
    "swiotlb",
    "device",
];

fn suggest(word: &str) -> String {
    let close: Vec<&str> = COMMANDS
        .iter()
        .copied()
        .filter(|c| {
            c.starts_with(word.get(..3).unwrap_or(word)) || word.starts_with(c) || c.contains(word)
        })
        .take(4)
        .collect();
    if close.is_empty() {
        String::new()
    } else {
        format!(" (similar: {})", close.join(", "))
    }
}

fn step_line(l: &Line) -> Result<Op, ScenarioError> {
    let a = |flags: &[&str]| l.args(flags);
    Ok(match l.cmd.text.as_str() {
        "alloc" => {
            l.check(
                2..=2,
                &["align", "zone", "kind"],
                &[],
                "alloc NAME SIZE [align=N] [zone=dma32|normal] [kind=kmalloc|stack|vmalloc]",
            )?;
            let p = a(&[]);
            let size = l.num_max(p[1], 1 << 36, "size")?;
            if size == 0 {
                return Err(l.err(p[1], "size must not be 0"));
            }
            let align = match l.kv("align") {
                Some(t) => {
                    let v = l.num_max(t, 1 << 30, "alignment")?;
                    if !v.is_power_of_two() {
                        return Err(l.err(t, "alignment must be a power of two"));
                    }
                    v
                }
                None => 0,
            };
            let zone = match l.kv("zone").map(|t| (t, t.text.as_str())) {
                None | Some((_, "normal")) => Zone::Normal,
                Some((_, "dma32")) => Zone::Dma32,
                Some((t, _)) => return Err(l.err(t, "zone is dma32 or normal")),
            };
            let kind = match l.kv("kind").map(|t| (t, t.text.as_str())) {
                None | Some((_, "kmalloc")) => MemKind::Kmalloc,
                Some((_, "stack")) => MemKind::Stack,
                Some((_, "vmalloc")) => MemKind::Vmalloc,
                Some((t, _)) => return Err(l.err(t, "kind is kmalloc, stack or vmalloc")),
            };
            Op::Alloc {
                name: l.name(p[0])?,
                size,
                align,
                zone,
                kind,
            }
        }
        "free" => {
            l.check(1..=1, &[], &[], "free NAME")?;
            Op::Free {
                name: l.name(&l.pos[0])?,
            }
        }
        "write" => {
            l.check(2..=2, &[], &[], "write NAME[+OFF] DATA")?;
            Op::Write {
                at: l.reference(&l.pos[0])?,
                data: l.bytes(&l.pos[1])?,
            }
        }
        "read" => {
            l.check(2..=2, &[], &[], "read NAME[+OFF] LEN")?;
            Op::Read {
                at: l.reference(&l.pos[0])?,
                len: l.num_max(&l.pos[1], MAX_DATA, "length")?,
            }
        }
        "expect" => {
            l.check(2..=2, &[], &[], "expect NAME[+OFF] DATA")?;
            Op::Expect {
                at: l.reference(&l.pos[0])?,
                data: l.bytes(&l.pos[1])?,
            }
        }
        "alloc-coherent" => {
            l.check(3..=3, &[], &[], "alloc-coherent NAME DEVICE SIZE")?;
            let size = l.num_max(&l.pos[2], 1 << 34, "size")?;
            if size == 0 {
                return Err(l.err(&l.pos[2], "size must not be 0"));
            }
            Op::AllocCoherent {
                name: l.name(&l.pos[0])?,
                dev: l.name(&l.pos[1])?,
                size,
            }
        }
        "free-coherent" => {
            l.check(
                1..=1,
                &["size", "cpu-offset"],
                &[],
                "free-coherent NAME [size=N] [cpu-offset=N]",
            )?;
            Op::FreeCoherent {
                name: l.name(&l.pos[0])?,
                size: l.opt_num("size")?,
                cpu_offset: l.opt_num("cpu-offset")?.unwrap_or(0),
            }
        }
        "set-mask" => {
            l.check(2..=2, &[], &[], "set-mask DEVICE BITS")?;
            Op::SetMask {
                dev: l.name(&l.pos[0])?,
                bits: l.num_max(&l.pos[1], 64, "mask width")? as u32,
            }
        }
        "map" => {
            l.check(
                4..=4,
                &["size"],
                &["page"],
                "map MAPPING DEVICE NAME[+OFF] DIRECTION [size=N] [page]",
            )?;
            let p = a(&["page"]);
            Op::Map {
                map: l.name(p[0])?,
                dev: l.name(p[1])?,
                buf: l.reference(p[2])?,
                dir: l.dir(p[3])?,
                size: l.opt_num("size")?,
                page: l.flag("page"),
            }
        }
        "mapping-error" => {
            l.check(1..=1, &[], &[], "mapping-error MAPPING")?;
            Op::MappingError {
                map: l.name(&l.pos[0])?,
            }
        }
        "unmap" => {
            l.check(
                1..=1,
                &["size", "dir", "as"],
                &[],
                "unmap MAPPING [size=N] [dir=DIRECTION] [as=single|page|sg|coherent]",
            )?;
            let func = match l.kv("as") {
                Some(t) if matches!(t.text.as_str(), "single" | "page" | "sg" | "coherent") => {
                    Some(t.text.clone())
                }
                Some(t) => return Err(l.err(t, "as= is single, page, sg or coherent")),
                None => None,
            };
            Op::Unmap {
                map: l.name(&l.pos[0])?,
                size: l.opt_num("size")?,
                dir: l.opt_dir("dir")?,
                func,
            }
        }
        "map-sg" => {
            l.check(
                4..=4096,
                &[],
                &[],
                "map-sg MAPPING DEVICE DIRECTION NAME[+OFF][:LEN]...",
            )?;
            let mut entries = Vec::new();
            for t in &l.pos[3..] {
                let (r, len) = match t.text.split_once(':') {
                    Some((r, n)) => {
                        let len = parse_number(n)
                            .filter(|v| *v > 0)
                            .ok_or_else(|| l.err(t, format!("'{n}' is not a length")))?;
                        (
                            Tok {
                                text: r.to_string(),
                                col: t.col,
                                quoted: false,
                            },
                            Some(len),
                        )
                    }
                    None => (t.clone(), None),
                };
                entries.push((l.reference(&r)?, len));
            }
            Op::MapSg {
                map: l.name(&l.pos[0])?,
                dev: l.name(&l.pos[1])?,
                dir: l.dir(&l.pos[2])?,
                entries,
            }
        }
        "unmap-addr" => {
            l.check(4..=4, &[], &[], "unmap-addr DEVICE ADDRESS SIZE DIRECTION")?;
            Op::UnmapAddr {
                dev: l.name(&l.pos[0])?,
                at: l.reference(&l.pos[1])?,
                size: l.num(&l.pos[2])?,
                dir: l.dir(&l.pos[3])?,
            }
        }
        "unmap-sg" => {
            l.check(
                1..=1,
                &["nents", "dir"],
                &[],
                "unmap-sg MAPPING [nents=N] [dir=DIRECTION]",
            )?;
            Op::UnmapSg {
                map: l.name(&l.pos[0])?,
                nents: l.opt_num("nents")?.map(|n| n as usize),
                dir: l.opt_dir("dir")?,
            }
        }
        c @ ("sync-for-cpu" | "sync-for-device") => {
            l.check(
                1..=1,
                &["size", "dir"],
                &[],
                &format!("{c} MAPPING[+OFF] [size=N] [dir=DIRECTION]"),
            )?;
            Op::Sync {
                at: l.reference(&l.pos[0])?,
                size: l.opt_num("size")?,
                dir: l.opt_dir("dir")?,
                for_cpu: c == "sync-for-cpu",
            }
        }
        c @ ("sync-sg-for-cpu" | "sync-sg-for-device") => {
            l.check(
                1..=1,
                &["nents", "dir"],
                &[],
                &format!("{c} MAPPING [nents=N] [dir=DIRECTION]"),
            )?;
            Op::SyncSg {
                map: l.name(&l.pos[0])?,
                nents: l.opt_num("nents")?.map(|n| n as usize),
                dir: l.opt_dir("dir")?,
                for_cpu: c == "sync-sg-for-cpu",
            }
        }
        "device-read" => {
            l.check(3..=3, &[], &[], "device-read DEVICE ADDRESS LEN")?;
            Op::DeviceRead {
                dev: l.name(&l.pos[0])?,
                at: l.reference(&l.pos[1])?,
                len: l.num_max(&l.pos[2], MAX_DATA, "length")?,
            }
        }
        "device-write" => {
            l.check(3..=3, &[], &[], "device-write DEVICE ADDRESS DATA")?;
            Op::DeviceWrite {
                dev: l.name(&l.pos[0])?,
                at: l.reference(&l.pos[1])?,
                data: l.bytes(&l.pos[2])?,
            }
        }
        "device-expect" => {
            l.check(3..=3, &[], &[], "device-expect DEVICE ADDRESS DATA")?;
            Op::DeviceExpect {
                dev: l.name(&l.pos[0])?,
                at: l.reference(&l.pos[1])?,
                data: l.bytes(&l.pos[2])?,
            }
        }
        "engine" => {
            l.check(2..=2, &["entries"], &[], "engine DEVICE RING [entries=N]")?;
            let entries = l
                .kv("entries")
                .map(|t| l.num_max(t, 4096, "ring entries"))
                .transpose()?
                .unwrap_or(16)
                .max(1) as u32;
            Op::Engine {
                dev: l.name(&l.pos[0])?,
                ring: l.name(&l.pos[1])?,
                entries,
            }
        }
        "desc" => {
            l.check(
                5..=5,
                &[],
                &["irq"],
                "desc RING INDEX SOURCE DESTINATION LEN [irq]",
            )?;
            let p = a(&["irq"]);
            Op::Desc {
                ring: l.name(p[0])?,
                index: l.num_max(p[1], 4095, "index")? as u32,
                src: l.reference(p[2])?,
                dst: l.reference(p[3])?,
                len: l.num_max(p[4], MAX_DATA, "length")? as u32,
                irq: l.flag("irq"),
            }
        }
        "doorbell" => {
            l.check(2..=2, &[], &[], "doorbell DEVICE TAIL")?;
            Op::Doorbell {
                dev: l.name(&l.pos[0])?,
                tail: l.num_max(&l.pos[1], u64::from(u32::MAX), "tail")? as u32,
            }
        }
        "expect-status" => {
            l.check(
                3..=3,
                &[],
                &[],
                "expect-status RING INDEX pending|done|error",
            )?;
            let t = &l.pos[2];
            let status = match t.text.as_str() {
                "pending" => 0,
                "done" => 1,
                "error" => 2,
                _ => return Err(l.err(t, "status is pending, done or error")),
            };
            Op::ExpectStatus {
                ring: l.name(&l.pos[0])?,
                index: l.num_max(&l.pos[1], 4095, "index")? as u32,
                status,
            }
        }
        "expect-irqs" => {
            l.check(2..=2, &[], &[], "expect-irqs DEVICE COUNT")?;
            Op::ExpectIrqs {
                dev: l.name(&l.pos[0])?,
                count: l.num(&l.pos[1])?,
            }
        }
        "iommu-flush" => {
            l.check(0..=0, &[], &[], "iommu-flush")?;
            Op::IommuFlush
        }
        "remove-device" => {
            l.check(1..=1, &[], &[], "remove-device DEVICE")?;
            Op::RemoveDevice {
                dev: l.name(&l.pos[0])?,
            }
        }
        "dmabuf" => {
            l.check(3..=3, &[], &[], "dmabuf NAME EXPORTER SIZE")?;
            let size = l.num_max(&l.pos[2], 1 << 30, "size")?;
            if size == 0 {
                return Err(l.err(&l.pos[2], "size must not be 0"));
            }
            Op::DmaBuf {
                name: l.name(&l.pos[0])?,
                exporter: l.name(&l.pos[1])?,
                size,
            }
        }
        "attach" => {
            l.check(3..=3, &[], &[], "attach ATTACHMENT DMABUF DEVICE")?;
            Op::Attach {
                att: l.name(&l.pos[0])?,
                buf: l.name(&l.pos[1])?,
                dev: l.name(&l.pos[2])?,
            }
        }
        "map-attachment" => {
            l.check(
                3..=3,
                &[],
                &[],
                "map-attachment MAPPING ATTACHMENT DIRECTION",
            )?;
            Op::MapAttachment {
                map: l.name(&l.pos[0])?,
                att: l.name(&l.pos[1])?,
                dir: l.dir(&l.pos[2])?,
            }
        }
        "unmap-attachment" => {
            l.check(1..=1, &[], &[], "unmap-attachment MAPPING")?;
            Op::UnmapAttachment {
                map: l.name(&l.pos[0])?,
            }
        }
        "detach" => {
            l.check(1..=1, &[], &[], "detach ATTACHMENT")?;
            Op::Detach {
                att: l.name(&l.pos[0])?,
            }
        }
        "fence" => {
            l.check(
                3..=3,
                &[],
                &[],
                "fence FENCE DMABUF WRITER (a device or cpu)",
            )?;
            Op::Fence {
                fence: l.name(&l.pos[0])?,
                buf: l.name(&l.pos[1])?,
                who: l.who(&l.pos[2])?,
            }
        }
        "signal" => {
            l.check(1..=1, &[], &[], "signal FENCE")?;
            Op::Signal {
                fence: l.name(&l.pos[0])?,
            }
        }
        "wait" => {
            l.check(
                2..=2,
                &[],
                &[],
                "wait WAITER FENCE (WAITER: a device or cpu)",
            )?;
            Op::Wait {
                who: l.who(&l.pos[0])?,
                fence: l.name(&l.pos[1])?,
            }
        }
        c @ ("begin-cpu-access" | "end-cpu-access") => {
            l.check(2..=2, &[], &[], &format!("{c} DMABUF DIRECTION"))?;
            let (buf, dir) = (l.name(&l.pos[0])?, l.dir(&l.pos[1])?);
            if c == "begin-cpu-access" {
                Op::BeginCpuAccess { buf, dir }
            } else {
                Op::EndCpuAccess { buf, dir }
            }
        }
        "note" => {
            l.check(1..=1, &[], &[], "note \"TEXT\"")?;
            Op::Note {
                text: l.pos[0].text.clone(),
            }
        }
        other => {
            return Err(l.err(
                &l.cmd,
                format!("unknown command '{other}'{}", suggest(other)),
            ));
        }
    })
}
