//! How much non-fatal noise one sender may make: a token bucket per sender process, and an
//! exact count, per (sender, signal) and per CPU, of what its budget suppressed.

use exitwatch_common::{loss, SuppressedKey, SuppressedValue, COMM_LEN};

use crate::{
    config::konst,
    maps::{count, slot, Bucket, BUDGET, SUPPRESSED},
    task::{self, read, Task},
};

/// One signal, in billionths: tokens refill by `rate` per nanosecond.
const TOKEN: u64 = 1_000_000_000;
/// Idle time credited at most: keeps `elapsed * rate` far from overflowing.
const MAX_IDLE_NS: u64 = 1_000_000_000_000;
/// `BPF_NOEXIST`: insert only if the key is not there.
const NOEXIST: u64 = 1;

/// Takes a token from `tgid`'s bucket; false when it is empty (the signal is suppressed).
#[inline(always)]
pub fn take(tgid: u32, now: u64) -> bool {
    let rate = konst!(FILTER.budget_rate) as u64;
    if rate == 0 {
        return true;
    }
    let depth = konst!(FILTER.budget_burst) as u64 * TOKEN;
    let Some(b) = BUDGET.get_ptr_mut(&tgid) else {
        let fresh = Bucket {
            last_ns: now,
            tokens: depth.saturating_sub(TOKEN),
        };
        let _ = BUDGET.insert(&tgid, &fresh, 0);
        return true;
    };
    // Two CPUs may refill one bucket at once: the rate is approximate, the counts are not.
    let b = unsafe { &mut *b };
    let idle = now.saturating_sub(b.last_ns).min(MAX_IDLE_NS);
    let tokens = (b.tokens + idle * rate).min(depth);
    b.last_ns = now;
    if tokens >= TOKEN {
        b.tokens = tokens - TOKEN;
        true
    } else {
        b.tokens = tokens;
        false
    }
}

/// Counts one suppressed `sig` from the current process, exactly (in this CPU's slot of its
/// (sender, signal) entry); when the map is full, without its sender.
#[inline(always)]
pub fn suppress(current: Task, tgid: u32, sig: i32) {
    let leader = read::<Task>(current, konst!(OFFSETS.task_group_leader)).unwrap_or(current);
    let key = SuppressedKey {
        start_ns: task::start_ns(leader),
        pid: tgid,
        signo: sig as u32,
    };
    if add(&key) {
        return;
    }
    let cred = read::<Task>(current, konst!(OFFSETS.task_cred)).unwrap_or(core::ptr::null());
    let mut first = SuppressedValue {
        count: 1,
        uid: read::<u32>(cred, konst!(OFFSETS.cred_uid)).unwrap_or(u32::MAX),
        _pad: 0,
        comm: [0; COMM_LEN],
    };
    task::comm(leader, &mut first.comm);
    if SUPPRESSED.insert(&key, &first, NOEXIST).is_ok() {
        return;
    }
    // Another CPU inserted it meanwhile (this CPU's slot is then zero), or the map is full.
    if !add(&key) {
        count(slot::SIGNAL, loss::SUPPRESSED_UNATTRIBUTED);
    }
}

#[inline(always)]
fn add(key: &SuppressedKey) -> bool {
    match SUPPRESSED.get_ptr_mut(key) {
        Some(v) => {
            // This CPU's slot: no other writer can race with this one.
            unsafe { (*v).count += 1 };
            true
        }
        None => false,
    }
}
