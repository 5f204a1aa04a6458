//! The records and settings shared by the kernel programs and the daemon, declared once.
//!
//! Every type here is `#[repr(C)]` plain data: the kernel side writes it into the ring buffer
//! or reads it as a load-time constant, the userspace side reads the same bytes. Layouts are
//! guarded by size assertions so a field added on one side cannot silently shift the other.
#![no_std]

use core::mem::size_of;

/// Length of `task_struct::comm` (TASK_COMM_LEN), fixed by the kernel ABI.
pub const COMM_LEN: usize = 16;
/// Bytes of the sender's argv captured in the kernel.
pub const ARGS_LEN: usize = 256;
/// Ancestors of the sender recorded per event (the walk stops at the root or here).
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
    pub const EVENTS: &str = "EVENTS";
    pub const LOST: &str = "LOST";
    pub const WATCHED: &str = "WATCHED";
    pub const OFFSETS: &str = "OFFSETS";
    pub const FILTER: &str = "FILTER";
    pub const PROG_SIGNAL: &str = "signal_generate";
    pub const PROG_EXIT: &str = "sched_process_exit";
    pub const PROG_OOM: &str = "mark_victim";
    pub const PRIV_KILL: &str = "PRIV_KILL";
    pub const WATCHED_CGROUPS: &str = "WATCHED_CGROUPS";
}

/// Capacity of the `WATCHED` map (target tgids whose signals and exit are reported).
pub const MAX_WATCHED: u32 = 4096;
/// Capacity of the `WATCHED_CGROUPS` map (the daemon's verdict on each cgroup of the node).
pub const MAX_WATCHED_CGROUPS: u32 = 8192;
/// Capacity of the `DOOMED` map (targets of reported signals, whose exit is reported).
pub const MAX_DOOMED: u32 = 16384;

/// What kind of record follows in the ring buffer: the first `u32` of every record.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    Signal = 1,
    Exit = 2,
    Oom = 3,
}

