//! Joins what the kernel reports in pieces into one story, keeping the order events happened in.
//!
//! The OOM killer sends its victim SIGKILL (SI_KERNEL), then `mark_victim` fires, then it
//! SIGKILLs every other process sharing the victim's memory. exitwatch reports that as ONE
//! `oom_kill` event: the victim's SIGKILL is absorbed, the others become `also_killed`, and the
//! kernel log's `oom-kill:` line (constraint, memory cgroup) is attached when it shows up.
//! Pure: time is passed in (nanoseconds since boot), so every rule is unit-tested.

use std::collections::VecDeque;

use crate::event::{Event, OomEvent, SignalEvent};
use crate::oom::OomContext;
use crate::signals::{SIGKILL, SI_KERNEL};

/// How long a kernel SIGKILL waits for a `mark_victim` that would explain it. The OOM killer
/// calls mark_victim right after the kill, but its record can be read much later: on a loaded
/// VM the CPU running the program can be descheduled between the record's reservation and its
/// commit, and the reader stops at an uncommitted record. 20 ms was once too short (arm64
/// under QEMU TCG: the kill printed apart from its `oom_kill`); a non-OOM kernel SIGKILL (a
/// PID namespace's init gone) is printed this much later, nothing is lost either way.
pub const PRIV_KILL_HOLD_NS: u64 = 100_000_000;
/// An OOM event waits at least this long for its companions (shared-memory kills)...
pub const OOM_MIN_HOLD_NS: u64 = 20_000_000;
/// ...and at most this long for the kernel log line.
pub const OOM_MAX_HOLD_NS: u64 = 300_000_000;
const RECENT_LOG_LINES: usize = 64;

enum Slot {
    Ready(Event),
    /// Waits for something outside the kernel (a runtime's answer about a new container):
    /// until `until`, or until the answer numbered above `ticket` arrives (`answered`).
    Wait {
        ev: Event,
        until: u64,
        ticket: u64,
    },
    KernelKill {
        ev: SignalEvent,
        until: u64,
    },
    Oom {
        ev: OomEvent,
        until: u64,
    },
}

#[derive(Default)]
pub struct Correlator {
    queue: VecDeque<Slot>,
    /// `oom-kill:` lines not yet matched to an OOM event (the log may come first).
    recent_log: VecDeque<OomContext>,
}

fn is_kernel_kill(ev: &SignalEvent) -> bool {
    ev.signo == SIGKILL && ev.code == SI_KERNEL
}

fn log_matches(ctx: &OomContext, oom: &OomEvent) -> bool {
    ctx.pid == oom.victim.tid || ctx.pid == oom.victim.pid
}

/// What one push releases: most often just the event pushed, handed on without allocating
/// (it is every event's path); otherwise what the queue gave, in order.
#[derive(Debug, Default)]
pub struct Released {
    first: Option<Event>,
    rest: Vec<Event>,
}

impl Released {
    fn one(ev: Event) -> Released {
        Released {
            first: Some(ev),
            rest: Vec::new(),
        }
    }

    fn many(rest: Vec<Event>) -> Released {
        Released { first: None, rest }
    }

    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl IntoIterator for Released {
    type Item = Event;
    type IntoIter = std::iter::Chain<std::option::IntoIter<Event>, std::vec::IntoIter<Event>>;

    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.rest)
    }
}

impl Correlator {
    pub fn push(&mut self, ev: Event, now: u64) -> Released {
        match ev {
            Event::Signal(s) if is_kernel_kill(&s) => {
                let sender_tid = s.sender.actor().proc.tid;
                let companion = self.queue.iter_mut().find_map(|slot| match slot {
                    Slot::Oom { ev, .. }
                        if ev.trigger.tid == sender_tid && ev.victim.pid != s.target.pid =>
                    {
                        Some(ev)
                    }
                    _ => None,
                });
                match companion {
                    Some(oom) => oom.also_killed.push(s.target),
                    None => self.queue.push_back(Slot::KernelKill {
                        until: s.time_ns.max(now) + PRIV_KILL_HOLD_NS,
                        ev: s,
                    }),
                }
            }
            Event::Oom(mut oom) => {
                if let Some(i) = self.recent_log.iter().position(|c| log_matches(c, &oom)) {
                    oom.context = self.recent_log.remove(i);
                }
                let until = oom.time_ns.max(now) + OOM_MAX_HOLD_NS;
                // The victim's SIGKILL is part of this story, not a separate event: the OOM kill
                // takes its place, so it stays ahead of the victim's exit even when the victim
                // (on another CPU) exited before mark_victim ran.
                let victim = oom.victim.pid;
                let at = self.queue.iter().position(
                    |slot| matches!(slot, Slot::KernelKill { ev, .. } if ev.target.pid == victim),
                );
                match at {
                    Some(i) => {
                        if let Slot::KernelKill { ev, .. } = &mut self.queue[i] {
                            // Recorded in the kernel as the kill was sent: the best account.
                            oom.victim_place = std::mem::take(&mut ev.target_place);
                        }
                        self.queue[i] = Slot::Oom { ev: oom, until };
                    }
                    None => self.queue.push_back(Slot::Oom { ev: oom, until }),
                }
            }
            // Nothing held before it: it goes at once, without queueing (the common case).
            other if self.queue.is_empty() => return Released::one(other),
            other => self.queue.push_back(Slot::Ready(other)),
        }
        Released::many(self.release(now))
    }

