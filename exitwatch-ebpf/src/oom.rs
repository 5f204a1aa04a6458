//! `mark_victim`: the OOM killer picked a victim. Runs in the context of the task whose
//! allocation failed (the trigger), right after the kernel sent the victim SIGKILL.

use aya_ebpf::{
    helpers::{bpf_get_current_task, bpf_ktime_get_boot_ns},
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use exitwatch_common::{doomed, flag, loss, OomRecord, RecordKind, ABSENT};

use crate::{
    config::konst,
    maps::{count, is_watched, priv_kill_target, slot, wake_flags, DOOMED, EVENTS},
    task::{self, read, Task},
};

// TP_PROTO(struct task_struct *task, uid_t uid) since 6.8; TP_PROTO(int pid) before.
#[btf_tracepoint(function = "mark_victim")]
pub fn mark_victim(ctx: BtfTracePointContext) -> i32 {
    let _ = try_mark_victim(&ctx);
    0
}

#[inline(always)]
fn try_mark_victim(ctx: &BtfTracePointContext) -> Option<()> {
    let mut flags = 0u32;
    let victim: Task = if konst!(OFFSETS.mark_victim_has_task) != 0 {
        ctx.arg(0)
    } else {
        let pid: u32 = ctx.arg(0);
        let stashed = priv_kill_target();
        if !stashed.is_null() && task::tid(stashed) == pid {
            stashed
        } else {
            flags |= flag::OOM_VICTIM_UNRESOLVED;
            core::ptr::null()
        }
    };
    let victim_pid = if victim.is_null() {
        ctx.arg::<u32>(0)
    } else {
        task::tgid(victim)
    };
    if konst!(FILTER.watched_only) != 0 && !is_watched(victim_pid) {
        return None;
    }

    let Some(mut entry) = EVENTS.reserve::<OomRecord>(0) else {
        count(slot::TASK, loss::FATAL);
        return None;
    };
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    rec.kind = RecordKind::Oom as u32;
    let now = unsafe { bpf_ktime_get_boot_ns() };
    rec.time_ns = now;
    rec._pad = 0;
    let current = unsafe { bpf_get_current_task() } as Task;
    flags |= task::fill(current, &mut rec.trigger);
    if victim.is_null() {
        rec.victim = rec.trigger;
        rec.victim.pid = victim_pid;
        rec.victim.tid = victim_pid;
        rec.victim.comm = [0; 16];
        rec.victim.start_ns = 0;
        rec.victim.ns_pid = 0;
        flags |= flag::NS_PID_ABSENT;
    } else {
        flags |= task::fill(victim, &mut rec.victim);
    }
    let cred = read::<Task>(victim, konst!(OFFSETS.task_cred)).unwrap_or(core::ptr::null());
    rec.victim_uid = read::<u32>(cred, konst!(OFFSETS.cred_uid)).unwrap_or(u32::MAX);
    let signal = read::<Task>(victim, konst!(OFFSETS.task_signal)).unwrap_or(core::ptr::null());
    rec.oom_score_adj =
        read::<i16>(signal, konst!(OFFSETS.signal_oom_score_adj)).map_or(0, i32::from);
    flags |= memory(victim, rec);
    if !victim.is_null() && victim_pid == rec.trigger.pid {
        flags |= task::current_args(current, &mut rec.args, &mut rec.args_len);
    } else {
        rec.args_len = 0;
        flags |= flag::ARGS_UNREADABLE;
    }
    rec.flags = flags;
    entry.submit(wake_flags(true, now));
    if unsafe { DOOMED.get(&victim_pid) }.is_none() {
        count(slot::TASK, loss::DOOMED_ADDED);
    }
    let _ = DOOMED.insert(&victim_pid, &doomed::FATAL, 0);
    Some(())
}

/// The victim's memory as the OOM report prints it: total_vm, RSS by type, page tables.
#[inline(always)]
fn memory(victim: Task, rec: &mut OomRecord) -> u32 {
    rec.total_vm_pages = 0;
    rec.anon_pages = 0;
    rec.file_pages = 0;
    rec.shmem_pages = 0;
    rec.pgtables_bytes = 0;
    let base = konst!(OFFSETS.mm_rss_stat);
    let Some(mm) = read::<Task>(victim, konst!(OFFSETS.task_mm)) else {
        return flag::OOM_STATS_ABSENT;
    };
    if mm.is_null() || base == ABSENT {
        return flag::OOM_STATS_ABSENT;
    }
    let stride = konst!(OFFSETS.rss_stat_stride);
    let value = konst!(OFFSETS.rss_stat_value);
    let counter = |index: u32| read::<i64>(mm, base + index * stride + value).unwrap_or(0);
    rec.anon_pages = counter(konst!(OFFSETS.rss_anon_index));
    rec.file_pages = counter(konst!(OFFSETS.rss_file_index));
    rec.shmem_pages = counter(konst!(OFFSETS.rss_shmem_index));
    rec.total_vm_pages = read::<u64>(mm, konst!(OFFSETS.mm_total_vm)).unwrap_or(0);
    rec.pgtables_bytes = read::<i64>(mm, konst!(OFFSETS.mm_pgtables_bytes)).unwrap_or(0);
    0
}
