//! Pure helpers shared by the end-to-end tests and the `victim` binary: signal names, the
//! victim's `key=value` lines, and matchers for exitwatch's systemtap-style lines.

use std::collections::HashMap;

pub mod daemons;
pub mod process;

/// Signals the tests use, by the name without `SIG`.
const SIGNALS: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ABRT", libc::SIGABRT),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("URG", libc::SIGURG),
    ("WINCH", libc::SIGWINCH),
];

/// `KILL`, `SIGKILL` or `9` -> 9.
pub fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let name = s.strip_prefix("SIG").unwrap_or(s);
    SIGNALS.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

/// `ready pid=12 tids=12,13` -> {pid: 12, tids: "12,13"}; words without `=` are skipped.
pub fn ready_fields(line: &str) -> HashMap<String, String> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `name(123)` -> ("name", "123"); the name may itself contain parentheses.
fn name_and_paren(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_suffix(')')?;
    let open = inner.rfind('(')?;
    Some((&inner[..open], &inner[open + 1..]))
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `^(\S+)\((\d+)\)$` -> (name, pid).
pub fn stap_who(s: &str) -> Option<(&str, u32)> {
    let (name, pid) = name_and_paren(s)?;
    if name.is_empty() || name.contains(char::is_whitespace) || !is_digits(pid) {
        return None;
    }
    Some((name, pid.parse().ok()?))
}

/// A process as a stap line names it: `name(pid)`.
pub type StapWho<'a> = (&'a str, u32);

/// `^(\S+\(\d+\)) send (SIG\w+) to (\S+\(\d+\))$`.
pub fn stap_send_line(line: &str) -> Option<(StapWho<'_>, &str, StapWho<'_>)> {
    let (sender, rest) = line.split_once(" send ")?;
    let (sig, target) = rest.split_once(" to ")?;
    if !sig.starts_with("SIG") || !sig[3..].bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    Some((stap_who(sender)?, sig, stap_who(target)?))
}

/// `^parent of sender: (\S+)\((\d+)\)$`.
pub fn stap_parent_line(line: &str) -> Option<(&str, u32)> {
    stap_who(line.strip_prefix("parent of sender: ")?)
}

/// `^task_ancestry:swapper/0\(0m0\.0+s\)(=>[^=]+\(\d+m\d+\.\d{9}s\))+$` -> the names after
/// swapper/0, root first.
pub fn stap_ancestry_line(line: &str) -> Option<Vec<&str>> {
    let chain = line.strip_prefix("task_ancestry:")?;
    let mut links = chain.split("=>");
    if links.next()? != "swapper/0(0m0.000000000s)" {
        return None;
    }
    let mut names = Vec::new();
    for link in links {
        let (name, age) = name_and_paren(link)?;
        let (mins, secs) = age.strip_suffix('s')?.split_once('m')?;
        let (whole, frac) = secs.split_once('.')?;
        if name.is_empty()
            || !is_digits(mins)
            || !is_digits(whole)
            || frac.len() != 9
            || !is_digits(frac)
        {
            return None;
        }
        names.push(name);
    }
    (!names.is_empty()).then_some(names)
}

/// `2026-11-22T17:10:09.123456789Z` (exitwatch's timestamps: UTC, nine digits) -> Unix ns.
pub fn unix_ns_from_rfc3339(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    if b.len() != 30 || b[29] != b'Z' || &s[4..5] != "-" || &s[10..11] != "T" || &s[19..20] != "." {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i128> {
        let t = &s[r];
        is_digits(t).then(|| t.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, min, sec, frac) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..29)?);
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + min * 60 + sec) * 1_000_000_000) + frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(parse_signal("KILL"), Some(9));
        assert_eq!(parse_signal("SIGUSR1"), Some(libc::SIGUSR1));
        assert_eq!(parse_signal("15"), Some(15));
        assert_eq!(parse_signal("0"), None);
        assert_eq!(parse_signal("NOPE"), None);
    }

    #[test]
    fn rfc3339_times_back_to_unix_ns() {
        assert_eq!(
            unix_ns_from_rfc3339("1970-01-01T00:00:01.000000002Z"),
            Some(1_000_000_002)
        );
        assert_eq!(
            unix_ns_from_rfc3339("2026-11-22T17:10:09.123456789Z"),
            Some(1_795_367_409_123_456_789)
        );
        assert_eq!(
            unix_ns_from_rfc3339("2024-02-29T00:00:00.000000000Z"),
            Some(1_709_164_800_000_000_000)
        );
        assert_eq!(unix_ns_from_rfc3339("2026-11-22T17:10:09Z"), None);
        assert_eq!(unix_ns_from_rfc3339("2026-11-22 17:10:09.123456789Z"), None);
    }

    #[test]
    fn ready_line_fields() {
        let f = ready_fields("ready pid=12 host_pid=99 tids=12,13\n");
        assert_eq!(f["pid"], "12");
        assert_eq!(f["tids"], "12,13");
        assert!(!f.contains_key("ready"));
    }

    #[test]
    fn stap_lines_match_the_systemtap_shapes() {
        assert_eq!(
            stap_send_line("kill(42) send SIGKILL to sleep(7)"),
            Some((("kill", 42), "SIGKILL", ("sleep", 7)))
        );
        assert_eq!(stap_send_line("kill(42) send SIGKILL to my app(7)"), None);
        assert_eq!(stap_send_line("kill(x) send SIGKILL to app(7)"), None);
        assert_eq!(
            stap_parent_line("parent of sender: sh(41)"),
            Some(("sh", 41))
        );
        assert_eq!(stap_parent_line("parent of sender: sh(41) "), None);
        assert_eq!(
            stap_ancestry_line(
                "task_ancestry:swapper/0(0m0.000000000s)=>systemd(0m0.080000000s)=>kill(33475m5.202486630s)"
            ),
            Some(vec!["systemd", "kill"])
        );
        assert_eq!(
            stap_ancestry_line("task_ancestry:swapper/0(0m0.000000000s)"),
            None
        );
        assert_eq!(
            stap_ancestry_line("task_ancestry:swapper/0(0m0.000000000s)=>kill(1m2.5s)"),
            None
        );
        assert_eq!(
            stap_ancestry_line("task_ancestry:init(0m0.000000000s)=>kill(1m2.500000000s)"),
            None
        );
    }
}
