//! Domain events, and their decoding from the kernel's raw ring-buffer records.
//!
//! Bytes from the kernel are untrusted: a record of the wrong size is rejected, counts are
//! clamped to the array sizes, and names stay raw bytes until a renderer escapes them.

use std::mem::size_of;

use exitwatch_common::{
    flag, AncestorRecord, CgroupRecord, ExitRecord, OomRecord, PlaceRecord, RecordKind,
    SignalRecord, TaskRecord, ARGS_LEN, CGROUP_DEPTH, COMM_LEN, EXE_DEPTH, MAX_ANCESTORS,
};

use crate::exitstatus::ExitStatus;
use crate::signals::{self, DefaultAction, Disposition, KernelReason, SignalResult};

/// `loginuid`/`sessionid` value meaning "never set" (AUDIT_UID_UNSET, AUDIT_SID_UNSET).
const AUDIT_UNSET: u32 = u32::MAX;
const SIGKILL: i32 = 9;

/// A cgroup path as the kernel named it at event time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupPath {
    /// The cgroup id (its directory's inode number in that hierarchy).
    pub id: u64,
    /// `/a/b/c`; starts with `/…` when deeper than exitwatch records.
    pub path: String,
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
    /// The container, recognised from the cgroup path and completed from the runtime.
    pub container: Option<crate::container::identity::ContainerInfo>,
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
        let container = crate::container::path::parse(path)
            .map(|r| crate::container::identity::ContainerInfo::from_path(r, path));
        Place {
            container,
            ..Place::default()
        }
    }

    /// Recognises the container from whichever cgroup path names one.
    fn identify(&mut self) {
        self.container = [&self.cgroup, &self.memcg]
            .into_iter()
            .flatten()
            .find_map(|c| {
                let r = crate::container::path::parse(&c.path)?;
                Some(crate::container::identity::ContainerInfo::from_path(
                    r, &c.path,
                ))
            });
    }
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
    pub args: Vec<Vec<u8>>,
    pub args_truncated: bool,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    /// Audit login uid: None when the kernel has no audit support or it was never set.
    pub loginuid: Option<u32>,
    pub sessionid: Option<u32>,
    pub kernel_thread: bool,
    /// Path of the executable (from the kernel's dentries, so it survives the file's removal).
    pub exe: Option<Vec<u8>>,
    /// The executable was unlinked after it started (a classic trait of droppers).
    pub exe_deleted: bool,
    /// Ancestors, root first (swapper/0 or the init of the walk), the parent last.
    pub ancestry: Vec<Ancestor>,
    pub ancestry_truncated: bool,
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
    /// Records the kernel could not queue (ring buffer full) since the last report.
    Lost {
        count: u64,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {0} bytes is too short")]
    Short(usize),
    #[error("unknown record kind {0}")]
    UnknownKind(u32),
    #[error("unknown signal result {0} from the kernel")]
    UnknownResult(i32),
}

/// Decodes one ring-buffer record.
pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
    let kind = read::<u32>(bytes, 0)?;
    match RecordKind::from_u32(kind) {
        Some(RecordKind::Signal) => Ok(Event::Signal(signal(&read::<SignalRecord>(bytes, 0)?)?)),
        Some(RecordKind::Exit) => Ok(Event::Exit(exit(&read::<ExitRecord>(bytes, 0)?))),
        Some(RecordKind::Oom) => Ok(Event::Oom(oom(&read::<OomRecord>(bytes, 0)?))),
        None => Err(DecodeError::UnknownKind(kind)),
    }
}

fn read<T: Copy>(bytes: &[u8], at: usize) -> Result<T, DecodeError> {
    if bytes.len() < at + size_of::<T>() {
        return Err(DecodeError::Short(bytes.len()));
    }
    // SAFETY: bounds checked above; T is a plain #[repr(C)] integer record, valid for any bits.
    Ok(unsafe { std::ptr::read_unaligned(bytes.as_ptr().add(at).cast::<T>()) })
}

fn comm(raw: &[u8; COMM_LEN]) -> Vec<u8> {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(COMM_LEN);
    raw[..end].to_vec()
}

fn proc(t: &TaskRecord, flags: u32) -> Proc {
    Proc {
        pid: t.pid,
        tid: t.tid,
        ns_pid: (flags & flag::NS_PID_ABSENT == 0).then_some(t.ns_pid),
        comm: comm(&t.comm),
        start_ns: t.start_ns,
    }
}

fn ancestor(a: &AncestorRecord) -> Ancestor {
    Ancestor {
        pid: a.pid,
        comm: comm(&a.comm),
        start_ns: a.start_ns,
    }
}

/// argv as the kernel stores it: NUL-terminated strings back to back.
fn split_args(raw: &[u8]) -> Vec<Vec<u8>> {
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
}

/// Joins the recorded dentry names (file name first) into a path; `…` marks a cut-off top.
fn exe_path(r: &SignalRecord, f: u32) -> Option<Vec<u8>> {
    let depth = (r.exe_depth as usize).min(EXE_DEPTH);
    if f & flag::EXE_UNREADABLE != 0 || depth == 0 {
        return None;
    }
    let mut path = Vec::new();
    if f & flag::EXE_TRUNCATED != 0 {
        path.extend_from_slice("…".as_bytes());
    }
    for name in r.exe[..depth].iter().rev() {
        path.push(b'/');
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        path.extend_from_slice(&name[..end]);
    }
    Some(path)
}

