//! Kernel timestamps are nanoseconds since boot; this finds the wall-clock time of boot, and
//! keeps finding it, so that event times follow CLOCK_REALTIME when the clock is stepped.

fn now_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// Where the two clocks come from: the system's, or a test's.
pub trait Clocks {
    /// CLOCK_REALTIME, Unix nanoseconds.
    fn realtime_ns(&self) -> i128;
    /// CLOCK_BOOTTIME, nanoseconds since boot (suspend included).
    fn boottime_ns(&self) -> i128;
}

/// The kernel's clocks.
#[derive(Clone, Copy, Debug, Default)]
pub struct System;

impl Clocks for System {
    fn realtime_ns(&self) -> i128 {
        now_ns(libc::CLOCK_REALTIME)
    }

    fn boottime_ns(&self) -> i128 {
        now_ns(libc::CLOCK_BOOTTIME)
    }
}

/// Unix time of boot in nanoseconds by `clocks` (CLOCK_REALTIME - CLOCK_BOOTTIME, which
/// `bpf_ktime_get_boot_ns` and `task_struct::start_boottime` count from). It moves when the
/// wall clock is stepped (NTP, `date -s`): derive it again rather than keep it.
pub fn boot_epoch_ns_by(clocks: &impl Clocks) -> i128 {
    clocks.realtime_ns() - clocks.boottime_ns()
}

/// Unix time of boot in nanoseconds, now.
pub fn boot_epoch_ns() -> i128 {
    boot_epoch_ns_by(&System)
}

/// Nanoseconds since boot, now.
pub fn since_boot_ns() -> u64 {
    now_ns(libc::CLOCK_BOOTTIME) as u64
}

/// The boot epoch, derived again at most every `every_ns` of boot time: two clock reads, cheap
/// enough for every second, and a stepped clock shows in event times within that.
#[derive(Debug)]
pub struct BootEpoch<C> {
    clocks: C,
    every_ns: i128,
    epoch_ns: i128,
    derived_at_ns: i128,
}

impl<C: Clocks> BootEpoch<C> {
    pub fn new(clocks: C, every: std::time::Duration) -> Self {
        let derived_at_ns = clocks.boottime_ns();
        BootEpoch {
            epoch_ns: boot_epoch_ns_by(&clocks),
            every_ns: every.as_nanos() as i128,
            derived_at_ns,
            clocks,
        }
    }

    /// The epoch, derived again when the last derivation is older than the period.
    pub fn get(&mut self) -> i128 {
        let now = self.clocks.boottime_ns();
        if now - self.derived_at_ns >= self.every_ns {
            self.epoch_ns = boot_epoch_ns_by(&self.clocks);
            self.derived_at_ns = now;
        }
        self.epoch_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::time::Duration;

    /// A machine booted at `boot` (Unix ns) whose wall clock can be stepped.
    struct Fake {
        boot: Cell<i128>,
        uptime: Cell<i128>,
    }

    impl Clocks for &Fake {
        fn realtime_ns(&self) -> i128 {
            self.boot.get() + self.uptime.get()
        }
        fn boottime_ns(&self) -> i128 {
            self.uptime.get()
        }
    }

    const HOUR: i128 = 3_600_000_000_000;
    const SEC: i128 = 1_000_000_000;

    #[test]
    fn follows_a_stepped_wall_clock_within_the_period() {
        let clocks = Fake {
            boot: Cell::new(1_767_225_600 * SEC),
            uptime: Cell::new(100 * SEC),
        };
        let mut epoch = BootEpoch::new(&clocks, Duration::from_secs(1));
        assert_eq!(epoch.get(), 1_767_225_600 * SEC);
        // `date -s '+1 hour'`: CLOCK_REALTIME jumps, CLOCK_BOOTTIME does not.
        clocks.boot.set(clocks.boot.get() + HOUR);
        clocks.uptime.set(100 * SEC + SEC / 2);
        assert_eq!(epoch.get(), 1_767_225_600 * SEC, "not derived again yet");
        clocks.uptime.set(101 * SEC);
        assert_eq!(epoch.get(), 1_767_225_600 * SEC + HOUR);
        // An event 1 s after the step is stamped an hour later than before it.
        let event_since_boot = 101 * SEC;
        assert_eq!(
            epoch.get() + event_since_boot,
            (&clocks).realtime_ns(),
            "event time is the wall clock's"
        );
        // And back.
        clocks.boot.set(clocks.boot.get() - HOUR);
        clocks.uptime.set(102 * SEC);
        assert_eq!(epoch.get(), 1_767_225_600 * SEC);
    }

    #[test]
    fn the_system_epoch_is_near_the_wall_clock_minus_uptime() {
        let e = boot_epoch_ns();
        let wall = now_ns(libc::CLOCK_REALTIME);
        let up = i128::from(since_boot_ns());
        assert!((wall - up - e).abs() < SEC, "{e} vs {wall} - {up}");
    }
}
