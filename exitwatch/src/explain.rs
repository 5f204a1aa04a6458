//! `exitwatch explain`: what an exit code (or the signal behind one) means, and what to check next.

mod advice;
mod signal_advice;

use serde::Serialize;

use crate::escape::escape_text;
use crate::exitstatus::{code_meaning, normalize_code, ExitStatus};
use crate::signals::{self, DefaultAction, Signal};

/// The accepted forms, appended to every error (it is the subcommand's usage message).
const ACCEPTED: &str = "accepted: an exit code as a decimal integer, any value \
(137, 0, -1, 300; a bare number is always an exit code, so `9` means exit code 9, not SIGKILL); \
or a signal, to see the 128+n code it leaves: a name with or without SIG, in any case \
(SIGKILL, KILL, sigterm, RTMIN+2), or SIG and its number (SIG9)";

/// Why the input could not be explained. The CLI exits with EX_USAGE (64) on any of these.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    #[error("nothing to explain; {ACCEPTED}")]
    Empty,
    #[error("exit code `{0}` does not fit in 64 bits; {ACCEPTED}")]
    TooLarge(String),
    #[error("`{0}` is not a signal: signal numbers go from 1 to 64; {ACCEPTED}")]
    SignalOutOfRange(String),
    #[error("`{0}` is neither an exit code nor a signal; {ACCEPTED}")]
    Unrecognized(String),
}

/// What the user asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    ExitCode,
    Signal,
}

/// The family a 0-255 code belongs to, by the conventions of shells, sysexits.h and runtimes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// 0.
    Success,
    /// 1, and any code the program chose for itself (3-63, 79-124, 193-254, and 128+n for a
    /// signal that cannot end a process).
    ProgramError,
    /// 2: misuse of a shell builtin, bad usage.
    ShellMisuse,
    /// 64-78, sysexits.h.
    Sysexits,
    /// 125: the container runtime could not run the container.
    RuntimeError,
    /// 126: found but not executable.
    CannotExecute,
    /// 127: command not found.
    NotFound,
    /// 128: exit called with an invalid argument.
    InvalidExitArgument,
    /// 128+n for a signal n whose default action ends the process.
    KilledBySignal,
    /// 128+n for a stop signal: a shell's status for a stopped job.
    StoppedBySignal,
    /// 255: exit status out of range, usually exit(-1).
    OutOfRange,
}

/// The signal that 128+n names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SignalInfo {
    pub number: i32,
    /// "SIGKILL", or "signal 32" for the numbers glibc keeps for itself.
    pub name: String,
    pub default_action: DefaultAction,
    pub description: &'static str,
}

/// Everything `exitwatch explain` says about one input; `--json` prints it as is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The input, trimmed.
    pub input: String,
    pub input_kind: InputKind,
    /// The 0-255 code a shell, Docker or Kubernetes reports.
    pub code: u8,
    /// The exit code as given, when it was outside 0-255.
    pub normalized_from: Option<i64>,
    /// How the input became `code`: the 8-bit truncation, or 128+n for a signal.
    pub derivation: Option<String>,
    pub class: Class,
    pub summary: String,
    pub signal: Option<SignalInfo>,
    /// "EX_USAGE" and friends, for 64-78.
    pub sysexits_name: Option<&'static str>,
    /// What the code usually means for a container in a pod.
    pub kubernetes: String,
    pub next_steps: Vec<String>,
}

enum Parsed {
    Code(i64),
    Signal(i32),
}

/// A bare integer is an exit code; anything else must name a signal.
fn parse_input(input: &str) -> Result<Parsed, ExplainError> {
    if input.is_empty() {
        return Err(ExplainError::Empty);
    }
    let digits = input.strip_prefix(['-', '+']).unwrap_or(input);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return input
            .parse::<i64>()
            .map(Parsed::Code)
            .map_err(|_| ExplainError::TooLarge(escape_text(input.as_bytes())));
    }
    let sig_number = input
        .get(..3)
        .filter(|p| p.eq_ignore_ascii_case("SIG"))
        .map(|_| &input[3..])
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if let Some(n) = sig_number {
        return match n.parse::<i32>() {
            Ok(n @ 1..=64) => Ok(Parsed::Signal(n)),
            _ => Err(ExplainError::SignalOutOfRange(escape_text(
                input.as_bytes(),
            ))),
        };
    }
    signals::parse(input)
        .map(Parsed::Signal)
        .map_err(|_| ExplainError::Unrecognized(escape_text(input.as_bytes())))
}

