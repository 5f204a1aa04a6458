//! Counts what a tracer printed, as it arrives: reported signals (fatal or not), exits,
//! suppressed signals, losses it admitted by class; in detail (who sent what to whom) on request.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use serde::Deserialize;

/// Whose output a counter reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// exitwatch `--format json`: one object per line, `"event":"signal"`, `"exit"`,
    /// `"suppressed"` or `"lost"`.
    ExitwatchJson,
    /// The bench's bpftrace one-liners: `s SIG PID` per signal; bpftrace's own `Lost N events`.
    Bpftrace,
}

/// How much a counter keeps: counts only (fast enough for 250k lines/s), or also who sent
/// which signal to whom and who exited (each line parsed as JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    Counts,
    Everything,
}

/// exitwatch's classes of lost records, in the order of [`Counts::lost_by`].
pub const CLASSES: [&str; 4] = ["fatal", "nonfatal", "identity", "exit"];

#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Signal { fatal: bool },
    Exit,
    Suppressed(u64),
    Lost(u64, Option<usize>),
    Other,
}

/// One reported signal, kept with [`Detail::Everything`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub signo: i64,
    pub fatal: bool,
    pub sender: u32,
    pub target: u32,
}

#[derive(Clone, Debug, Default)]
pub struct Counts {
    /// Signal lines, fatal or not.
    pub signals: u64,
    pub fatal: u64,
    pub exits: u64,
    /// Signals exitwatch said a sender's budget suppressed (sum of the `count`s).
    pub suppressed: u64,
    /// What the tracer said it lost (exitwatch: the kernel's exact per-CPU count), all classes.
    pub lost: u64,
    /// exitwatch's losses by class, in the order of [`CLASSES`].
    pub lost_by: [u64; 4],
    pub other: u64,
    /// With [`Detail::Everything`]: lines whose details could not be read (not exitwatch.v1
    /// as this counter knows it); a bench that counted them as unreported would blame exitwatch.
    pub unparsed: u64,
    /// Events exitwatch said on stderr that an output dropped (its queue was full).
    pub dropped: u64,
    /// When the last signal line was read: the end of delivery.
    pub last_signal: Option<Instant>,
    /// With [`Detail::Everything`]: every signal, every exited pid, suppressed per sender pid.
    pub seen: Vec<Seen>,
    pub exited: Vec<u32>,
    pub suppressed_from: HashMap<u32, u64>,
}

impl Counts {
    /// Everything the tracer admitted losing: in the kernel, and in its own outputs.
    pub fn all_lost(&self) -> u64 {
        self.lost + self.dropped
    }

    pub fn lost_class(&self, class: &str) -> u64 {
        CLASSES
            .iter()
            .position(|c| *c == class)
            .map_or(0, |i| self.lost_by[i])
    }

    fn add(&mut self, line: Line) {
        match line {
            Line::Signal { fatal } => {
                self.signals += 1;
                self.fatal += u64::from(fatal);
                self.last_signal = Some(Instant::now());
            }
            Line::Exit => self.exits += 1,
            Line::Suppressed(n) => self.suppressed += n,
            Line::Lost(n, class) => {
                self.lost += n;
                if let Some(i) = class {
                    self.lost_by[i] += n;
                }
            }
            Line::Other => self.other += 1,
        }
    }
}

pub fn classify(dialect: Dialect, line: &[u8]) -> Line {
    match dialect {
        Dialect::ExitwatchJson => {
            let head = &line[..line.len().min(96)];
            match find(head, b"\"event\":\"").map(|i| &head[i + 9..]) {
                // A quote inside a JSON string is escaped, so `"fatal":true` is the field.
                Some(rest) if rest.starts_with(b"signal\"") => Line::Signal {
                    fatal: find(line, b"\"fatal\":true").is_some(),
                },
                Some(rest) if rest.starts_with(b"exit\"") => Line::Exit,
                Some(rest) if rest.starts_with(b"suppressed\"") => {
                    Line::Suppressed(last_number_after(line, b"\"count\":").unwrap_or(0))
                }
                Some(rest) if rest.starts_with(b"lost\"") => Line::Lost(
                    number_after(line, b"\"count\":").unwrap_or(0),
                    CLASSES.iter().position(|c| {
                        find(line, format!("\"class\":\"{c}\"").as_bytes()).is_some()
                    }),
                ),
                _ => Line::Other,
            }
        }
        Dialect::Bpftrace => {
            if line.starts_with(b"s ") {
                Line::Signal { fatal: false }
            } else if find(line, b" events").is_some() {
                Line::Lost(number_after(line, b"Lost ").unwrap_or(0), None)
            } else {
                Line::Other
            }
        }
    }
}

