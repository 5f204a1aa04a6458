//! The facts every stage asks of an event (its kind, time, severity, places, containers,
//! argv), answered in one place so that no stage matches on the variants to find them.

use super::{Event, Place, SignalEvent};

/// What an event is about, as the machine formats and the syslog MSGID name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Signal,
    Exit,
    Oom,
    Lost,
    Suppressed,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Signal => "signal",
            Kind::Exit => "exit",
            Kind::Oom => "oom",
            Kind::Lost => "lost",
            Kind::Suppressed => "suppressed",
        }
    }
}

/// Syslog severities (RFC 5424) exitwatch uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Severity {
    Warning = 4,
    Notice = 5,
    Informational = 6,
}

/// The facts every stage asks of an event, in one place: no stage matches on the variants to
/// find the places, the time, the containers or the severity.
impl Event {
    pub fn kind(&self) -> Kind {
        match self {
            Event::Signal(_) => Kind::Signal,
            Event::Exit(_) => Kind::Exit,
            Event::Oom(_) => Kind::Oom,
            Event::Lost { .. } => Kind::Lost,
            Event::Suppressed(_) => Kind::Suppressed,
        }
    }

    /// When it happened, in nanoseconds since boot; a lost-records report has no such time
    /// (it is made when the loss is noticed).
    pub fn time_ns(&self) -> Option<u64> {
        match self {
            Event::Signal(s) => Some(s.time_ns),
            Event::Exit(x) => Some(x.time_ns),
            Event::Oom(o) => Some(o.time_ns),
            Event::Lost { .. } | Event::Suppressed(_) => None,
        }
    }

    /// Kills and losses are warnings, other signals notices, exits informational.
    pub fn severity(&self) -> Severity {
        match self {
            Event::Signal(s) if s.fatal() => Severity::Warning,
            Event::Oom(_) | Event::Lost { .. } | Event::Suppressed(_) => Severity::Warning,
            Event::Signal(_) => Severity::Notice,
            Event::Exit(_) => Severity::Informational,
        }
    }

    /// Every place the event names: a signal's sender (or the kernel's context task) then its
    /// target; the process that exited; the OOM victim. (At most two: no allocation, since
    /// every event is asked.)
    pub fn places(&self) -> impl Iterator<Item = &Place> {
        let places = match self {
            Event::Signal(s) => [Some(&s.sender.actor().place), Some(&s.target_place)],
            Event::Exit(x) => [Some(&x.place), None],
            Event::Oom(o) => [Some(&o.victim_place), None],
            Event::Lost { .. } | Event::Suppressed(_) => [None, None],
        };
        places.into_iter().flatten()
    }

    pub fn places_mut(&mut self) -> impl Iterator<Item = &mut Place> {
        let places = match self {
            Event::Signal(s) => {
                let SignalEvent {
                    sender,
                    target_place,
                    ..
                } = s;
                [Some(&mut sender.actor_mut().place), Some(target_place)]
            }
            Event::Exit(x) => [Some(&mut x.place), None],
            Event::Oom(o) => [Some(&mut o.victim_place), None],
            Event::Lost { .. } | Event::Suppressed(_) => [None, None],
        };
        places.into_iter().flatten()
    }

    /// Where the receiving side lived (the signal's target, the process that exited, the OOM
    /// victim): what `--container`/`--pod`/`--namespace` select on.
    pub fn receiving_place(&self) -> Option<&Place> {
        match self {
            Event::Signal(s) => Some(&s.target_place),
            Event::Exit(x) => Some(&x.place),
            Event::Oom(o) => Some(&o.victim_place),
            Event::Lost { .. } | Event::Suppressed(_) => None,
        }
    }

    /// The ids of the containers the event names.
    pub fn container_ids(&self) -> impl Iterator<Item = &str> {
        self.places()
            .filter_map(|p| p.container.as_ref().map(|c| c.id.as_str()))
    }

    /// The argv the event carries, if any: the sender's (or the kernel's context task's) and
    /// the OOM victim's.
    pub fn args(&self) -> Option<&[Vec<u8>]> {
        match self {
            Event::Signal(s) => Some(&s.sender.actor().args),
            Event::Oom(o) => Some(&o.victim_args),
            Event::Exit(_) | Event::Lost { .. } | Event::Suppressed(_) => None,
        }
    }

    /// Replaces the argv the event carries (see [`Event::args`]); a sender's shared argv is
    /// replaced, not written through.
    pub fn set_args(&mut self, args: Vec<Vec<u8>>) {
        match self {
            Event::Signal(s) => s.sender.actor_mut().args = std::sync::Arc::new(args),
            Event::Oom(o) => o.victim_args = args,
            Event::Exit(_) | Event::Lost { .. } | Event::Suppressed(_) => {}
        }
    }
}