/// Explains an exit code ("137", "-1", "300") or the code a signal leaves ("SIGKILL", "term").
pub fn explain(input: &str) -> Result<Explanation, ExplainError> {
    let input = input.trim();
    let (raw, kind, derivation) = match parse_input(input)? {
        Parsed::Code(raw) => (raw, InputKind::ExitCode, normalization(raw)),
        Parsed::Signal(n) => {
            let code = 128 + i64::from(n);
            let how = format!(
                "{} is signal {n}; a process that dies of it reports 128 + {n} = {code}.",
                Signal(n)
            );
            (code, InputKind::Signal, Some(how))
        }
    };
    let code = normalize_code(raw);
    let advice = advice::for_code(code);
    Ok(Explanation {
        input: input.to_string(),
        input_kind: kind,
        code,
        normalized_from: (!(0..=255).contains(&raw)).then_some(raw),
        derivation,
        class: advice.class,
        summary: advice.summary,
        signal: signal_info(code),
        sysexits_name: sysexits_name(code),
        kubernetes: advice.kubernetes,
        next_steps: advice.steps,
    })
}

/// The seeds' rule, said out loud: what exit(raw) leaves when raw is outside 0-255.
fn normalization(raw: i64) -> Option<String> {
    if (0..=255).contains(&raw) {
        return None;
    }
    let code = normalize_code(raw);
    let arithmetic = if raw < 0 {
        let abs = raw.unsigned_abs();
        match 256 - abs % 256 {
            256 => format!("256 - ({abs} % 256) = 256, which wraps to 0"),
            left => format!("256 - ({abs} % 256) = {left}"),
        }
    } else {
        format!("{raw} % 256 = {code}")
    };
    let warning = if code == 0 {
        ": a failure that looks like success"
    } else {
        ""
    };
    Some(format!(
        "{raw} is outside 0-255: the kernel keeps only the low 8 bits, so exit({raw}) \
         reports {arithmetic}{warning}."
    ))
}

fn signal_info(code: u8) -> Option<SignalInfo> {
    if !(129..=192).contains(&code) {
        return None;
    }
    let n = i32::from(code - 128);
    signals::default_action(n).map(|action| SignalInfo {
        number: n,
        name: Signal(n).to_string(),
        default_action: action,
        description: signals::description(n),
    })
}

fn sysexits_name(code: u8) -> Option<&'static str> {
    const NAMES: [&str; 15] = [
        "EX_USAGE",
        "EX_DATAERR",
        "EX_NOINPUT",
        "EX_NOUSER",
        "EX_NOHOST",
        "EX_UNAVAILABLE",
        "EX_SOFTWARE",
        "EX_OSERR",
        "EX_OSFILE",
        "EX_CANTCREAT",
        "EX_IOERR",
        "EX_TEMPFAIL",
        "EX_PROTOCOL",
        "EX_NOPERM",
        "EX_CONFIG",
    ];
    (64..=78)
        .contains(&code)
        .then(|| NAMES[usize::from(code - 64)])
}

fn action_text(action: DefaultAction) -> &'static str {
    match action {
        DefaultAction::Terminate => "terminate",
        DefaultAction::CoreDump => "terminate and dump core",
        DefaultAction::Ignore => "ignore",
        DefaultAction::Stop => "stop",
        DefaultAction::Continue => "continue",
    }
}

