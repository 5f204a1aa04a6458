//! Field offsets inside kernel structures, resolved at start-up from the running kernel's BTF.

use crate::ABSENT;

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
    /// 1 when the kernel has `bpf_get_current_task_btf` (5.11): the sender is then read with
    /// plain loads too, not probe reads.
    pub current_task_btf: u32,
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
            current_task_btf: 0,
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

const _: () = assert!(core::mem::size_of::<KernelOffsets>() == 67 * 4);
