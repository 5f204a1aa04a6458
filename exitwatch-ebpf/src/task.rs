//! Reads of kernel task state through the offsets resolved from the running kernel's BTF.
//!
//! A read goes through `bpf_probe_read_kernel` ([`Probe`]) or is a load the verifier checks
//! against the kernel's BTF ([`Btf`]); either way a wrong guess can only yield zeroes, never
//! a fault, and a field this kernel lacks (`ABSENT`) is reported as such, never as garbage.

use aya_ebpf::helpers::{
    bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_probe_read_kernel,
    bpf_probe_read_kernel_buf, bpf_probe_read_kernel_str_bytes, generated::bpf_probe_read_user,
};
use exitwatch_common::{
    flag, AncestorRecord, TaskRecord, ABSENT, ARGS_LEN, COMM_LEN, EXE_DEPTH, EXE_NAME_LEN,
};

use crate::config::konst;

pub type Task = *const u8;

/// Reads a `T` at `offset` bytes into the kernel object at `base`.
#[inline(always)]
pub fn read<T>(base: *const u8, offset: u32) -> Option<T> {
    if offset == ABSENT || base.is_null() {
        return None;
    }
    unsafe { bpf_probe_read_kernel(base.wrapping_add(offset as usize) as *const T).ok() }
}

/// How the fields of a kernel object are read, by where the pointer to it came from.
pub trait Mem {
    fn read<T: Copy>(base: *const u8, offset: u32) -> Option<T>;
    fn comm(task: Task, dst: &mut [u8; COMM_LEN]);
}

/// Through `bpf_probe_read_kernel`: for pointers the verifier sees as plain numbers (from
/// `bpf_get_current_task`, a map, or another probe read).
pub enum Probe {}

/// Plain loads, which the verifier checks against the kernel's BTF (the offset must land on a
/// field of that type) and guards against faults: for BTF-typed pointers, a tp_btf program's
/// arguments and the pointers loaded through them. A few nanoseconds where a helper call
/// costs tens, so the hot path reads its signal's target this way.
pub enum Btf {}

impl Mem for Probe {
    #[inline(always)]
    fn read<T: Copy>(base: *const u8, offset: u32) -> Option<T> {
        read(base, offset)
    }

    #[inline(always)]
    fn comm(task: Task, dst: &mut [u8; COMM_LEN]) {
        comm(task, dst)
    }
}

impl Mem for Btf {
    #[inline(always)]
    fn read<T: Copy>(base: *const u8, offset: u32) -> Option<T> {
        if offset == ABSENT || base.is_null() {
            return None;
        }
        // SAFETY: a BPF_PROBE_MEM load: the verifier checked it against BTF, and a fault
        // yields zero.
        Some(unsafe { core::ptr::read_volatile(base.wrapping_add(offset as usize).cast::<T>()) })
    }

    #[inline(always)]
    fn comm(task: Task, dst: &mut [u8; COMM_LEN]) {
        let off = konst!(OFFSETS.task_comm);
        let halves = (
            Self::read::<u64>(task, off),
            Self::read::<u64>(task, off.wrapping_add(8)),
        );
        let (Some(lo), Some(hi)) = halves else {
            *dst = [0; COMM_LEN];
            return;
        };
        dst[..8].copy_from_slice(&lo.to_ne_bytes());
        dst[8..].copy_from_slice(&hi.to_ne_bytes());
    }
}

#[inline(always)]
pub fn tgid(task: Task) -> u32 {
    read::<u32>(task, konst!(OFFSETS.task_tgid)).unwrap_or(0)
}

#[inline(always)]
pub fn tid(task: Task) -> u32 {
    read::<u32>(task, konst!(OFFSETS.task_pid)).unwrap_or(0)
}

#[inline(always)]
pub fn start_ns(task: Task) -> u64 {
    read::<u64>(task, konst!(OFFSETS.task_start_boottime)).unwrap_or(0)
}

/// `PF_KTHREAD` in task_struct::flags (include/linux/sched.h; unchanged since 2.6.27).
const PF_KTHREAD: u32 = 0x0020_0000;

#[inline(always)]
pub fn is_kthread(task: Task) -> bool {
    is_kthread_in::<Probe>(task)
}

/// [`is_kthread`], reading `task` with `M`.
#[inline(always)]
pub fn is_kthread_in<M: Mem>(task: Task) -> bool {
    M::read::<u32>(task, konst!(OFFSETS.task_flags)).unwrap_or(0) & PF_KTHREAD != 0
}

