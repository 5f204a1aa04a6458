//! The Linux signal table (generic x86_64/arm64 numbering): names, parsing, default actions, filter masks.

mod code;
mod delivery;
mod origin;

pub use code::*;
pub use delivery::{Disposition, SignalResult};
pub use origin::{kernel_reason, KernelReason};

use std::fmt;

use serde::Serialize;

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGQUIT: i32 = 3;
pub const SIGILL: i32 = 4;
pub const SIGTRAP: i32 = 5;
pub const SIGABRT: i32 = 6;
pub const SIGBUS: i32 = 7;
pub const SIGFPE: i32 = 8;
pub const SIGKILL: i32 = 9;
pub const SIGUSR1: i32 = 10;
pub const SIGSEGV: i32 = 11;
pub const SIGUSR2: i32 = 12;
pub const SIGPIPE: i32 = 13;
pub const SIGALRM: i32 = 14;
pub const SIGTERM: i32 = 15;
pub const SIGSTKFLT: i32 = 16;
pub const SIGCHLD: i32 = 17;
pub const SIGCONT: i32 = 18;
pub const SIGSTOP: i32 = 19;
pub const SIGTSTP: i32 = 20;
pub const SIGTTIN: i32 = 21;
pub const SIGTTOU: i32 = 22;
pub const SIGURG: i32 = 23;
pub const SIGXCPU: i32 = 24;
pub const SIGXFSZ: i32 = 25;
pub const SIGVTALRM: i32 = 26;
pub const SIGPROF: i32 = 27;
pub const SIGWINCH: i32 = 28;
pub const SIGIO: i32 = 29;
pub const SIGPWR: i32 = 30;
pub const SIGSYS: i32 = 31;
/// The first real-time signal user programs may use: glibc keeps 32 and 33 for itself.
pub const SIGRTMIN: i32 = 34;
pub const SIGRTMAX: i32 = 64;

/// What the kernel does with a signal whose disposition is SIG_DFL (signal(7)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultAction {
    Terminate,
    CoreDump,
    Ignore,
    Stop,
    Continue,
}

use DefaultAction::{Continue, CoreDump, Ignore, Stop, Terminate};

/// Signals 1..=31: name, default action, man-page description.
const TABLE: [(&str, DefaultAction, &str); 31] = [
    (
        "SIGHUP",
        Terminate,
        "Hangup of controlling terminal or death of controlling process",
    ),
    ("SIGINT", Terminate, "Interrupt from keyboard"),
    ("SIGQUIT", CoreDump, "Quit from keyboard"),
    ("SIGILL", CoreDump, "Illegal instruction"),
    ("SIGTRAP", CoreDump, "Trace/breakpoint trap"),
    ("SIGABRT", CoreDump, "Abort signal from abort(3)"),
    ("SIGBUS", CoreDump, "Bus error (bad memory access)"),
    ("SIGFPE", CoreDump, "Floating-point exception"),
    ("SIGKILL", Terminate, "Kill signal"),
    ("SIGUSR1", Terminate, "User-defined signal 1"),
    ("SIGSEGV", CoreDump, "Invalid memory reference"),
    ("SIGUSR2", Terminate, "User-defined signal 2"),
    (
        "SIGPIPE",
        Terminate,
        "Broken pipe: write to pipe with no readers",
    ),
    ("SIGALRM", Terminate, "Timer signal from alarm(2)"),
    ("SIGTERM", Terminate, "Termination signal"),
    (
        "SIGSTKFLT",
        Terminate,
        "Stack fault on coprocessor (unused)",
    ),
    ("SIGCHLD", Ignore, "Child stopped or terminated"),
    ("SIGCONT", Continue, "Continue if stopped"),
    ("SIGSTOP", Stop, "Stop process"),
    ("SIGTSTP", Stop, "Stop typed at terminal"),
    ("SIGTTIN", Stop, "Terminal input for background process"),
    ("SIGTTOU", Stop, "Terminal output for background process"),
    ("SIGURG", Ignore, "Urgent condition on socket"),
    ("SIGXCPU", CoreDump, "CPU time limit exceeded"),
    ("SIGXFSZ", CoreDump, "File size limit exceeded"),
    ("SIGVTALRM", Terminate, "Virtual alarm clock"),
    ("SIGPROF", Terminate, "Profiling timer expired"),
    ("SIGWINCH", Ignore, "Window resize signal"),
    ("SIGIO", Terminate, "I/O now possible"),
    ("SIGPWR", Terminate, "Power failure"),
    ("SIGSYS", CoreDump, "Bad system call"),
];

