//! The ring-buffer records and the map entries the kernel programs share with the daemon.

use core::mem::size_of;

use crate::{
    ARGS_LEN, CGROUP_DEPTH, CGROUP_NAME_LEN, COMM_LEN, EXE_DEPTH, EXE_NAME_LEN, MAX_ANCESTORS,
};

/// Identity of one task as seen at event time.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TaskRecord {
    /// Start time, nanoseconds since boot (`start_boottime`, what /proc/PID/stat reports).
    pub start_ns: u64,
    /// Thread-group id: the process id users know.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// The process id inside the task's own pid namespace.
    pub ns_pid: u32,
    pub _pad: u32,
    pub comm: [u8; COMM_LEN],
}

/// A cgroup as the kernel names it: ids and names from the task's cgroup up, leaf first.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct CgroupRecord {
    /// kernfs ids (the cgroup directory's inode number); `ids[0]` is the cgroup id.
    pub ids: [u64; CGROUP_DEPTH],
    /// Levels recorded; a path deeper than `CGROUP_DEPTH` below the root is cut (`truncated`).
    pub depth: u32,
    pub truncated: u32,
    pub names: [[u8; CGROUP_NAME_LEN]; CGROUP_DEPTH],
}

/// Namespace inode numbers (as in /proc/PID/ns/*), 0 when unknown.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NsRecord {
    pub pid: u32,
    pub mnt: u32,
    pub uts: u32,
    pub _pad: u32,
}

/// Where a task lives, by reference: its cgroups' ids (their paths travel once per cgroup in a
/// [`CgroupNameRecord`]) and its namespaces.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PlaceRef {
    /// The default (v2) hierarchy's cgroup id; 0 when unknown (or the hierarchy's root).
    pub cgroup: u64,
    /// The v1 memory controller's cgroup id; 0 unless `KernelOffsets::memory_v1`.
    pub memcg: u64,
    pub ns: NsRecord,
}

/// One ancestor of the sender.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct AncestorRecord {
    pub start_ns: u64,
    pub pid: u32,
    pub _pad: u32,
    pub comm: [u8; COMM_LEN],
}

/// A generated signal that passed the kernel-side filter (and, when not fatal, its sender's
/// budget). Who the sender is beyond pid/comm/start travels in its [`IdentityRecord`].
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SignalRecord {
    /// `RecordKind::Signal`.
    pub kind: u32,
    pub flags: u32,
    /// `bpf_ktime_get_boot_ns()` at generation.
    pub time_ns: u64,
    pub signo: i32,
    /// siginfo `si_code` (SI_USER, SI_KERNEL, SI_TKILL, SEGV_MAPERR...).
    pub code: i32,
    /// `result::*`.
    pub result: i32,
    /// Non-zero when the signal targets the whole thread group (kill) rather than one thread.
    pub group: i32,
    /// The target's handler for this signal: 0 SIG_DFL, 1 SIG_IGN, else a handler address.
    pub handler: u64,
    /// First 8 bytes of siginfo's union: (si_pid, si_uid) for kill-style codes, si_addr for faults.
    pub si_fields: u64,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub _pad: u32,
    /// Which image of the sender process sent it (its [`IdentityRecord::image`]); 0 when
    /// its identity could not be sent (`flag::IDENTITY_LOST`).
    pub sender_image: u64,
    /// The current task when the signal was generated: the sender, or the context for
    /// kernel-originated signals.
    pub sender: TaskRecord,
    pub target: TaskRecord,
    pub target_place: PlaceRef,
}

/// Who a process is, captured in the kernel the first time it is seen sending a reported
/// signal (and again after an exec): sent once per process image and ring, so a sender gone
/// by the time the daemon reads its signal is still named. Travels variable-length: only
/// `n_ancestors` ancestors are sent.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IdentityRecord {
    /// `RecordKind::Identity`.
    pub kind: u32,
    pub flags: u32,
    /// When it was captured (ns since boot).
    pub time_ns: u64,
    /// This image of the process: distinct for each exec of one tgid. Signal records name it.
    pub image: u64,
    /// The process (its thread group leader's pid, the capturing thread's tid and comm).
    pub task: TaskRecord,
    pub place: PlaceRef,
    pub loginuid: u32,
    pub sessionid: u32,
    pub exe_depth: u32,
    pub args_len: u32,
    pub n_ancestors: u32,
    pub _pad: u32,
    /// Components of the executable's path, the file name first; `exe_depth` valid.
    pub exe: [[u8; EXE_NAME_LEN]; EXE_DEPTH],
    /// argv, NUL-separated, `args_len` bytes valid.
    pub args: [u8; ARGS_LEN],
    /// The ancestors, nearest (the parent) first; `n_ancestors` valid (and sent).
    pub ancestors: [AncestorRecord; MAX_ANCESTORS],
}

