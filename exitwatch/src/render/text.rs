//! The human view: a one-line verdict, then the facts (sender, argv, user, ancestry, target).
//! Every kernel-provided string goes through `escape_text`.

use std::io::{self, Write};

use super::Context;
use crate::escape::escape_text;
use crate::event::{Event, Place, Proc};
use crate::story::{Annotated, Diagnosis};

mod burst;
mod detail;
mod oom;
mod verdict;

const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const RESET: &str = "\x1b[0m";

pub fn render(ctx: &Context, a: &Annotated, out: &mut dyn Write) -> io::Result<()> {
    match &a.event {
        Event::Signal(ev) => {
            verdict::signal(ctx, ev, out)?;
            if let Some(k) = &a.kubelet {
                // From the API server: escaped like every string a peer sends.
                writeln!(
                    out,
                    "  kubelet: {} ({})",
                    escape_text(k.message.as_bytes()),
                    escape_text(k.reason.as_bytes())
                )?;
            }
            detail::signal(ctx, ev, out)?
        }
        Event::Exit(ev) => verdict::exit(ctx, ev, a.cause.as_ref(), out)?,
        Event::Oom(ev) => oom::oom(ctx, ev, out)?,
        Event::Lost { count, class } => writeln!(
            out,
            "{}warning:{} {}",
            paint(ctx, YELLOW),
            paint(ctx, RESET),
            super::gaps::lost_sentence(*count, *class)
        )?,
        Event::Suppressed(x) => writeln!(
            out,
            "{}warning:{} {}",
            paint(ctx, YELLOW),
            paint(ctx, RESET),
            escape_text(super::gaps::suppressed_sentence(x).as_bytes())
        )?,
    }
    for d in &a.diagnosis {
        diagnosis_line(ctx, d, "", out)?;
    }
    Ok(())
}

/// The sentence a Kubernetes Event on the pod carries: "SIGKILL from root's `pkill -9 server`
/// (via sshd → bash), delivered: server(7942) in container api of pod shop/web will exit with
/// code 137" (no time, no colour: the Event has its own).
pub fn signal_sentence(ctx: &Context, ev: &crate::event::SignalEvent) -> String {
    format!(
        "{} from {}, {}",
        crate::signals::Signal(ev.signo),
        verdict::from(ctx, ev),
        verdict::outcome(ev)
    )
}

/// "container api hit its 512 MiB limit" / "the node ran out of memory".
pub fn oom_limit(ev: &crate::event::OomEvent) -> String {
    oom::limit_phrase(ev)
}

/// Many signals from one sender into one place, or their exits, as one summary.
pub fn render_burst(
    ctx: &Context,
    b: &crate::render::burst::Burst,
    out: &mut dyn Write,
) -> io::Result<()> {
    burst::render(ctx, b, out)
}

fn diagnosis_line(ctx: &Context, d: &Diagnosis, more: &str, out: &mut dyn Write) -> io::Result<()> {
    // Messages quote process names and cgroup paths: escape them like every kernel string.
    let message = escape_text(d.message.as_bytes());
    writeln!(
        out,
        "  {}diagnosis{} {}: {message}{more}",
        paint(ctx, YELLOW),
        paint(ctx, RESET),
        d.code
    )
}

fn paint(ctx: &Context, code: &'static str) -> &'static str {
    if ctx.color {
        code
    } else {
        ""
    }
}

/// `name(pid)`, escaped.
pub fn who(p: &Proc) -> String {
    format!("{}({})", escape_text(&p.comm), p.pid)
}

/// `name(pid)`, and its container when it has one.
fn who_in(p: &Proc, place: &Place) -> String {
    match &place.container {
        Some(c) => format!("{} in {}", who(p), escape_text(c.describe().as_bytes())),
        None => who(p),
    }
}

#[cfg(test)]
mod tests;