/// Names of signals 34..=64, as `kill -l` spells them.
const RT_NAMES: [&str; 31] = [
    "SIGRTMIN",
    "SIGRTMIN+1",
    "SIGRTMIN+2",
    "SIGRTMIN+3",
    "SIGRTMIN+4",
    "SIGRTMIN+5",
    "SIGRTMIN+6",
    "SIGRTMIN+7",
    "SIGRTMIN+8",
    "SIGRTMIN+9",
    "SIGRTMIN+10",
    "SIGRTMIN+11",
    "SIGRTMIN+12",
    "SIGRTMIN+13",
    "SIGRTMIN+14",
    "SIGRTMIN+15",
    "SIGRTMIN+16",
    "SIGRTMIN+17",
    "SIGRTMIN+18",
    "SIGRTMIN+19",
    "SIGRTMIN+20",
    "SIGRTMIN+21",
    "SIGRTMIN+22",
    "SIGRTMIN+23",
    "SIGRTMIN+24",
    "SIGRTMIN+25",
    "SIGRTMIN+26",
    "SIGRTMIN+27",
    "SIGRTMIN+28",
    "SIGRTMIN+29",
    "SIGRTMAX",
];

/// Old names accepted on input, never printed.
const ALIASES: [(&str, i32); 3] = [("IOT", SIGABRT), ("POLL", SIGIO), ("CLD", SIGCHLD)];

/// The accepted spellings, appended to every parse error (it is the CLI's usage message).
const ACCEPTED: &str = "accepted: a number from 1 to 64; a name with or without the SIG prefix, \
in any case: HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT CHLD \
CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO PWR SYS (also IOT, POLL, CLD); \
or a real-time signal: RTMIN, RTMIN+n, RTMAX-n, RTMAX (n from 0 to 30)";

/// The canonical name of signal `n`. None for 0, out-of-range numbers, and 32/33 (glibc-internal).
pub fn name(n: i32) -> Option<&'static str> {
    match n {
        1..=31 => Some(TABLE[(n - 1) as usize].0),
        SIGRTMIN..=SIGRTMAX => Some(RT_NAMES[(n - SIGRTMIN) as usize]),
        _ => None,
    }
}

/// Why a signal spec could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseSignalError {
    #[error("no signal given; {ACCEPTED}")]
    Empty,
    #[error("signal number {0} is out of range; {ACCEPTED}")]
    OutOfRange(String),
    #[error("unknown signal `{0}`; {ACCEPTED}")]
    Unknown(String),
}

/// Parses "KILL", "SIGKILL", "sigkill", "9", "RTMIN+2", "SIGRTMAX-1" (case-insensitive).
pub fn parse(s: &str) -> Result<i32, ParseSignalError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(ParseSignalError::Empty);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return match s.parse::<i32>() {
            Ok(n @ 1..=64) => Ok(n),
            _ => Err(ParseSignalError::OutOfRange(s.to_string())),
        };
    }
    let upper = s.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    let by_name = TABLE
        .iter()
        .position(|(n, _, _)| n[3..] == *bare)
        .map(|i| i as i32 + 1);
    let by_alias = || ALIASES.iter().find(|(a, _)| *a == bare).map(|&(_, n)| n);
    by_name
        .or_else(by_alias)
        .or_else(|| parse_realtime(bare))
        .ok_or_else(|| ParseSignalError::Unknown(s.to_string()))
}