/// The fields of an exitwatch JSON line [`details`] reads; serde skips the rest without
/// building it (a `serde_json::Value` of each 1-2 KB line made the counter slower than exitwatch).
#[derive(Deserialize)]
struct Doc<'a> {
    #[serde(borrow)]
    event: Option<Cow<'a, str>>,
    signal: Option<SignalDoc>,
    sender: Option<PidDoc>,
    target: Option<PidDoc>,
    count: Option<u64>,
}

#[derive(Deserialize)]
struct SignalDoc {
    number: Option<i64>,
    fatal: Option<bool>,
}

#[derive(Deserialize)]
struct PidDoc {
    pid: Option<u32>,
}

/// Who sent what to whom, from one exitwatch JSON line.
fn details(line: &[u8], counts: &mut Counts) {
    let Ok(doc) = serde_json::from_slice::<Doc>(line) else {
        counts.unparsed += 1;
        return;
    };
    let pid = |p: &Option<PidDoc>| p.as_ref().and_then(|p| p.pid);
    match doc.event.as_deref() {
        Some("signal") => counts.seen.push(Seen {
            signo: doc.signal.as_ref().and_then(|s| s.number).unwrap_or(0),
            fatal: doc.signal.as_ref().and_then(|s| s.fatal).unwrap_or(false),
            sender: pid(&doc.sender).unwrap_or(0),
            target: pid(&doc.target).unwrap_or(0),
        }),
        Some("exit") => counts.exited.extend(pid(&doc.target)),
        Some("suppressed") => {
            let from = pid(&doc.sender).unwrap_or(0);
            *counts.suppressed_from.entry(from).or_default() += doc.count.unwrap_or(0);
        }
        _ => {}
    }
}

