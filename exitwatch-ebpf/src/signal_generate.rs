//! `signal_generate`: every signal the kernel generates, filtered here before any ring-buffer
//! work, then recorded with the sender (the current task), its ancestry and argv, and the target.

use aya_ebpf::{
    helpers::{bpf_get_current_task, bpf_ktime_get_boot_ns},
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use exitwatch_common::{flag, result, RecordKind, SignalRecord, ABSENT, MAX_ANCESTORS};

use crate::{
    config::konst,
    maps::{count_lost, is_watched, stash_priv_kill, DOOMED, EVENTS},
    place,
    task::{self, read, Task},
};

/// `SEND_SIG_NOINFO` / `SEND_SIG_PRIV`: the special siginfo pointers of in-kernel sends.
const SEND_SIG_NOINFO: u64 = 0;
const SEND_SIG_PRIV: u64 = 1;
const SIGKILL: i32 = 9;
const SI_USER: i32 = 0;
const SI_KERNEL: i32 = 0x80;
/// `PF_KTHREAD` in task_struct::flags (include/linux/sched.h; unchanged since 2.6.27).
const PF_KTHREAD: u32 = 0x0020_0000;

// TP_PROTO(int sig, struct kernel_siginfo *info, struct task_struct *task, int group, int result)
#[btf_tracepoint(function = "signal_generate")]
pub fn signal_generate(ctx: BtfTracePointContext) -> i32 {
    let _ = try_signal_generate(&ctx);
    0
}

#[inline(always)]
fn try_signal_generate(ctx: &BtfTracePointContext) -> Option<()> {
    let sig: i32 = ctx.arg(0);
    if !(1..=64).contains(&sig) {
        return None;
    }
    if sig == SIGKILL && ctx.arg::<u64>(1) == SEND_SIG_PRIV {
        // Possibly the OOM killer: `mark_victim` follows on this CPU and may need the victim.
        stash_priv_kill(ctx.arg(2));
    }
    // The hot path: most signals on a node (SIGCHLD, SIGURG from Go runtimes...) stop here.
    let bit = 1u64 << (sig - 1);
    let always = konst!(FILTER.always);
    if (always | konst!(FILTER.if_fatal)) & bit == 0 {
        return None;
    }
    let verdict: i32 = ctx.arg(4);
    if always & bit == 0 && verdict != result::DELIVERED {
        // Reported only when it will kill, and the kernel already says it will not (ignored,
        // already pending): decided from the tracepoint's own arguments, no kernel reads.
        return None;
    }
    let target: Task = ctx.arg(2);
    let target_tgid = task::tgid(target);
    if konst!(FILTER.watched_only) != 0 && !is_watched(target_tgid) {
        return None;
    }
    if konst!(FILTER.cgroups_only) != 0 && !place::watched(target) {
        return None;
    }
    let handler = target_handler(target, sig);
    if always & bit == 0 && handler != 0 {
        // Reported only when it will kill: delivered to a target keeping the default action.
        return None;
    }

    let Some(mut entry) = EVENTS.reserve::<SignalRecord>(0) else {
        count_lost();
        return None;
    };
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    let mut flags = 0u32;
    rec.kind = RecordKind::Signal as u32;
    rec.time_ns = unsafe { bpf_ktime_get_boot_ns() };
    rec.signo = sig;
    rec.result = verdict;
    rec.group = ctx.arg::<i32>(3);
    rec.handler = if handler == HANDLER_UNKNOWN {
        flags |= flag::HANDLER_UNKNOWN;
        0
    } else {
        handler
    };
    rec._pad = 0;

    let info: u64 = ctx.arg(1);
    rec.si_fields = 0;
    rec.code = match info {
        SEND_SIG_NOINFO => {
            flags |= flag::INFO_NOINFO;
            SI_USER
        }
        SEND_SIG_PRIV => {
            flags |= flag::INFO_PRIV;
            SI_KERNEL
        }
        _ => {
            let info = info as *const u8;
            rec.si_fields = read::<u64>(info, konst!(OFFSETS.siginfo_fields)).unwrap_or(0);
            read::<i32>(info, konst!(OFFSETS.siginfo_code)).unwrap_or(0)
        }
    };

    flags |= task::fill(target, &mut rec.target);
    place::fill(target, &mut rec.target_place);

    let current = unsafe { bpf_get_current_task() } as Task;
    flags |= task::fill(current, &mut rec.sender);
    place::fill(current, &mut rec.sender_place);
    flags |= credentials(current, rec);
    flags |= task::current_args(current, &mut rec.args, &mut rec.args_len);
    rec._pad2 = 0;
    flags |= task::exe(current, &mut rec.exe, &mut rec.exe_depth);
    flags |= ancestry(current, rec);
    rec.flags = flags;
    entry.submit(0);
    let _ = DOOMED.insert(&target_tgid, &1, 0);
    Some(())
}

/// What `target_handler` returns when the handler cannot be read. A plain integer rather than
/// an Option: Linux 6.1's verifier rejected the stack slot an `Option<u64>` compiled to.
const HANDLER_UNKNOWN: u64 = u64::MAX;

/// The target's handler for `sig`: 0 SIG_DFL, 1 SIG_IGN, else a handler address.
#[inline(always)]
fn target_handler(target: Task, sig: i32) -> u64 {
    read_handler(target, sig).unwrap_or(HANDLER_UNKNOWN)
}

#[inline(always)]
fn read_handler(target: Task, sig: i32) -> Option<u64> {
    let sighand = read::<Task>(target, konst!(OFFSETS.task_sighand))?;
    let action = konst!(OFFSETS.sighand_action);
    let size = konst!(OFFSETS.k_sigaction_size);
    let handler = konst!(OFFSETS.k_sigaction_handler);
    if action == ABSENT || size == ABSENT || handler == ABSENT {
        return None;
    }
    read::<u64>(sighand, action + (sig as u32 - 1) * size + handler)
}

#[inline(always)]
fn credentials(current: Task, rec: &mut SignalRecord) -> u32 {
    let mut flags = 0;
    let cred = read::<Task>(current, konst!(OFFSETS.task_cred)).unwrap_or(core::ptr::null());
    rec.uid = read::<u32>(cred, konst!(OFFSETS.cred_uid)).unwrap_or(u32::MAX);
    rec.gid = read::<u32>(cred, konst!(OFFSETS.cred_gid)).unwrap_or(u32::MAX);
    rec.euid = read::<u32>(cred, konst!(OFFSETS.cred_euid)).unwrap_or(u32::MAX);
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
    if read::<u32>(current, konst!(OFFSETS.task_flags)).unwrap_or(0) & PF_KTHREAD != 0 {
        flags |= flag::SENDER_KTHREAD;
    }
    flags
}

/// The sender's ancestors, parent first, up to the root (swapper, pid 0) or `MAX_ANCESTORS`.
#[inline(always)]
fn ancestry(current: Task, rec: &mut SignalRecord) -> u32 {
    let mut task = current;
    let mut n = 0u32;
    let mut reached_root = false;
    for i in 0..MAX_ANCESTORS {
        let parent = task::real_parent(task);
        if parent.is_null() || parent == task {
            reached_root = true;
            break;
        }
        let pid = task::fill_ancestor(parent, &mut rec.ancestors[i]);
        n += 1;
        if pid == 0 {
            reached_root = true;
            break;
        }
        task = parent;
    }
    rec.n_ancestors = n;
    if reached_root {
        0
    } else {
        flag::ANCESTRY_TRUNCATED
    }
}
