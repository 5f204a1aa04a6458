//! A burst's summary: one verdict line for many signals (or exits), the sender's lines once,
//! the events' ids, and each diagnosis once.

use std::io::{self, Write};

use super::{diagnosis_line, paint, who, BOLD, RED, RESET};
use crate::escape::escape_text;
use crate::event::{Event, ExitEvent, Place, Proc, SignalEvent};
use crate::render::burst::Burst;
use crate::render::Context;
use crate::signals::{Disposition, Signal, SignalResult};
use crate::timefmt::{human_duration, Rfc3339};

pub(super) fn render(ctx: &Context, b: &Burst, out: &mut dyn Write) -> io::Result<()> {
    match (&b.first.event, &b.last.event) {
        (Event::Signal(first), Event::Signal(last)) => signals(ctx, b, first, last, out)?,
        (Event::Exit(first), Event::Exit(last)) => exits(ctx, b, first, last, out)?,
        // A burst is of one kind: should that ever not hold, nothing is hidden.
        _ => {
            super::render(ctx, &b.first, out)?;
            return super::render(ctx, &b.last, out);
        }
    }
    let (first, last) = (&b.first, &b.last);
    let span = human_duration(time_ns(last).saturating_sub(time_ns(first)));
    writeln!(
        out,
        "  events    {} … {} ({} over {span})",
        first.id, last.id, b.count
    )?;
    for (d, n) in &b.diagnoses {
        diagnosis_line(ctx, d, &format!(" ({n} of the {} events)", b.count), out)?;
    }
    Ok(())
}

fn time_ns(a: &crate::story::Annotated) -> u64 {
    a.event.time_ns().unwrap_or(0)
}

/// "10000 processes in container api of pod shop/web-7d9c"
fn processes(n: u64, place: &Place) -> String {
    match (&place.container, &place.cgroup) {
        (Some(c), _) => format!("{n} processes in {}", escape_text(c.describe().as_bytes())),
        (None, Some(cg)) => format!(
            "{n} processes in cgroup {}",
            escape_text(cg.path.as_bytes())
        ),
        (None, None) => format!("{n} processes"),
    }
}

/// "(first sleep(101), last sleep(10100))"
fn ends(first: &Proc, last: &Proc) -> String {
    format!("(first {}, last {})", who(first), who(last))
}

/// "2026-… SIGKILL from root's `sh -c …` through cgroup.kill, delivered to 10000 processes in
/// container api (first sleep(101), last sleep(10100)): they will exit with code 137"
fn signals(
    ctx: &Context,
    b: &Burst,
    first: &SignalEvent,
    last: &SignalEvent,
    out: &mut dyn Write,
) -> io::Result<()> {
    let sig = Signal(first.signo);
    let targets = format!(
        "{} {}",
        processes(b.count, &first.target_place),
        ends(&first.target, &last.target)
    );
    // One key, one outcome: the first event's result and disposition are every member's.
    let outcome = match first.result {
        SignalResult::Delivered | SignalResult::AlreadyPending if first.fatal() => {
            let how = if first.result == SignalResult::AlreadyPending {
                "already pending for"
            } else {
                "delivered to"
            };
            format!(
                "{how} {targets}: they will exit with code {}",
                first.exit_code_if_fatal()
            )
        }
        SignalResult::Delivered => match first.disposition {
            Some(Disposition::Handled) => format!(
                "delivered to {targets}: they handle {sig} themselves and decide whether to exit"
            ),
            Some(Disposition::Ignored) => format!("delivered to {targets}, which ignore {sig}"),
            _ => format!("delivered to {targets}"),
        },
        SignalResult::Ignored => format!("ignored by {targets}"),
        SignalResult::AlreadyPending => format!("already pending for {targets}"),
        SignalResult::OverflowFail => {
            format!("not queued for {targets}: their signal queues are full")
        }
        SignalResult::LoseInfo => format!("queued for {targets} without siginfo (queue full)"),
    };
    let (hl, reset) = (
        paint(ctx, if first.fatal() { RED } else { BOLD }),
        paint(ctx, RESET),
    );
    writeln!(
        out,
        "{} {hl}{sig}{reset} from {}, {outcome}",
        Rfc3339(ctx.wall_ns(first.time_ns)),
        super::verdict::from(ctx, first)
    )?;
    super::detail::sender_and_signal(ctx, first, out)
}

/// "2026-… 10000 processes in container api exited with 137: killed by SIGKILL (first
/// sleep(101), last sleep(10100)), 1 ms to 150 ms after their SIGKILL (events t-1 … t-10000)"
fn exits(
    ctx: &Context,
    b: &Burst,
    first: &ExitEvent,
    last: &ExitEvent,
    out: &mut dyn Write,
) -> io::Result<()> {
    let causes = (b.first.cause.as_ref(), b.last.cause.as_ref());
    let after = match (b.delays, causes.0.or(causes.1)) {
        (Some((lo, hi)), Some(c)) => {
            let (lo, hi) = (human_duration(lo), human_duration(hi));
            let delay = if lo == hi {
                lo
            } else {
                format!("{lo} to {hi}")
            };
            let what = match (c.event, c.signal) {
                ("oom_kill", _) => "their OOM kill".to_owned(),
                (_, Some(sig)) => format!("their {}", Signal(sig)),
                _ => "their cause".to_owned(),
            };
            let of = if b.caused < b.count {
                format!(" ({} of them)", b.caused)
            } else {
                String::new()
            };
            let ids = match causes {
                (Some(a), Some(z)) if a.id != z.id => format!(" (events {} … {})", a.id, z.id),
                _ => format!(" (event {})", c.id),
            };
            format!(", {delay} after {what}{of}{ids}")
        }
        _ => String::new(),
    };
    writeln!(
        out,
        "{} {} {} {}{after}",
        Rfc3339(ctx.wall_ns(first.time_ns)),
        processes(b.count, &first.place),
        first.status.describe(),
        ends(&first.proc, &last.proc)
    )
}
