//! siginfo `si_code` values (include/uapi/asm-generic/siginfo.h) and their names.

use super::{SIGBUS, SIGCHLD, SIGFPE, SIGILL, SIGIO, SIGSEGV, SIGSYS, SIGTRAP};

/// Sent by kill(2), sigsend, raise; also what SEND_SIG_NOINFO becomes.
pub const SI_USER: i32 = 0;
/// Sent by the kernel (SEND_SIG_PRIV, force_sig...).
pub const SI_KERNEL: i32 = 0x80;
/// Sent by sigqueue(3).
pub const SI_QUEUE: i32 = -1;
/// A POSIX timer expired.
pub const SI_TIMER: i32 = -2;
/// A POSIX message queue changed state.
pub const SI_MESGQ: i32 = -3;
/// POSIX AIO completed.
pub const SI_ASYNCIO: i32 = -4;
/// Queued SIGIO.
pub const SI_SIGIO: i32 = -5;
/// Sent by tkill(2) or tgkill(2).
pub const SI_TKILL: i32 = -6;
/// Sent by execve() killing subsidiary threads.
pub const SI_DETHREAD: i32 = -7;
/// glibc's asynchronous name lookup (getaddrinfo_a) completed.
pub const SI_ASYNCNL: i32 = -60;

pub const BUS_MCEERR_AR: i32 = 4;
pub const BUS_MCEERR_AO: i32 = 5;
pub const SYS_SECCOMP: i32 = 1;

const ILL: &[&str] = &[
    "ILL_ILLOPC",
    "ILL_ILLOPN",
    "ILL_ILLADR",
    "ILL_ILLTRP",
    "ILL_PRVOPC",
    "ILL_PRVREG",
    "ILL_COPROC",
    "ILL_BADSTK",
    "ILL_BADIADDR",
];
const FPE: &[&str] = &[
    "FPE_INTDIV",
    "FPE_INTOVF",
    "FPE_FLTDIV",
    "FPE_FLTOVF",
    "FPE_FLTUND",
    "FPE_FLTRES",
    "FPE_FLTINV",
    "FPE_FLTSUB",
    "FPE_DECOVF",
    "FPE_DECDIV",
    "FPE_DECERR",
    "FPE_INVASC",
    "FPE_INVDEC",
    "FPE_FLTUNK",
    "FPE_CONDTRAP",
];
const SEGV: &[&str] = &[
    "SEGV_MAPERR",
    "SEGV_ACCERR",
    "SEGV_BNDERR",
    "SEGV_PKUERR",
    "SEGV_ACCADI",
    "SEGV_ADIDERR",
    "SEGV_ADIPERR",
    "SEGV_MTEAERR",
    "SEGV_MTESERR",
    "SEGV_CPERR",
];
const BUS: &[&str] = &[
    "BUS_ADRALN",
    "BUS_ADRERR",
    "BUS_OBJERR",
    "BUS_MCEERR_AR",
    "BUS_MCEERR_AO",
];
const TRAP: &[&str] = &[
    "TRAP_BRKPT",
    "TRAP_TRACE",
    "TRAP_BRANCH",
    "TRAP_HWBKPT",
    "TRAP_UNK",
    "TRAP_PERF",
];
const CLD: &[&str] = &[
    "CLD_EXITED",
    "CLD_KILLED",
    "CLD_DUMPED",
    "CLD_TRAPPED",
    "CLD_STOPPED",
    "CLD_CONTINUED",
];
const POLL: &[&str] = &[
    "POLL_IN", "POLL_OUT", "POLL_MSG", "POLL_ERR", "POLL_PRI", "POLL_HUP",
];
const SYS: &[&str] = &["SYS_SECCOMP", "SYS_USER_DISPATCH"];