impl RecordKind {
    pub fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(Self::Signal),
            2 => Some(Self::Exit),
            3 => Some(Self::Oom),
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

/// Field offsets inside kernel structures, resolved at start-up from the running kernel's BTF
/// and handed to the programs as a read-only global. `ABSENT` marks a field this kernel lacks.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelOffsets {
    pub task_pid: u32,
    pub task_tgid: u32,
    pub task_comm: u32,
    pub task_real_parent: u32,
    pub task_group_leader: u32,
    pub task_start_boottime: u32,
    pub task_cred: u32,
    pub task_loginuid: u32,
    pub task_sessionid: u32,
    pub task_mm: u32,
    pub task_thread_pid: u32,
    pub task_sighand: u32,
    pub task_signal: u32,
    pub task_exit_code: u32,
    pub task_flags: u32,
    pub cred_uid: u32,
    pub cred_gid: u32,
    pub cred_euid: u32,
    pub mm_arg_start: u32,
    pub mm_arg_end: u32,
    pub pid_level: u32,
    pub pid_numbers: u32,
    pub upid_size: u32,
    pub upid_nr: u32,
    pub sighand_action: u32,
    pub k_sigaction_size: u32,
    pub k_sigaction_handler: u32,
    pub signal_live: u32,
    pub siginfo_code: u32,
    pub siginfo_fields: u32,
    // The OOM killer's view of the victim (all optional: absent fields leave the stats out).
    pub mm_total_vm: u32,
    /// Start of the per-type RSS counters in mm_struct, the distance between two of them,
    /// and where the value sits in one (percpu_counter::count since 6.2, atomic_long before).
    pub mm_rss_stat: u32,
    pub rss_stat_stride: u32,
    pub rss_stat_value: u32,
    pub mm_pgtables_bytes: u32,
    /// Indices of MM_FILEPAGES, MM_ANONPAGES, MM_SHMEMPAGES (an enum; values from BTF).
    pub rss_file_index: u32,
    pub rss_anon_index: u32,
    pub rss_shmem_index: u32,
    pub signal_oom_score_adj: u32,
    /// 1 when `mark_victim`'s first argument is the victim's task_struct (6.8+), 0 when it is
    /// only its pid (older kernels).
    pub mark_victim_has_task: u32,
    // The sender's executable: mm->exe_file->f_path.dentry, walked up through d_parent.
    pub mm_exe_file: u32,
    pub file_dentry: u32,
    pub dentry_name: u32,
    pub dentry_parent: u32,
    pub dentry_inode: u32,
    pub inode_nlink: u32,
    // Crossing mount points on the way up (as d_path does): file->f_path.mnt is the
    // `mnt` member embedded in a `struct mount`.
    pub file_mnt: u32,
    pub mount_mnt: u32,
    pub mount_mountpoint: u32,
    pub mount_parent: u32,
    // Cgroups: task->cgroups (css_set) -> dfl_cgrp / subsys[memory] -> cgroup -> kn.
    pub task_cgroups: u32,
    pub css_set_dfl_cgrp: u32,
    /// Offset of `subsys[memory_cgrp_id]` in css_set; ABSENT without the memory controller.
    pub css_set_memory: u32,
    pub css_cgroup: u32,
    pub cgroup_kn: u32,
    pub kernfs_id: u32,
    pub kernfs_name: u32,
    /// `parent`, renamed `__parent` in 6.15.
    pub kernfs_parent: u32,
    /// 1 when the memory controller is bound to a v1 hierarchy (v1 or hybrid hosts): its
    /// path is then recorded besides the default hierarchy's.
    pub memory_v1: u32,
    // Namespaces: nsproxy->{mnt_ns,uts_ns}->ns.inum, and the pid namespace of thread_pid.
    pub task_nsproxy: u32,
    pub nsproxy_mnt: u32,
    pub nsproxy_uts: u32,
    pub mnt_ns_inum: u32,
    pub uts_ns_inum: u32,
    pub upid_ns: u32,
    pub pid_ns_inum: u32,
}

impl KernelOffsets {
    /// Every field absent: what a program sees if the loader forgot to set them.
    pub const fn absent() -> Self {
        Self {
            task_pid: ABSENT,
            task_tgid: ABSENT,
            task_comm: ABSENT,
            task_real_parent: ABSENT,
            task_group_leader: ABSENT,
            task_start_boottime: ABSENT,
            task_cred: ABSENT,
            task_loginuid: ABSENT,
            task_sessionid: ABSENT,
            task_mm: ABSENT,
            task_thread_pid: ABSENT,
            task_sighand: ABSENT,
            task_signal: ABSENT,
            task_exit_code: ABSENT,
            task_flags: ABSENT,
            cred_uid: ABSENT,
            cred_gid: ABSENT,
            cred_euid: ABSENT,
            mm_arg_start: ABSENT,
            mm_arg_end: ABSENT,
            pid_level: ABSENT,
            pid_numbers: ABSENT,
            upid_size: ABSENT,
            upid_nr: ABSENT,
            sighand_action: ABSENT,
            k_sigaction_size: ABSENT,
            k_sigaction_handler: ABSENT,
            signal_live: ABSENT,
            siginfo_code: ABSENT,
            siginfo_fields: ABSENT,
            mm_total_vm: ABSENT,
            mm_rss_stat: ABSENT,
            rss_stat_stride: ABSENT,
            rss_stat_value: ABSENT,
            mm_pgtables_bytes: ABSENT,
            rss_file_index: ABSENT,
            rss_anon_index: ABSENT,
            rss_shmem_index: ABSENT,
            signal_oom_score_adj: ABSENT,
            mark_victim_has_task: 0,
            mm_exe_file: ABSENT,
            file_dentry: ABSENT,
            dentry_name: ABSENT,
            dentry_parent: ABSENT,
            dentry_inode: ABSENT,
            inode_nlink: ABSENT,
            file_mnt: ABSENT,
            mount_mnt: ABSENT,
            mount_mountpoint: ABSENT,
            mount_parent: ABSENT,
            task_cgroups: ABSENT,
            css_set_dfl_cgrp: ABSENT,
            css_set_memory: ABSENT,
            css_cgroup: ABSENT,
            cgroup_kn: ABSENT,
            kernfs_id: ABSENT,
            kernfs_name: ABSENT,
            kernfs_parent: ABSENT,
            memory_v1: 0,
            task_nsproxy: ABSENT,
            nsproxy_mnt: ABSENT,
            nsproxy_uts: ABSENT,
            mnt_ns_inum: ABSENT,
            uts_ns_inum: ABSENT,
            upid_ns: ABSENT,
            pid_ns_inum: ABSENT,
        }
    }
}

