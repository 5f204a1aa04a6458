//! Where a task lives: its cgroups (by id; each path sent once per cgroup and ring, leaf
//! first) and namespace inodes, read at event time because /proc/PID/cgroup is gone once a
//! SIGKILL lands.

use aya_ebpf::helpers::bpf_probe_read_kernel_str_bytes;
use exitwatch_common::{
    flag, loss, CgroupNameRecord, CgroupRecord, NsRecord, PlaceRef, RecordKind, ABSENT,
    CGROUP_DEPTH,
};

use crate::{
    config::konst,
    maps::{count, output, ring, CGROUPS_SENT, CGROUP_SCRATCH, WATCHED_CGROUPS},
    task::{Mem, Probe, Task},
};

/// `CGROUPS_SENT` keys: the memory hierarchy's ids are told apart from the default one's
/// (each hierarchy numbers its own cgroups).
const MEMORY_KEY: u64 = 1 << 63;

/// The kernfs node of `task`'s cgroup in the default hierarchy, or in the v1 memory one.
#[inline(always)]
fn kernfs_node<M: Mem>(task: Task, memory: bool) -> Task {
    let null = core::ptr::null();
    let cset = M::read::<Task>(task, konst!(OFFSETS.task_cgroups)).unwrap_or(null);
    let cgroup = if memory {
        let css = M::read::<Task>(cset, konst!(OFFSETS.css_set_memory)).unwrap_or(null);
        M::read::<Task>(css, konst!(OFFSETS.css_cgroup)).unwrap_or(null)
    } else {
        M::read::<Task>(cset, konst!(OFFSETS.css_set_dfl_cgrp)).unwrap_or(null)
    };
    M::read::<Task>(cgroup, konst!(OFFSETS.cgroup_kn)).unwrap_or(null)
}

#[inline(always)]
fn parent<M: Mem>(kn: Task) -> Task {
    M::read::<Task>(kn, konst!(OFFSETS.kernfs_parent)).unwrap_or(core::ptr::null())
}

/// Records the path from `kn` up to (not including) the hierarchy's root.
#[inline(always)]
fn cgroup<M: Mem>(mut kn: Task, rec: &mut CgroupRecord) {
    rec.depth = 0;
    rec.truncated = 0;
    for i in 0..CGROUP_DEPTH {
        let up = parent::<M>(kn);
        if kn.is_null() || up.is_null() {
            return; // the root: its name is empty and says nothing
        }
        rec.ids[i] = M::read::<u64>(kn, konst!(OFFSETS.kernfs_id)).unwrap_or(0);
        let name =
            M::read::<*const u8>(kn, konst!(OFFSETS.kernfs_name)).unwrap_or(core::ptr::null());
        if unsafe { bpf_probe_read_kernel_str_bytes(name, &mut rec.names[i]) }.is_err() {
            rec.names[i][0] = 0;
        }
        rec.depth = i as u32 + 1;
        kn = up;
    }
    if !parent::<M>(kn).is_null() {
        rec.truncated = 1;
    }
}

#[inline(always)]
fn namespaces<M: Mem>(task: Task, ns: &mut NsRecord) {
    let null = core::ptr::null();
    ns._pad = 0;
    let nsproxy = M::read::<Task>(task, konst!(OFFSETS.task_nsproxy)).unwrap_or(null);
    let mnt = M::read::<Task>(nsproxy, konst!(OFFSETS.nsproxy_mnt)).unwrap_or(null);
    ns.mnt = M::read::<u32>(mnt, konst!(OFFSETS.mnt_ns_inum)).unwrap_or(0);
    let uts = M::read::<Task>(nsproxy, konst!(OFFSETS.nsproxy_uts)).unwrap_or(null);
    ns.uts = M::read::<u32>(uts, konst!(OFFSETS.uts_ns_inum)).unwrap_or(0);
    ns.pid = 0;
    let pid = M::read::<Task>(task, konst!(OFFSETS.task_thread_pid)).unwrap_or(null);
    let (numbers, size, upid_ns) = (
        konst!(OFFSETS.pid_numbers),
        konst!(OFFSETS.upid_size),
        konst!(OFFSETS.upid_ns),
    );
    if let Some(level) = M::read::<u32>(pid, konst!(OFFSETS.pid_level)) {
        if numbers != ABSENT && size != ABSENT && upid_ns != ABSENT && level <= 32 {
            ns.pid = if level == 0 {
                let pidns = M::read::<Task>(pid, numbers + upid_ns).unwrap_or(null);
                M::read::<u32>(pidns, konst!(OFFSETS.pid_ns_inum)).unwrap_or(0)
            } else {
                // A variable index: probe reads from the pid's address read as a number
                // (the verifier refuses variable offsets on BTF pointers).
                let pid = Probe::read::<Task>(task, konst!(OFFSETS.task_thread_pid));
                let pid = pid.unwrap_or(null);
                let pidns = Probe::read::<Task>(pid, numbers + level * size + upid_ns);
                Probe::read::<u32>(pidns.unwrap_or(null), konst!(OFFSETS.pid_ns_inum)).unwrap_or(0)
            };
        }
    }
}

