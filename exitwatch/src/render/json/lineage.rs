//! A process image's argv, executable, parent and ancestry, rendered as JSON once and reused.
//!
//! They are the same in every event of one image and are most of a signal line's bytes: a
//! sender's storm re-escaped its whole argv and ancestry, and formatted every ancestor's start
//! time, per signal (a third of the daemon's time per line). The memo is keyed by process image
//! and shortening step and checked against the very values it was made from, so an event whose
//! argv was redacted, or a pid reused, renders from its own values, never a stale copy.

use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;

use super::process::{AncestorJson, ParentJson};
use crate::escape::json_string;
use crate::event::{Actor, Ancestor};
use crate::render::limit::Shorten;
use crate::render::Context;

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

/// A process image and shortening step: (tgid, start time, step).
pub(super) type LineageKey = (u32, u64, Shorten);

/// What a lineage was rendered from: compared before one is reused (the same shared argv and
/// ancestry as the assembler's identity, in the common case; equal values otherwise).
pub(super) struct LineageSource {
    args: Arc<Vec<Vec<u8>>>,
    exe: Option<Arc<[u8]>>,
    ancestry: Arc<Vec<Ancestor>>,
    boot_epoch_ns: i128,
}

impl LineageSource {
    fn is(&self, a: &Actor, boot_epoch_ns: i128) -> bool {
        fn same<T: PartialEq>(x: &Arc<T>, y: &Arc<T>) -> bool {
            Arc::ptr_eq(x, y) || x == y
        }
        self.boot_epoch_ns == boot_epoch_ns
            && same(&self.args, &a.args)
            && self.exe == a.exe
            && same(&self.ancestry, &a.ancestry)
    }

    /// About what argv, an executable's path and an ancestry take.
    pub(super) fn bytes_of(args: &[Vec<u8>], exe: Option<&[u8]>, ancestry: &[Ancestor]) -> usize {
        args.iter().map(|x| x.len() + 24).sum::<usize>()
            + exe.map_or(0, <[u8]>::len)
            + ancestry.iter().map(|x| x.comm.len() + 48).sum::<usize>()
    }
}

/// The lineage of `a` at step `s`, rendered now or earlier from the same values.
pub(super) fn of(ctx: &Context, a: &Actor, s: Shorten) -> serde_json::Result<Arc<Lineage>> {
    let key = (a.proc.pid, a.proc.start_ns, s);
    let mut memo = ctx.memo.lineages.lock().unwrap_or_else(|e| e.into_inner());
    memo.get_or_make(
        key,
        |source| source.is(a, ctx.boot_epoch_ns),
        || render(ctx, a, s),
    )
}

fn render(
    ctx: &Context,
    a: &Actor,
    s: Shorten,
) -> serde_json::Result<(LineageSource, Arc<Lineage>, usize)> {
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
    let source = LineageSource {
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
        + LineageSource::bytes_of(&source.args, source.exe.as_deref(), &source.ancestry)
        + 256;
    Ok((source, Arc::new(lineage), bytes))
}
