//! Fills `KernelOffsets` from the running kernel's BTF, naming every required field it lacks.

use exitwatch_common::{KernelOffsets, ABSENT};

use super::Btf;

/// Required kernel fields this kernel's BTF lacks, by `struct.field` name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("exitwatch cannot run on this kernel: its BTF lacks {}, which the kernel programs must read; \
         this kernel's layout is not supported yet, please report it with the output of `uname -r`",
        .fields.join(", "))]
pub struct MissingFields {
    pub fields: Vec<String>,
}

/// The OOM killer's fields: all optional, and laid out differently before and after 6.2.
fn oom_offsets(btf: &Btf, o: &mut KernelOffsets) {
    let off = |s: &str, p: &str| btf.member(s, p).filter(|m| !m.bitfield).map(|m| m.offset);
    o.mm_total_vm = off("mm_struct", "total_vm").unwrap_or(ABSENT);
    o.mm_pgtables_bytes = off("mm_struct", "pgtables_bytes").unwrap_or(ABSENT);
    o.signal_oom_score_adj = off("signal_struct", "oom_score_adj").unwrap_or(ABSENT);
    // <= 6.1: `struct mm_rss_stat { atomic_long_t count[NR_MM_COUNTERS]; } rss_stat;`
    // >= 6.2: `struct percpu_counter rss_stat[NR_MM_COUNTERS];` (value in `count`).
    let layout = match off("mm_struct", "rss_stat.count") {
        Some(base) => Some((base, 8, 0)),
        None => off("mm_struct", "rss_stat").and_then(|base| {
            Some((
                base,
                btf.struct_size("percpu_counter")?,
                off("percpu_counter", "count")?,
            ))
        }),
    };
    let index = |name: &str| btf.enum_value(name).and_then(|v| u32::try_from(v).ok());
    if let (Some((base, stride, value)), Some(file), Some(anon), Some(shmem)) = (
        layout,
        index("MM_FILEPAGES"),
        index("MM_ANONPAGES"),
        index("MM_SHMEMPAGES"),
    ) {
        (o.mm_rss_stat, o.rss_stat_stride, o.rss_stat_value) = (base, stride, value);
        (o.rss_file_index, o.rss_anon_index, o.rss_shmem_index) = (file, anon, shmem);
    }
    // The sender's executable path (optional: without it the exe-based diagnoses are off).
    let exe = (
        off("mm_struct", "exe_file"),
        off("file", "f_path.dentry"),
        off("dentry", "d_name.name"),
        off("dentry", "d_parent"),
        off("dentry", "d_inode"),
        off("inode", "i_nlink").or_else(|| off("inode", "__i_nlink")),
    );
    if let (Some(a), Some(b), Some(c), Some(d), Some(e), Some(f)) = exe {
        (
            o.mm_exe_file,
            o.file_dentry,
            o.dentry_name,
            o.dentry_parent,
            o.dentry_inode,
            o.inode_nlink,
        ) = (a, b, c, d, e, f);
        let mounts = (
            off("file", "f_path.mnt"),
            off("mount", "mnt"),
            off("mount", "mnt_mountpoint"),
            off("mount", "mnt_parent"),
        );
        if let (Some(a), Some(b), Some(c), Some(d)) = mounts {
            (o.file_mnt, o.mount_mnt, o.mount_mountpoint, o.mount_parent) = (a, b, c, d);
        }
    }
    // Cgroups and namespaces (optional: without them events carry no container identity).
    o.task_cgroups = off("task_struct", "cgroups").unwrap_or(ABSENT);
    o.css_set_dfl_cgrp = off("css_set", "dfl_cgrp").unwrap_or(ABSENT);
    let memory_id = btf
        .enum_value("memory_cgrp_id")
        .and_then(|v| u32::try_from(v).ok());
    o.css_set_memory = match (off("css_set", "subsys"), memory_id) {
        (Some(subsys), Some(id)) => subsys + id * btf.ptr_size,
        _ => ABSENT,
    };
    o.css_cgroup = off("cgroup_subsys_state", "cgroup").unwrap_or(ABSENT);
    o.cgroup_kn = off("cgroup", "kn").unwrap_or(ABSENT);
    o.kernfs_id = off("kernfs_node", "id").unwrap_or(ABSENT);
    o.kernfs_name = off("kernfs_node", "name").unwrap_or(ABSENT);
    o.kernfs_parent = off("kernfs_node", "__parent")
        .or_else(|| off("kernfs_node", "parent"))
        .unwrap_or(ABSENT);
    o.task_nsproxy = off("task_struct", "nsproxy").unwrap_or(ABSENT);
    o.nsproxy_mnt = off("nsproxy", "mnt_ns").unwrap_or(ABSENT);
    o.nsproxy_uts = off("nsproxy", "uts_ns").unwrap_or(ABSENT);
    o.mnt_ns_inum = off("mnt_namespace", "ns.inum").unwrap_or(ABSENT);
    o.uts_ns_inum = off("uts_namespace", "ns.inum").unwrap_or(ABSENT);
    o.upid_ns = off("upid", "ns").unwrap_or(ABSENT);
    o.pid_ns_inum = off("pid_namespace", "ns.inum").unwrap_or(ABSENT);
    o.mark_victim_has_task = u32::from(
        btf.tracepoint_params("mark_victim")
            .and_then(|p| p.first().map(|p| p.ty.contains("task_struct")))
            .unwrap_or(false),
    );
}

