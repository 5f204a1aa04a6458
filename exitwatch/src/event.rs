//! Domain events: what the kernel saw, as the daemon's stages pass it along, and the facts
//! every stage asks of an event (its kind, time, places, containers, severity).
//!
//! Names stay raw bytes until a renderer escapes them: they are the kernel's, not ours.

use std::sync::Arc;

use crate::exitstatus::ExitStatus;
use crate::signals::{self, DefaultAction, Disposition, KernelReason, SignalResult, SIGKILL};

/// A cgroup path as the kernel named it at event time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupPath {
    /// The cgroup id (its directory's inode number in that hierarchy).
    pub id: u64,
    /// `/a/b/c`; starts with `/…` when deeper than exitwatch records.
    pub path: Arc<str>,
}

/// Where a process lived: its cgroups and namespaces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    /// The default (v2) hierarchy's cgroup.
    pub cgroup: Option<CgroupPath>,
    /// The v1 memory controller's cgroup (v1 and hybrid hosts only).
    pub memcg: Option<CgroupPath>,
    /// Namespace inode numbers (as /proc/PID/ns/* show them), when known.
    pub ns: Namespaces,
    /// The container, recognised from the cgroup path and completed from the runtime. Boxed:
    /// it is most of a place's size, and events are moved from stage to stage.
    pub container: Option<Box<crate::container::identity::ContainerInfo>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Namespaces {
    pub pid: Option<u32>,
    pub mnt: Option<u32>,
    pub uts: Option<u32>,
}

impl Place {
    /// A place known only by a cgroup path (no namespaces): the OOM victim's from the kernel log.
    pub fn from_cgroup_path(path: &str) -> Place {
        Place {
            container: container_of(path),
            ..Place::default()
        }
    }
}

/// The container a cgroup path names, as the path alone says it (names come from the runtime).
pub(crate) fn container_of(path: &str) -> Option<Box<crate::container::identity::ContainerInfo>> {
    let r = crate::container::path::parse(path)?;
    Some(Box::new(
        crate::container::identity::ContainerInfo::from_path(r, path),
    ))
}

/// A process as the kernel saw it at event time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub tid: u32,
    /// Its pid inside its own pid namespace, when the kernel gave it.
    pub ns_pid: Option<u32>,
    pub comm: Vec<u8>,
    /// Nanoseconds since boot.
    pub start_ns: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ancestor {
    pub pid: u32,
    pub comm: Vec<u8>,
    pub start_ns: u64,
}

/// The task that was current when the signal was generated, with what the kernel knew of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub proc: Proc,
    pub place: Place,
    /// argv: shared by every event of one process image (it is sent once per image).
    pub args: Arc<Vec<Vec<u8>>>,
    pub args_truncated: bool,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    /// Audit login uid: None when the kernel has no audit support or it was never set.
    pub loginuid: Option<u32>,
    pub sessionid: Option<u32>,
    pub kernel_thread: bool,
    /// Path of the executable (from the kernel's dentries, so it survives the file's removal).
    /// Shared by every event of one process image, like argv.
    pub exe: Option<Arc<[u8]>>,
    /// The executable was unlinked after it started (a classic trait of droppers).
    pub exe_deleted: bool,
    /// Ancestors, root first (swapper/0 or the init of the walk), the parent last; shared
    /// like argv.
    pub ancestry: Arc<Vec<Ancestor>>,
    pub ancestry_truncated: bool,
    /// The kernel could not send this process's identity (a full ring): argv, executable,
    /// ancestry, place and audit ids are unknown, never guessed.
    pub identity_lost: bool,
}

impl Actor {
    pub fn parent(&self) -> Option<&Ancestor> {
        self.ancestry.last()
    }
}

/// Who sent a signal: a process, or the kernel acting on its own (a fault, a timer, the OOM
/// killer...), in which case the current task is only the context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sender {
    Process(Actor),
    Kernel {
        reason: KernelReason,
        context: Actor,
    },
}

impl Sender {
    pub fn actor(&self) -> &Actor {
        match self {
            Sender::Process(a) | Sender::Kernel { context: a, .. } => a,
        }
    }

