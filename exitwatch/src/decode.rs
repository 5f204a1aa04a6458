//! Decode: one ring-buffer record (bytes) into what it says. Pure.
//!
//! Signal and exit records are small and refer to the sender's identity and to cgroups by id;
//! [`crate::assemble`] joins them with the identities and cgroup paths sent before them.
//! Bytes from the kernel are untrusted: a record of the wrong size is rejected, counts are
//! clamped to the array sizes, and names stay raw bytes until a renderer escapes them.

use std::mem::size_of;
use std::sync::{Arc, OnceLock};

use exitwatch_common::{
    flag, AncestorRecord, CgroupNameRecord, CgroupRecord, ExitRecord, IdentityRecord, OomRecord,
    PlaceRef, RecordKind, SignalRecord, TaskRecord, ARGS_LEN, CGROUP_DEPTH, COMM_LEN, EXE_DEPTH,
    MAX_ANCESTORS,
};

use crate::event::{
    split_argv, Actor, Ancestor, Event, ExitEvent, Namespaces, OomEvent, OomMemory, Place, Proc,
    Sender, SignalEvent, Via,
};
use crate::exitstatus::ExitStatus;
use crate::signals::{self, Disposition, KernelReason, SignalResult};

/// `loginuid`/`sessionid` value meaning "never set" (AUDIT_UID_UNSET, AUDIT_SID_UNSET).
const AUDIT_UNSET: u32 = u32::MAX;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {0} bytes is too short")]
    Short(usize),
    #[error("unknown record kind {0}")]
    UnknownKind(u32),
    #[error("unknown signal result {0} from the kernel")]
    UnknownResult(i32),
    #[error("identity record of {0} bytes does not hold its {1} ancestors")]
    Ancestors(usize, u32),
}

/// What one record says. Signals and exits still name places by cgroup id, and a signal its
/// sender's identity by image: [`crate::assemble`] completes them.
// Signals are the common case: moving one is cheaper than allocating a box for each.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Signal {
        /// Complete but for the sender's identity (argv, exe, ancestry, place, audit ids)
        /// and the target's place.
        event: SignalEvent,
        /// The sender's image whose identity was sent before; None when it was lost.
        sender_image: Option<u64>,
        target_place: PlaceIds,
    },
    Exit {
        event: ExitEvent,
        place: PlaceIds,
    },
    Oom(OomEvent),
    /// Boxed: an identity is an order of magnitude larger than the records that use it.
    Identity(Box<Identity>),
    CgroupName(CgroupName),
}

/// A place by reference: cgroup ids (0: unknown, or a hierarchy's root) and namespaces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlaceIds {
    pub cgroup: u64,
    pub memcg: u64,
    pub ns: Namespaces,
}

/// Who a process image is (sent once per image and ring, before its first signal there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub pid: u32,
    pub image: u64,
    pub place: PlaceIds,
    pub args: Arc<Vec<Vec<u8>>>,
    pub args_truncated: bool,
    pub loginuid: Option<u32>,
    pub sessionid: Option<u32>,
    pub exe: Option<Arc<[u8]>>,
    pub exe_deleted: bool,
    /// Root first, the parent last.
    pub ancestry: Arc<Vec<Ancestor>>,
    pub ancestry_truncated: bool,
}

impl Identity {
    /// Roughly what it holds in memory, for the process cache's budget.
    pub fn bytes(&self) -> usize {
        size_of::<Self>()
            + self.args.iter().map(|a| a.len() + 24).sum::<usize>()
            + self.exe.as_ref().map_or(0, |e| e.len())
            + self
                .ancestry
                .iter()
                .map(|a| size_of::<Ancestor>() + a.comm.len())
                .sum::<usize>()
    }
}

/// The path of one cgroup (`memory`: in the v1 memory hierarchy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupName {
    pub memory: bool,
    pub id: u64,
    pub path: String,
}

/// Decodes one ring-buffer record.
pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
    let kind = read::<u32>(bytes, 0)?;
    match RecordKind::from_u32(kind) {
        Some(RecordKind::Signal) => signal(&read::<SignalRecord>(bytes, 0)?),
        Some(RecordKind::Exit) => Ok(exit(&read::<ExitRecord>(bytes, 0)?)),
        Some(RecordKind::Oom) => Ok(Record::Oom(oom(&read::<OomRecord>(bytes, 0)?))),
        Some(RecordKind::Identity) => identity(bytes).map(|i| Record::Identity(Box::new(i))),
        Some(RecordKind::CgroupName) => {
            let r = read::<CgroupNameRecord>(bytes, 0)?;
            Ok(Record::CgroupName(CgroupName {
                memory: r.flags & flag::MEMORY_HIERARCHY != 0,
                id: r.cgroup.ids[0],
                path: cgroup_path(&r.cgroup),
            }))
        }
        None => Err(DecodeError::UnknownKind(kind)),
    }
}