#[inline(always)]
pub fn real_parent(task: Task) -> Task {
    read::<Task>(task, konst!(OFFSETS.task_real_parent)).unwrap_or(core::ptr::null())
}

#[inline(always)]
pub fn comm(task: Task, dst: &mut [u8; COMM_LEN]) {
    let off = konst!(OFFSETS.task_comm);
    if off == ABSENT || task.is_null() {
        *dst = [0; COMM_LEN];
        return;
    }
    // On failure the helper zero-fills `dst`.
    let _ = unsafe { bpf_probe_read_kernel_buf(task.wrapping_add(off as usize), dst) };
}

/// The process id of `task`'s thread group inside the task's own pid namespace.
#[inline(always)]
pub fn ns_pid(task: Task) -> Option<u32> {
    ns_pid_in::<Probe>(task)
}

/// [`ns_pid`], reading `task` with `M`.
#[inline(always)]
pub fn ns_pid_in<M: Mem>(task: Task) -> Option<u32> {
    let leader = M::read::<Task>(task, konst!(OFFSETS.task_group_leader))?;
    let pid = M::read::<Task>(leader, konst!(OFFSETS.task_thread_pid))?;
    let level = M::read::<u32>(pid, konst!(OFFSETS.pid_level))?;
    let numbers = konst!(OFFSETS.pid_numbers);
    let upid_size = konst!(OFFSETS.upid_size);
    let upid_nr = konst!(OFFSETS.upid_nr);
    if numbers == ABSENT || upid_size == ABSENT || upid_nr == ABSENT || level > 32 {
        return None;
    }
    if level == 0 {
        return M::read::<u32>(pid, numbers + upid_nr);
    }
    // An index the verifier cannot check against BTF (it refuses variable offsets on BTF
    // pointers): a probe read, from the pid's address read as a number.
    let pid = read::<Task>(leader, konst!(OFFSETS.task_thread_pid))?;
    read::<u32>(pid, numbers + level * upid_size + upid_nr)
}

/// Fills a `TaskRecord`; returns the `flag` bits for what could not be read.
#[inline(always)]
pub fn fill(task: Task, rec: &mut TaskRecord) -> u32 {
    fill_in::<Probe>(task, rec)
}

/// [`fill`], reading `task` with `M`.
#[inline(always)]
pub fn fill_in<M: Mem>(task: Task, rec: &mut TaskRecord) -> u32 {
    rec.start_ns = M::read::<u64>(task, konst!(OFFSETS.task_start_boottime)).unwrap_or(0);
    rec.pid = M::read::<u32>(task, konst!(OFFSETS.task_tgid)).unwrap_or(0);
    rec.tid = M::read::<u32>(task, konst!(OFFSETS.task_pid)).unwrap_or(0);
    rec._pad = 0;
    M::comm(task, &mut rec.comm);
    ns_pid_flag(ns_pid_in::<M>(task), rec)
}

/// [`fill`] for the task running this program: its ids and name from helpers that need no
/// offsets (fewer calls).
#[inline(always)]
pub fn fill_current(current: Task, rec: &mut TaskRecord) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    rec.start_ns = start_ns(current);
    rec.pid = (pid_tgid >> 32) as u32;
    rec.tid = pid_tgid as u32;
    rec._pad = 0;
    rec.comm = bpf_get_current_comm().unwrap_or([0; COMM_LEN]);
    ns_pid_flag(ns_pid(current), rec)
}

#[inline(always)]
fn ns_pid_flag(nr: Option<u32>, rec: &mut TaskRecord) -> u32 {
    match nr {
        Some(nr) => {
            rec.ns_pid = nr;
            0
        }
        None => {
            rec.ns_pid = 0;
            flag::NS_PID_ABSENT
        }
    }
}

#[inline(always)]
pub fn fill_ancestor(task: Task, rec: &mut AncestorRecord) -> u32 {
    rec.start_ns = start_ns(task);
    let pid = tgid(task);
    rec.pid = pid;
    rec._pad = 0;
    comm(task, &mut rec.comm);
    pid
}

