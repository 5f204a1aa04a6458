//! Bursts, for the text format: many signals from one sender into one container or cgroup (a
//! `cgroup.kill`, a `pkill -9 -u bob`), and the exits that follow, told in one summary each.
//! Pure: time is passed in. The machine formats never come here: they keep one object per event.
//!
//! A burst is held while it grows and goes out when it ends: no member for [`WINDOW_NS`], its
//! first event [`MAX_SPAN_NS`] old, too many bursts open, or shutdown. Under [`MIN_SUMMARY`]
//! members its events print one by one, as ever. What goes out keeps the order of the bursts'
//! first events; losses and suppressions (reports about the feed, not events) go at once, and
//! an OOM kill first lets out what is open so the story reads in order.

use std::collections::VecDeque;

use crate::event::{Event, Kind, Place};
use crate::signals::{Disposition, SignalResult};
use crate::story::{Annotated, Diagnosis};

/// A burst ends when no member arrives for this long (by event time and by arrival).
pub const WINDOW_NS: u64 = 100_000_000;
/// ...and at the latest this long after its first event, so a steady stream is never held long.
pub const MAX_SPAN_NS: u64 = 2_000_000_000;
/// Bursts of fewer events print event by event.
pub const MIN_SUMMARY: u64 = 3;
/// Bursts held at once (signals and the exits they cause, a pod's containers): past this, the
/// oldest goes out. Each holds at most two events, so the stage never holds more than 16.
pub const MAX_OPEN: usize = 8;

/// What belongs together. Signals: one sender, one signal, one outcome (result and
/// disposition), one receiving container (or cgroup). Exits: one wait status, one container.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Key {
    Signal {
        sender: u32,
        kernel: bool,
        signo: i32,
        result: SignalResult,
        disposition: Option<Disposition>,
        place: Option<String>,
    },
    Exit {
        status: u32,
        place: Option<String>,
    },
}

/// The container's id, else the cgroup's path: what "one container" means on the host too.
fn place_key(p: &Place) -> Option<String> {
    match (&p.container, &p.cgroup) {
        (Some(c), _) => Some(c.id.clone()),
        (None, Some(cg)) => Some(cg.path.to_string()),
        (None, None) => None,
    }
}

fn key_of(ev: &Event) -> Option<Key> {
    match ev {
        Event::Signal(s) => Some(Key::Signal {
            sender: s.sender.actor().proc.pid,
            kernel: matches!(s.sender, crate::event::Sender::Kernel { .. }),
            signo: s.signo,
            result: s.result,
            disposition: s.disposition,
            place: place_key(&s.target_place),
        }),
        Event::Exit(x) => Some(Key::Exit {
            status: x.status.raw(),
            place: place_key(&x.place),
        }),
        Event::Oom(_) | Event::Lost { .. } | Event::Suppressed(_) => None,
    }
}

/// What goes out, in order.
#[derive(Debug, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "moved once from the stage to the renderer; a Box would allocate for every event"
)]
pub enum Out {
    /// An event on its own, rendered as ever.
    One(Annotated),
    /// [`MIN_SUMMARY`] or more events of one burst.
    Burst(Burst),
}

/// A summarised burst: its first and last events, how many, and what was said of them.
#[derive(Debug, PartialEq)]
pub struct Burst {
    pub first: Annotated,
    pub last: Annotated,
    pub count: u64,
    /// Each diagnosis code once: the first message drawn with it, and on how many events.
    pub diagnoses: Vec<(Diagnosis, u64)>,
    /// Exits: how many had a cause, and the shortest and longest delay after it.
    pub caused: u64,
    pub delays: Option<(u64, u64)>,
}

struct Open {
    key: Key,
    /// The first event and, once there are two or more, the latest.
    held: Vec<Annotated>,
    count: u64,
    first_ns: u64,
    last_ns: u64,
    /// When it ends if nothing joins (arrival time).
    deadline: u64,
    /// A later event of the same key started a burst of its own.
    closed: bool,
    diagnoses: Vec<(Diagnosis, u64)>,
    caused: u64,
    delays: Option<(u64, u64)>,
}