impl IdentityRecord {
    /// Bytes of the record up to its ancestors: what is always sent.
    pub const HEAD: usize =
        size_of::<IdentityRecord>() - MAX_ANCESTORS * size_of::<AncestorRecord>();
}

/// The path of one cgroup, sent once per cgroup id and ring before the first record that
/// refers to it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct CgroupNameRecord {
    /// `RecordKind::CgroupName`.
    pub kind: u32,
    /// `flag::MEMORY_HIERARCHY` for the v1 memory hierarchy's cgroups.
    pub flags: u32,
    pub cgroup: CgroupRecord,
}

/// The last thread of a watched process exited.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ExitRecord {
    /// `RecordKind::Exit`.
    pub kind: u32,
    pub flags: u32,
    pub time_ns: u64,
    /// `task_struct::exit_code`: a wait(2) status (exit code << 8, or signal | 0x80 on core).
    pub exit_code: u32,
    pub _pad: u32,
    pub task: TaskRecord,
    pub place: PlaceRef,
}

/// The OOM killer chose a victim (`mark_victim`), in the context of the task whose
/// allocation failed (the trigger).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct OomRecord {
    /// `RecordKind::Oom`.
    pub kind: u32,
    pub flags: u32,
    pub time_ns: u64,
    pub victim_uid: u32,
    pub oom_score_adj: i32,
    /// Pages (total_vm, and the RSS counters as the kernel's OOM report reads them).
    pub total_vm_pages: u64,
    pub anon_pages: i64,
    pub file_pages: i64,
    pub shmem_pages: i64,
    pub pgtables_bytes: i64,
    /// argv of the victim when it is the trigger itself (another task's memory is out of reach).
    pub args_len: u32,
    pub _pad: u32,
    pub victim: TaskRecord,
    pub trigger: TaskRecord,
    pub args: [u8; ARGS_LEN],
}

/// `IDENTITIES` map value: the image of a process whose identity was sent, and in which rings.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdentityState {
    /// The process's start time: a reused tgid is another process.
    pub start_ns: u64,
    pub image: u64,
    /// `ring::*` bits.
    pub rings: u32,
    pub _pad: u32,
}

/// `SUPPRESSED` map key: one sender process and one signal.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SuppressedKey {
    pub start_ns: u64,
    pub pid: u32,
    pub signo: u32,
}

/// `SUPPRESSED` map value: how many of its signals the sender's budget suppressed (only
/// grows; the daemon reports the growth), and who the sender is.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuppressedValue {
    pub count: u64,
    pub uid: u32,
    pub _pad: u32,
    pub comm: [u8; COMM_LEN],
}

const _: () = assert!(size_of::<TaskRecord>() == 40);
const _: () = assert!(size_of::<PlaceRef>() == 32);
const _: () = assert!(size_of::<AncestorRecord>() == 32);
const _: () = assert!(size_of::<SignalRecord>() == 72 + 2 * 40 + 32);
const _: () = assert!(size_of::<ExitRecord>() == 24 + 40 + 32);
const _: () = assert!(size_of::<OomRecord>() == 72 + 2 * 40 + ARGS_LEN);
const _: () = assert!(size_of::<CgroupRecord>() == 48 + CGROUP_DEPTH * CGROUP_NAME_LEN);
const _: () = assert!(size_of::<CgroupNameRecord>() == 8 + size_of::<CgroupRecord>());
const _: () = assert!(
    size_of::<IdentityRecord>()
        == 24 + 40 + 32 + 24 + EXE_DEPTH * EXE_NAME_LEN + ARGS_LEN + MAX_ANCESTORS * 32
);
const _: () = assert!(IdentityRecord::HEAD == 632);
const _: () = assert!(size_of::<IdentityState>() == 24);
const _: () = assert!(size_of::<SuppressedKey>() == 16);
const _: () = assert!(size_of::<SuppressedValue>() == 32);
