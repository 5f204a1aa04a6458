//! Rendering events for people (text, stap) and machines (json, ecs, ocsf). Pure: writes into any `Write`.

pub mod burst;
mod ecs;
mod extra;
mod gaps;
mod json;
pub mod kube;
pub mod limit;
mod ocsf;
mod sentence;
mod stap;
mod text;

use std::io::{self, Write};

use crate::event::Event;
use crate::story::Annotated;
use crate::users::Users;

/// How events are written: for people or for machines.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Stap,
    Json,
    Ecs,
    Ocsf,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Text,
        Format::Stap,
        Format::Json,
        Format::Ecs,
        Format::Ocsf,
    ];

    /// The name the command line and config file use.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Stap => "stap",
            Format::Json => "json",
            Format::Ecs => "ecs",
            Format::Ocsf => "ocsf",
        }
    }

    /// One line for `--help`.
    pub fn summary(self) -> &'static str {
        match self {
            Format::Text => "Human-readable, with a one-line verdict per event",
            Format::Stap => "Exactly the three lines of the classic systemtap signal.send script",
            Format::Json => "One `exitwatch.v1` JSON object per line",
            Format::Ecs => "One Elastic Common Schema (ECS 8.11) document per line",
            Format::Ocsf => {
                "One OCSF 1.3 event per line (Process Activity; Event Log Activity for lost records)"
            }
        }
    }

    /// One line per event, for a program to read.
    pub fn is_machine(self) -> bool {
        matches!(self, Format::Json | Format::Ecs | Format::Ocsf)
    }
}

/// What every renderer needs besides the event.
#[derive(Clone, Debug)]
pub struct Context {
    /// Node name for machine formats (`NODE_NAME` or the hostname).
    pub node: String,
    /// Unix time of boot in nanoseconds: kernel timestamps are nanoseconds since boot.
    pub boot_epoch_ns: i128,
    /// Emit ANSI colours (text format on a terminal only).
    pub color: bool,
    pub users: Users,
    /// Bytes per page, for the OOM killer's page counts.
    pub page_size: u64,
    /// JSON renderings of senders, targets and their argv and ancestry, reused while they
    /// stay the same.
    pub memo: json::Memo,
}

impl Context {
    pub fn wall_ns(&self, since_boot_ns: u64) -> i128 {
        self.boot_epoch_ns + i128::from(since_boot_ns)
    }

    /// When the event happened (Unix ns); a lost-events report happens when it is made.
    pub fn event_ns(&self, event: &Event) -> i128 {
        match event.time_ns() {
            Some(t) => self.wall_ns(t),
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i128),
        }
    }
}

/// Writes one event in `format` onto the end of `out`. Machine formats write exactly one line
/// of at most [`limit::MAX_LINE`] bytes per event.
pub fn render(
    format: Format,
    ctx: &Context,
    event: &Annotated,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    match format {
        Format::Text => text::render(ctx, event, out),
        Format::Stap => stap::render(&event.event, out),
        Format::Json => write_fitted(out, |s, line| json::line(ctx, event, s, line)),
        Format::Ecs => write_fitted(out, |s, line| ecs::line(ctx, event, s, line)),
        Format::Ocsf => write_fitted(out, |s, line| ocsf::line(ctx, event, s, line)),
    }
}

/// The event's one-line verdict, plain (no colour, no terminal escaping): "SIGKILL from
/// pkill(23549) to server(7942): delivered, server(7942) will exit with code 137".
pub fn verdict(event: &Annotated) -> String {
    sentence::of(event)
}

/// A burst the text format summarises (see [`burst`]).
pub fn text_burst(ctx: &Context, b: &burst::Burst, out: &mut dyn Write) -> io::Result<()> {
    text::render_burst(ctx, b, out)
}

fn write_fitted(
    out: &mut Vec<u8>,
    render: impl FnMut(limit::Shorten, &mut Vec<u8>) -> serde_json::Result<()>,
) -> io::Result<()> {
    limit::fit(render, out)?;
    out.push(b'\n');
    Ok(())
}

#[cfg(test)]
pub(crate) mod fixtures;

/// Wraps a bare event for renderer tests (no id story).
#[cfg(test)]
pub(crate) fn bare(event: crate::event::Event) -> Annotated {
    Annotated {
        id: "t-1".into(),
        event,
        cause: None,
        diagnosis: Vec::new(),
        kubelet: None,
    }
}

#[cfg(test)]
mod tests;