fn cgroup_path(c: &CgroupRecord) -> Option<CgroupPath> {
    let depth = (c.depth as usize).min(CGROUP_DEPTH);
    if depth == 0 {
        return None;
    }
    let mut path = String::new();
    if c.truncated != 0 {
        path.push_str("/…");
    }
    for name in c.names[..depth].iter().rev() {
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        path.push('/');
        path.push_str(&String::from_utf8_lossy(&name[..end]));
    }
    Some(CgroupPath { id: c.ids[0], path })
}

fn place(p: &PlaceRecord) -> Place {
    let known = |v: u32| (v != 0).then_some(v);
    let mut place = Place {
        cgroup: cgroup_path(&p.cgroup),
        memcg: cgroup_path(&p.memcg),
        ns: Namespaces {
            pid: known(p.ns.pid),
            mnt: known(p.ns.mnt),
            uts: known(p.ns.uts),
        },
        container: None,
    };
    place.identify();
    place
}

fn audit_id(v: u32, absent: bool) -> Option<u32> {
    (!absent && v != AUDIT_UNSET).then_some(v)
}

fn signal(r: &SignalRecord) -> Result<SignalEvent, DecodeError> {
    let f = r.flags;
    let args_len = (r.args_len as usize).min(ARGS_LEN);
    let n = (r.n_ancestors as usize).min(MAX_ANCESTORS);
    let actor = Actor {
        proc: proc(&r.sender, f),
        place: place(&r.sender_place),
        args: split_args(&r.args[..args_len]),
        args_truncated: f & flag::ARGS_TRUNCATED != 0,
        uid: r.uid,
        gid: r.gid,
        euid: r.euid,
        loginuid: audit_id(r.loginuid, f & flag::LOGINUID_ABSENT != 0),
        sessionid: audit_id(r.sessionid, f & flag::SESSIONID_ABSENT != 0),
        kernel_thread: f & flag::SENDER_KTHREAD != 0,
        exe: exe_path(r, f),
        exe_deleted: f & flag::EXE_DELETED != 0,
        ancestry: r.ancestors[..n].iter().rev().map(ancestor).collect(),
        ancestry_truncated: f & flag::ANCESTRY_TRUNCATED != 0,
    };
    let target = proc(&r.target, f);
    let reason = signals::kernel_reason(
        r.signo,
        r.code,
        f & flag::INFO_NOINFO != 0,
        f & flag::INFO_PRIV != 0,
        actor.proc.pid == target.pid,
    );
    let sender = match reason {
        Some(reason) => Sender::Kernel {
            reason,
            context: actor,
        },
        None => Sender::Process(actor),
    };
    let fault_addr = matches!(
        sender,
        Sender::Kernel {
            reason: KernelReason::Fault,
            ..
        }
    )
    .then_some(r.si_fields);
    Ok(SignalEvent {
        time_ns: r.time_ns,
        signo: r.signo,
        code: r.code,
        result: SignalResult::from_raw(r.result).ok_or(DecodeError::UnknownResult(r.result))?,
        group: r.group != 0,
        disposition: (f & flag::HANDLER_UNKNOWN == 0).then(|| Disposition::from_handler(r.handler)),
        fault_addr,
        sender,
        target,
        target_place: place(&r.target_place),
    })
}

fn exit(r: &ExitRecord) -> ExitEvent {
    ExitEvent {
        time_ns: r.time_ns,
        status: ExitStatus::from_raw(r.exit_code),
        proc: proc(&r.task, r.flags),
        place: place(&r.place),
    }
}

fn oom(r: &OomRecord) -> OomEvent {
    let f = r.flags;
    let mut missing = Vec::new();
    let memory = if f & flag::OOM_STATS_ABSENT == 0 {
        let pages = |v: i64| v.max(0) as u64;
        Some(OomMemory {
            total_vm_pages: r.total_vm_pages,
            anon_pages: pages(r.anon_pages),
            file_pages: pages(r.file_pages),
            shmem_pages: pages(r.shmem_pages),
            pgtables_bytes: pages(r.pgtables_bytes),
        })
    } else {
        missing.push("victim.memory");
        None
    };
    let unresolved = f & flag::OOM_VICTIM_UNRESOLVED != 0;
    if unresolved {
        missing.push("victim.comm");
    }
    let args_len = (r.args_len as usize).min(ARGS_LEN);
    OomEvent {
        time_ns: r.time_ns,
        victim: proc(&r.victim, f),
        victim_uid: r.victim_uid,
        oom_score_adj: r.oom_score_adj,
        victim_args: split_args(&r.args[..args_len]),
        memory,
        trigger: proc(&r.trigger, f & !flag::NS_PID_ABSENT),
        also_killed: Vec::new(),
        context: None,
        victim_cgroup: None,
        memcg_usage: None,
        victim_place: Place::default(),
        missing,
    }
}

#[cfg(test)]
mod tests;
