//! Classifies a generated signal as kernel-originated (and why) from its siginfo alone.
//!
//! What the tracepoint sees: a userspace kill(2)/tkill(2)/sigqueue(3) always carries real info
//! (SI_USER, SI_TKILL, SI_QUEUE with the sender's pid). In-kernel sends pass SEND_SIG_NOINFO
//! (`send_sig(.., 0)`, recorded as SI_USER with the *current* task as sender) or SEND_SIG_PRIV
//! (recorded as SI_KERNEL), or build their own siginfo with a per-signal code (faults, SIGCHLD).

use serde::Serialize;

use super::code::{
    BUS_MCEERR_AO, BUS_MCEERR_AR, SI_ASYNCIO, SI_ASYNCNL, SI_KERNEL, SI_MESGQ, SI_SIGIO, SI_TIMER,
    SYS_SECCOMP,
};
use super::*;

/// Why the kernel, rather than a userspace sender, generated a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelReason {
    /// SIGSEGV/SIGBUS/SIGFPE/SIGILL/SIGTRAP raised by a trap in the target (per-signal code or
    /// SI_KERNEL, as x86 general-protection faults send).
    Fault,
    /// SIGBUS BUS_MCEERR_AR/AO: memory-failure handling poisoned a page the target maps.
    HardwareMemoryError,
    /// SIGSYS SYS_SECCOMP: a seccomp filter returned SECCOMP_RET_TRAP.
    Seccomp,
    /// A POSIX timer (SI_TIMER) or an itimer/alarm (SIGALRM/SIGVTALRM/SIGPROF as SI_KERNEL).
    Timer,
    /// SIGPIPE from a write to a pipe or socket nobody reads.
    BrokenPipe,
    /// SIGXCPU: RLIMIT_CPU soft limit reached.
    CpuLimit,
    /// SIGXFSZ: a write past RLIMIT_FSIZE.
    FileSizeLimit,
    /// SIGHUP/SIGCONT as SI_KERNEL: terminal hangup, or a stopped process group orphaned.
    TtyHangup,
    /// SIGINT/SIGQUIT/SIGTSTP as SI_KERNEL: the terminal's line discipline saw ^C, ^\ or ^Z.
    TerminalKey,
    /// SIGTTIN/SIGTTOU as SI_KERNEL: a background job touched its terminal.
    TerminalJobControl,
    /// SIGWINCH as SI_KERNEL: the terminal was resized.
    TerminalResize,
    /// SIGCHLD with a CLD_* code: a child exited, was killed, stopped or continued.
    ChildStatus,
    /// I/O readiness or completion: SI_SIGIO, POLL_* codes, SI_ASYNCIO, SI_MESGQ, SI_ASYNCNL,
    /// and SIGIO/SIGURG as SI_KERNEL (F_SETOWN without F_SETSIG).
    AsyncIo,
    /// SEND_SIG_NOINFO from a task other than the target: the kernel sent it because of what
    /// the recorded sender did (a write to cgroup.kill, or the sender's death firing the
    /// target's PR_SET_PDEATHSIG). The sender fields name that task.
    OnBehalfOfSender,
    /// Any other in-kernel send (SI_KERNEL, SEND_SIG_PRIV, SEND_SIG_NOINFO to the target
    /// itself): for example the OOM killer's SIGKILL or RLIMIT_CPU's hard-limit SIGKILL.
    Kernel,
}