fn parse_realtime(bare: &str) -> Option<i32> {
    let offset = |rest: &str| -> Option<i32> {
        if rest.is_empty() {
            return Some(0);
        }
        let digits = rest
            .get(1..)
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))?;
        digits
            .parse::<i32>()
            .ok()
            .filter(|n| *n <= SIGRTMAX - SIGRTMIN)
    };
    if let Some(rest) = bare.strip_prefix("RTMIN") {
        (rest.is_empty() || rest.starts_with('+'))
            .then(|| offset(rest))
            .flatten()
            .map(|n| SIGRTMIN + n)
    } else if let Some(rest) = bare.strip_prefix("RTMAX") {
        (rest.is_empty() || rest.starts_with('-'))
            .then(|| offset(rest))
            .flatten()
            .map(|n| SIGRTMAX - n)
    } else {
        None
    }
}

/// The action taken when the disposition is SIG_DFL. Every real-time signal (32..=64) terminates.
pub const fn default_action(n: i32) -> Option<DefaultAction> {
    match n {
        1..=31 => Some(TABLE[(n - 1) as usize].1),
        32..=64 => Some(Terminate),
        _ => None,
    }
}

/// False for SIGKILL and SIGSTOP (no handler, no ignoring, no blocking) and invalid numbers.
pub fn catchable(n: i32) -> bool {
    (1..=64).contains(&n) && n != SIGKILL && n != SIGSTOP
}

/// A short man-page style description of signal `n`.
pub fn description(n: i32) -> &'static str {
    match n {
        1..=31 => TABLE[(n - 1) as usize].2,
        32 | 33 => "Real-time signal reserved by the C library's threads implementation",
        SIGRTMIN..=SIGRTMAX => "Real-time signal",
        _ => "Unknown signal",
    }
}

/// The filter-mask bit for signal `n` (bit `n - 1`); 0 outside 1..=64.
pub const fn bit(n: i32) -> u64 {
    if n >= 1 && n <= 64 {
        1u64 << (n - 1)
    } else {
        0
    }
}

/// Signals reported whatever the target does with them: the usual ways to ask a process to end.
pub const fn default_always() -> u64 {
    bit(SIGKILL) | bit(SIGTERM) | bit(SIGINT) | bit(SIGHUP) | bit(SIGQUIT)
}

/// Every other signal whose default action ends the process (reported when it will be fatal).
pub const fn default_if_fatal() -> u64 {
    let mut mask = 0;
    let mut n = 1;
    while n <= 64 {
        if matches!(default_action(n), Some(Terminate | CoreDump)) {
            mask |= bit(n);
        }
        n += 1;
    }
    mask & !default_always()
}

/// All signals 1..=64.
pub const fn all() -> u64 {
    u64::MAX
}

/// The mask holding exactly `signals` (numbers outside 1..=64 are ignored).
pub fn mask_of(signals: impl IntoIterator<Item = i32>) -> u64 {
    signals.into_iter().fold(0, |m, n| m | bit(n))
}

/// The signal numbers set in `mask`, ascending.
pub fn in_mask(mask: u64) -> impl Iterator<Item = i32> {
    (1..=64).filter(move |n| mask & bit(*n) != 0)
}

/// A signal number with the table's knowledge attached; prints as its name, or "signal N".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal(pub i32);

impl Signal {
    pub fn name(self) -> Option<&'static str> {
        name(self.0)
    }
    pub fn default_action(self) -> Option<DefaultAction> {
        default_action(self.0)
    }
    pub fn catchable(self) -> bool {
        catchable(self.0)
    }
    pub fn description(self) -> &'static str {
        description(self.0)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match name(self.0) {
            Some(n) => f.write_str(n),
            None => write!(f, "signal {}", self.0),
        }
    }
}

impl std::str::FromStr for Signal {
    type Err = ParseSignalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s).map(Signal)
    }
}

#[cfg(test)]
mod tests;
