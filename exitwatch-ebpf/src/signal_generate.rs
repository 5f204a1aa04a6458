//! `signal_generate`: every signal the kernel generates, filtered here before any ring-buffer
//! work; a fatal one goes to the fatal ring, a non-fatal one to the other ring within its
//! sender's budget (else it is counted as suppressed). The record is small: the sender's
//! identity (argv, ancestry...) and the cgroups' paths travel once, before it.

use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_current_task, bpf_ktime_get_boot_ns, bpf_tail_call,
        generated::bpf_get_current_task_btf,
    },
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
    EbpfContext,
};
use exitwatch_common::{
    doomed, flag, loss, result, RecordKind, SignalRecord, ABSENT, DEFAULT_ENDS_PROCESS,
};

use crate::{
    budget,
    config::konst,
    identity,
    maps::{
        count, is_watched, set_ring, slot, stash_priv_kill, wake_flags, Pending, DOOMED, EVENTS,
        EVENTS_NONFATAL, IDENTITY_PROG, PENDING,
    },
    place,
    task::{self, read, Btf, Mem, Probe, Task},
};

/// `SEND_SIG_NOINFO` / `SEND_SIG_PRIV`: the special siginfo pointers of in-kernel sends.
const SEND_SIG_NOINFO: u64 = 0;
const SEND_SIG_PRIV: u64 = 1;
const SIGKILL: i32 = 9;
const SI_USER: i32 = 0;
const SI_KERNEL: i32 = 0x80;

// TP_PROTO(int sig, struct kernel_siginfo *info, struct task_struct *task, int group, int result)
// Inlined into the entry point the macro makes: the verifier allows a tail call only there.
#[btf_tracepoint(function = "signal_generate")]
#[inline(always)]
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
    let target_tgid = Btf::read::<u32>(target, konst!(OFFSETS.task_tgid)).unwrap_or(0);
    if konst!(FILTER.watched_only) != 0 && !is_watched(target_tgid) {
        return None;
    }
    if konst!(FILTER.cgroups_only) != 0 && !place::watched_in::<Btf>(target) {
        return None;
    }
    let handler = target_handler(target, sig);
    if always & bit == 0 && handler != 0 {
        // Reported only when it will kill: delivered to a target keeping the default action.
        return None;
    }

    let now = unsafe { bpf_ktime_get_boot_ns() };
    let current = unsafe { bpf_get_current_task() } as Task;
    let sender_tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let fatal = kills(sig, verdict, handler);
    if !fatal && !budget::take(sender_tgid, now) {
        budget::suppress(current, sender_tgid, sig);
        return None;
    }
    set_ring(slot::SIGNAL, fatal);
    let pending = Pending {
        now,
        handler,
        sig,
        verdict,
        sender_tgid,
        target_tgid,
        fatal: u32::from(fatal),
        _pad: 0,
    };
    let sent = if konst!(OFFSETS.current_task_btf) != 0 {
        identity::sent::<Btf>(current_btf(), sender_tgid)
    } else {
        identity::sent::<Probe>(current, sender_tgid)
    };
    match sent {
        Some(image) => record(ctx, &pending, image),
        None => {
            // First seen in this ring: `signal_identity` sends who it is, then the record.
            if let Some(slot) = PENDING.get_ptr_mut(0) {
                unsafe {
                    *slot = pending;
                    // The helper itself, not ProgramArray::tail_call: that one may stay a
                    // function of its own, and the verifier refuses tail calls from those.
                    // ProgramArray is repr(transparent) over its map definition.
                    bpf_tail_call(
                        ctx.as_ptr(),
                        core::ptr::addr_of!(IDENTITY_PROG) as *mut core::ffi::c_void,
                        0,
                    );
                }
            }
            // The tail call did not happen (it cannot, once loaded): record without identity.
            count(slot::SIGNAL, loss::IDENTITY);
            record(ctx, &pending, 0)
        }
    }
}

/// `signal_identity`: run by `signal_generate` (a tail call) for a sender whose identity is
/// not in the ring yet: sends it, then the signal's record.
#[btf_tracepoint(function = "signal_generate")]
pub fn signal_identity(ctx: BtfTracePointContext) -> i32 {
    let _ = try_signal_identity(&ctx);
    0
}

#[inline(always)]
fn try_signal_identity(ctx: &BtfTracePointContext) -> Option<()> {
    let pending = *PENDING.get(0)?;
    set_ring(slot::SIGNAL, pending.fatal != 0);
    let current = unsafe { bpf_get_current_task() } as Task;
    let image = identity::announce(current, pending.sender_tgid, pending.now);
    record(ctx, &pending, image)
}