impl Open {
    fn new(key: Key, a: Annotated, t: u64, now: u64) -> Open {
        let mut open = Open {
            key,
            held: Vec::with_capacity(2),
            count: 0,
            first_ns: t,
            last_ns: t,
            deadline: now,
            closed: false,
            diagnoses: Vec::new(),
            caused: 0,
            delays: None,
        };
        open.join(a, t, now);
        open
    }

    fn accepts(&self, t: u64, now: u64) -> bool {
        !self.closed
            && now < self.deadline
            && t.saturating_sub(self.last_ns) <= WINDOW_NS
            && t.saturating_sub(self.first_ns) <= MAX_SPAN_NS
    }

    fn join(&mut self, a: Annotated, t: u64, now: u64) {
        self.count += 1;
        self.last_ns = self.last_ns.max(t);
        self.deadline = now.saturating_add(WINDOW_NS);
        for d in &a.diagnosis {
            match self
                .diagnoses
                .iter_mut()
                .find(|(seen, _)| seen.code == d.code)
            {
                Some((_, n)) => *n += 1,
                None => self.diagnoses.push((d.clone(), 1)),
            }
        }
        if let Some(c) = &a.cause {
            self.caused += 1;
            let (lo, hi) = self.delays.unwrap_or((c.delay_ns, c.delay_ns));
            self.delays = Some((lo.min(c.delay_ns), hi.max(c.delay_ns)));
        }
        // Under MIN_SUMMARY every event is kept, to print as ever; from then on the first and
        // the latest.
        if self.count == MIN_SUMMARY {
            self.held.truncate(1);
        }
        if self.count <= MIN_SUMMARY {
            self.held.push(a);
        } else {
            *self.held.last_mut().expect("first and latest") = a;
        }
    }

    fn out(self) -> Vec<Out> {
        if self.count < MIN_SUMMARY {
            return self.held.into_iter().map(Out::One).collect();
        }
        let mut held = self.held.into_iter();
        let first = held.next().expect("a burst has a first event");
        let last = held.next().expect("a summarised burst has a last event");
        vec![Out::Burst(Burst {
            first,
            last,
            count: self.count,
            diagnoses: self.diagnoses,
            caused: self.caused,
            delays: self.delays,
        })]
    }
}

/// The bursts being held, oldest first.
#[derive(Default)]
pub struct Bursts {
    open: VecDeque<Open>,
}

impl Bursts {
    /// An event that arrived at `now` (ns since boot): what may go out now, in order.
    pub fn take(&mut self, a: Annotated, now: u64) -> Vec<Out> {
        let (Some(key), Some(t)) = (key_of(&a.event), a.event.time_ns()) else {
            if matches!(a.event.kind(), Kind::Lost | Kind::Suppressed) {
                return vec![Out::One(a)];
            }
            let mut out = self.finish();
            out.push(Out::One(a));
            return out;
        };
        let mut out = Vec::new();
        match self.open.iter_mut().find(|b| !b.closed && b.key == key) {
            Some(b) if b.accepts(t, now) => b.join(a, t, now),
            found => {
                if let Some(b) = found {
                    b.closed = true;
                }
                self.open.push_back(Open::new(key, a, t, now));
                if self.open.len() > MAX_OPEN {
                    out.extend(self.open.pop_front().map(Open::out).unwrap_or_default());
                }
            }
        }
        out.extend(self.tick(now));
        out
    }

    /// Time passed: the bursts that ended go out, oldest first (a later one that ended waits
    /// for the older ones, so summaries keep the order of their first events).
    pub fn tick(&mut self, now: u64) -> Vec<Out> {
        let mut out = Vec::new();
        while let Some(b) = self.open.front() {
            if !b.closed && now < b.deadline {
                break;
            }
            out.extend(self.open.pop_front().map(Open::out).unwrap_or_default());
        }
        out
    }

    /// When `tick` may next have something to let out.
    pub fn next_deadline(&self) -> Option<u64> {
        self.open.front().map(|b| b.deadline)
    }

    /// Everything held, in order (at shutdown, or before an event that must not wait).
    pub fn finish(&mut self) -> Vec<Out> {
        self.open.drain(..).flat_map(Open::out).collect()
    }
}

#[cfg(test)]
mod tests;
