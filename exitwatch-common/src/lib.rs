//! The records and settings shared by the kernel programs and the daemon, declared once.
//!
//! Every type here is `#[repr(C)]` plain data: the kernel side writes it into a ring buffer or
//! a map, or reads it as a load-time constant; the userspace side reads the same bytes. Layouts
//! are guarded by size assertions so a field added on one side cannot silently shift the other.
//!
//! The records are built to be small on the hot path: a process's identity (argv, executable,
//! ancestry, audit ids, its place) travels once per process image in an [`IdentityRecord`], a
//! cgroup's path once per cgroup in a [`CgroupNameRecord`]; signal and exit records refer to
//! them by (tgid, image) and by cgroup id.
#![no_std]

mod offsets;
mod records;

pub use offsets::KernelOffsets;
pub use records::*;

/// Length of `task_struct::comm` (TASK_COMM_LEN), fixed by the kernel ABI.
pub const COMM_LEN: usize = 16;
/// Bytes of the sender's argv captured in the kernel.
pub const ARGS_LEN: usize = 256;
/// Ancestors of the sender recorded per identity (the walk stops at the root or here).
pub const MAX_ANCESTORS: usize = 40;
/// Path components of the sender's executable recorded (deepest first), and bytes of each.
pub const EXE_DEPTH: usize = 8;
pub const EXE_NAME_LEN: usize = 32;
/// Levels of a cgroup path recorded (leaf first) and bytes of each name: enough for
/// `/kubepods.slice/kubepods-burstable.slice/…-pod<uid>.slice/cri-containerd-<id>.scope/<sub>`.
pub const CGROUP_DEPTH: usize = 5;
pub const CGROUP_NAME_LEN: usize = 96;
/// Offsets the kernel program was not given (the running kernel lacks the field).
pub const ABSENT: u32 = u32::MAX;

/// Map and program names, used by both sides.
pub mod names {
    /// Fatal signals, OOM kills, exits of their targets, and the identities they name.
    pub const EVENTS: &str = "EVENTS";
    /// Everything else that is reported (non-fatal signals, their identities and exits).
    pub const EVENTS_NONFATAL: &str = "EVENTS_NONFATAL";
    pub const LOST: &str = "LOST";
    pub const WATCHED: &str = "WATCHED";
    pub const OFFSETS: &str = "OFFSETS";
    pub const FILTER: &str = "FILTER";
    pub const PROG_SIGNAL: &str = "signal_generate";
    pub const PROG_EXIT: &str = "sched_process_exit";
    pub const PROG_EXEC: &str = "sched_process_exec";
    pub const PROG_OOM: &str = "mark_victim";
    /// Loaded, not attached: `signal_generate` tail-calls it through `IDENTITY_PROG`.
    pub const PROG_IDENTITY: &str = "signal_identity";
    pub const IDENTITY_PROG: &str = "IDENTITY_PROG";
    pub const PRIV_KILL: &str = "PRIV_KILL";
    pub const WATCHED_CGROUPS: &str = "WATCHED_CGROUPS";
    pub const IDENTITIES: &str = "IDENTITIES";
    pub const CGROUPS_SENT: &str = "CGROUPS_SENT";
    pub const SUPPRESSED: &str = "SUPPRESSED";
    pub const DOOMED: &str = "DOOMED";
}

/// Capacity of the `WATCHED` map (target tgids whose signals and exit are reported).
pub const MAX_WATCHED: u32 = 4096;
/// Capacity of the `WATCHED_CGROUPS` map (the daemon's verdict on each cgroup of the node).
pub const MAX_WATCHED_CGROUPS: u32 = 8192;
/// Capacity of the `DOOMED` map (targets of reported signals, whose exit is reported).
pub const MAX_DOOMED: u32 = 16384;
/// Capacity of the `IDENTITIES` map (process images whose identity was sent). The daemon's
/// process cache holds at least as many, and tells the kernel what it forgets.
pub const MAX_IDENTITIES: u32 = 8192;
/// Capacity of the `CGROUPS_SENT` map (cgroups whose path was sent).
pub const MAX_CGROUPS_SENT: u32 = 8192;
/// Capacity of the `BUDGET` map (senders of non-fatal signals with a token bucket).
pub const MAX_BUDGETS: u32 = 8192;
/// Capacity of the `SUPPRESSED` map ((sender, signal) pairs whose signals were suppressed).
pub const MAX_SUPPRESSED: u32 = 4096;

/// The rings a record can travel in, as bits (a map remembers in which rings an identity or a
/// cgroup path was sent: a record must follow its identity in the same ring).
pub mod ring {
    pub const FATAL: u32 = 1 << 0;
    pub const NONFATAL: u32 = 1 << 1;
}