/// [`fill_ref_in`] through probe reads.
#[inline(always)]
pub fn fill_ref(slot: u32, task: Task, rec: &mut PlaceRef) -> u32 {
    fill_ref_in::<Probe>(slot, task, rec)
}

/// Fills `rec` with `task`'s cgroup ids and namespaces, first sending in the ring of the
/// record being made (in `slot`, `maps::slot`) the path of each cgroup not sent there yet.
/// Returns `flag::CGROUP_NAME_LOST` when one could not be.
#[inline(always)]
pub fn fill_ref_in<M: Mem>(slot: u32, task: Task, rec: &mut PlaceRef) -> u32 {
    let mut flags = 0;
    let (id, lost) = announce::<M>(slot, kernfs_node::<M>(task, false), false);
    rec.cgroup = id;
    flags |= lost;
    if konst!(OFFSETS.memory_v1) != 0 {
        let (id, lost) = announce::<M>(slot, kernfs_node::<M>(task, true), true);
        rec.memcg = id;
        flags |= lost;
    } else {
        rec.memcg = 0;
    }
    namespaces::<M>(task, &mut rec.ns);
    flags
}

/// The id of the cgroup at `kn` (0 for a hierarchy's root, or unknown), its path sent in
/// the ring of the record being made if it was not yet; and `flag::CGROUP_NAME_LOST` when it
/// could not be.
#[inline(always)]
fn announce<M: Mem>(slot: u32, kn: Task, memory: bool) -> (u64, u32) {
    if kn.is_null() || parent::<M>(kn).is_null() {
        return (0, 0);
    }
    let Some(id) = M::read::<u64>(kn, konst!(OFFSETS.kernfs_id)) else {
        return (0, 0);
    };
    let key = if memory { id | MEMORY_KEY } else { id };
    let have = unsafe { CGROUPS_SENT.get(&key) }.copied().unwrap_or(0);
    if have & ring(slot) != 0 {
        return (id, 0);
    }
    let Some(rec) = CGROUP_SCRATCH.get_ptr_mut(slot) else {
        return (id, flag::CGROUP_NAME_LOST);
    };
    let rec = unsafe { &mut *rec };
    rec.kind = RecordKind::CgroupName as u32;
    rec.flags = if memory { flag::MEMORY_HIERARCHY } else { 0 };
    cgroup::<M>(kn, &mut rec.cgroup);
    let bytes = unsafe {
        core::slice::from_raw_parts(
            (rec as *const CgroupNameRecord).cast::<u8>(),
            core::mem::size_of::<CgroupNameRecord>(),
        )
    };
    if !output(slot, bytes) {
        count(slot, loss::IDENTITY);
        return (id, flag::CGROUP_NAME_LOST);
    }
    let _ = CGROUPS_SENT.insert(&key, &(have | ring(slot)), 0);
    (id, 0)
}

/// [`watched_in`] through probe reads.
#[inline(always)]
pub fn watched(task: Task) -> bool {
    watched_in::<Probe>(task)
}

/// Is `task` in, or below, a cgroup the daemon watches (`--container`, `--pod`, `--namespace`)?
/// A task whose own cgroup the daemon has not classified yet (a container that started since
/// its last scan) is passed on too: the daemon decides once it knows the container's names.
#[inline(always)]
pub fn watched_in<M: Mem>(task: Task) -> bool {
    in_watched::<M>(kernfs_node::<M>(task, false))
        || (konst!(OFFSETS.memory_v1) != 0 && in_watched::<M>(kernfs_node::<M>(task, true)))
}

/// `WATCHED_CGROUPS` holds 1 for a watched cgroup and 0 for one classified as not watched.
#[inline(always)]
fn in_watched<M: Mem>(mut kn: Task) -> bool {
    for level in 0..CGROUP_DEPTH + 1 {
        if kn.is_null() {
            return false;
        }
        let up = parent::<M>(kn);
        if up.is_null() {
            return false; // a hierarchy's root: never a container's
        }
        if let Some(id) = M::read::<u64>(kn, konst!(OFFSETS.kernfs_id)) {
            match unsafe { WATCHED_CGROUPS.get(&id) } {
                Some(&watch) if watch != 0 => return true,
                None if level == 0 => return true,
                _ => {}
            }
        }
        kn = up;
    }
    false
}