fn headline(e: &Explanation) -> String {
    let signal = e.signal.as_ref().map_or("", |s| s.name.as_str());
    match e.class {
        Class::Success => "success".into(),
        Class::ProgramError if e.code == 1 => "general error".into(),
        Class::ProgramError => "the program's own error code".into(),
        Class::ShellMisuse => "shell misuse or bad usage".into(),
        Class::Sysexits => format!("{} (sysexits.h)", e.sysexits_name.unwrap_or("")),
        Class::RuntimeError => "the container runtime failed".into(),
        Class::CannotExecute => "command cannot execute".into(),
        Class::NotFound => "command not found".into(),
        Class::InvalidExitArgument => "invalid argument to exit".into(),
        Class::KilledBySignal => format!("killed by {signal}"),
        Class::StoppedBySignal => format!("{signal} stops, it does not kill"),
        Class::OutOfRange => "exit status out of range".into(),
    }
}

const WIDTH: usize = 80;
const LABEL: usize = 13;

/// Human text: a headline, how the input became the code, a summary, then labelled details.
pub fn render_text(e: &Explanation) -> String {
    let mut out = String::new();
    let from = match (e.input_kind, &e.signal, e.normalized_from) {
        (InputKind::Signal, Some(s), _) => format!(" (from {})", s.name),
        (InputKind::ExitCode, _, Some(raw)) => format!(" (from {raw})"),
        _ => String::new(),
    };
    out.push_str(&format!("exit code {}{from}: {}\n", e.code, headline(e)));
    if let Some(how) = &e.derivation {
        wrap(&mut out, how, "", "");
    }
    wrap(&mut out, &e.summary, "", "");
    out.push('\n');
    let pad = " ".repeat(LABEL);
    let label = |name: &str| format!("{:<LABEL$}", format!("{name}:"));
    if let Some(s) = &e.signal {
        let named = if s.name.starts_with("SIG") {
            format!("{} = {}", s.name, s.number)
        } else {
            s.name.clone()
        };
        let line = format!(
            "{named}, default action: {} ({})",
            action_text(s.default_action),
            s.description
        );
        wrap(&mut out, &line, &label("signal"), &pad);
    }
    wrap(&mut out, &e.kubernetes, &label("kubernetes"), &pad);
    for (i, step) in e.next_steps.iter().enumerate() {
        let first = if i == 0 {
            label("next steps")
        } else {
            pad.clone()
        };
        wrap(&mut out, step, &format!("{first}- "), &format!("{pad}  "));
    }
    out
}

/// Appends `text` word-wrapped to WIDTH; a `code span` is never split across lines.
fn wrap(out: &mut String, text: &str, first: &str, rest: &str) {
    let mut line = first.to_string();
    let mut fresh = true;
    for word in words(text) {
        if !fresh && line.len() + 1 + word.len() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_string();
            fresh = true;
        }
        if !fresh {
            line.push(' ');
        }
        line.push_str(word);
        fresh = false;
    }
    out.push_str(&line);
    out.push('\n');
}

fn words(text: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let (mut start, mut in_code) = (0, false);
    for (i, c) in text.char_indices() {
        match c {
            '`' => in_code = !in_code,
            ' ' if !in_code => {
                if i > start {
                    words.push(&text[start..i]);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < text.len() {
        words.push(&text[start..]);
    }
    words
}

/// The short line an exit event carries: "killed by SIGKILL (128+9): often the OOM killer or
/// a forced stop", "exited with 1: general error".
pub fn for_exit(status: &ExitStatus) -> String {
    match (status.exited(), status.signal()) {
        (Some(code @ 129..=192), _) => format!(
            "exited with {code} by calling exit({code}) itself: not a signal death, \
             though {code} is what {} (128+{}) leaves",
            Signal(i32::from(code - 128)),
            code - 128
        ),
        (Some(code), _) => match code_meaning(code) {
            Some(meaning) => format!("exited with {code}: {meaning}"),
            None => format!("exited with {code}: the program's own error code"),
        },
        (None, Some(n)) => format!(
            "killed by {} (128+{n}{}): {}",
            Signal(n),
            if status.core_dumped() {
                ", core dumped"
            } else {
                ""
            },
            signal_advice::signal_hint(n)
        ),
        (None, None) => status.describe(),
    }
}

#[cfg(test)]
mod tests;