/// argv of the current task, read now: a short-lived sender (pkill) is gone before userspace looks.
#[inline(always)]
pub fn current_args(current: Task, dst: &mut [u8; ARGS_LEN], out_len: &mut u32) -> u32 {
    *out_len = 0;
    let Some(mm) = read::<Task>(current, konst!(OFFSETS.task_mm)) else {
        return flag::ARGS_UNREADABLE;
    };
    let (Some(start), Some(end)) = (
        read::<u64>(mm, konst!(OFFSETS.mm_arg_start)),
        read::<u64>(mm, konst!(OFFSETS.mm_arg_end)),
    ) else {
        return flag::ARGS_UNREADABLE;
    };
    if mm.is_null() || end <= start {
        return flag::ARGS_UNREADABLE;
    }
    let mut flags = 0;
    let mut len = end - start;
    if len > ARGS_LEN as u64 {
        len = ARGS_LEN as u64;
        flags |= flag::ARGS_TRUNCATED;
    }
    let rc = unsafe { bpf_probe_read_user(dst.as_mut_ptr().cast(), len as u32, start as *const _) };
    if rc != 0 {
        return flag::ARGS_UNREADABLE;
    }
    *out_len = len as u32;
    flags
}

/// The path of `task`'s executable, file name first, walking dentries up to the root and
/// crossing mount points the way d_path does (within the task's mount namespace view of the
/// global tree). Returns `flag` bits.
///
/// One turn of the outer loop per recorded name, so that the name's slot is the loop's own
/// index: the verifier then walks `EXE_DEPTH` turns, not every (turn, slot) pair.
#[inline(always)]
pub fn exe(task: Task, dst: &mut [[u8; EXE_NAME_LEN]; EXE_DEPTH], depth: &mut u32) -> u32 {
    *depth = 0;
    let null = core::ptr::null();
    let mm = read::<Task>(task, konst!(OFFSETS.task_mm)).unwrap_or(null);
    let file = read::<Task>(mm, konst!(OFFSETS.mm_exe_file)).unwrap_or(null);
    let mut dentry = read::<Task>(file, konst!(OFFSETS.file_dentry)).unwrap_or(null);
    if dentry.is_null() {
        return flag::EXE_UNREADABLE;
    }
    let mut flags = 0;
    let inode = read::<Task>(dentry, konst!(OFFSETS.dentry_inode)).unwrap_or(null);
    if read::<u32>(inode, konst!(OFFSETS.inode_nlink)) == Some(0) {
        flags |= flag::EXE_DELETED;
    }
    // `struct mount` around file->f_path.mnt, when the mount offsets are known.
    let vfsmount = read::<Task>(file, konst!(OFFSETS.file_mnt)).unwrap_or(null);
    let mount_mnt = konst!(OFFSETS.mount_mnt);
    let mut mount: Task = if vfsmount.is_null() || mount_mnt == ABSENT {
        null
    } else {
        vfsmount.wrapping_sub(mount_mnt as usize)
    };
    for (slot, out) in dst.iter_mut().enumerate() {
        let Some(parent) = climb(&mut dentry, &mut mount) else {
            return flags;
        };
        let name = read::<*const u8>(dentry, konst!(OFFSETS.dentry_name)).unwrap_or(null);
        if unsafe { bpf_probe_read_kernel_str_bytes(name, out) }.is_err() {
            out[0] = 0;
        }
        *depth = slot as u32 + 1;
        dentry = parent;
    }
    match climb(&mut dentry, &mut mount) {
        Some(_) => flags | flag::EXE_TRUNCATED,
        None => flags,
    }
}

/// Mount roots a path may cross between two of its names (bind mounts stacked on one
/// another); past that the walk stops, as at the top.
const MAX_MOUNTS_CROSSED: usize = 4;

/// The parent of `dentry`, first crossing from mount roots to where they are mounted (moving
/// `dentry` and `mount`); None at the top of the tree.
#[inline(always)]
fn climb(dentry: &mut Task, mount: &mut Task) -> Option<Task> {
    let null = core::ptr::null();
    for _ in 0..=MAX_MOUNTS_CROSSED {
        let parent = read::<Task>(*dentry, konst!(OFFSETS.dentry_parent)).unwrap_or(null);
        if parent.is_null() {
            return None;
        }
        if parent != *dentry {
            return Some(parent);
        }
        // The root of a mount: continue from where it is mounted, or stop at the top.
        let up = read::<Task>(*mount, konst!(OFFSETS.mount_parent)).unwrap_or(null);
        if mount.is_null() || up.is_null() || up == *mount {
            return None;
        }
        *dentry = read::<Task>(*mount, konst!(OFFSETS.mount_mountpoint)).unwrap_or(null);
        *mount = up;
        if dentry.is_null() {
            return None;
        }
    }
    None
}