/// How the rings wake the daemon. Waking it is the dearest part of a record (an interrupt
/// raised on the sender's CPU; in a VM an exit to the hypervisor), so a record wakes it only
/// when no record of its ring did for [`GAP_NS`](wake::GAP_NS); the others are read when the
/// daemon looks again, at most [`FOLLOW_UP_MS`](wake::FOLLOW_UP_MS) after it last woke. The
/// daemon sleeps without a deadline only after a whole follow-up found nothing, and by then
/// the ring's last wake-up is older than the gap, so the next record wakes it: none waits for
/// a later one.
pub mod wake {
    /// A record wakes the daemon when its ring's last wake-up is at least this old.
    pub const GAP_NS: u64 = 2_000_000;
    /// How long the daemon, once woken, waits for a wake-up before it looks at the rings
    /// anyway. Must exceed the gap (by far: the record's time is taken a little before it is
    /// committed).
    pub const FOLLOW_UP_MS: u64 = 10;
    const _: () = assert!(FOLLOW_UP_MS * 1_000_000 >= 4 * GAP_NS);
    /// `bpf_ringbuf_submit`/`output` flags (uapi `BPF_RB_NO_WAKEUP`, `BPF_RB_FORCE_WAKEUP`).
    pub const NO_WAKEUP: u64 = 1 << 0;
    pub const FORCE_WAKEUP: u64 = 1 << 1;
}

/// What the kernel could not queue or count, by class: indices into the per-CPU `LOST` array.
pub mod loss {
    /// Fatal signals and OOM kills (the fatal ring was full).
    pub const FATAL: u32 = 0;
    /// Non-fatal reported signals (the non-fatal ring was full).
    pub const NONFATAL: u32 = 1;
    /// Identity and cgroup-path records (their events then say what is missing).
    pub const IDENTITY: u32 = 2;
    /// Exits of watched processes and of targets of reported signals.
    pub const EXIT: u32 = 3;
    /// Suppressed signals that found the `SUPPRESSED` map full: counted without their sender.
    pub const SUPPRESSED_UNATTRIBUTED: u32 = 4;
    /// New entries put in `DOOMED` (so the daemon can tell how many the LRU evicted).
    pub const DOOMED_ADDED: u32 = 5;
    /// Entries taken out of `DOOMED` by the exit they waited for.
    pub const DOOMED_REMOVED: u32 = 6;
    /// How many classes there are.
    pub const CLASSES: u32 = 7;
    /// `LOST` holds a row of the classes above per context a program runs in (the kernel
    /// crate's `maps::slot`): a program run in an interrupt counting in the row of the run it
    /// interrupted, between that run's load and store, would undo one of its counts. Readers
    /// sum the rows.
    pub const ROWS: u32 = 2;

    /// The `LOST` index of `class` in `row`.
    pub const fn index(row: u32, class: u32) -> u32 {
        row * CLASSES + class
    }
}

/// `DOOMED` values: what the target of a reported signal received.
pub mod doomed {
    pub const NONFATAL: u32 = 1;
    pub const FATAL: u32 = 2;
}

/// What kind of record follows in a ring buffer: the first `u32` of every record.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    Signal = 1,
    Exit = 2,
    Oom = 3,
    Identity = 4,
    CgroupName = 5,
}

impl RecordKind {
    pub fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(Self::Signal),
            2 => Some(Self::Exit),
            3 => Some(Self::Oom),
            4 => Some(Self::Identity),
            5 => Some(Self::CgroupName),
            _ => None,
        }
    }
}

