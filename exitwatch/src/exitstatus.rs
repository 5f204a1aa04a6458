//! Decodes a wait(2) exit status and explains the 0-255 code a shell or container runtime reports.

use std::fmt;

use crate::signals::Signal;

/// `task_struct::exit_code` as the kernel leaves it at exit, which is also a wait(2) status:
/// `(code & 0xff) << 8` for a normal exit, `signo | 0x80` (core dumped) for a signal death.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExitStatus {
    raw: u32,
}

impl ExitStatus {
    pub const fn from_raw(raw: u32) -> Self {
        Self { raw }
    }

    /// The status of `exit(code)`.
    pub const fn from_exit(code: u8) -> Self {
        Self {
            raw: (code as u32) << 8,
        }
    }

    /// The status of a death by `signo`, with or without a core dump.
    pub const fn from_signal(signo: i32, core_dumped: bool) -> Self {
        let core = if core_dumped { 0x80 } else { 0 };
        Self {
            raw: (signo as u32 & 0x7f) | core,
        }
    }

    pub const fn raw(self) -> u32 {
        self.raw
    }

    /// The code passed to exit(2), when the process exited rather than died of a signal.
    pub fn exited(self) -> Option<u8> {
        (self.raw & 0x7f == 0).then_some((self.raw >> 8) as u8)
    }

    /// The signal that killed the process. Low bits outside 1..=64 (0x7f is a stop status,
    /// never seen at exit) are not a death by signal.
    pub fn signal(self) -> Option<i32> {
        let sig = (self.raw & 0x7f) as i32;
        (1..=64).contains(&sig).then_some(sig)
    }

    pub fn core_dumped(self) -> bool {
        self.signal().is_some() && self.raw & 0x80 != 0
    }

    /// The code a shell, Docker or Kubernetes reports: the exit code, or 128+n for signal n.
    /// A status that is neither (a corrupt read) reports 255, "exit status out of range".
    pub fn container_code(self) -> u8 {
        match (self.exited(), self.signal()) {
            (Some(code), _) => code,
            (None, Some(sig)) => 128 + sig as u8,
            (None, None) => 255,
        }
    }