    pub fn actor_mut(&mut self) -> &mut Actor {
        match self {
            Sender::Process(a) | Sender::Kernel { context: a, .. } => a,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalEvent {
    /// Nanoseconds since boot.
    pub time_ns: u64,
    pub signo: i32,
    pub code: i32,
    pub result: SignalResult,
    /// Sent to the whole thread group (kill) rather than one thread (tgkill).
    pub group: bool,
    /// The target's disposition for this signal, when it could be read.
    pub disposition: Option<Disposition>,
    /// The faulting address for fault signals.
    pub fault_addr: Option<u64>,
    /// How a process sender sent it, when not with kill(2) and friends.
    pub via: Option<Via>,
    pub sender: Sender,
    pub target: Proc,
    pub target_place: Place,
}

impl SignalEvent {
    /// Will this signal end the target? SIGKILL always does; another signal does when it was
    /// delivered (or is already pending) and the target keeps the default action to die.
    pub fn fatal(&self) -> bool {
        let queued = matches!(
            self.result,
            SignalResult::Delivered | SignalResult::AlreadyPending
        );
        if !queued {
            return false;
        }
        if self.signo == SIGKILL {
            return true;
        }
        matches!(
            signals::default_action(self.signo),
            Some(DefaultAction::Terminate | DefaultAction::CoreDump)
        ) && self.disposition == Some(Disposition::Default)
    }

    /// The exit code a shell or container runtime will report if this signal kills the target.
    pub fn exit_code_if_fatal(&self) -> u8 {
        128u8.wrapping_add(self.signo as u8)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExitEvent {
    pub time_ns: u64,
    pub status: ExitStatus,
    pub proc: Proc,
    pub place: Place,
}

/// The OOM killer's verdict, as recorded by `mark_victim`, later completed from the kernel log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OomEvent {
    pub time_ns: u64,
    pub victim: Proc,
    pub victim_uid: u32,
    pub oom_score_adj: i32,
    /// The victim's argv (read in the kernel when it is the trigger, else from /proc).
    pub victim_args: Vec<Vec<u8>>,
    /// Memory in pages, as the kernel's OOM report reads it; None when unreadable.
    pub memory: Option<OomMemory>,
    /// The task whose allocation failed.
    pub trigger: Proc,
    /// Processes sharing the victim's memory, killed with it.
    pub also_killed: Vec<Proc>,
    /// From the kernel log's `oom-kill:` summary line.
    pub context: Option<crate::oom::OomContext>,
    /// The victim's memory cgroup from /proc, read as the event arrived (a fallback for
    /// `context.task_memcg`).
    pub victim_cgroup: Option<String>,
    /// The limiting memory cgroup's limit and usage, read from cgroupfs.
    pub memcg_usage: Option<crate::oom::MemcgUsage>,
    /// Where the victim lived: from its SIGKILL (recorded in the kernel) when that came first,
    /// else its container recognised from its memory cgroup's path.
    pub victim_place: Place,
    /// What could not be known, by JSON field name.
    pub missing: Vec<&'static str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OomMemory {
    pub total_vm_pages: u64,
    pub anon_pages: u64,
    pub file_pages: u64,
    pub shmem_pages: u64,
    pub pgtables_bytes: u64,
}

impl OomEvent {
    pub fn trigger_is_victim(&self) -> bool {
        self.trigger.pid == self.victim.pid
    }

    /// The victim's memory cgroup: as the kernel log names it, else as /proc showed it.
    pub fn victim_memcg(&self) -> Option<&str> {
        self.context
            .as_ref()
            .and_then(|c| c.task_memcg.as_deref())
            .or(self.victim_cgroup.as_deref())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Signal(SignalEvent),
    Exit(ExitEvent),
    Oom(OomEvent),
    /// Records the kernel could not queue (a ring buffer full) since the last report.
    Lost {
        count: u64,
        class: LossClass,
    },
    /// Non-fatal signals a sender's budget kept from being reported, since the last report.
    Suppressed(Suppressed),
}

/// What was lost: the fatal class never because of non-fatal noise (it has its own ring).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LossClass {
    /// Fatal signals and OOM kills.
    Fatal,
    /// Non-fatal reported signals.
    NonFatal,
    /// Identities of senders and paths of cgroups (the events that need them say what is
    /// missing).
    Identity,
    /// Exits of watched processes and of targets of reported signals.
    Exit,
}

impl LossClass {
    pub fn as_str(self) -> &'static str {
        match self {
            LossClass::Fatal => "fatal",
            LossClass::NonFatal => "nonfatal",
            LossClass::Identity => "identity",
            LossClass::Exit => "exit",
        }
    }
}

/// A sender over its budget of non-fatal signals: how many of one signal were not reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppressed {
    /// None when the kernel's table of senders was full (counted without a sender).
    pub sender: Option<Proc>,
    pub uid: Option<u32>,
    /// 0 with no sender: any signal.
    pub signo: i32,
    pub count: u64,
}

/// argv as the kernel (and /proc/PID/cmdline) stores it: NUL-terminated strings back to back.
pub fn split_argv(raw: &[u8]) -> Vec<Vec<u8>> {
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
}

/// How a process made the kernel send a signal it did not send with kill(2) itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Via {
    /// It wrote `1` to a cgroup's `cgroup.kill` (runc, systemd, a shell): the kernel then
    /// SIGKILLs every process of the cgroup in the writer's context, with no siginfo.
    CgroupKill,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::CgroupKill => "cgroup.kill",
        }
    }
}

mod facts;

pub use facts::{Kind, Severity};

#[cfg(test)]
mod tests;
