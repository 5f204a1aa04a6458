//! The story of a death: gives every event an id, links exits to the signal or OOM kill that
//! caused them, and draws diagnoses from the sequence (pure: fed events in order).

mod diagnosis;

pub use diagnosis::{Diagnosis, DiagnosisCode, Rules};

use std::collections::VecDeque;
use std::sync::Arc;

use serde::Serialize;

use crate::event::{Event, ExitEvent, OomEvent, Proc, SignalEvent};
use crate::numhash::NumMap;
use crate::signals::{SIGHUP, SIGINT, SIGKILL, SIGQUIT, SIGTERM};
use exitwatch_common::COMM_LEN;

/// Past events remembered per target, and targets remembered.
const HISTORY_PER_TARGET: usize = 8;
const MAX_TARGETS: usize = 16_384;

/// What the exit followed from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cause {
    pub id: String,
    pub event: &'static str,
    pub signal: Option<i32>,
    pub delay_ns: u64,
}

/// An event with its place in the story.
#[derive(Clone, Debug, PartialEq)]
pub struct Annotated {
    /// `run-seq`; shared with the target's history, which later events cite.
    pub id: Arc<str>,
    pub event: Event,
    pub cause: Option<Cause>,
    pub diagnosis: Vec<Diagnosis>,
    /// The kubelet's decision behind a signal or exit (from the API server), when known.
    pub kubelet: Option<crate::kube::view::KubeletCause>,
}

/// A signal or OOM kill a target went through, as later events need it.
#[derive(Clone, Debug)]
struct Past {
    id: Arc<str>,
    time_ns: u64,
    /// Signal number, or None for an OOM kill.
    signo: Option<i32>,
    fatal: bool,
    who: Who,
}

/// Who sent a past signal, as a later diagnosis names it: kept without allocating, since
/// most are never named.
#[derive(Clone, Debug)]
enum Who {
    /// A process: its pid and comm (the kernel's, at most [`COMM_LEN`] bytes).
    Process {
        pid: u32,
        comm: [u8; COMM_LEN],
        len: u8,
    },
    OomKiller,
}

impl Who {
    fn of(p: &Proc) -> Who {
        let mut comm = [0; COMM_LEN];
        let len = p.comm.len().min(comm.len());
        comm[..len].copy_from_slice(&p.comm[..len]);
        Who::Process {
            pid: p.pid,
            comm,
            len: len as u8,
        }
    }
}

/// As [`who`] writes a process.
impl std::fmt::Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Who::Process { pid, comm, len } => write!(
                f,
                "{}({pid})",
                String::from_utf8_lossy(&comm[..usize::from(*len)])
            ),
            Who::OomKiller => f.write_str("the OOM killer"),
        }
    }
}

pub struct Story {
    run: String,
    /// Where each event's id is written before it is shared.
    scratch: String,
    /// The last sender image the sender rules found clean (a storm's sender is checked once).
    quiet: diagnosis::QuietSender,
    seq: u64,
    rules: Rules,
    history: NumMap<u32, VecDeque<Past>>,
    order: VecDeque<u32>,
}

/// Names in messages stay as the kernel gave them (lossy UTF-8): renderers escape messages.
fn who(p: &Proc) -> String {
    format!("{}({})", String::from_utf8_lossy(&p.comm), p.pid)
}

fn is_stop_request(signo: i32) -> bool {
    matches!(signo, SIGTERM | SIGINT | SIGHUP | SIGQUIT)
}

impl Story {
    /// `run` makes ids unique across restarts (e.g. the daemon's start time in hex).
    pub fn new(run: String, rules: Rules) -> Self {
        Story {
            run,
            scratch: String::new(),
            quiet: Default::default(),
            seq: 0,
            rules,
            history: NumMap::default(),
            order: VecDeque::new(),
        }
    }

    pub fn annotate(&mut self, event: Event) -> Annotated {
        self.seq += 1;
        let id = self.id(self.seq);
        let (cause, diagnosis) = match &event {
            Event::Signal(s) => (None, self.signal(&id, s)),
            Event::Oom(o) => (None, self.oom(&id, o)),
            Event::Exit(x) => (self.exit(x), Vec::new()),
            Event::Suppressed(x) => (None, diagnosis::signal_flood(x).into_iter().collect()),
            Event::Lost { .. } => (None, Vec::new()),
        };
        Annotated {
            id,
            event,
            cause,
            diagnosis,
            kubelet: None,
        }
    }

    /// `run-seq`: one allocation per event, shared by the event and its history entry.
    fn id(&mut self, seq: u64) -> Arc<str> {
        use std::fmt::Write;
        self.scratch.clear();
        let _ = write!(self.scratch, "{}-{seq}", self.run);
        Arc::from(self.scratch.as_str())
    }

    fn remember(&mut self, target: u32, past: Past) {
        if !self.history.contains_key(&target) {
            if self.order.len() == MAX_TARGETS {
                if let Some(old) = self.order.pop_front() {
                    self.history.remove(&old);
                }
            }
            self.order.push_back(target);
        }
        let h = self.history.entry(target).or_default();
        if h.len() == HISTORY_PER_TARGET {
            h.pop_front();
        }
        h.push_back(past);
    }

    fn signal(&mut self, id: &Arc<str>, s: &SignalEvent) -> Vec<Diagnosis> {
        // Diagnosed against the history before this signal joins it.
        let history = self.history.get(&s.target.pid);
        let found = [
            history.and_then(|h| diagnosis::stop_escalated(s, h, self.rules.grace_window_ns)),
            diagnosis::term_ignored_by_pid1(s),
            diagnosis::fault(s),
            diagnosis::self_signal(s),
            diagnosis::suspicious_sender_after(s, &self.rules, &mut self.quiet),
        ];
        let out = found.into_iter().flatten().collect();
        self.remember(
            s.target.pid,
            Past {
                id: Arc::clone(id),
                time_ns: s.time_ns,
                signo: Some(s.signo),
                fatal: s.fatal(),
                who: Who::of(&s.sender.actor().proc),
            },
        );
        out
    }

    fn oom(&mut self, id: &Arc<str>, o: &OomEvent) -> Vec<Diagnosis> {
        let past = Past {
            id: Arc::clone(id),
            time_ns: o.time_ns,
            signo: None,
            fatal: true,
            who: Who::OomKiller,
        };
        self.remember(o.victim.pid, past.clone());
        for p in &o.also_killed {
            self.remember(p.pid, past.clone());
        }
        diagnosis::oom(o).into_iter().collect()
    }

    fn exit(&mut self, x: &ExitEvent) -> Option<Cause> {
        let history = self.history.remove(&x.proc.pid)?;
        let killed_by = x.status.signal();
        let cause = match killed_by {
            // The last fatal event that matches the signal that killed it (OOM kills are SIGKILL).
            Some(sig) => history
                .iter()
                .rev()
                .find(|p| p.fatal && p.signo.unwrap_or(SIGKILL) == sig),
            // It exited on its own: after which stop request, if any?
            None => history
                .iter()
                .rev()
                .find(|p| p.signo.is_some_and(is_stop_request)),
        }?;
        Some(Cause {
            id: cause.id.to_string(),
            event: if cause.signo.is_some() {
                "signal"
            } else {
                "oom_kill"
            },
            signal: cause.signo.or(Some(SIGKILL)),
            delay_ns: x.time_ns.saturating_sub(cause.time_ns),
        })
    }
}

#[cfg(test)]
mod tests;