/// The signal's record, in its ring; `image` 0 when the sender's identity could not be sent.
#[inline(always)]
fn record(ctx: &BtfTracePointContext, p: &Pending, image: u64) -> Option<()> {
    let fatal = p.fatal != 0;
    let (sig, verdict, handler) = (p.sig, p.verdict, p.handler);
    let target: Task = ctx.arg(2);
    let mut flags = if fatal { flag::FATAL } else { 0 };
    if image == 0 {
        flags |= flag::IDENTITY_LOST;
    }
    let entry = if fatal {
        EVENTS.reserve::<SignalRecord>(0)
    } else {
        EVENTS_NONFATAL.reserve::<SignalRecord>(0)
    };
    let Some(mut entry) = entry else {
        count(
            slot::SIGNAL,
            if fatal { loss::FATAL } else { loss::NONFATAL },
        );
        return None;
    };
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    rec.kind = RecordKind::Signal as u32;
    rec.time_ns = p.now;
    rec.signo = sig;
    rec.result = verdict;
    rec.group = ctx.arg::<i32>(3);
    rec.handler = if handler == HANDLER_UNKNOWN {
        flags |= flag::HANDLER_UNKNOWN;
        0
    } else {
        handler
    };
    rec.sender_image = image;
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
    // The target is a BTF pointer (the tracepoint's argument): plain loads. So is the sender
    // where the kernel has bpf_get_current_task_btf (5.11), else helpers and probe reads.
    flags |= task::fill_in::<Btf>(target, &mut rec.target);
    flags |= place::fill_ref_in::<Btf>(slot::SIGNAL, target, &mut rec.target_place);
    flags |= if konst!(OFFSETS.current_task_btf) != 0 {
        let current = current_btf();
        credentials::<Btf>(current, rec);
        task::fill_in::<Btf>(current, &mut rec.sender) | kthread::<Btf>(current)
    } else {
        let current = unsafe { bpf_get_current_task() } as Task;
        credentials::<Probe>(current, rec);
        task::fill_current(current, &mut rec.sender) | kthread::<Probe>(current)
    };
    rec.flags = flags;
    entry.submit(wake_flags(fatal, p.now));
    doom(p.target_tgid, fatal);
    Some(())
}

/// Does this signal end the target, for the fatal ring? SIGKILL does once delivered; another
/// signal does when delivered to a target that keeps the default action, if that action ends
/// the process. A signal already pending is the repeat of one reported before: it goes with
/// the non-fatal noise (and its budget), or a sender hammering a process that blocks SIGTERM,
/// or one stuck in D state, could fill the fatal ring.
#[inline(always)]
fn kills(sig: i32, verdict: i32, handler: u64) -> bool {
    verdict == result::DELIVERED
        && (sig == SIGKILL || (handler == 0 && DEFAULT_ENDS_PROCESS & (1u64 << (sig - 1)) != 0))
}

/// Remembers the target so its exit is reported, in the ring of the worst signal it received.
#[inline(always)]
fn doom(tgid: u32, fatal: bool) {
    let before = unsafe { DOOMED.get(&tgid) }.copied();
    let class = if fatal {
        doomed::FATAL
    } else {
        doomed::NONFATAL
    };
    match before {
        Some(v) if v >= class => {}
        Some(_) => {
            let _ = DOOMED.insert(&tgid, &class, 0);
        }
        None => {
            if DOOMED.insert(&tgid, &class, 0).is_ok() {
                count(slot::SIGNAL, loss::DOOMED_ADDED);
            }
        }
    }
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
    // The handler's index varies: a probe read, from the sighand's address read as a number.
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
fn credentials<M: Mem>(current: Task, rec: &mut SignalRecord) {
    let cred = M::read::<Task>(current, konst!(OFFSETS.task_cred)).unwrap_or(core::ptr::null());
    rec.uid = M::read::<u32>(cred, konst!(OFFSETS.cred_uid)).unwrap_or(u32::MAX);
    rec.gid = M::read::<u32>(cred, konst!(OFFSETS.cred_gid)).unwrap_or(u32::MAX);
    rec.euid = M::read::<u32>(cred, konst!(OFFSETS.cred_euid)).unwrap_or(u32::MAX);
    rec._pad = 0;
}

#[inline(always)]
fn kthread<M: Mem>(current: Task) -> u32 {
    if task::is_kthread_in::<M>(current) {
        flag::SENDER_KTHREAD
    } else {
        0
    }
}

/// The running task as a BTF pointer; only where `OFFSETS.current_task_btf` says the kernel
/// has the helper (the verifier never sees the call on a kernel without it: that branch is
/// pruned, the flag being a load-time constant).
#[inline(always)]
fn current_btf() -> Task {
    unsafe { bpf_get_current_task_btf() as Task }
}