/// Decodes a whole record into an event, for a record that needs nothing sent before it
/// (tests, and callers that have no identities).
pub fn event(bytes: &[u8]) -> Result<Option<Event>, DecodeError> {
    Ok(match decode(bytes)? {
        Record::Signal { event, .. } => Some(Event::Signal(event)),
        Record::Exit { event, .. } => Some(Event::Exit(event)),
        Record::Oom(o) => Some(Event::Oom(o)),
        Record::Identity(_) | Record::CgroupName(_) => None,
    })
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

/// Joins the recorded dentry names (file name first) into a path; `…` marks a cut-off top.
fn exe_path(r: &IdentityRecord, f: u32) -> Option<Arc<[u8]>> {
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
    Some(path.into())
}

/// `/a/b/c` from the recorded names (leaf first); starts with `/…` when cut.
fn cgroup_path(c: &CgroupRecord) -> String {
    let depth = (c.depth as usize).min(CGROUP_DEPTH);
    let mut path = String::new();
    if c.truncated != 0 {
        path.push_str("/…");
    }
    for name in c.names[..depth].iter().rev() {
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        path.push('/');
        path.push_str(&String::from_utf8_lossy(&name[..end]));
    }
    path
}

fn place_ids(p: &PlaceRef) -> PlaceIds {
    let known = |v: u32| (v != 0).then_some(v);
    PlaceIds {
        cgroup: p.cgroup,
        memcg: p.memcg,
        ns: Namespaces {
            pid: known(p.ns.pid),
            mnt: known(p.ns.mnt),
            uts: known(p.ns.uts),
        },
    }
}

fn audit_id(v: u32, absent: bool) -> Option<u32> {
    (!absent && v != AUDIT_UNSET).then_some(v)
}

/// The sender's argv and ancestry until assemble fills them from its identity: one empty list
/// of each, shared (a count), rather than two allocations per signal.
fn no_args() -> Arc<Vec<Vec<u8>>> {
    static EMPTY: OnceLock<Arc<Vec<Vec<u8>>>> = OnceLock::new();
    Arc::clone(EMPTY.get_or_init(Arc::default))
}

fn no_ancestry() -> Arc<Vec<Ancestor>> {
    static EMPTY: OnceLock<Arc<Vec<Ancestor>>> = OnceLock::new();
    Arc::clone(EMPTY.get_or_init(Arc::default))
}

fn signal(r: &SignalRecord) -> Result<Record, DecodeError> {
    let f = r.flags;
    // Who the sender is beyond these comes with its identity (assemble).
    let actor = Actor {
        proc: proc(&r.sender, f),
        place: Place::default(),
        args: no_args(),
        args_truncated: false,
        uid: r.uid,
        gid: r.gid,
        euid: r.euid,
        loginuid: None,
        sessionid: None,
        kernel_thread: f & flag::SENDER_KTHREAD != 0,
        exe: None,
        exe_deleted: false,
        ancestry: no_ancestry(),
        ancestry_truncated: false,
        identity_lost: f & flag::IDENTITY_LOST != 0,
    };
    let target = proc(&r.target, f);
    let reason = signals::kernel_reason(
        r.signo,
        r.code,
        f & flag::INFO_NOINFO != 0,
        f & flag::INFO_PRIV != 0,
        actor.proc.pid == target.pid,
    );
    // SIGKILL with no siginfo to another process, from a user task: the kernel's cgroup.kill,
    // run in the context of the process that wrote the file. That process is the sender.
    let via = (reason == Some(KernelReason::OnBehalfOfSender)
        && r.signo == signals::SIGKILL
        && !actor.kernel_thread)
        .then_some(Via::CgroupKill);
    let sender = match reason {
        Some(reason) if via.is_none() => Sender::Kernel {
            reason,
            context: actor,
        },
        _ => Sender::Process(actor),
    };
    let fault_addr = matches!(
        sender,
        Sender::Kernel {
            reason: KernelReason::Fault,
            ..
        }
    )
    .then_some(r.si_fields);
    let event = SignalEvent {
        time_ns: r.time_ns,
        signo: r.signo,
        code: r.code,
        result: SignalResult::from_raw(r.result).ok_or(DecodeError::UnknownResult(r.result))?,
        group: r.group != 0,
        disposition: (f & flag::HANDLER_UNKNOWN == 0).then(|| Disposition::from_handler(r.handler)),
        fault_addr,
        via,
        sender,
        target,
        target_place: Place::default(),
    };
    Ok(Record::Signal {
        event,
        sender_image: (f & flag::IDENTITY_LOST == 0 && r.sender_image != 0)
            .then_some(r.sender_image),
        target_place: place_ids(&r.target_place),
    })
}

fn exit(r: &ExitRecord) -> Record {
    Record::Exit {
        event: ExitEvent {
            time_ns: r.time_ns,
            status: ExitStatus::from_raw(r.exit_code),
            proc: proc(&r.task, r.flags),
            place: Place::default(),
        },
        place: place_ids(&r.place),
    }
}

/// An identity record travels cut after its last ancestor: what is missing reads as zeroes.
fn identity(bytes: &[u8]) -> Result<Identity, DecodeError> {
    if bytes.len() < IdentityRecord::HEAD {
        return Err(DecodeError::Short(bytes.len()));
    }
    let mut full = [0u8; size_of::<IdentityRecord>()];
    let len = bytes.len().min(full.len());
    full[..len].copy_from_slice(&bytes[..len]);
    let r = read::<IdentityRecord>(&full, 0)?;
    let n = (r.n_ancestors as usize).min(MAX_ANCESTORS);
    if len < IdentityRecord::HEAD + n * size_of::<AncestorRecord>() {
        return Err(DecodeError::Ancestors(bytes.len(), r.n_ancestors));
    }
    let f = r.flags;
    let args_len = (r.args_len as usize).min(ARGS_LEN);
    Ok(Identity {
        pid: r.task.pid,
        image: r.image,
        place: place_ids(&r.place),
        args: Arc::new(split_argv(&r.args[..args_len])),
        args_truncated: f & flag::ARGS_TRUNCATED != 0,
        loginuid: audit_id(r.loginuid, f & flag::LOGINUID_ABSENT != 0),
        sessionid: audit_id(r.sessionid, f & flag::SESSIONID_ABSENT != 0),
        exe: exe_path(&r, f),
        exe_deleted: f & flag::EXE_DELETED != 0,
        ancestry: Arc::new(r.ancestors[..n].iter().rev().map(ancestor).collect()),
        ancestry_truncated: f & flag::ANCESTRY_TRUNCATED != 0,
    })
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
        victim_args: split_argv(&r.args[..args_len]),
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
