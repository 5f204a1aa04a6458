//! Kernel timestamps are nanoseconds since boot; this finds the wall-clock time of boot.

fn now_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// Unix time of boot in nanoseconds (CLOCK_REALTIME - CLOCK_BOOTTIME, which
/// `bpf_ktime_get_boot_ns` and `task_struct::start_boottime` count from).
pub fn boot_epoch_ns() -> i128 {
    now_ns(libc::CLOCK_REALTIME) - now_ns(libc::CLOCK_BOOTTIME)
}

/// Nanoseconds since boot, now.
pub fn since_boot_ns() -> u64 {
    now_ns(libc::CLOCK_BOOTTIME) as u64
}