/// Which signals the kernel program reports, as bitmasks (bit `n - 1` is signal `n`).
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
}

impl FilterConfig {
    pub const fn none() -> Self {
        Self {
            always: 0,
            if_fatal: 0,
            watched_only: 0,
            cgroups_only: 0,
        }
    }
}

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

/// Where a task lives: its cgroups (default hierarchy, and v1 memory) and namespaces.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PlaceRecord {
    pub cgroup: CgroupRecord,
    /// Zeroed (depth 0) unless `KernelOffsets::memory_v1`.
    pub memcg: CgroupRecord,
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

/// A generated signal that passed the kernel-side filter.
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
    pub loginuid: u32,
    pub sessionid: u32,
    pub args_len: u32,
    pub n_ancestors: u32,
    pub _pad: u32,
    /// The current task when the signal was generated: the sender, or the context for
    /// kernel-originated signals.
    pub sender: TaskRecord,
    pub target: TaskRecord,
    pub sender_place: PlaceRecord,
    pub target_place: PlaceRecord,
    /// Components of the sender's executable path, the file name first; `exe_depth` valid.
    pub exe_depth: u32,
    pub _pad2: u32,
    pub exe: [[u8; EXE_NAME_LEN]; EXE_DEPTH],
    /// argv of the sender, NUL-separated, `args_len` bytes valid.
    pub args: [u8; ARGS_LEN],
    /// The sender's ancestors, nearest (the parent) first; `n_ancestors` valid.
    pub ancestors: [AncestorRecord; MAX_ANCESTORS],
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
    pub place: PlaceRecord,
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

const _: () = assert!(size_of::<KernelOffsets>() == 66 * 4);
const _: () = assert!(size_of::<FilterConfig>() == 24);
const _: () = assert!(size_of::<TaskRecord>() == 40);
const _: () = assert!(size_of::<OomRecord>() == 72 + 2 * 40 + ARGS_LEN);
const _: () = assert!(size_of::<AncestorRecord>() == 32);
const _: () = assert!(
    size_of::<SignalRecord>()
        == 80
            + 2 * 40
            + 2 * size_of::<PlaceRecord>()
            + 8
            + EXE_DEPTH * EXE_NAME_LEN
            + ARGS_LEN
            + MAX_ANCESTORS * 32
);
const _: () = assert!(size_of::<ExitRecord>() == 24 + 40 + size_of::<PlaceRecord>());
const _: () = assert!(size_of::<CgroupRecord>() == 48 + CGROUP_DEPTH * CGROUP_NAME_LEN);
const _: () = assert!(size_of::<PlaceRecord>() == 2 * size_of::<CgroupRecord>() + 16);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all of these are #[repr(C)] structs of integers and integer arrays with explicit
    // padding fields, so every bit pattern is valid and there are no implicit padding bytes.
    unsafe impl aya::Pod for super::KernelOffsets {}
    unsafe impl aya::Pod for super::FilterConfig {}
}
