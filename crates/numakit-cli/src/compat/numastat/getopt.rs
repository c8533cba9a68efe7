//! numastat's option syntax, as glibc's `getopt_long` reads it with the
//! short options `cmnp:s::vVz?` and the one long option `--help`:
//! clustered short options (`-cm`), an argument attached or separate for
//! `-p` (`-p1`, `-p 1`), only attached for `-s` (`-s1`; `-s 1` is `-s`
//! and a process `1`), prefixes of `--help`, `--` ending the options, and
//! non-options anywhere (glibc moves them after the options). Errors carry
//! glibc's message text.

/// One thing the scan found, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An option letter and its argument.
    Opt(char, Option<String>),
    /// `-?`, `--help`, or an error (its message, already worded as glibc
    /// words it, or `None` for a plain `-?`/`--help`): numastat prints its
    /// usage and exits.
    Usage(Option<String>),
}

/// The options in order, then the non-options.
pub fn scan(args: &[String], prog: &str) -> (Vec<Event>, Vec<String>) {
    let mut ev = Vec::new();
    let mut rest = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            rest.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            ev.push(
                match (!name.is_empty() && "help".starts_with(name), value) {
                    (true, None) => Event::Usage(None),
                    (true, Some(_)) => Event::Usage(Some(format!(
                        "{prog}: option '--help' doesn't allow an argument"
                    ))),
                    (false, _) => Event::Usage(Some(format!("{prog}: unrecognized option '{a}'"))),
                },
            );
            continue;
        }
        let Some(cluster) = a.strip_prefix('-').filter(|c| !c.is_empty()) else {
            rest.push(a.clone());
            continue;
        };
        let chars: Vec<char> = cluster.chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            j += 1;
            let attached: String = chars[j..].iter().collect();
            match c {
                'c' | 'm' | 'n' | 'v' | 'V' | 'z' => ev.push(Event::Opt(c, None)),
                '?' => ev.push(Event::Usage(None)),
                's' => {
                    ev.push(Event::Opt('s', (!attached.is_empty()).then_some(attached)));
                    break;
                }
                'p' if !attached.is_empty() => {
                    ev.push(Event::Opt('p', Some(attached)));
                    break;
                }
                'p' => {
                    match args.get(i) {
                        Some(next) => ev.push(Event::Opt('p', Some(next.clone()))),
                        None => ev.push(Event::Usage(Some(format!(
                            "{prog}: option requires an argument -- 'p'"
                        )))),
                    }
                    i += 1;
                    break;
                }
                _ => ev.push(Event::Usage(Some(format!(
                    "{prog}: invalid option -- '{c}'"
                )))),
            }
        }
    }
    (ev, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn forms() {
        let (ev, rest) = scan(
            &s(&["12", "-cm", "-p", "java", "-s1", "-s", "x", "--", "-n"]),
            "numastat",
        );
        assert_eq!(
            ev,
            vec![
                Event::Opt('c', None),
                Event::Opt('m', None),
                Event::Opt('p', Some("java".into())),
                Event::Opt('s', Some("1".into())),
                Event::Opt('s', None),
            ]
        );
        assert_eq!(rest, s(&["12", "x", "-n"]));
        let (ev, _) = scan(&s(&["-p7", "--he", "-x", "--help=1", "--nope", "-p"]), "ns");
        assert_eq!(ev[0], Event::Opt('p', Some("7".into())));
        assert_eq!(ev[1], Event::Usage(None));
        assert_eq!(
            ev[2],
            Event::Usage(Some("ns: invalid option -- 'x'".into()))
        );
        assert_eq!(
            ev[3],
            Event::Usage(Some("ns: option '--help' doesn't allow an argument".into()))
        );
        assert_eq!(
            ev[4],
            Event::Usage(Some("ns: unrecognized option '--nope'".into()))
        );
        assert_eq!(
            ev[5],
            Event::Usage(Some("ns: option requires an argument -- 'p'".into()))
        );
        let (_, rest) = scan(&s(&["-"]), "ns");
        assert_eq!(rest, s(&["-"]));
    }
}
