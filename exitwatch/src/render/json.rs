//! `exitwatch.v1` JSON: one object per line (schema: docs/exitwatch.v1.schema.json).

use serde::Serialize;

use super::gaps;
use super::limit::Shorten;
use super::Context;
use crate::event::{Event, Kind};
use crate::story::{Annotated, Diagnosis};
use crate::timefmt::Rfc3339;

mod exit;
mod lineage;
mod memo;
mod oom;
mod process;
mod signal;

use exit::exit;
use oom::oom;
use signal::signal;

pub use memo::Memo;

pub const SCHEMA: &str = "exitwatch.v1";

/// Writes one event as one line, without its newline, argv and ancestry shortened by `s`.
pub fn line(ctx: &Context, a: &Annotated, s: Shorten, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let story = Story {
        head: Head::of(ctx, a),
        diagnosis: &a.diagnosis,
        kubelet: a.kubelet.as_ref(),
    };
    match &a.event {
        Event::Signal(ev) => serde_json::to_writer(out, &signal(ctx, ev, story, s)?),
        Event::Exit(ev) => serde_json::to_writer(out, &exit(ctx, ev, story, a.cause.as_ref())),
        Event::Oom(ev) => serde_json::to_writer(out, &oom(ctx, ev, story, s)),
        Event::Lost { count, class } => serde_json::to_writer(
            out,
            &Gap {
                head: story.head,
                gap: gaps::lost(*count, *class),
            },
        ),
        Event::Suppressed(x) => serde_json::to_writer(
            out,
            &Flood {
                head: story.head,
                gap: gaps::suppressed(ctx, x),
                diagnosis: story.diagnosis,
            },
        ),
    }
}

/// The kubelet's decision behind a signal or exit: `{reason, message, time}`.
#[derive(Serialize)]
struct KubeletJson<'a> {
    reason: &'a str,
    message: &'a str,
    time: Rfc3339,
}

impl<'a> KubeletJson<'a> {
    fn of(k: &'a crate::kube::view::KubeletCause) -> Self {
        KubeletJson {
            reason: &k.reason,
            message: &k.message,
            time: Rfc3339(k.time_ns),
        }
    }
}

/// What every document opens with, and the event's diagnoses.
struct Story<'a> {
    head: Head<'a>,
    diagnosis: &'a [Diagnosis],
    /// The kubelet's decision behind a signal (from the API server).
    kubelet: Option<&'a crate::kube::view::KubeletCause>,
}

#[derive(Serialize)]
struct Head<'a> {
    schema: &'static str,
    event: &'static str,
    id: &'a str,
    time: Rfc3339,
    node: &'a str,
}

impl<'a> Head<'a> {
    /// When it happened (a loss: when it is reported), and its name in this schema.
    fn of(ctx: &'a Context, a: &'a Annotated) -> Self {
        Head {
            schema: SCHEMA,
            event: event_name(a.event.kind()),
            id: &a.id,
            time: Rfc3339(ctx.event_ns(&a.event)),
            node: &ctx.node,
        }
    }
}

/// The `event` field: the schema says `oom_kill` for an OOM kill.
fn event_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Signal => "signal",
        Kind::Exit => "exit",
        Kind::Oom => "oom_kill",
        Kind::Lost => "lost",
        Kind::Suppressed => "suppressed",
    }
}

#[derive(Serialize)]
struct Gap<'a> {
    #[serde(flatten)]
    head: Head<'a>,
    #[serde(flatten)]
    gap: gaps::LostView,
}

#[derive(Serialize)]
struct Flood<'a> {
    #[serde(flatten)]
    head: Head<'a>,
    #[serde(flatten)]
    gap: gaps::SuppressedView,
    diagnosis: &'a [Diagnosis],
}

#[cfg(test)]
mod tests;