/// `flags` bits of a record: what could not be read, and what the kernel passed.
pub mod flag {
    /// The ancestry walk hit `MAX_ANCESTORS` before reaching the root.
    pub const ANCESTRY_TRUNCATED: u32 = 1 << 0;
    /// The kernel has no `task_struct::loginuid` (built without CONFIG_AUDIT).
    pub const LOGINUID_ABSENT: u32 = 1 << 1;
    /// The kernel has no `task_struct::sessionid`.
    pub const SESSIONID_ABSENT: u32 = 1 << 2;
    /// argv was longer than `ARGS_LEN` bytes.
    pub const ARGS_TRUNCATED: u32 = 1 << 3;
    /// argv could not be read (kernel thread, exiting task, page not present).
    pub const ARGS_UNREADABLE: u32 = 1 << 4;
    /// The kernel passed SEND_SIG_NOINFO: an in-kernel `send_sig()` with no siginfo.
    pub const INFO_NOINFO: u32 = 1 << 5;
    /// The kernel passed SEND_SIG_PRIV: an in-kernel privileged send (SI_KERNEL).
    pub const INFO_PRIV: u32 = 1 << 6;
    /// The current task (the sender) is a kernel thread.
    pub const SENDER_KTHREAD: u32 = 1 << 7;
    /// The pid-namespace pid could not be resolved.
    pub const NS_PID_ABSENT: u32 = 1 << 8;
    /// The target's signal handler could not be read.
    pub const HANDLER_UNKNOWN: u32 = 1 << 9;
    /// OOM: the victim's memory counters could not be read (no mm, or fields absent).
    pub const OOM_STATS_ABSENT: u32 = 1 << 10;
    /// OOM: the kernel passed only the victim's pid and no matching SIGKILL was seen, so
    /// only the pid is known.
    pub const OOM_VICTIM_UNRESOLVED: u32 = 1 << 11;
    /// The sender's executable has been unlinked (its inode has no links left).
    pub const EXE_DELETED: u32 = 1 << 12;
    /// The sender's executable path is deeper than `EXE_DEPTH` components.
    pub const EXE_TRUNCATED: u32 = 1 << 13;
    /// The sender's executable could not be read (kernel thread, exiting task).
    pub const EXE_UNREADABLE: u32 = 1 << 14;
    /// Signal: the kernel judged it fatal (it travelled in the fatal ring).
    pub const FATAL: u32 = 1 << 15;
    /// Signal: the sender's identity record could not be queued; `sender_image` is 0.
    pub const IDENTITY_LOST: u32 = 1 << 16;
    /// A cgroup path record this record refers to could not be queued.
    pub const CGROUP_NAME_LOST: u32 = 1 << 17;
    /// CgroupName: the path is in the v1 memory hierarchy (else the default one).
    pub const MEMORY_HIERARCHY: u32 = 1 << 18;
}

/// The kernel's verdict on a generated signal (`enum trace_signal_ret` in
/// include/trace/events/signal.h; unchanged since it was introduced).
pub mod result {
    pub const DELIVERED: i32 = 0;
    pub const IGNORED: i32 = 1;
    pub const ALREADY_PENDING: i32 = 2;
    pub const OVERFLOW_FAIL: i32 = 3;
    pub const LOSE_INFO: i32 = 4;
}

/// Signals whose default action ends the process (terminate or core dump), as a bitmask
/// (bit `n - 1` is signal `n`): all but SIGCHLD, SIGCONT, SIGURG, SIGWINCH and the stop
/// signals (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU). Real-time signals terminate.
pub const DEFAULT_ENDS_PROCESS: u64 = !((1 << (17 - 1))
    | (1 << (18 - 1))
    | (1 << (19 - 1))
    | (1 << (20 - 1))
    | (1 << (21 - 1))
    | (1 << (22 - 1))
    | (1 << (23 - 1))
    | (1 << (28 - 1)));

/// Which signals the kernel program reports, as bitmasks (bit `n - 1` is signal `n`), and how
/// much non-fatal noise one sender may make.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterConfig {
    /// Reported whatever the target's disposition and whatever the kernel's verdict.
    pub always: u64,
    /// Reported only when delivered to a target that keeps the default action (so it dies).
    pub if_fatal: u64,
    /// Non-zero: report only signals to, and exits of, tgids in the `WATCHED` map.
    pub watched_only: u32,
    /// Non-zero: report only signals to processes in (or below) a cgroup in `WATCHED_CGROUPS`,
    /// and the exits of those containers' main processes.
    pub cgroups_only: u32,
    /// Non-fatal signals one sender (tgid) may have reported per second, sustained; 0: no
    /// budget. Fatal signals are never budgeted.
    pub budget_rate: u32,
    /// ...and at once (the bucket's depth).
    pub budget_burst: u32,
}

impl FilterConfig {
    pub const fn none() -> Self {
        Self {
            always: 0,
            if_fatal: 0,
            watched_only: 0,
            cgroups_only: 0,
            budget_rate: 0,
            budget_burst: 0,
        }
    }
}

const _: () = assert!(core::mem::size_of::<FilterConfig>() == 32);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all of these are #[repr(C)] structs of integers and integer arrays with explicit
    // padding fields, so every bit pattern is valid and there are no implicit padding bytes.
    unsafe impl aya::Pod for super::KernelOffsets {}
    unsafe impl aya::Pod for super::FilterConfig {}
    unsafe impl aya::Pod for super::IdentityState {}
    unsafe impl aya::Pod for super::SuppressedKey {}
    unsafe impl aya::Pod for super::SuppressedValue {}
}
