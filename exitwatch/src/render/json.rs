//! `exitwatch.v1` JSON: one object per line (schema: docs/exitwatch.v1.schema.json).

use serde::Serialize;

use super::limit::Shorten;
use super::Context;
use crate::event::Event;
use crate::story::{Annotated, Diagnosis};
use crate::timefmt::rfc3339_nanos;

mod exit;
mod oom;
mod process;
mod signal;

use exit::exit;
use oom::oom;
use signal::signal;

pub const SCHEMA: &str = "exitwatch.v1";

/// Writes one event as one line, without its newline, argv and ancestry shortened by `s`.
pub fn line(ctx: &Context, a: &Annotated, s: Shorten, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let story = Story {
        id: &a.id,
        diagnosis: &a.diagnosis,
    };
    match &a.event {
        Event::Signal(ev) => serde_json::to_writer(out, &signal(ctx, ev, story, s)),
        Event::Exit(ev) => serde_json::to_writer(out, &exit(ctx, ev, story, a.cause.as_ref())),
        Event::Oom(ev) => serde_json::to_writer(out, &oom(ctx, ev, story, s)),
        Event::Lost { count } => serde_json::to_writer(
            out,
            &Lost {
                head: Head::now(ctx, "lost", &a.id),
                count: *count,
                reason: "ring_buffer_full",
            },
        ),
    }
}

/// Every event's id and diagnoses.
#[derive(Serialize, Clone, Copy)]
struct Story<'a> {
    id: &'a str,
    diagnosis: &'a [Diagnosis],
}

#[derive(Serialize)]
struct Head<'a> {
    schema: &'static str,
    event: &'static str,
    id: &'a str,
    time: String,
    node: &'a str,
}

impl<'a> Head<'a> {
    fn at(ctx: &'a Context, event: &'static str, id: &'a str, since_boot_ns: u64) -> Self {
        let time = rfc3339_nanos(ctx.wall_ns(since_boot_ns));
        Head {
            schema: SCHEMA,
            event,
            id,
            time,
            node: &ctx.node,
        }
    }

    fn now(ctx: &'a Context, event: &'static str, id: &'a str) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        Head {
            schema: SCHEMA,
            event,
            id,
            time: rfc3339_nanos(now),
            node: &ctx.node,
        }
    }
}

#[derive(Serialize)]
struct Lost<'a> {
    #[serde(flatten)]
    head: Head<'a>,
    count: u64,
    reason: &'static str,
}

#[cfg(test)]
mod tests;
