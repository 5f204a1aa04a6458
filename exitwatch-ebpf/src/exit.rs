//! `sched_process_exit`: the exit status of watched processes, seen by the kernel as it happens.

use aya_ebpf::{
    helpers::bpf_ktime_get_boot_ns, macros::btf_tracepoint, programs::BtfTracePointContext,
};
use exitwatch_common::{doomed, loss, ExitRecord, RecordKind};

use crate::{
    config::konst,
    maps::{count, set_ring, slot, wake_flags, DOOMED, EVENTS, EVENTS_NONFATAL, WATCHED},
    place,
    task::{self, read, Task},
};

// TP_PROTO(struct task_struct *p) (6.16+ adds `bool group_dead`; not relied on here).
#[btf_tracepoint(function = "sched_process_exit")]
pub fn sched_process_exit(ctx: BtfTracePointContext) -> i32 {
    let _ = try_sched_process_exit(&ctx);
    0
}

#[inline(always)]
fn try_sched_process_exit(ctx: &BtfTracePointContext) -> Option<()> {
    let task: Task = ctx.arg(0);
    let tgid = task::tgid(task);
    // Reported: watched pids, targets of reported signals, and with --container/--pod the
    // main process (pid 1 of its namespace) of a watched container exiting on its own.
    let watched = unsafe { WATCHED.get(&tgid).is_some() };
    let doom = unsafe { DOOMED.get(&tgid) }.copied().unwrap_or(0);
    if !watched
        && doom == 0
        && !(konst!(FILTER.cgroups_only) != 0
            && task::ns_pid(task) == Some(1)
            && place::watched(task))
    {
        return None;
    }
    // Only the last thread of the group ends the process: signal_struct::live has reached 0.
    let signal = read::<Task>(task, konst!(OFFSETS.task_signal))?;
    let live = read::<i32>(signal, konst!(OFFSETS.signal_live))?;
    if live != 0 {
        return None;
    }
    // WATCHED entries stay: the OOM killer's mark_victim can run on another CPU after its victim
    // has already exited, and must still find the victim watched. A --pid session ends once its
    // processes are gone, taking the map with it.
    if doom != 0 && DOOMED.remove(&tgid).is_ok() {
        count(slot::TASK, loss::DOOMED_REMOVED);
    }
    // The end of a fatal story (or of a process the user watches) is never crowded out.
    let fatal = doom != doomed::NONFATAL;
    set_ring(slot::TASK, fatal);
    let entry = if fatal {
        EVENTS.reserve::<ExitRecord>(0)
    } else {
        EVENTS_NONFATAL.reserve::<ExitRecord>(0)
    };
    let Some(mut entry) = entry else {
        count(slot::TASK, loss::EXIT);
        return None;
    };
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    rec.kind = RecordKind::Exit as u32;
    let now = unsafe { bpf_ktime_get_boot_ns() };
    rec.time_ns = now;
    rec.exit_code = read::<u32>(task, konst!(OFFSETS.task_exit_code)).unwrap_or(0);
    rec._pad = 0;
    let mut flags = task::fill(task, &mut rec.task);
    flags |= place::fill_ref(slot::TASK, task, &mut rec.place);
    rec.flags = flags;
    entry.submit(wake_flags(fatal, now));
    Some(())
}