/// The name of `code` for signal `signo`: a generic SI_* code, a per-signal code, or "UNKNOWN".
pub fn code_name(signo: i32, code: i32) -> &'static str {
    match code {
        SI_USER => "SI_USER",
        SI_KERNEL => "SI_KERNEL",
        SI_QUEUE => "SI_QUEUE",
        SI_TIMER => "SI_TIMER",
        SI_MESGQ => "SI_MESGQ",
        SI_ASYNCIO => "SI_ASYNCIO",
        SI_SIGIO => "SI_SIGIO",
        SI_TKILL => "SI_TKILL",
        SI_DETHREAD => "SI_DETHREAD",
        SI_ASYNCNL => "SI_ASYNCNL",
        // The kernel reads per-signal codes only strictly between SI_USER and SI_KERNEL.
        1..SI_KERNEL => per_signal(signo)
            .get(code as usize - 1)
            .copied()
            .unwrap_or("UNKNOWN"),
        _ => "UNKNOWN",
    }
}

fn per_signal(signo: i32) -> &'static [&'static str] {
    match signo {
        SIGILL => ILL,
        SIGFPE => FPE,
        SIGSEGV => SEGV,
        SIGBUS => BUS,
        SIGTRAP => TRAP,
        SIGCHLD => CLD,
        SIGIO => POLL,
        SIGSYS => SYS,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::{SIGKILL, SIGTERM};

    #[test]
    fn generic_codes_whatever_the_signal() {
        let cases = [
            (0, "SI_USER"),
            (0x80, "SI_KERNEL"),
            (-1, "SI_QUEUE"),
            (-2, "SI_TIMER"),
            (-3, "SI_MESGQ"),
            (-4, "SI_ASYNCIO"),
            (-5, "SI_SIGIO"),
            (-6, "SI_TKILL"),
            (-7, "SI_DETHREAD"),
            (-60, "SI_ASYNCNL"),
        ];
        for (code, want) in cases {
            assert_eq!(code_name(SIGKILL, code), want);
            assert_eq!(code_name(SIGSEGV, code), want);
        }
    }

    #[test]
    fn per_signal_codes() {
        assert_eq!(code_name(SIGSEGV, 1), "SEGV_MAPERR");
        assert_eq!(code_name(SIGSEGV, 2), "SEGV_ACCERR");
        assert_eq!(code_name(SIGSEGV, 4), "SEGV_PKUERR");
        assert_eq!(code_name(SIGSEGV, 8), "SEGV_MTEAERR");
        assert_eq!(code_name(SIGSEGV, 10), "SEGV_CPERR");
        assert_eq!(code_name(SIGILL, 1), "ILL_ILLOPC");
        assert_eq!(code_name(SIGILL, 9), "ILL_BADIADDR");
        assert_eq!(code_name(SIGFPE, 1), "FPE_INTDIV");
        assert_eq!(code_name(SIGFPE, 15), "FPE_CONDTRAP");
        assert_eq!(code_name(SIGBUS, 2), "BUS_ADRERR");
        assert_eq!(code_name(SIGBUS, BUS_MCEERR_AO), "BUS_MCEERR_AO");
        assert_eq!(code_name(SIGTRAP, 1), "TRAP_BRKPT");
        assert_eq!(code_name(SIGTRAP, 6), "TRAP_PERF");
        assert_eq!(code_name(SIGCHLD, 1), "CLD_EXITED");
        assert_eq!(code_name(SIGCHLD, 6), "CLD_CONTINUED");
        assert_eq!(code_name(SIGIO, 1), "POLL_IN");
        assert_eq!(code_name(SIGIO, 6), "POLL_HUP");
        assert_eq!(code_name(SIGSYS, SYS_SECCOMP), "SYS_SECCOMP");
    }

    #[test]
    fn unknown_codes() {
        assert_eq!(code_name(SIGSEGV, 11), "UNKNOWN");
        assert_eq!(code_name(SIGCHLD, 7), "UNKNOWN");
        assert_eq!(code_name(SIGTERM, 1), "UNKNOWN");
        assert_eq!(code_name(SIGSEGV, 0x81), "UNKNOWN");
        assert_eq!(code_name(SIGSEGV, -8), "UNKNOWN");
        assert_eq!(code_name(SIGSEGV, i32::MIN), "UNKNOWN");
        assert_eq!(code_name(SIGSEGV, i32::MAX), "UNKNOWN");
    }
}
