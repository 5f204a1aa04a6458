//! A process image's argv, executable, parent and ancestry, rendered as JSON once and reused.
//!
//! They are the same in every event of one image and are most of a signal line's bytes: a
//! sender's storm re-escaped its whole argv and ancestry, and formatted every ancestor's start
//! time, per signal (a third of the daemon's time per line). The memo is keyed by process image
//! and shortening step and checked against the very values it was made from, so an event whose
//! argv was redacted, or a pid reused, renders from its own values, never a stale copy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::value::RawValue;

use super::process::{AncestorJson, ParentJson};
use crate::escape::json_string;
use crate::event::{Actor, Ancestor};
use crate::render::limit::Shorten;
use crate::render::Context;

/// Images remembered per generation, and bytes (source and rendering) per generation: two
/// generations are kept, so about twice this (a generation may pass its bytes by one entry).
const MAX_IMAGES: usize = 512;
const MAX_BYTES: usize = 1 << 20;

/// The rendered values, in the order the actor's fields use them.
pub(super) struct Lineage {
    pub(super) args: Box<RawValue>,
    /// argv was cut by the shortening step (the kernel's own cut is the actor's).
    pub(super) args_cut: bool,
    pub(super) exe: Option<Box<RawValue>>,
    pub(super) parent: Option<Box<RawValue>>,
    pub(super) ancestry: Box<RawValue>,
    pub(super) ancestry_cut: bool,
}

/// One rendered value of a lineage, serialised in its place among the actor's fields.
pub(super) struct Part(
    pub(super) Arc<Lineage>,
    pub(super) fn(&Lineage) -> Option<&RawValue>,
);

impl Serialize for Part {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.1)(&self.0).serialize(s)
    }
}

/// What a lineage was rendered from: compared before one is reused (the same shared argv and
/// ancestry as the assembler's identity, in the common case; equal values otherwise).
struct Source {
    args: Arc<Vec<Vec<u8>>>,
    exe: Option<Vec<u8>>,
    ancestry: Arc<Vec<Ancestor>>,
    boot_epoch_ns: i128,
}

impl Source {
    fn is(&self, a: &Actor, boot_epoch_ns: i128) -> bool {
        fn same<T: PartialEq>(x: &Arc<T>, y: &Arc<T>) -> bool {
            Arc::ptr_eq(x, y) || x == y
        }
        self.boot_epoch_ns == boot_epoch_ns
            && same(&self.args, &a.args)
            && self.exe == a.exe
            && same(&self.ancestry, &a.ancestry)
    }
}

struct Entry {
    source: Source,
    lineage: Arc<Lineage>,
    bytes: usize,
}

type Key = (u32, u64, Shorten);

#[derive(Default)]
struct Generations {
    current: HashMap<Key, Entry>,
    current_bytes: usize,
    previous: HashMap<Key, Entry>,
}

/// The memo: two generations, the older dropped whole when the newer is full (bounded in
/// entries and bytes, and what is still in use is carried over as it is met).
#[derive(Default)]
pub struct Lineages(Mutex<Generations>);

impl Lineages {
    /// The lineage of `a` at step `s`, rendered now or earlier from the same values.
    pub(super) fn of(
        &self,
        ctx: &Context,
        a: &Actor,
        s: Shorten,
    ) -> serde_json::Result<Arc<Lineage>> {
        let key = (a.proc.pid, a.proc.start_ns, s);
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = g.current.get(&key) {
            if e.source.is(a, ctx.boot_epoch_ns) {
                return Ok(e.lineage.clone());
            }
        }
        let entry = match g.previous.remove(&key) {
            Some(e) if e.source.is(a, ctx.boot_epoch_ns) => e,
            _ => render(ctx, a, s)?,
        };
        let lineage = entry.lineage.clone();
        g.keep(key, entry);
        Ok(lineage)
    }

    /// Entries held (both generations), for tests.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        let g = self.0.lock().unwrap();
        g.current.len() + g.previous.len()
    }
}

impl Generations {
    fn keep(&mut self, key: Key, entry: Entry) {
        if self.current.len() >= MAX_IMAGES || self.current_bytes + entry.bytes > MAX_BYTES {
            self.previous = std::mem::take(&mut self.current);
            self.current_bytes = 0;
        }
        self.current_bytes += entry.bytes;
        if let Some(old) = self.current.insert(key, entry) {
            self.current_bytes -= old.bytes;
        }
    }
}

/// Clones start empty: a memo is a cache, not state.
impl Clone for Lineages {
    fn clone(&self) -> Self {
        Lineages::default()
    }
}

impl std::fmt::Debug for Lineages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        write!(f, "Lineages({} + {})", g.current.len(), g.previous.len())
    }
}

fn render(ctx: &Context, a: &Actor, s: Shorten) -> serde_json::Result<Entry> {
    let (args, args_cut) = s.args(&a.args);
    let (ancestry, ancestry_cut) = s.ancestry(&a.ancestry);
    let ancestry: Vec<AncestorJson> = ancestry.iter().map(|x| AncestorJson::of(ctx, x)).collect();
    let parent = a.parent().map(|p| ParentJson {
        pid: p.pid,
        comm: json_string(&p.comm),
    });
    let lineage = Lineage {
        args: serde_json::value::to_raw_value(&args)?,
        args_cut,
        exe: a
            .exe
            .as_deref()
            .map(|e| serde_json::value::to_raw_value(&json_string(e)))
            .transpose()?,
        parent: parent
            .map(|p| serde_json::value::to_raw_value(&p))
            .transpose()?,
        ancestry: serde_json::value::to_raw_value(&ancestry)?,
        ancestry_cut,
    };
    let source = Source {
        args: Arc::clone(&a.args),
        exe: a.exe.clone(),
        ancestry: Arc::clone(&a.ancestry),
        boot_epoch_ns: ctx.boot_epoch_ns,
    };
    let rendered = [
        Some(&lineage.args),
        lineage.exe.as_ref(),
        lineage.parent.as_ref(),
        Some(&lineage.ancestry),
    ]
    .into_iter()
    .flatten()
    .map(|r| r.get().len())
    .sum::<usize>();
    let bytes = rendered
        + source.args.iter().map(|x| x.len() + 24).sum::<usize>()
        + source.exe.as_ref().map_or(0, Vec::len)
        + source
            .ancestry
            .iter()
            .map(|x| x.comm.len() + 48)
            .sum::<usize>()
        + 256;
    Ok(Entry {
        source,
        lineage: Arc::new(lineage),
        bytes,
    })
}
