//! numactl's option syntax, as glibc's `getopt_long` reads it with the
//! short options `+ai:w:p:P:c:N:C:m:slbHS:f:o:L:tM:dDI:uTV` and numactl's
//! long options: clustered short options (`-lm0`), attached or separate
//! arguments (`-m1`, `-m 1`, `--membind=1`, `--membind 1`), unambiguous
//! prefixes of long options (`--inter=0`), `--` to end the options, and the
//! first non-option (the command) ending them too (the leading `+`).
//! Errors carry glibc's message text.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

/// An option numactl knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opt {
    /// `-a`, `--all`.
    All,
    /// `-i`, `--interleave`.
    Interleave,
    /// `-w`, `--weighted-interleave`.
    WeightedInterleave,
    /// `-p`, `--preferred`.
    Preferred,
    /// `-P`, `--preferred-many`.
    PreferredMany,
    /// `-c`, `--cpubind` (old name of `--cpunodebind`).
    CpuBind,
    /// `-N`, `--cpunodebind`.
    CpuNodeBind,
    /// `-C`, `--physcpubind`.
    PhysCpuBind,
    /// `-m`, `--membind`.
    MemBind,
    /// `-s`, `--show`.
    Show,
    /// `-l`, `--localalloc`.
    LocalAlloc,
    /// `-b`, `--balancing`.
    Balancing,
    /// `-H`, `--hardware`.
    Hardware,
    /// `-S`, `--shm`.
    Shm,
    /// `-f`, `--file`.
    File,
    /// `-o`, `--offset`.
    Offset,
    /// `-L`, `--length`.
    Length,
    /// `-t`, `--strict`.
    Strict,
    /// `-M`, `--shmmode`.
    ShmMode,
    /// `-d`, `--dump`.
    Dump,
    /// `-D`, `--dump-nodes`.
    DumpNodes,
    /// `-I`, `--shmid`.
    ShmId,
    /// `-u`, `--huge`.
    Huge,
    /// `-T`, `--touch`.
    Touch,
    /// `--cpu-compress` (no short form).
    CpuCompress,
    /// `-V`, `--verify`.
    Verify,
    /// `--version` (no short form).
    Version,
}

/// numactl's long options in its table order (the order glibc lists
/// ambiguous candidates in): name, takes an argument, option.
const LONG: &[(&str, bool, Opt)] = &[
    ("all", false, Opt::All),
    ("interleave", true, Opt::Interleave),
    ("weighted-interleave", true, Opt::WeightedInterleave),
    ("preferred", true, Opt::Preferred),
    ("preferred-many", true, Opt::PreferredMany),
    ("cpubind", true, Opt::CpuBind),
    ("cpunodebind", true, Opt::CpuNodeBind),
    ("physcpubind", true, Opt::PhysCpuBind),
    ("membind", true, Opt::MemBind),
    ("show", false, Opt::Show),
    ("localalloc", false, Opt::LocalAlloc),
    ("balancing", false, Opt::Balancing),
    ("hardware", false, Opt::Hardware),
    ("shm", true, Opt::Shm),
    ("file", true, Opt::File),
    ("offset", true, Opt::Offset),
    ("length", true, Opt::Length),
    ("strict", false, Opt::Strict),
    ("shmmode", true, Opt::ShmMode),
    ("dump", false, Opt::Dump),
    ("dump-nodes", false, Opt::DumpNodes),
    ("shmid", true, Opt::ShmId),
    ("huge", false, Opt::Huge),
    ("touch", false, Opt::Touch),
    ("cpu-compress", false, Opt::CpuCompress),
    ("verify", false, Opt::Verify),
    ("version", false, Opt::Version),
];

/// The short option for a letter: the option and whether it takes an argument.
fn short(c: u8) -> Option<(Opt, bool)> {
    LONG.iter()
        .find(|(_, _, o)| short_letter(*o) == Some(c))
        .map(|&(_, arg, o)| (o, arg))
}

