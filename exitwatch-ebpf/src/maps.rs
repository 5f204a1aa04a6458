//! The maps shared with the daemon.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray, PerCpuHashMap, ProgramArray, RingBuf},
};
use exitwatch_common::{
    loss, ring, wake, CgroupNameRecord, IdentityRecord, IdentityState, SuppressedKey,
    SuppressedValue, MAX_BUDGETS, MAX_CGROUPS_SENT, MAX_DOOMED, MAX_IDENTITIES, MAX_SUPPRESSED,
    MAX_WATCHED, MAX_WATCHED_CGROUPS,
};

/// Fatal signals, OOM kills, the exits of their targets, and the identities and cgroup paths
/// they refer to: never crowded out by non-fatal noise. The daemon may resize it at load time.
#[map(name = "EVENTS")]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(4 << 20, 0);

/// Non-fatal reported signals (budgeted per sender), their identities and their targets' exits.
#[map(name = "EVENTS_NONFATAL")]
pub static EVENTS_NONFATAL: RingBuf = RingBuf::with_byte_size(4 << 20, 0);

/// What could not be queued or attributed, per CPU, by context ([`slot`]) and class
/// (`loss::*`, at `loss::index`).
#[map(name = "LOST")]
pub static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(loss::CLASSES * loss::ROWS, 0);

/// Target tgids the daemon asked about (`--pid`): their signals and their exit are reported.
#[map(name = "WATCHED")]
pub static WATCHED: HashMap<u32, u32> = HashMap::with_max_entries(MAX_WATCHED, 0);

/// The target of the last `SIGKILL` sent with SEND_SIG_PRIV on this CPU: on kernels whose
/// `mark_victim` passes only a pid, this is how the OOM program finds the victim's task.
#[map(name = "PRIV_KILL")]
pub static PRIV_KILL: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// The daemon's verdict on each cgroup (kernfs id) it has seen: 1 for the containers and pods
/// it watches (a target in one of them, or below, is reported), 0 for the rest. A target whose
/// own cgroup is not in the map is reported too, for the daemon to decide: a container started
/// since the daemon's last scan may be one it was asked about. Kept current by the daemon.
#[map(name = "WATCHED_CGROUPS")]
pub static WATCHED_CGROUPS: HashMap<u64, u32> = HashMap::with_max_entries(MAX_WATCHED_CGROUPS, 0);

/// Targets of reported signals (`doomed::*`): their exit is reported too, so the story has an
/// ending, in the ring of the worst signal they received. LRU: a target that never exits is
/// forgotten eventually rather than filling the map (the daemon counts those evictions).
#[map(name = "DOOMED")]
pub static DOOMED: LruHashMap<u32, u32> = LruHashMap::with_max_entries(MAX_DOOMED, 0);

/// Processes whose identity was sent, by tgid: which image, in which rings. Emptied for a
/// tgid by its exec; the daemon deletes what its own cache forgets, so the next signal sends
/// the identity again.
#[map(name = "IDENTITIES")]
pub static IDENTITIES: LruHashMap<u32, IdentityState> =
    LruHashMap::with_max_entries(MAX_IDENTITIES, 0);

/// Cgroups whose path was sent, by id: in which rings.
#[map(name = "CGROUPS_SENT")]
pub static CGROUPS_SENT: LruHashMap<u64, u32> = LruHashMap::with_max_entries(MAX_CGROUPS_SENT, 0);

/// One token bucket per sender of non-fatal reported signals.
#[map(name = "BUDGET")]
pub static BUDGET: LruHashMap<u32, Bucket> = LruHashMap::with_max_entries(MAX_BUDGETS, 0);

/// Signals the budget suppressed, per (sender, signal), per CPU: the counts only grow; the
/// daemon sums the CPUs and reports the growth. When full, suppressed signals are counted
/// without their sender.
#[map(name = "SUPPRESSED")]
pub static SUPPRESSED: PerCpuHashMap<SuppressedKey, SuppressedValue> =
    PerCpuHashMap::with_max_entries(MAX_SUPPRESSED, 0);

/// Where an identity record is put together before it is copied, cut to its length, into a
/// ring (too big for the 512-byte stack).
#[map(name = "SCRATCH")]
pub static SCRATCH: PerCpuArray<IdentityRecord> = PerCpuArray::with_max_entries(1, 0);

/// Where a cgroup path record is put together before it is copied into a ring, one per
/// [`slot`].
#[map(name = "CGROUP_SCRATCH")]
pub static CGROUP_SCRATCH: PerCpuArray<CgroupNameRecord> =
    PerCpuArray::with_max_entries(slot::COUNT, 0);

/// Which entry of the per-CPU maps [`RING`] and [`CGROUP_SCRATCH`], and which row of
/// [`LOST`], a program's run uses.
///
/// A run of `signal_generate` (with the `signal_identity` it tail-calls) never overlaps
/// another on its CPU: every signal is generated under its target's siglock, taken with
/// interrupts off (in a task or in an interrupt alike), and no signal is sent from an NMI.
/// `sched_process_exit` and `mark_victim` run in a task with interrupts on (and preemption
/// off, as every tracepoint's programs: they never overlap each other), so a signal sent from
/// an interrupt (an itimer's SIGALRM, a POSIX timer's signal) runs `signal_generate` in the
/// middle of them, on the same CPU. Sharing one entry, that run would overwrite an exit's
/// ring and its half-built cgroup path (a path sent under another cgroup's id), or undo a
/// count; each context has its own.
pub mod slot {
    /// `signal_generate`, `signal_identity`.
    pub const SIGNAL: u32 = 0;
    /// `sched_process_exit`, `mark_victim`.
    pub const TASK: u32 = 1;
    pub const COUNT: u32 = exitwatch_common::loss::ROWS;
}

