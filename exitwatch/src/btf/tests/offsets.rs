//! Tests of `resolve_offsets`: every field, old-kernel fallbacks, absent and missing fields.

use std::path::Path;

use exitwatch_common::ABSENT;

use super::fake_kernel;
use crate::btf::{resolve_offsets, Btf, VMLINUX_BTF};

#[test]
fn resolves_every_offset_of_a_complete_kernel() {
    let btf = Btf::from_bytes(&fake_kernel(false, &[])).unwrap();
    let o = resolve_offsets(&btf).unwrap();
    assert_eq!(
        (o.task_pid, o.task_flags, o.task_loginuid),
        (0, 14 * 8, 7 * 8)
    );
    assert_eq!((o.cred_uid, o.cred_euid), (8, 40));
    assert_eq!(
        (o.mm_arg_start, o.mm_arg_end),
        (16, 24),
        "anonymous struct at 8 plus 8 and 16"
    );
    assert_eq!(
        (
            o.upid_size,
            o.upid_nr,
            o.k_sigaction_size,
            o.k_sigaction_handler
        ),
        (16, 0, 24, 0)
    );
    assert_eq!(
        (o.siginfo_code, o.siginfo_fields, o.signal_live),
        (16, 24, 8)
    );
}

#[test]
fn falls_back_to_real_start_time_on_old_kernels() {
    let new = resolve_offsets(&Btf::from_bytes(&fake_kernel(false, &[])).unwrap()).unwrap();
    assert_eq!(new.task_start_boottime, 5 * 8);
    let old = Btf::from_bytes(&fake_kernel(false, &["task_struct.start_boottime"])).unwrap();
    assert_eq!(resolve_offsets(&old).unwrap().task_start_boottime, 14 * 8);
}

#[test]
fn marks_optional_fields_absent_without_audit() {
    let btf = Btf::from_bytes(&fake_kernel(
        false,
        &["task_struct.loginuid", "task_struct.sessionid"],
    ))
    .unwrap();
    let o = resolve_offsets(&btf).unwrap();
    assert_eq!((o.task_loginuid, o.task_sessionid), (ABSENT, ABSENT));
    assert_eq!(o.task_mm, 7 * 8, "later fields move up");
}

#[test]
fn names_every_missing_required_field() {
    let btf = Btf::from_bytes(&fake_kernel(
        false,
        &["task_struct.pid", "cred.euid", "kernel_siginfo._sifields"],
    ))
    .unwrap();
    let err = resolve_offsets(&btf).unwrap_err();
    assert_eq!(
        err.fields,
        ["task_struct.pid", "cred.euid", "kernel_siginfo._sifields"]
    );
    let msg = err.to_string();
    assert!(
        msg.contains("cannot run on this kernel") && msg.contains("task_struct.pid, cred.euid"),
        "{msg}"
    );
}

#[test]
fn real_vmlinux_offsets_are_plausible() {
    if !Path::new(VMLINUX_BTF).exists() {
        eprintln!("skipped: {VMLINUX_BTF} absent");
        return;
    }
    let start = std::time::Instant::now();
    let btf = Btf::from_sys_fs().unwrap();
    let o = resolve_offsets(&btf).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("read + parse + resolve: {:?}\n{o:#?}", start.elapsed());

    let task = btf.struct_size("task_struct").unwrap();
    for off in [
        o.task_pid,
        o.task_tgid,
        o.task_comm,
        o.task_real_parent,
        o.task_group_leader,
        o.task_start_boottime,
        o.task_cred,
        o.task_mm,
        o.task_thread_pid,
        o.task_sighand,
        o.task_signal,
        o.task_exit_code,
        o.task_flags,
    ] {
        assert!(off < task, "task_struct offset {off} >= size {task}");
    }
    for (s, offs) in [
        ("cred", &[o.cred_uid, o.cred_gid, o.cred_euid][..]),
        ("mm_struct", &[o.mm_arg_start, o.mm_arg_end]),
        ("pid", &[o.pid_level]),
        ("signal_struct", &[o.signal_live]),
        ("kernel_siginfo", &[o.siginfo_code, o.siginfo_fields]),
    ] {
        let size = btf.struct_size(s).unwrap();
        assert!(
            offs.iter().all(|&off| off < size),
            "{s}: {offs:?} vs size {size}"
        );
    }
    assert_eq!(btf.member("task_struct", "comm").unwrap().size, 16);
    // `numbers` is a flexible array member: it starts where the struct ends.
    assert!(o.pid_numbers <= btf.struct_size("pid").unwrap());
    assert_eq!(o.mm_arg_end, o.mm_arg_start + 8);
    assert!(o.k_sigaction_size >= 24 && o.k_sigaction_handler == 0);
    assert_eq!((o.upid_size, o.upid_nr), (16, 0));
    assert_eq!(
        (o.siginfo_code, o.siginfo_fields),
        (8, 16),
        "fixed by the siginfo ABI"
    );

    assert!(btf.has_typedef("btf_trace_sched_process_exit"));
    let sig: Vec<_> = btf
        .tracepoint_params("signal_generate")
        .unwrap()
        .into_iter()
        .map(|p| p.ty)
        .collect();
    assert_eq!(
        sig,
        [
            "int",
            "struct kernel_siginfo *",
            "struct task_struct *",
            "int",
            "int"
        ]
    );
    eprintln!("mark_victim: {:?}", btf.tracepoint_params("mark_victim"));
}