impl KernelReason {
    /// The snake_case name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fault => "fault",
            Self::HardwareMemoryError => "hardware_memory_error",
            Self::Seccomp => "seccomp",
            Self::Timer => "timer",
            Self::BrokenPipe => "broken_pipe",
            Self::CpuLimit => "cpu_limit",
            Self::FileSizeLimit => "file_size_limit",
            Self::TtyHangup => "tty_hangup",
            Self::TerminalKey => "terminal_key",
            Self::TerminalJobControl => "terminal_job_control",
            Self::TerminalResize => "terminal_resize",
            Self::ChildStatus => "child_status",
            Self::AsyncIo => "async_io",
            Self::OnBehalfOfSender => "on_behalf_of_sender",
            Self::Kernel => "kernel",
        }
    }

    /// A phrase completing "the signal came from ...".
    pub fn describe(self) -> &'static str {
        match self {
            Self::Fault => "a memory access fault or trap in the target itself",
            Self::HardwareMemoryError => "a hardware memory error in memory the target uses",
            Self::Seccomp => "a seccomp filter trapping a system call the target made",
            Self::Timer => "a timer the target set (alarm, itimer or POSIX timer)",
            Self::BrokenPipe => "a write by the target to a pipe or socket with no reader",
            Self::CpuLimit => "the target's CPU time limit (RLIMIT_CPU)",
            Self::FileSizeLimit => "the target's file size limit (RLIMIT_FSIZE)",
            Self::TtyHangup => {
                "a hangup of the controlling terminal, or its stopped process group being orphaned"
            }
            Self::TerminalKey => "a key typed at the controlling terminal (Ctrl-C, Ctrl-\\ or Ctrl-Z)",
            Self::TerminalJobControl => "a background job reading from or writing to its terminal",
            Self::TerminalResize => "a resize of the controlling terminal",
            Self::ChildStatus => "a change of state in one of the target's children",
            Self::AsyncIo => "an asynchronous I/O or message-queue notification the target asked for",
            Self::OnBehalfOfSender => {
                "the kernel, acting on the sender's behalf (the parent-death signal, a tty or a socket owner's notification)"
            }
            Self::Kernel => "the kernel itself (for example the OOM killer)",
        }
    }
}

/// Some(reason) when the kernel generated the signal; None when a userspace task sent it.
///
/// `info_noinfo`/`info_priv` say the kernel passed SEND_SIG_NOINFO/SEND_SIG_PRIV (the recorded
/// code is then SI_USER/SI_KERNEL); `sender_is_target` says the current task was the target.
pub fn kernel_reason(
    signo: i32,
    code: i32,
    info_noinfo: bool,
    info_priv: bool,
    sender_is_target: bool,
) -> Option<KernelReason> {
    use KernelReason::*;
    // A kernel-built siginfo: positive codes other than from NOINFO (userspace may only queue
    // codes >= 0 to itself, and the kernel's own fault senders are indistinguishable from that).
    let kernel_code = code > 0 && !info_noinfo;
    match signo {
        SIGILL | SIGFPE | SIGSEGV | SIGTRAP if kernel_code => return Some(Fault),
        SIGBUS if kernel_code && (code == BUS_MCEERR_AR || code == BUS_MCEERR_AO) => {
            return Some(HardwareMemoryError)
        }
        SIGBUS if kernel_code => return Some(Fault),
        SIGSYS if kernel_code && code == SYS_SECCOMP => return Some(Seccomp),
        SIGCHLD if kernel_code && code < SI_KERNEL => return Some(ChildStatus),
        SIGIO if kernel_code && code < SI_KERNEL => return Some(AsyncIo),
        _ => {}
    }
    if code == SI_TIMER {
        return Some(Timer);
    }
    if matches!(code, SI_SIGIO | SI_ASYNCIO | SI_MESGQ | SI_ASYNCNL) {
        return Some(AsyncIo);
    }
    if info_noinfo {
        // send_sig(sig, current, 0): pipe and file-size checks signal the writer itself.
        return Some(match signo {
            SIGPIPE => BrokenPipe,
            SIGXFSZ => FileSizeLimit,
            _ if !sender_is_target => OnBehalfOfSender,
            _ => Kernel,
        });
    }
    if !(info_priv || code == SI_KERNEL) {
        // SI_USER, SI_QUEUE, SI_TKILL with real info: a userspace sender. Other positive codes
        // (a non-SIGCHLD exit_signal with CLD_*, F_SETSIG with POLL_*) are kernel-built.
        return kernel_code.then_some(Kernel);
    }
    Some(match signo {
        SIGPIPE => BrokenPipe,
        SIGXCPU => CpuLimit,
        SIGXFSZ => FileSizeLimit,
        SIGALRM | SIGVTALRM | SIGPROF => Timer,
        SIGHUP | SIGCONT => TtyHangup,
        SIGINT | SIGQUIT | SIGTSTP => TerminalKey,
        SIGTTIN | SIGTTOU => TerminalJobControl,
        SIGWINCH => TerminalResize,
        SIGIO | SIGURG => AsyncIo,
        _ => Kernel,
    })
}