    /// "exited with 137: killed by SIGKILL", "exited with 0", "exited with 139: killed by
    /// SIGSEGV (core dumped)".
    pub fn describe(self) -> String {
        match (self.exited(), self.signal()) {
            (Some(code), _) => format!("exited with {code}"),
            (None, Some(sig)) => format!(
                "exited with {}: killed by {}{}",
                self.container_code(),
                Signal(sig),
                if self.core_dumped() {
                    " (core dumped)"
                } else {
                    ""
                }
            ),
            (None, None) => format!("ended with an undecodable wait status {:#x}", self.raw),
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// The 0-255 code that `exit(code)` leaves: `code mod 256`, so exit(-1) -> 255 and 300 -> 44.
/// This is the seeds' `256 - (|code| % 256)` for negatives, except that multiples of 256 give 0.
pub fn normalize_code(code: i64) -> u8 {
    code.rem_euclid(256) as u8
}

/// What a reported code conventionally means, when it has a convention. For 129..=192 this
/// is only a likely reading: a program may also call exit(137) itself.
pub fn code_meaning(code: u8) -> Option<String> {
    let fixed = match code {
        0 => "success",
        1 => "general error",
        2 => "misuse of a shell builtin or bad usage",
        64 => "EX_USAGE: command line usage error",
        65 => "EX_DATAERR: data format error",
        66 => "EX_NOINPUT: cannot open input",
        67 => "EX_NOUSER: addressee unknown",
        68 => "EX_NOHOST: host name unknown",
        69 => "EX_UNAVAILABLE: service unavailable",
        70 => "EX_SOFTWARE: internal software error",
        71 => "EX_OSERR: system error (e.g. cannot fork)",
        72 => "EX_OSFILE: critical OS file missing",
        73 => "EX_CANTCREAT: cannot create output file",
        74 => "EX_IOERR: input/output error",
        75 => "EX_TEMPFAIL: temporary failure, retry",
        76 => "EX_PROTOCOL: remote error in protocol",
        77 => "EX_NOPERM: permission denied",
        78 => "EX_CONFIG: configuration error",
        125 => "the container runtime failed to run the container",
        126 => "command found but not executable",
        127 => "command not found",
        128 => "invalid argument to exit",
        129..=192 => {
            return Some(format!(
                "terminated by {} (128+{})",
                Signal(i32::from(code - 128)),
                code - 128
            ))
        }
        255 => "exit status out of range (often exit(-1))",
        _ => return None,
    };
    Some(fixed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::{SIGKILL, SIGSEGV, SIGTERM};

    #[test]
    fn normal_exits() {
        let s = ExitStatus::from_raw(0);
        assert_eq!(
            (s.exited(), s.signal(), s.core_dumped()),
            (Some(0), None, false)
        );
        assert_eq!(s.describe(), "exited with 0");
        let s = ExitStatus::from_raw(1 << 8);
        assert_eq!(s.exited(), Some(1));
        assert_eq!(s.container_code(), 1);
        assert_eq!(s.describe(), "exited with 1");
        // A process may exit(137) on its own: that is not a SIGKILL.
        let s = ExitStatus::from_exit(137);
        assert_eq!(s.raw(), 0x8900);
        assert_eq!((s.exited(), s.signal()), (Some(137), None));
        assert_eq!(s.describe(), "exited with 137");
    }

    #[test]
    fn signal_deaths() {
        let s = ExitStatus::from_raw(9);
        assert_eq!(
            (s.exited(), s.signal(), s.core_dumped()),
            (None, Some(SIGKILL), false)
        );
        assert_eq!(s.container_code(), 137);
        assert_eq!(s.describe(), "exited with 137: killed by SIGKILL");
        let s = ExitStatus::from_raw(11 | 0x80);
        assert_eq!((s.signal(), s.core_dumped()), (Some(SIGSEGV), true));
        assert_eq!(s.container_code(), 139);
        assert_eq!(
            s.describe(),
            "exited with 139: killed by SIGSEGV (core dumped)"
        );
        assert_eq!(
            ExitStatus::from_signal(SIGTERM, false).container_code(),
            143
        );
        assert_eq!(
            ExitStatus::from_signal(SIGSEGV, true),
            ExitStatus::from_raw(0x8b)
        );
        let rt = ExitStatus::from_signal(64, false);
        assert_eq!(rt.container_code(), 192);
        assert_eq!(rt.describe(), "exited with 192: killed by SIGRTMAX");
        assert_eq!(
            ExitStatus::from_raw(32).describe(),
            "exited with 160: killed by signal 32"
        );
    }

    #[test]
    fn undecodable_status() {
        let s = ExitStatus::from_raw(0x137f);
        assert_eq!(
            (s.exited(), s.signal(), s.core_dumped()),
            (None, None, false)
        );
        assert_eq!(s.container_code(), 255);
        assert_eq!(s.describe(), "ended with an undecodable wait status 0x137f");
    }

    #[test]
    fn display_is_describe() {
        assert_eq!(
            ExitStatus::from_raw(9).to_string(),
            "exited with 137: killed by SIGKILL"
        );
    }

    #[test]
    fn normalize_follows_the_modulo_rule() {
        assert_eq!(normalize_code(-1), 255);
        assert_eq!(normalize_code(-2), 254);
        assert_eq!(normalize_code(-255), 1);
        assert_eq!(normalize_code(-256), 0);
        assert_eq!(normalize_code(-257), 255);
        assert_eq!(normalize_code(0), 0);
        assert_eq!(normalize_code(255), 255);
        assert_eq!(normalize_code(256), 0);
        assert_eq!(normalize_code(300), 44);
        assert_eq!(normalize_code(i64::MIN), 0);
        assert_eq!(normalize_code(i64::MAX), 255);
    }

    #[test]
    fn normalize_agrees_with_the_seed_formula_off_multiples_of_256() {
        for code in -1000i64..=1000 {
            let seed = if code < 0 {
                256 - (code.abs() % 256)
            } else {
                code % 256
            };
            let expected = if seed == 256 { 0 } else { seed as u8 };
            assert_eq!(normalize_code(code), expected, "{code}");
        }
    }

    #[test]
    fn meanings() {
        assert_eq!(code_meaning(0).as_deref(), Some("success"));
        assert_eq!(code_meaning(127).as_deref(), Some("command not found"));
        assert_eq!(
            code_meaning(64).as_deref(),
            Some("EX_USAGE: command line usage error")
        );
        assert_eq!(
            code_meaning(77).as_deref(),
            Some("EX_NOPERM: permission denied")
        );
        assert_eq!(
            code_meaning(137).as_deref(),
            Some("terminated by SIGKILL (128+9)")
        );
        assert_eq!(
            code_meaning(143).as_deref(),
            Some("terminated by SIGTERM (128+15)")
        );
        assert_eq!(
            code_meaning(160).as_deref(),
            Some("terminated by signal 32 (128+32)")
        );
        assert_eq!(code_meaning(42), None);
        assert_eq!(code_meaning(193), None);
    }
}
