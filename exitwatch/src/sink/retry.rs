//! Trying again: capped exponential backoff, and warnings only when an output starts or stops failing.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::metrics::SinkStats;

const FIRST: Duration = Duration::from_millis(250);
const CAP: Duration = Duration::from_secs(30);

/// The wait before attempt `failures + 1`: 250 ms doubling up to 30 s, less up to a fifth at
/// random so that the nodes of a cluster do not retry in step.
pub fn backoff(failures: u32, jitter_seed: u32) -> Duration {
    let base = FIRST
        .checked_mul(1u32.checked_shl(failures.min(16)).unwrap_or(u32::MAX))
        .unwrap_or(CAP)
        .min(CAP);
    let fifth = base / 5;
    let cut = fifth.mul_f64(f64::from(jitter_seed % 1000) / 1000.0);
    base - cut
}

/// A cheap seed for the jitter: no cryptographic randomness needed.
pub fn seed() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() ^ std::process::id())
}

/// One output's current streak of failures.
#[derive(Debug, Default)]
pub struct Streak {
    failures: u32,
}

impl Streak {
    /// An attempt failed: counts the retry, warns on the first failure of a streak, and says how
    /// long to wait before the next attempt.
    pub fn failed(&mut self, stats: &SinkStats, what: &str) -> Duration {
        let wait = backoff(self.failures, seed());
        if self.failures == 0 {
            eprintln!(
                "exitwatch: warning: output {}: {what}; retrying (every {} s at most) and queueing meanwhile",
                stats.name,
                CAP.as_secs()
            );
        }
        self.failures += 1;
        stats.retries.fetch_add(1, Relaxed);
        stats.set_error(Some(what.to_owned()));
        wait
    }

    /// An attempt succeeded: says so if it ends a streak.
    pub fn succeeded(&mut self, stats: &SinkStats) {
        stats.delivered();
        if self.failures > 0 {
            eprintln!(
                "exitwatch: output {}: delivering again after {} failed attempts",
                stats.name, self.failures
            );
            stats.set_error(None);
        }
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_at_most_a_fifth_of_jitter() {
        assert_eq!(backoff(0, 0), Duration::from_millis(250));
        assert_eq!(backoff(1, 0), Duration::from_millis(500));
        assert_eq!(backoff(3, 0), Duration::from_secs(2));
        assert_eq!(backoff(7, 0), CAP);
        assert_eq!(backoff(u32::MAX, 0), CAP);
        assert_eq!(backoff(0, 999), Duration::from_micros(200_050));
        for seed in [1, 500, 12345, u32::MAX] {
            let d = backoff(4, seed);
            assert!(
                d <= Duration::from_secs(4) && d >= Duration::from_millis(3200),
                "{d:?}"
            );
        }
    }

    #[test]
    fn a_streak_counts_retries_and_remembers_the_error() {
        let stats = SinkStats::new("syslog+tcp://h:514".into());
        let mut s = Streak::default();
        s.failed(&stats, "connection refused");
        s.failed(&stats, "connection refused");
        assert_eq!(stats.retries.load(Relaxed), 2);
        assert_eq!(stats.last_error().as_deref(), Some("connection refused"));
        s.succeeded(&stats);
        assert_eq!(stats.last_error(), None);
        assert_eq!(s.failures, 0);
    }
}
