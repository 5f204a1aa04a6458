//! Counts what a tracer printed, as it arrives: reported signals, losses it admitted, the rest.

use std::io::{self, BufRead, BufReader, Read};
use std::thread::{self, JoinHandle};
use std::time::Instant;

/// Whose output a counter reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// exitwatch `--format json`: one object per line, `"event":"signal"` or `"event":"lost"`.
    ExitwatchJson,
    /// The bench's bpftrace one-liners: `s SIG PID` per signal; bpftrace's own `Lost N events`.
    Bpftrace,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Signal,
    Lost(u64),
    Other,
}

#[derive(Clone, Debug, Default)]
pub struct Counts {
    pub signals: u64,
    /// What the tracer said it lost (exitwatch: the kernel's exact per-CPU count).
    pub lost: u64,
    pub other: u64,
    /// Events exitwatch said on stderr that an output dropped (its queue was full).
    pub dropped: u64,
    /// When the last signal line was read: the end of delivery.
    pub last_signal: Option<Instant>,
}

pub fn classify(dialect: Dialect, line: &[u8]) -> Line {
    match dialect {
        Dialect::ExitwatchJson => {
            let head = &line[..line.len().min(96)];
            match find(head, b"\"event\":\"").map(|i| &head[i + 9..]) {
                Some(rest) if rest.starts_with(b"signal\"") => Line::Signal,
                Some(rest) if rest.starts_with(b"lost\"") => {
                    Line::Lost(number_after(line, b"\"count\":").unwrap_or(0))
                }
                _ => Line::Other,
            }
        }
        Dialect::Bpftrace => {
            if line.starts_with(b"s ") {
                Line::Signal
            } else if find(line, b" events").is_some() {
                Line::Lost(number_after(line, b"Lost ").unwrap_or(0))
            } else {
                Line::Other
            }
        }
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

fn number_after(line: &[u8], key: &[u8]) -> Option<u64> {
    let rest = &line[find(line, key)? + key.len()..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// Reads `source` to its end on a thread of its own, so the tracer never blocks on a full pipe.
pub struct Counter(JoinHandle<io::Result<Counts>>);

impl Counts {
    /// Everything the tracer admitted losing: in the kernel, and in its own outputs.
    pub fn all_lost(&self) -> u64 {
        self.lost + self.dropped
    }
}

impl Counter {
    pub fn spawn(dialect: Dialect, source: impl Read + Send + 'static) -> Counter {
        Counter(thread::spawn(move || count(dialect, source)))
    }

    /// The counts once the writer has closed its end (it has exited).
    pub fn finish(self) -> io::Result<Counts> {
        self.0
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the counting thread panicked")))
    }
}

fn count(dialect: Dialect, source: impl Read) -> io::Result<Counts> {
    let mut reader = BufReader::with_capacity(1 << 20, source);
    let mut counts = Counts::default();
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(counts);
        }
        match classify(dialect, &line) {
            Line::Signal => {
                counts.signals += 1;
                counts.last_signal = Some(Instant::now());
            }
            Line::Lost(n) => counts.lost += n,
            Line::Other => counts.other += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNAL: &str = r#"{"schema":"exitwatch.v1","event":"signal","time":"2026-11-22T17:30:26Z","node":"vm","signal":{"number":10}}"#;
    const LOST: &str = r#"{"schema":"exitwatch.v1","event":"lost","time":"2026-11-22T17:30:27Z","node":"vm","count":223427,"reason":"ring_buffer_full"}"#;

    #[test]
    fn exitwatch_lines() {
        let d = Dialect::ExitwatchJson;
        assert_eq!(classify(d, SIGNAL.as_bytes()), Line::Signal);
        assert_eq!(classify(d, LOST.as_bytes()), Line::Lost(223427));
        assert_eq!(
            classify(d, br#"{"schema":"exitwatch.v1","event":"exit"}"#),
            Line::Other
        );
        // A comm or argv that spells `"event":"lost"` comes after the head, never in it.
        assert_eq!(classify(d, b"garbage"), Line::Other);
    }

    #[test]
    fn bpftrace_lines() {
        let d = Dialect::Bpftrace;
        assert_eq!(classify(d, b"s 10 4242\n"), Line::Signal);
        assert_eq!(classify(d, b"Lost 1234 events\n"), Line::Lost(1234));
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
        let text = format!("{SIGNAL}\n{SIGNAL}\n{LOST}\n{{\"event\":\"exit\"}}\n{SIGNAL}");
        let counts = count(Dialect::ExitwatchJson, text.as_bytes()).unwrap();
        assert_eq!((counts.signals, counts.lost, counts.other), (3, 223427, 1));
        assert!(counts.last_signal.is_some());
    }
}
