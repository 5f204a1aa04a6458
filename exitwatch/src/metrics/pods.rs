//! Per-pod counters: fatal signals and OOM kills by namespace, pod and container, for alerts
//! that name the pod. Only pods whose identity the runtime or the API confirmed are counted;
//! series of pods no longer on the node expire, so cardinality stays bounded.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::event::{Event, Place};
use crate::oom::Constraint;
use crate::role;
use crate::signals;

/// Series kept at once; past this, new series are not made (and counted).
pub const MAX_SERIES: usize = 10_000;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Signal {
        namespace: String,
        pod: String,
        container: String,
        signal: String,
        sender_role: &'static str,
    },
    Oom {
        namespace: String,
        pod: String,
        container: String,
        scope: &'static str,
        pid1: bool,
    },
}

#[derive(Clone, Debug)]
struct Series {
    count: u64,
    last: Instant,
    uid: String,
}

#[derive(Debug, Default)]
pub struct PodCounters {
    series: BTreeMap<Key, Series>,
    /// Increments not counted because [`MAX_SERIES`] series existed.
    pub overflow: u64,
}

/// The confirmed pod of a place: (uid, namespace, pod, container).
fn confirmed(place: &Place) -> Option<(String, String, String, String)> {
    let c = place.container.as_ref()?;
    let pod = c.pod.as_ref()?;
    pod.confirmed_by?;
    let container = c
        .name
        .clone()
        .unwrap_or_else(|| c.id.chars().take(12).collect());
    Some((
        pod.uid.clone(),
        pod.namespace.clone()?,
        pod.name.clone()?,
        container,
    ))
}

/// The series an event counts in, with its pod's uid; None for what is not counted per pod.
pub fn key_of(ev: &Event) -> Option<(Key, String)> {
    match ev {
        Event::Signal(s) if s.fatal() => {
            let (uid, namespace, pod, container) = confirmed(&s.target_place)?;
            let signal = signals::name(s.signo).map_or_else(|| s.signo.to_string(), str::to_owned);
            let sender_role = role::of(&s.sender).map_or("other", role::Role::as_str);
            Some((
                Key::Signal {
                    namespace,
                    pod,
                    container,
                    signal,
                    sender_role,
                },
                uid,
            ))
        }
        Event::Oom(o) => {
            let (uid, namespace, pod, container) = confirmed(&o.victim_place)?;
            let scope = match o.context.as_ref().map(|c| c.constraint) {
                Some(Constraint::Memcg) => "memcg",
                _ => "global",
            };
            Some((
                Key::Oom {
                    namespace,
                    pod,
                    container,
                    scope,
                    pid1: o.victim.ns_pid == Some(1),
                },
                uid,
            ))
        }
        _ => None,
    }
}

impl PodCounters {
    pub fn count(&mut self, ev: &Event, now: Instant) {
        let Some((key, uid)) = key_of(ev) else {
            return;
        };
        if !self.series.contains_key(&key) && self.series.len() >= MAX_SERIES {
            self.overflow += 1;
            return;
        }
        let s = self.series.entry(key).or_insert(Series {
            count: 0,
            last: now,
            uid,
        });
        s.count += 1;
        s.last = now;
    }

    /// Forgets the series of pods not `live` whose last change is older than `ttl`.
    pub fn expire(&mut self, now: Instant, ttl: Duration, live: impl Fn(&str) -> bool) {
        self.series
            .retain(|_, s| live(&s.uid) || now.saturating_duration_since(s.last) < ttl);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, u64)> {
        self.series.iter().map(|(k, s)| (k, s.count))
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

#[cfg(test)]
mod tests;