/// Resolves every `KernelOffsets` field from `btf`. Fields a kernel may legitimately lack
/// (`loginuid`, `sessionid` without CONFIG_AUDIT) become `ABSENT`; any other gap is an error
/// naming every missing field at once.
pub fn resolve_offsets(btf: &Btf) -> Result<KernelOffsets, MissingFields> {
    let mut missing = Vec::new();
    // The first of `paths` that exists wins (for fields renamed across kernel versions).
    let mut field = |s: &str, paths: &[&str]| {
        let found = paths
            .iter()
            .find_map(|p| btf.member(s, p).filter(|m| !m.bitfield));
        if found.is_none() {
            missing.push(format!("{s}.{}", paths[0]));
        }
        found.map_or(ABSENT, |m| m.offset)
    };
    let optional = |s: &str, path: &str| {
        btf.member(s, path)
            .filter(|m| !m.bitfield)
            .map_or(ABSENT, |m| m.offset)
    };
    let t = "task_struct";
    let mut offsets = KernelOffsets {
        task_pid: field(t, &["pid"]),
        task_tgid: field(t, &["tgid"]),
        task_comm: field(t, &["comm"]),
        task_real_parent: field(t, &["real_parent"]),
        task_group_leader: field(t, &["group_leader"]),
        task_start_boottime: field(t, &["start_boottime", "real_start_time"]),
        task_cred: field(t, &["cred"]),
        task_loginuid: optional(t, "loginuid"),
        task_sessionid: optional(t, "sessionid"),
        task_mm: field(t, &["mm"]),
        task_thread_pid: field(t, &["thread_pid"]),
        task_sighand: field(t, &["sighand"]),
        task_signal: field(t, &["signal"]),
        task_exit_code: field(t, &["exit_code"]),
        task_flags: field(t, &["flags"]),
        cred_uid: field("cred", &["uid"]),
        cred_gid: field("cred", &["gid"]),
        cred_euid: field("cred", &["euid"]),
        mm_arg_start: field("mm_struct", &["arg_start"]),
        mm_arg_end: field("mm_struct", &["arg_end"]),
        pid_level: field("pid", &["level"]),
        pid_numbers: field("pid", &["numbers"]),
        upid_size: ABSENT,
        upid_nr: field("upid", &["nr"]),
        sighand_action: field("sighand_struct", &["action"]),
        k_sigaction_size: ABSENT,
        k_sigaction_handler: field("k_sigaction", &["sa.sa_handler"]),
        signal_live: field("signal_struct", &["live"]),
        siginfo_code: field("kernel_siginfo", &["si_code"]),
        siginfo_fields: field("kernel_siginfo", &["_sifields"]),
        ..KernelOffsets::absent()
    };
    let mut size = |s: &str| {
        let found = btf.struct_size(s);
        if found.is_none() {
            missing.push(format!("struct {s}"));
        }
        found.unwrap_or(ABSENT)
    };
    oom_offsets(btf, &mut offsets);
    // The kernel's BTF names the helpers it has (`enum bpf_func_id`).
    offsets.current_task_btf = u32::from(btf.enum_value("BPF_FUNC_get_current_task_btf").is_some());
    offsets.upid_size = size("upid");
    offsets.k_sigaction_size = size("k_sigaction");
    if missing.is_empty() {
        Ok(offsets)
    } else {
        Err(MissingFields { fields: missing })
    }
}