/// `exitwatch: warning: output stdout dropped 12 events (queue of 1024 full, ...)` -> 12.
pub fn sink_dropped(line: &str) -> Option<u64> {
    let rest = line.strip_prefix("exitwatch: warning: output ")?;
    let (_, rest) = rest.split_once(" dropped ")?;
    let (n, _) = rest.split_once(" events")?;
    n.parse().ok()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn digits_at(rest: &[u8]) -> Option<u64> {
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

fn number_after(line: &[u8], key: &[u8]) -> Option<u64> {
    digits_at(&line[find(line, key)? + key.len()..])
}

/// A suppressed line's sender has no `count` field, but its comm could spell one: the
/// document's own `count` comes after the sender and the signal.
fn last_number_after(line: &[u8], key: &[u8]) -> Option<u64> {
    digits_at(&line[rfind(line, key)? + key.len()..])
}

/// Reads `source` to its end on a thread of its own, so the tracer never blocks on a full pipe.
pub struct Counter(JoinHandle<io::Result<Counts>>);

impl Counter {
    pub fn spawn(dialect: Dialect, detail: Detail, source: impl Read + Send + 'static) -> Counter {
        Counter(thread::spawn(move || count(dialect, detail, source)))
    }

    /// The counts once the writer has closed its end (it has exited).
    pub fn finish(self) -> io::Result<Counts> {
        self.0
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the counting thread panicked")))
    }
}

fn count(dialect: Dialect, detail: Detail, source: impl Read) -> io::Result<Counts> {
    let mut reader = BufReader::with_capacity(1 << 20, source);
    let mut counts = Counts::default();
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(counts);
        }
        counts.add(classify(dialect, &line));
        if detail == Detail::Everything && dialect == Dialect::ExitwatchJson {
            details(&line, &mut counts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNAL: &str = r#"{"schema":"exitwatch.v1","event":"signal","time":"2026-11-22T17:30:26Z","node":"vm","signal":{"number":10,"fatal":false},"sender":{"pid":7,"comm":"\"fatal\":true"},"target":{"pid":8}}"#;
    const FATAL: &str = r#"{"schema":"exitwatch.v1","event":"signal","time":"2026-11-22T17:30:26Z","node":"vm","signal":{"number":9,"fatal":true},"sender":{"pid":7},"target":{"pid":9}}"#;
    const LOST: &str = r#"{"schema":"exitwatch.v1","event":"lost","time":"2026-11-22T17:30:27Z","node":"vm","count":223427,"reason":"ring_buffer_full","class":"nonfatal"}"#;
    const SUPPRESSED: &str = r#"{"schema":"exitwatch.v1","event":"suppressed","id":"x","time":"t","node":"vm","sender":{"pid":7,"comm":"count\":5","uid":65534},"signal":{"number":10,"name":"SIGUSR1"},"count":4000,"reason":"sender_budget","diagnosis":[]}"#;
    const EXIT: &str = r#"{"schema":"exitwatch.v1","event":"exit","time":"t","node":"vm","exit":{"code":137},"target":{"pid":9}}"#;

    #[test]
    fn exitwatch_lines() {
        let d = Dialect::ExitwatchJson;
        assert_eq!(
            classify(d, SIGNAL.as_bytes()),
            Line::Signal { fatal: false }
        );
        assert_eq!(classify(d, FATAL.as_bytes()), Line::Signal { fatal: true });
        assert_eq!(classify(d, LOST.as_bytes()), Line::Lost(223427, Some(1)));
        assert_eq!(classify(d, SUPPRESSED.as_bytes()), Line::Suppressed(4000));
        assert_eq!(classify(d, EXIT.as_bytes()), Line::Exit);
        // A comm or argv that spells `"event":"lost"` comes after the head, never in it.
        assert_eq!(classify(d, b"garbage"), Line::Other);
    }

    #[test]
    fn bpftrace_lines() {
        let d = Dialect::Bpftrace;
        assert_eq!(classify(d, b"s 10 4242\n"), Line::Signal { fatal: false });
        assert_eq!(classify(d, b"Lost 1234 events\n"), Line::Lost(1234, None));
        assert_eq!(classify(d, b"Attaching 1 probe...\n"), Line::Other);
        assert_eq!(classify(d, b"@[10]: 5\n"), Line::Other);
    }

    #[test]
    fn exitwatch_output_drops() {
        assert_eq!(
            sink_dropped("exitwatch: warning: output stdout dropped 12 events (queue of 1024 full, or refused by the receiver)"),
            Some(12)
        );
        assert_eq!(sink_dropped("exitwatch: warning: something else"), None);
    }

    #[test]
    fn counts_a_stream_that_ends() {
        let text = format!(
            "{SIGNAL}\n{FATAL}\n{LOST}\n{SUPPRESSED}\n{EXIT}\n{{\"event\":\"x\"}}\n{SIGNAL}"
        );
        let c = count(Dialect::ExitwatchJson, Detail::Everything, text.as_bytes()).unwrap();
        assert_eq!((c.signals, c.fatal, c.exits, c.other), (3, 1, 1, 1));
        assert_eq!((c.lost, c.lost_by), (223427, [0, 223427, 0, 0]));
        assert_eq!(c.suppressed, 4000);
        assert_eq!(c.suppressed_from.get(&7), Some(&4000));
        assert_eq!(c.exited, vec![9]);
        assert_eq!(c.seen.len(), 3);
        assert!(c.seen[1].fatal && c.seen[1].target == 9 && c.seen[1].signo == 9);
        assert!(c.last_signal.is_some());
    }
}