#[cfg(test)]
mod tests {
    use super::KernelReason::*;
    use super::*;
    use crate::signals::code::{SI_DETHREAD, SI_QUEUE, SI_TKILL, SI_USER};

    /// Shorthands for the three ways a send reaches the tracepoint.
    fn real(signo: i32, code: i32) -> Option<KernelReason> {
        kernel_reason(signo, code, false, false, false)
    }
    fn priv_(signo: i32) -> Option<KernelReason> {
        kernel_reason(signo, SI_KERNEL, false, true, false)
    }
    fn noinfo(signo: i32, sender_is_target: bool) -> Option<KernelReason> {
        kernel_reason(signo, SI_USER, true, false, sender_is_target)
    }

    #[test]
    fn userspace_sends_are_not_kernel() {
        for signo in [
            SIGKILL, SIGTERM, SIGSEGV, SIGPIPE, SIGHUP, SIGINT, SIGALRM, SIGXCPU, SIGCHLD, 40,
        ] {
            for code in [SI_USER, SI_TKILL, SI_QUEUE] {
                assert_eq!(real(signo, code), None, "signo {signo} code {code}");
                assert_eq!(kernel_reason(signo, code, false, false, true), None);
            }
        }
    }

    #[test]
    fn faults_in_the_target() {
        assert_eq!(kernel_reason(SIGSEGV, 1, false, false, true), Some(Fault));
        assert_eq!(real(SIGSEGV, 2), Some(Fault));
        assert_eq!(real(SIGBUS, 2), Some(Fault));
        assert_eq!(real(SIGFPE, 1), Some(Fault));
        assert_eq!(real(SIGILL, 1), Some(Fault));
        assert_eq!(real(SIGTRAP, 1), Some(Fault));
        // x86 general protection faults arrive as SI_KERNEL.
        assert_eq!(
            kernel_reason(SIGSEGV, SI_KERNEL, false, false, true),
            Some(Fault)
        );
        assert_eq!(real(SIGBUS, BUS_MCEERR_AR), Some(HardwareMemoryError));
        assert_eq!(real(SIGBUS, BUS_MCEERR_AO), Some(HardwareMemoryError));
        assert_eq!(
            real(SIGABRT, SI_TKILL),
            None,
            "abort() is a userspace self-send"
        );
    }

    #[test]
    fn seccomp_and_other_sigsys() {
        assert_eq!(real(SIGSYS, SYS_SECCOMP), Some(Seccomp));
        assert_eq!(real(SIGSYS, 2), Some(Kernel), "syscall user dispatch");
        assert_eq!(real(SIGSYS, SI_USER), None);
    }

    #[test]
    fn timers() {
        assert_eq!(real(SIGALRM, SI_TIMER), Some(Timer));
        assert_eq!(real(SIGRTMIN, SI_TIMER), Some(Timer));
        assert_eq!(priv_(SIGALRM), Some(Timer));
        assert_eq!(priv_(SIGVTALRM), Some(Timer));
        assert_eq!(priv_(SIGPROF), Some(Timer));
        assert_eq!(real(SIGALRM, SI_USER), None);
    }

