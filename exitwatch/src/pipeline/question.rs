//! What the user asked: the processes to wait for (`--pid`), how many signals (`--count`),
//! and the receiving side (`--container`, `--pod`, `--namespace`). Decides which events answer
//! it and when it is answered.

use std::collections::BTreeMap;

use crate::container::watch::{Decision, Filter};
use crate::enrich::World;
use crate::event::Event;
use crate::procs::Watched;

pub struct Question {
    /// Watched processes that have not exited yet.
    pub pending: BTreeMap<u32, Watched>,
    pub count: Option<u64>,
    pub receivers: Filter,
}

/// The question and how far it is answered.
pub(super) struct Progress {
    question: Question,
    /// `--pid` was given: done once every watched process ended.
    watching: bool,
    signals_seen: u64,
}

impl Progress {
    pub fn new(question: Question) -> Self {
        Progress {
            watching: !question.pending.is_empty(),
            question,
            signals_seen: 0,
        }
    }

    /// True once the question is answered: every watched process ended, or the count.
    pub fn done(&self) -> bool {
        (self.watching && self.question.pending.is_empty())
            || self.question.count.is_some_and(|n| self.signals_seen >= n)
    }

    pub fn is_pending(&self, pid: u32) -> bool {
        self.question.pending.contains_key(&pid)
    }

    /// A watched process that will never be reported (it ended before exitwatch attached).
    pub fn forget(&mut self, pid: u32) {
        self.question.pending.remove(&pid);
    }

    /// Takes an event that was emitted into account.
    pub fn answered_by(&mut self, ev: &Event) {
        match ev {
            Event::Signal(_) => self.signals_seen += 1,
            Event::Exit(x) => {
                self.question.pending.remove(&x.proc.pid);
            }
            Event::Oom(_) | Event::Lost { .. } | Event::Suppressed(_) => {}
        }
    }

    pub fn filters_receivers(&self) -> bool {
        !self.question.receivers.is_empty()
    }

    /// Is the event about a receiver the user asked for? The kernel filters by cgroup id and
    /// passes on what it cannot decide (a container started since the last scan); this
    /// decides by container identity (ids of different hierarchies may coincide). None:
    /// undecided, the runtime has not named the container yet.
    pub fn wanted(&self, ev: &Event, world: &impl World) -> Option<bool> {
        if self.question.receivers.is_empty() {
            return Some(true);
        }
        let Some(place) = ev.receiving_place() else {
            return Some(true);
        };
        let Some(c) = &place.container else {
            return Some(false);
        };
        match self
            .question
            .receivers
            .decide(&c.cgroup, &world.container(&c.id))
        {
            Decision::Watch(_) => Some(true),
            Decision::Ignore => Some(false),
            Decision::Undecided => None,
        }
    }
}
