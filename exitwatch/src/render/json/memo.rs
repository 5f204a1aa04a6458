//! JSON kept for reuse: most of a signal line is the same in every signal of one sender to one
//! target (the sender with its argv and ancestry, the target with its container), and escaping
//! and formatting it again per signal was most of the daemon's time per line.
//!
//! Every kept rendering is keyed by process and checked against the very values it was made
//! from before it is used, so an event whose values differ (a redacted argv, a reused pid, a
//! container named since, a stepped clock) renders from its own values, never a stale copy.
//! Bounded: two generations, the older dropped whole when the newer is full (in entries or
//! bytes); what is still in use is carried over as it is met.

use crate::numhash::NumMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::value::RawValue;

use super::lineage::{Lineage, LineageKey, LineageSource};
use super::signal::{SenderJson, SignalJson};
use crate::event::{Actor, Place, Proc, SignalEvent, Via};
use crate::render::limit::Shorten;
use crate::render::Context;
use crate::signals::{Disposition, SignalResult};

/// Renderings kept per memo and generation, and their bytes (rendering and source): two
/// generations are kept, so about twice this (a generation may pass its bytes by one entry).
const MAX_ENTRIES: usize = 512;
const MAX_BYTES: usize = 1 << 20;

/// The renderings kept, by what they render. Clones start empty: a memo is a cache, not state.
#[derive(Default)]
pub struct Memo {
    /// A process image's argv, executable, parent and ancestry (shared by its threads).
    pub(super) lineages: Mutex<Generations<LineageKey, LineageSource, Arc<Lineage>>>,
    senders: Mutex<Generations<SenderKey, (Actor, i128), Kept>>,
    targets: Mutex<Generations<TargetKey, (Proc, Place, i128), Kept>>,
    signals: Mutex<Generations<SignalKey, (), Kept>>,
}

/// A signal object's values (but a fault address, which each fault has its own of): the key
/// is all it is made from.
type SignalKey = (
    i32,
    i32,
    SignalResult,
    bool,
    bool,
    Option<Disposition>,
    Option<Via>,
);

/// A process sender, whole: (pid, tid, start time, shortening step); kept with its actor and
/// the boot epoch it was rendered with.
type SenderKey = (u32, u32, u64, Shorten);
/// A signal's target with its place: (pid, tid, start time); kept with its process, place and
/// the boot epoch.
type TargetKey = (u32, u32, u64);

impl Clone for Memo {
    fn clone(&self) -> Self {
        Memo::default()
    }
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (lineages, senders, targets, signals) = self.len();
        write!(
            f,
            "Memo({lineages} lineages, {senders} senders, {targets} targets, {signals} signals)"
        )
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Memo {
    /// A process sender's object (`kind` to `context`) at step `s`, rendered now or earlier from
    /// the same values.
    pub(super) fn sender(&self, ctx: &Context, a: &Actor, s: Shorten) -> serde_json::Result<Kept> {
        let key = (a.proc.pid, a.proc.tid, a.proc.start_ns, s);
        let epoch = ctx.boot_epoch_ns;
        lock(&self.senders).get_or_make(
            key,
            |(was, at)| *at == epoch && was == a,
            || {
                let value = Kept::of(&SenderJson::process(ctx, a, s)?)?;
                let bytes = value.len() + actor_bytes(a);
                Ok(((a.clone(), epoch), value, bytes))
            },
        )
    }

    /// A signal target's object (the process, its container and namespaces).
    pub(super) fn target(
        &self,
        ctx: &Context,
        p: &Proc,
        place: &Place,
    ) -> serde_json::Result<Kept> {
        let key = (p.pid, p.tid, p.start_ns);
        let epoch = ctx.boot_epoch_ns;
        lock(&self.targets).get_or_make(
            key,
            |(was, where_, at)| *at == epoch && was == p && where_ == place,
            || {
                let value = Kept::of(&super::process::placed(ctx, p, place))?;
                let bytes = value.len() + p.comm.len() + place_bytes(place) + 128;
                Ok(((p.clone(), place.clone(), epoch), value, bytes))
            },
        )
    }

    /// A signal's object (number, names, code, outcome) without a fault address.
    pub(super) fn signal(&self, ev: &SignalEvent) -> serde_json::Result<Kept> {
        debug_assert!(ev.fault_addr.is_none(), "a fault's address is its own");
        let key = (
            ev.signo,
            ev.code,
            ev.result,
            ev.fatal(),
            ev.group,
            ev.disposition,
            ev.via,
        );
        lock(&self.signals).get_or_make(
            key,
            |()| true,
            || {
                let value = Kept::of(&SignalJson::of(ev))?;
                let bytes = value.len() + 64;
                Ok(((), value, bytes))
            },
        )
    }

    /// Renderings held (lineages, senders, targets, signals), both generations. One lock at
    /// a time: a sender is rendered with its memo locked and then locks the lineages'.
    pub(super) fn len(&self) -> (usize, usize, usize, usize) {
        let lineages = lock(&self.lineages).len();
        let senders = lock(&self.senders).len();
        let targets = lock(&self.targets).len();
        let signals = lock(&self.signals).len();
        (lineages, senders, targets, signals)
    }
}

/// A value of a line: kept from an earlier line, or rendered for this one.
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum Splice<T> {
    Kept(Kept),
    Fresh(T),
}

/// A rendered JSON value, spliced into a line as it is (exitwatch's lines are compact JSON,
/// as `serde_json::value::to_raw_value` writes it).
#[derive(Clone)]
pub(super) struct Kept(Arc<RawValue>);

impl Kept {
    fn of(value: &impl Serialize) -> serde_json::Result<Kept> {
        Ok(Kept(Arc::from(serde_json::value::to_raw_value(value)?)))
    }