fn short_letter(o: Opt) -> Option<u8> {
    Some(match o {
        Opt::All => b'a',
        Opt::Interleave => b'i',
        Opt::WeightedInterleave => b'w',
        Opt::Preferred => b'p',
        Opt::PreferredMany => b'P',
        Opt::CpuBind => b'c',
        Opt::CpuNodeBind => b'N',
        Opt::PhysCpuBind => b'C',
        Opt::MemBind => b'm',
        Opt::Show => b's',
        Opt::LocalAlloc => b'l',
        Opt::Balancing => b'b',
        Opt::Hardware => b'H',
        Opt::Shm => b'S',
        Opt::File => b'f',
        Opt::Offset => b'o',
        Opt::Length => b'L',
        Opt::Strict => b't',
        Opt::ShmMode => b'M',
        Opt::Dump => b'd',
        Opt::DumpNodes => b'D',
        Opt::ShmId => b'I',
        Opt::Huge => b'u',
        Opt::Touch => b'T',
        Opt::Verify => b'V',
        Opt::CpuCompress | Opt::Version => return None,
    })
}

/// Reads options one at a time, like repeated `getopt_long` calls.
#[derive(Debug)]
pub struct Getopt {
    args: Vec<OsString>,
    /// The next argument to look at.
    optind: usize,
    /// Position inside a cluster of short options (0: not in one).
    nextchar: usize,
    /// The program name for messages (`argv[0]`).
    prog: String,
}

/// One step: an option with its argument, or glibc's complaint (one line,
/// with its newline, for stderr).
pub type Step = Result<(Opt, Option<OsString>), Vec<u8>>;

impl Getopt {
    /// Options from `args` (without `argv[0]`); `prog` names the program in
    /// messages.
    pub fn new(args: Vec<OsString>, prog: &str) -> Getopt {
        Getopt {
            args,
            optind: 0,
            nextchar: 0,
            prog: prog.to_string(),
        }
    }

    /// The arguments after the options (the command), once [`Iterator::next`]
    /// returned `None`.
    pub fn rest(&self) -> &[OsString] {
        &self.args[self.optind.min(self.args.len())..]
    }

    /// glibc's complaint: the program's name, then `parts` byte for byte
    /// (the user's argument as given).
    fn msg(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut m = self.prog.as_bytes().to_vec();
        for p in parts {
            m.extend_from_slice(p);
        }
        m
    }

    fn take_next(&mut self) -> Option<OsString> {
        let a = self.args.get(self.optind).cloned();
        if a.is_some() {
            self.optind += 1;
        }
        a
    }

