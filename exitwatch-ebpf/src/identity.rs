//! Who a sender is, sent once per process image and ring: argv, executable, ancestry, audit
//! ids and place, captured the first time the process is seen sending a reported signal.

use exitwatch_common::{
    flag, loss, AncestorRecord, IdentityRecord, IdentityState, RecordKind, MAX_ANCESTORS,
};

use crate::{
    config::konst,
    maps::{count, output, ring, slot, IDENTITIES, SCRATCH},
    place,
    task::{self, read, Mem, Task},
};

/// The image of `current`'s process if its identity was already sent in the ring of the
/// record being made (the common case: nothing more to do).
#[inline(always)]
pub fn sent<M: Mem>(current: Task, tgid: u32) -> Option<u64> {
    let leader = M::read::<Task>(current, konst!(OFFSETS.task_group_leader)).unwrap_or(current);
    let start_ns = M::read::<u64>(leader, konst!(OFFSETS.task_start_boottime)).unwrap_or(0);
    match unsafe { IDENTITIES.get(&tgid) } {
        Some(s) if s.start_ns == start_ns && s.rings & ring(slot::SIGNAL) != 0 => Some(s.image),
        _ => None,
    }
}

/// The image of `current`'s process whose identity is in the ring of the record being made
/// (sending it there first if it is not); 0 when it could not be sent (counted as a lost
/// identity).
#[inline(always)]
pub fn announce(current: Task, tgid: u32, now: u64) -> u64 {
    let leader = read::<Task>(current, konst!(OFFSETS.task_group_leader)).unwrap_or(current);
    let start_ns = task::start_ns(leader);
    let (image, have) = match unsafe { IDENTITIES.get(&tgid) } {
        Some(s) if s.start_ns == start_ns => (s.image, s.rings),
        // First seen, exec'd since (the exec hook forgot it), or a reused pid.
        _ => (now, 0),
    };
    if have & ring(slot::SIGNAL) != 0 {
        return image;
    }
    if send(current, leader, image, now).is_none() {
        count(slot::SIGNAL, loss::IDENTITY);
        return 0;
    }
    let state = IdentityState {
        start_ns,
        image,
        rings: have | ring(slot::SIGNAL),
        _pad: 0,
    };
    let _ = IDENTITIES.insert(&tgid, &state, 0);
    image
}

#[inline(always)]
fn send(current: Task, leader: Task, image: u64, now: u64) -> Option<()> {
    let rec = unsafe { &mut *SCRATCH.get_ptr_mut(0)? };
    rec.kind = RecordKind::Identity as u32;
    rec.time_ns = now;
    rec.image = image;
    rec._pad = 0;
    let mut flags = task::fill(current, &mut rec.task);
    rec.task.start_ns = task::start_ns(leader);
    flags |= place::fill_ref(slot::SIGNAL, current, &mut rec.place);
    flags |= audit(current, rec);
    flags |= task::current_args(current, &mut rec.args, &mut rec.args_len);
    flags |= task::exe(current, &mut rec.exe, &mut rec.exe_depth);
    flags |= ancestry(current, rec);
    rec.flags = flags;
    // Only the ancestors walked travel: a shell's identity is a few hundred bytes.
    let n = (rec.n_ancestors as usize).min(MAX_ANCESTORS);
    let len = IdentityRecord::HEAD + n * core::mem::size_of::<AncestorRecord>();
    let bytes =
        unsafe { core::slice::from_raw_parts((rec as *const IdentityRecord).cast::<u8>(), len) };
    output(slot::SIGNAL, bytes).then_some(())
}

#[inline(always)]
fn audit(current: Task, rec: &mut IdentityRecord) -> u32 {
    let mut flags = 0;
    rec.loginuid = match read::<u32>(current, konst!(OFFSETS.task_loginuid)) {
        Some(v) => v,
        None => {
            flags |= flag::LOGINUID_ABSENT;
            u32::MAX
        }
    };
    rec.sessionid = match read::<u32>(current, konst!(OFFSETS.task_sessionid)) {
        Some(v) => v,
        None => {
            flags |= flag::SESSIONID_ABSENT;
            u32::MAX
        }
    };
    if task::is_kthread(current) {
        flags |= flag::SENDER_KTHREAD;
    }
    flags
}

/// The ancestors, parent first, up to the root (swapper, pid 0) or `MAX_ANCESTORS`.
#[inline(always)]
fn ancestry(current: Task, rec: &mut IdentityRecord) -> u32 {
    let mut t = current;
    let mut n = 0u32;
    let mut reached_root = false;
    for i in 0..MAX_ANCESTORS {
        let parent = task::real_parent(t);
        if parent.is_null() || parent == t {
            reached_root = true;
            break;
        }
        let pid = task::fill_ancestor(parent, &mut rec.ancestors[i]);
        n += 1;
        if pid == 0 {
            reached_root = true;
            break;
        }
        t = parent;
    }
    rec.n_ancestors = n;
    if reached_root {
        0
    } else {
        flag::ANCESTRY_TRUNCATED
    }
}