    fn len(&self) -> usize {
        self.0.get().len()
    }
}

impl Serialize for Kept {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (*self.0).serialize(s)
    }
}

/// About what an actor's values take (the bound of a memo that keeps them).
pub(super) fn actor_bytes(a: &Actor) -> usize {
    LineageSource::bytes_of(&a.args, a.exe.as_deref(), &a.ancestry)
        + a.proc.comm.len()
        + place_bytes(&a.place)
        + 256
}

/// About what a place's values take.
fn place_bytes(p: &Place) -> usize {
    let paths = [&p.cgroup, &p.memcg]
        .into_iter()
        .flatten()
        .map(|c| c.path.len() + 32)
        .sum::<usize>();
    // A container's id, cgroup path, names and pod, as the runtime and the path give them.
    let container = p.container.as_ref().map_or(0, |c| c.cgroup.len() + 512);
    paths + container
}

/// One memo: two generations of entries, each kept with the source it was made from.
pub(super) struct Generations<K, S, V> {
    current: NumMap<K, Entry<S, V>>,
    current_bytes: usize,
    previous: NumMap<K, Entry<S, V>>,
}

struct Entry<S, V> {
    source: S,
    value: V,
    bytes: usize,
}

impl<K, S, V> Default for Generations<K, S, V> {
    fn default() -> Self {
        Generations {
            current: NumMap::default(),
            current_bytes: 0,
            previous: NumMap::default(),
        }
    }
}

impl<K: Hash + Eq, S, V: Clone> Generations<K, S, V> {
    /// The value kept for `key` when `fresh` says it was made from this event's values;
    /// otherwise `make`s (source, value, bytes) now and keeps it.
    pub(super) fn get_or_make(
        &mut self,
        key: K,
        fresh: impl Fn(&S) -> bool,
        make: impl FnOnce() -> serde_json::Result<(S, V, usize)>,
    ) -> serde_json::Result<V> {
        if let Some(e) = self.current.get(&key) {
            if fresh(&e.source) {
                return Ok(e.value.clone());
            }
        }
        let entry = match self.previous.remove(&key) {
            Some(e) if fresh(&e.source) => e,
            _ => {
                let (source, value, bytes) = make()?;
                Entry {
                    source,
                    value,
                    bytes,
                }
            }
        };
        let value = entry.value.clone();
        self.keep(key, entry);
        Ok(value)
    }

    fn keep(&mut self, key: K, entry: Entry<S, V>) {
        if self.current.len() >= MAX_ENTRIES || self.current_bytes + entry.bytes > MAX_BYTES {
            self.previous = std::mem::take(&mut self.current);
            self.current_bytes = 0;
        }
        self.current_bytes += entry.bytes;
        if let Some(old) = self.current.insert(key, entry) {
            self.current_bytes -= old.bytes;
        }
    }

    pub(super) fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}
