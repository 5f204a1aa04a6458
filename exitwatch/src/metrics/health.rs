//! `/healthz`'s verdict: the kernel programs are attached, the reader loop turned recently
//! (it turns at least once a second), and (see `Metrics::healthy`) not every output is failing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// How long the reader loop may go without turning; it turns at least once a second.
pub const MAX_IDLE: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct Health {
    epoch: Instant,
    attached: AtomicBool,
    stopping: AtomicBool,
    /// Milliseconds after `epoch` of the reader loop's last turn.
    last_turn_ms: AtomicU64,
    /// Every output failing for this long (ms) is unhealthy (`--unhealthy-after`).
    unhealthy_after_ms: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            epoch: Instant::now(),
            attached: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            last_turn_ms: AtomicU64::new(0),
            unhealthy_after_ms: AtomicU64::new(300_000),
        }
    }
}

impl Health {
    pub fn set_attached(&self) {
        self.attached.store(true, Relaxed);
    }

    pub fn attached(&self) -> bool {
        self.attached.load(Relaxed)
    }

    pub fn set_unhealthy_after(&self, d: Duration) {
        self.unhealthy_after_ms
            .store(d.as_millis().min(u128::from(u64::MAX)) as u64, Relaxed);
    }

    pub fn unhealthy_after(&self) -> Duration {
        Duration::from_millis(self.unhealthy_after_ms.load(Relaxed))
    }

    pub fn set_stopping(&self) {
        self.stopping.store(true, Relaxed);
    }

    /// The reader loop turned at `now`.
    pub fn turn(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.epoch).as_millis() as u64;
        self.last_turn_ms.store(ms, Relaxed);
    }

    /// Ok when healthy at `now`, else why not.
    pub fn check(&self, now: Instant, max_idle: Duration) -> Result<(), String> {
        if self.stopping.load(Relaxed) {
            return Err("exitwatch is shutting down".into());
        }
        if !self.attached() {
            return Err("the kernel programs are not attached yet".into());
        }
        let last = self.epoch + Duration::from_millis(self.last_turn_ms.load(Relaxed));
        let idle = now.saturating_duration_since(last);
        if idle > max_idle {
            return Err(format!(
                "the event reader has not run for {} s (the limit is {} s)",
                idle.as_secs(),
                max_idle.as_secs()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_only_once_attached_and_while_the_reader_turns() {
        let h = Health::default();
        let t0 = Instant::now();
        assert!(h.check(t0, MAX_IDLE).unwrap_err().contains("not attached"));
        h.set_attached();
        h.turn(t0);
        assert_eq!(h.check(t0 + Duration::from_secs(9), MAX_IDLE), Ok(()));
        let stale = h.check(t0 + Duration::from_secs(12), MAX_IDLE).unwrap_err();
        assert!(stale.contains("has not run for 1"), "{stale}");
        h.turn(t0 + Duration::from_secs(12));
        assert_eq!(h.check(t0 + Duration::from_secs(12), MAX_IDLE), Ok(()));
        h.set_stopping();
        assert!(h.check(t0, MAX_IDLE).unwrap_err().contains("shutting down"));
    }
}