    /// Queues `ev` to be released at `until` at the latest (order is kept: later events wait
    /// too), or as soon as an answer numbered above `ticket` arrives.
    pub fn push_after(&mut self, ev: Event, until: u64, ticket: u64, now: u64) -> Released {
        self.queue.push_back(Slot::Wait { ev, until, ticket });
        Released::many(self.release(now))
    }

    /// Answer number `answer` arrived: events waiting for an earlier-numbered one that it
    /// `settles` need not wait any longer; the others wait on, until their deadline.
    pub fn answered(
        &mut self,
        answer: u64,
        settles: &dyn Fn(&Event) -> bool,
        now: u64,
    ) -> Vec<Event> {
        for slot in &mut self.queue {
            if let Slot::Wait { ev, until, ticket } = slot {
                if *ticket < answer && settles(ev) {
                    *until = (*until).min(now);
                }
            }
        }
        self.release(now)
    }

    /// Is an OOM kill still waiting for its kernel log line?
    pub fn waiting_for_log(&self) -> bool {
        self.queue
            .iter()
            .any(|slot| matches!(slot, Slot::Oom { ev, .. } if ev.context.is_none()))
    }

    /// Are events still waiting for an answer?
    pub fn waiting(&self) -> bool {
        self.queue
            .iter()
            .any(|slot| matches!(slot, Slot::Wait { .. }))
    }

    /// A kernel log `oom-kill:` line arrived.
    pub fn log(&mut self, ctx: OomContext, now: u64) -> Vec<Event> {
        let waiting = self.queue.iter_mut().find_map(|slot| match slot {
            Slot::Oom { ev, .. } if ev.context.is_none() && log_matches(&ctx, ev) => Some(ev),
            _ => None,
        });
        match waiting {
            Some(oom) => oom.context = Some(ctx),
            None => {
                if self.recent_log.len() == RECENT_LOG_LINES {
                    self.recent_log.pop_front();
                }
                self.recent_log.push_back(ctx);
            }
        }
        self.release(now)
    }

    /// Events whose wait is over, oldest first; an event never overtakes an earlier one.
    pub fn release(&mut self, now: u64) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some(front) = self.queue.front() {
            let ready = match front {
                Slot::Ready(_) => true,
                Slot::KernelKill { until, .. } | Slot::Wait { until, .. } => now >= *until,
                Slot::Oom { ev, until } => {
                    now >= *until || (ev.context.is_some() && now >= ev.time_ns + OOM_MIN_HOLD_NS)
                }
            };
            if !ready {
                break;
            }
            out.push(match self.queue.pop_front().expect("front exists") {
                Slot::Ready(ev) | Slot::Wait { ev, .. } => ev,
                Slot::KernelKill { ev, .. } => Event::Signal(ev),
                Slot::Oom { ev, .. } => Event::Oom(ev),
            });
        }
        out
    }

    /// When `release` may next have something to give (None: nothing is waiting).
    pub fn next_deadline(&self) -> Option<u64> {
        self.queue.iter().find_map(|slot| match slot {
            Slot::Ready(_) => None,
            Slot::KernelKill { until, .. } | Slot::Wait { until, .. } => Some(*until),
            Slot::Oom { ev, until } => Some(if ev.context.is_some() {
                ev.time_ns + OOM_MIN_HOLD_NS
            } else {
                *until
            }),
        })
    }

    /// Everything still held, in order (at shutdown).
    pub fn flush(&mut self) -> Vec<Event> {
        self.release(u64::MAX)
    }
}

#[cfg(test)]
mod tests;
