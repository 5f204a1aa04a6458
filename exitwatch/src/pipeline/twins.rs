//! One exit per process: threads of a dying process that reach the exit tracepoint together
//! can each see the group already dead, and each has its own start time, so the same pid's
//! exit may arrive twice within microseconds.

use crate::numhash::NumMap;

/// Exits remembered (cleared when full: a twin comes microseconds after the first).
const MAX_REMEMBERED: usize = 65_536;
/// A pid is not reused within a second of its exit: a second exit record then is a twin.
const TWIN_WINDOW_NS: u64 = 1_000_000_000;

#[derive(Debug, Default)]
pub struct Twins {
    /// When each pid's exit was last reported (ns since boot).
    seen: NumMap<u32, u64>,
}

impl Twins {
    /// True when this exit of `pid` at `time_ns` repeats one already taken.
    pub fn repeats(&mut self, pid: u32, time_ns: u64) -> bool {
        if self.seen.len() >= MAX_REMEMBERED {
            self.seen.clear();
        }
        if let Some(&at) = self.seen.get(&pid) {
            if time_ns.saturating_sub(at) < TWIN_WINDOW_NS {
                return true;
            }
        }
        self.seen.insert(pid, time_ns);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_exit_of_a_pid_within_a_second_is_a_twin() {
        let mut t = Twins::default();
        assert!(!t.repeats(7, 1_000));
        assert!(t.repeats(7, 1_000 + 5_000));
        assert!(!t.repeats(8, 1_000 + 5_000), "another pid is not a twin");
        // The pid came back a second later: a new process that reused it.
        assert!(!t.repeats(7, 1_000 + TWIN_WINDOW_NS));
        assert!(t.repeats(7, 1_000 + TWIN_WINDOW_NS + 1));
    }

    #[test]
    fn memory_is_bounded() {
        let mut t = Twins::default();
        for pid in 0..(MAX_REMEMBERED as u32 + 10) {
            t.repeats(pid, 0);
        }
        assert!(t.seen.len() <= MAX_REMEMBERED);
    }
}