    fn long(&mut self, body: &[u8]) -> Step {
        self.optind += 1;
        let (name, value) = match body.iter().position(|&c| c == b'=') {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        let exact = LONG.iter().find(|(n, _, _)| n.as_bytes() == name);
        let found = match exact {
            Some(f) => f,
            None => {
                let cands: Vec<&(&str, bool, Opt)> = LONG
                    .iter()
                    .filter(|(n, _, _)| n.as_bytes().starts_with(name))
                    .collect();
                match cands.as_slice() {
                    [] => {
                        return Err(self.msg(&[b": unrecognized option '--", body, b"'\n"]));
                    }
                    [one] => *one,
                    many => {
                        let list: String =
                            many.iter().map(|(n, _, _)| format!(" '--{n}'")).collect();
                        return Err(self.msg(&[
                            b": option '--",
                            body,
                            b"' is ambiguous; possibilities:",
                            list.as_bytes(),
                            b"\n",
                        ]));
                    }
                }
            }
        };
        let &(full, takes, opt) = found;
        match (takes, value) {
            (false, Some(_)) => {
                Err(self
                    .msg(&[format!(": option '--{full}' doesn't allow an argument\n").as_bytes()]))
            }
            (false, None) => Ok((opt, None)),
            (true, Some(v)) => Ok((opt, Some(OsString::from(std::ffi::OsStr::from_bytes(v))))),
            (true, None) => {
                match self.take_next() {
                    Some(v) => Ok((opt, Some(v))),
                    None => Err(self
                        .msg(&[format!(": option '--{full}' requires an argument\n").as_bytes()])),
                }
            }
        }
    }
}

impl Iterator for Getopt {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        if self.nextchar == 0 {
            let arg = self.args.get(self.optind)?.as_bytes().to_vec();
            if arg == b"--" {
                self.optind += 1;
                return None;
            }
            if arg.len() < 2 || arg[0] != b'-' {
                return None;
            }
            if let Some(body) = arg.strip_prefix(b"--") {
                return Some(self.long(body));
            }
            self.nextchar = 1;
        }
        let arg = self.args[self.optind].as_bytes().to_vec();
        let c = arg[self.nextchar];
        self.nextchar += 1;
        let at_end = self.nextchar >= arg.len();
        let finish = |g: &mut Getopt| {
            g.nextchar = 0;
            g.optind += 1;
        };
        let Some((opt, takes)) = short(c) else {
            if at_end {
                finish(self);
            }
            return Some(Err(self.msg(&[b": invalid option -- '", &[c], b"'\n"])));
        };
        if !takes {
            if at_end {
                finish(self);
            }
            return Some(Ok((opt, None)));
        }
        if !at_end {
            let v = OsString::from(std::ffi::OsStr::from_bytes(&arg[self.nextchar..]));
            finish(self);
            return Some(Ok((opt, Some(v))));
        }
        finish(self);
        Some(match self.take_next() {
            Some(v) => Ok((opt, Some(v))),
            None => Err(self.msg(&[b": option requires an argument -- '", &[c], b"'\n"])),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An option with its argument as text, or getopt's complaint.
    type Seen = Result<(Opt, Option<String>), String>;

    fn run(args: &[&str]) -> (Vec<Seen>, Vec<String>) {
        let mut g = Getopt::new(args.iter().map(OsString::from).collect(), "numactl");
        let mut out = Vec::new();
        for s in g.by_ref() {
            let bad = s.is_err();
            out.push(
                s.map(|(o, a)| (o, a.map(|a| a.to_string_lossy().into_owned())))
                    .map_err(|e| String::from_utf8(e).unwrap()),
            );
            if bad {
                break;
            }
        }
        let rest = g
            .rest()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        (out, rest)
    }

    #[test]
    fn forms_of_arguments() {
        let (o, rest) = run(&[
            "-m1",
            "-m",
            "2",
            "--membind=3",
            "--membind",
            "4",
            "cmd",
            "-x",
        ]);
        let args: Vec<_> = o.into_iter().map(|s| s.unwrap().1.unwrap()).collect();
        assert_eq!(args, ["1", "2", "3", "4"]);
        assert_eq!(rest, ["cmd", "-x"]);
    }

    #[test]
    fn clusters_prefixes_and_the_end() {
        let (o, rest) = run(&["-lsm0", "--inter=1", "--", "-m"]);
        let opts: Vec<_> = o.into_iter().map(|s| s.unwrap()).collect();
        assert_eq!(
            opts,
            [
                (Opt::LocalAlloc, None),
                (Opt::Show, None),
                (Opt::MemBind, Some("0".into())),
                (Opt::Interleave, Some("1".into()))
            ]
        );
        assert_eq!(rest, ["-m"]);
        let (o, rest) = run(&["-", "x"]);
        assert!(o.is_empty());
        assert_eq!(rest, ["-", "x"]);
        // An option argument may start with a dash.
        let (o, _) = run(&["-m", "-1"]);
        assert_eq!(o[0], Ok((Opt::MemBind, Some("-1".into()))));
        // A full name wins over being a prefix of a longer one.
        let (o, _) = run(&["--preferred=0", "--dump"]);
        assert_eq!(o[0], Ok((Opt::Preferred, Some("0".into()))));
        assert_eq!(o[1], Ok((Opt::Dump, None)));
    }

    #[test]
    fn glibc_messages() {
        let err = |a: &[&str]| run(a).0.pop().unwrap().unwrap_err();
        assert_eq!(err(&["-x"]), "numactl: invalid option -- 'x'\n");
        assert_eq!(
            err(&["-m"]),
            "numactl: option requires an argument -- 'm'\n"
        );
        assert_eq!(
            err(&["--foo=1"]),
            "numactl: unrecognized option '--foo=1'\n"
        );
        assert_eq!(
            err(&["--pre=0"]),
            "numactl: option '--pre=0' is ambiguous; possibilities: '--preferred' '--preferred-many'\n"
        );
        assert_eq!(
            err(&["--c", "0"]),
            "numactl: option '--c' is ambiguous; possibilities: '--cpubind' '--cpunodebind' '--cpu-compress'\n"
        );
        assert_eq!(
            err(&["--show=1"]),
            "numactl: option '--show' doesn't allow an argument\n"
        );
        assert_eq!(
            err(&["--membind"]),
            "numactl: option '--membind' requires an argument\n"
        );
        assert_eq!(
            err(&["--mem"]),
            "numactl: option '--membind' requires an argument\n"
        );
    }
}
