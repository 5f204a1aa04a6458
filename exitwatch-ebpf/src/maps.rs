//! The maps shared with the daemon.

use aya_ebpf::{
    macros::map,
    maps::{HashMap, PerCpuArray, RingBuf},
};
use exitwatch_common::MAX_WATCHED;

/// Records for the daemon. The daemon may resize it at load time (`--ring-buffer-size`).
#[map(name = "EVENTS")]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(4 << 20, 0);

/// Records that matched the filter but found the ring buffer full, counted per CPU.
#[map(name = "LOST")]
pub static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Target tgids the daemon asked about (`--pid`): their signals and their exit are reported.
#[map(name = "WATCHED")]
pub static WATCHED: HashMap<u32, u32> = HashMap::with_max_entries(MAX_WATCHED, 0);

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
