//! The maps shared with the daemon.

use aya_ebpf::{
    macros::map,
    maps::{HashMap, LruHashMap, PerCpuArray, RingBuf},
};
use exitwatch_common::{MAX_DOOMED, MAX_WATCHED, MAX_WATCHED_CGROUPS};

/// Records for the daemon. The daemon may resize it at load time (`--ring-buffer-size`).
#[map(name = "EVENTS")]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(4 << 20, 0);

/// Records that matched the filter but found the ring buffer full, counted per CPU.
#[map(name = "LOST")]
pub static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Target tgids the daemon asked about (`--pid`): their signals and their exit are reported.
#[map(name = "WATCHED")]
pub static WATCHED: HashMap<u32, u32> = HashMap::with_max_entries(MAX_WATCHED, 0);

/// The target of the last `SIGKILL` sent with SEND_SIG_PRIV on this CPU: on kernels whose
/// `mark_victim` passes only a pid, this is how the OOM program finds the victim's task.
#[map(name = "PRIV_KILL")]
pub static PRIV_KILL: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

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

/// The daemon's verdict on each cgroup (kernfs id) it has seen: 1 for the containers and pods
/// it watches (a target in one of them, or below, is reported), 0 for the rest. A target whose
/// own cgroup is not in the map is reported too, for the daemon to decide: a container started
/// since the daemon's last scan may be one it was asked about. Kept current by the daemon.
#[map(name = "WATCHED_CGROUPS")]
pub static WATCHED_CGROUPS: HashMap<u64, u32> = HashMap::with_max_entries(MAX_WATCHED_CGROUPS, 0);

/// Targets of reported signals: their exit is reported too, so the story has an ending.
/// LRU: a target that never exits is forgotten eventually rather than filling the map.
#[map(name = "DOOMED")]
pub static DOOMED: LruHashMap<u32, u32> = LruHashMap::with_max_entries(MAX_DOOMED, 0);

#[inline(always)]
pub fn count_lost() {
    if let Some(counter) = LOST.get_ptr_mut(0) {
        // Per-CPU slot: no other writer can race with this one.
        unsafe { *counter += 1 };
    }
}

#[inline(always)]
pub fn is_watched(tgid: u32) -> bool {
    unsafe { WATCHED.get(&tgid).is_some() }
}
