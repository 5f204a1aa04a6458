//! Exact accounting, everywhere: each scenario's signals sent against what exitwatch said
//! became of them (printed, suppressed by a budget, lost by the kernel, dropped by an output),
//! per class; kept for the report instead of stopping the bench at the first mismatch.

use std::sync::Mutex;

use super::counter::Counts;

/// One scenario's books for one class of signals (fatal, non-fatal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub scenario: String,
    pub class: &'static str,
    pub sent: u64,
    pub received: u64,
    pub suppressed: u64,
    pub lost: u64,
    pub dropped: u64,
}

impl Entry {
    pub fn exact(&self) -> bool {
        self.sent == self.received + self.suppressed + self.lost + self.dropped
    }
}

static BOOKS: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// Books `sent` signals of `class` against `counts` (a scenario whose signals are all of that
/// class); says on stderr when they do not add up.
pub fn book(scenario: &str, class: &'static str, sent: u64, counts: &Counts) -> Entry {
    let (received, suppressed, lost) = match class {
        // A fatal signal's repeats (already pending, as to a process that blocks it) travel
        // with the non-fatal noise, in its ring and within its sender's budget: the scenario
        // watches one victim and one signal, so every loss and suppression is its own.
        "fatal" => (
            counts.fatal,
            counts.suppressed,
            counts.lost_class("fatal") + counts.lost_class("nonfatal"),
        ),
        _ => (
            counts.signals - counts.fatal,
            counts.suppressed,
            counts.lost_class("nonfatal"),
        ),
    };
    record(Entry {
        scenario: scenario.to_owned(),
        class,
        sent,
        received,
        suppressed,
        lost,
        dropped: counts.dropped,
    })
}

pub fn record(entry: Entry) -> Entry {
    if !entry.exact() {
        eprintln!(
            "bench: ACCOUNTING NOT EXACT in {} ({}): {} sent, but {} printed + {} suppressed + {} \
             lost in the kernel + {} dropped by an output",
            entry.scenario,
            entry.class,
            entry.sent,
            entry.received,
            entry.suppressed,
            entry.lost,
            entry.dropped
        );
    }
    BOOKS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(entry.clone());
    entry
}

/// Everything booked so far.
pub fn all() -> Vec<Entry> {
    BOOKS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn books_by_class() {
        let counts = Counts {
            signals: 10,
            fatal: 4,
            suppressed: 90,
            lost_by: [1, 2, 0, 0],
            ..Counts::default()
        };
        let nonfatal = book("t", "nonfatal", 98, &counts);
        assert_eq!(
            (nonfatal.received, nonfatal.suppressed, nonfatal.lost),
            (6, 90, 2)
        );
        assert!(nonfatal.exact());
        let fatal = book("t", "fatal", 6, &counts);
        assert!(!fatal.exact());
    }
}