/// Slot 0: `signal_identity`, which sends a sender's identity and then its signal's record.
/// `signal_generate` tail-calls it the first time it sees a sender (per image and ring): the
/// verifier then walks the big identity code once, from one state, not once per way
/// `signal_generate` can reach it.
#[map(name = "IDENTITY_PROG")]
pub static IDENTITY_PROG: ProgramArray = ProgramArray::with_max_entries(1, 0);

/// What `signal_generate` hands to `signal_identity` across the tail call (same CPU, same run).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Pending {
    pub now: u64,
    pub handler: u64,
    pub sig: i32,
    pub verdict: i32,
    pub sender_tgid: u32,
    pub target_tgid: u32,
    pub fatal: u32,
    pub _pad: u32,
}

#[map(name = "PENDING")]
pub static PENDING: PerCpuArray<Pending> = PerCpuArray::with_max_entries(1, 0);

/// A token bucket: `tokens` in billionths of a signal, refilled at the configured rate.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Bucket {
    pub last_ns: u64,
    pub tokens: u64,
}

#[inline(always)]
pub fn stash_priv_kill(target: *const u8) {
    if let Some(slot) = PRIV_KILL.get_ptr_mut(0) {
        unsafe { *slot = target as u64 };
    }
}

#[inline(always)]
pub fn priv_kill_target() -> *const u8 {
    PRIV_KILL
        .get(0)
        .map_or(core::ptr::null(), |t| *t as *const u8)
}

/// Counts one thing of class `class` (`loss::*`) on this CPU, in the row of `slot`.
#[inline(always)]
pub fn count(slot: u32, class: u32) {
    if let Some(counter) = LOST.get_ptr_mut(loss::index(slot, class)) {
        // This CPU's entry in this context's row: nothing else writes it meanwhile.
        unsafe { *counter += 1 };
    }
}

/// The ring (`ring::*`) of the record this run of a program is making, per [`slot`], kept in
/// memory rather than in a register: code that builds big records (identities, cgroup paths)
/// then reads as one path to the verifier whichever the ring, instead of one path per ring.
#[map(name = "RING")]
pub static RING: PerCpuArray<u32> = PerCpuArray::with_max_entries(slot::COUNT, 0);

/// Sets the ring of the record being made on this CPU in `slot` (`ring::FATAL` or
/// `ring::NONFATAL`).
#[inline(always)]
pub fn set_ring(slot: u32, fatal: bool) {
    if let Some(entry) = RING.get_ptr_mut(slot) {
        unsafe { *entry = if fatal { ring::FATAL } else { ring::NONFATAL } };
    }
}

/// The ring bit of the record being made on this CPU in `slot`.
#[inline(always)]
pub fn ring(slot: u32) -> u32 {
    match RING.get_ptr(slot) {
        Some(entry) => unsafe { core::ptr::read_volatile(entry) },
        None => ring::FATAL,
    }
}

/// Copies `bytes` (a record put together in a scratch map) into the ring of the record being
/// made in `slot`. Big records are built once, ring-blind, and only this copy picks the ring.
#[inline(always)]
pub fn output(slot: u32, bytes: &[u8]) -> bool {
    let ring = if ring(slot) == ring::FATAL {
        &EVENTS
    } else {
        &EVENTS_NONFATAL
    };
    // The record it precedes, in the same run, decides whether to wake the daemon.
    ring.output::<[u8]>(bytes, wake::NO_WAKEUP).is_ok()
}

/// When each ring (0 fatal, 1 non-fatal) last woke the daemon, in boot ns. Shared by all CPUs
/// and written at most once per [`wake::GAP_NS`]: two CPUs racing both wake it, which is
/// harmless.
#[map(name = "WOKEN")]
pub static WOKEN: Array<u64> = Array::with_max_entries(2, 0);

/// The submit flags of a run's last record, taken at `now`: wake the daemon only when this
/// ring has not for [`wake::GAP_NS`] (see [`wake`]).
#[inline(always)]
pub fn wake_flags(fatal: bool, now: u64) -> u64 {
    let Some(last) = WOKEN.get_ptr_mut(if fatal { 0 } else { 1 }) else {
        return 0;
    };
    // SAFETY: an array slot, always there; a torn race only wakes the daemon once more.
    unsafe {
        // A `now` older than another CPU's stored time wraps to a huge gap: it wakes.
        if now.wrapping_sub(*last) >= wake::GAP_NS {
            *last = now;
            wake::FORCE_WAKEUP
        } else {
            wake::NO_WAKEUP
        }
    }
}

#[inline(always)]
pub fn is_watched(tgid: u32) -> bool {
    unsafe { WATCHED.get(&tgid).is_some() }
}
