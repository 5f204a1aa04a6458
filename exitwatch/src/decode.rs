//! Decode: one ring-buffer record (bytes) into a domain [`Event`]. Pure.
//!
//! Bytes from the kernel are untrusted: a record of the wrong size is rejected, counts are
//! clamped to the array sizes, and names stay raw bytes until a renderer escapes them.

use std::mem::size_of;

use exitwatch_common::{
    flag, AncestorRecord, CgroupRecord, ExitRecord, OomRecord, PlaceRecord, RecordKind,
    SignalRecord, TaskRecord, ARGS_LEN, CGROUP_DEPTH, COMM_LEN, EXE_DEPTH, MAX_ANCESTORS,
};

use crate::event::{
    split_argv, Actor, Ancestor, CgroupPath, Event, ExitEvent, Namespaces, OomEvent, OomMemory,
    Place, Proc, Sender, SignalEvent,
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
        args: split_argv(&r.args[..args_len]),
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