    #[test]
    fn resource_limits_and_pipes() {
        assert_eq!(noinfo(SIGPIPE, true), Some(BrokenPipe));
        assert_eq!(priv_(SIGPIPE), Some(BrokenPipe));
        assert_eq!(noinfo(SIGXFSZ, true), Some(FileSizeLimit));
        assert_eq!(priv_(SIGXFSZ), Some(FileSizeLimit));
        assert_eq!(priv_(SIGXCPU), Some(CpuLimit));
        assert_eq!(real(SIGXCPU, SI_USER), None, "kill -XCPU from a shell");
    }

    #[test]
    fn terminal() {
        assert_eq!(priv_(SIGHUP), Some(TtyHangup));
        assert_eq!(priv_(SIGCONT), Some(TtyHangup));
        assert_eq!(priv_(SIGINT), Some(TerminalKey));
        assert_eq!(priv_(SIGQUIT), Some(TerminalKey));
        assert_eq!(priv_(SIGTSTP), Some(TerminalKey));
        assert_eq!(priv_(SIGTTOU), Some(TerminalJobControl));
        assert_eq!(priv_(SIGWINCH), Some(TerminalResize));
    }

    #[test]
    fn children_and_async_io() {
        assert_eq!(real(SIGCHLD, 1), Some(ChildStatus));
        assert_eq!(real(SIGCHLD, 2), Some(ChildStatus));
        assert_eq!(real(SIGIO, 1), Some(AsyncIo));
        assert_eq!(real(SIGIO, SI_SIGIO), Some(AsyncIo));
        assert_eq!(priv_(SIGIO), Some(AsyncIo));
        assert_eq!(priv_(SIGURG), Some(AsyncIo));
        assert_eq!(real(SIGUSR1, SI_ASYNCIO), Some(AsyncIo));
        assert_eq!(real(SIGUSR1, SI_MESGQ), Some(AsyncIo));
        assert_eq!(real(SIGUSR1, SI_ASYNCNL), Some(AsyncIo));
        // F_SETSIG to a real-time signal keeps the POLL_* code.
        assert_eq!(real(SIGRTMIN + 1, 1), Some(Kernel));
    }

    #[test]
    fn oom_killer_and_other_kernel_sends() {
        // oom_kill_process: do_send_sig_info(SIGKILL, SEND_SIG_PRIV, victim, ...).
        assert_eq!(priv_(SIGKILL), Some(Kernel));
        assert_eq!(
            kernel_reason(SIGKILL, SI_KERNEL, false, true, true),
            Some(Kernel)
        );
        assert_eq!(
            kernel_reason(SIGKILL, SI_KERNEL, false, false, false),
            Some(Kernel)
        );
        assert_eq!(priv_(SIGTERM), Some(Kernel));
        assert_eq!(noinfo(SIGKILL, true), Some(Kernel));
        assert_eq!(
            real(SIGKILL, SI_DETHREAD),
            None,
            "negative codes other than timers/io are queued"
        );
    }

    #[test]
    fn noinfo_from_another_task_acts_for_the_sender() {
        // cgroup.kill: send_sig(SIGKILL, task, 0) in the writer's context.
        assert_eq!(noinfo(SIGKILL, false), Some(OnBehalfOfSender));
        // PR_SET_PDEATHSIG = SIGHUP, fired by the exiting parent.
        assert_eq!(noinfo(SIGHUP, false), Some(OnBehalfOfSender));
        assert_eq!(noinfo(SIGPIPE, false), Some(BrokenPipe));
    }

    #[test]
    fn names_and_phrases() {
        let all = [
            Fault,
            HardwareMemoryError,
            Seccomp,
            Timer,
            BrokenPipe,
            CpuLimit,
            FileSizeLimit,
            TtyHangup,
            TerminalKey,
            TerminalJobControl,
            TerminalResize,
            ChildStatus,
            AsyncIo,
            OnBehalfOfSender,
            Kernel,
        ];
        for r in all {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            assert!(!r.describe().is_empty());
        }
        assert_eq!(
            Fault.describe(),
            "a memory access fault or trap in the target itself"
        );
    }
}
