//! The first line of a signal or an exit: when, which signal, from whom, and what comes of it.

use std::io::{self, Write};

use super::{paint, who, who_in, BOLD, RED, RESET};
use crate::escape::{escape_text, shell_words};
use crate::event::{Actor, ExitEvent, Sender, SignalEvent};
use crate::render::Context;
use crate::signals::{Disposition, Signal, SignalResult};
use crate::story::Cause;
use crate::timefmt::{human_duration, Rfc3339};

/// Characters of the sender's command line quoted in the one-line verdict.
const VERDICT_CMD_CHARS: usize = 60;

/// "2026-… SIGKILL from root's `pkill -9 server` (via vGhyM0 → bash), delivered: server(7942) will exit with code 137"
pub(super) fn signal(ctx: &Context, ev: &SignalEvent, out: &mut dyn Write) -> io::Result<()> {
    let sig = Signal(ev.signo);
    let from = from(ctx, ev);
    let (hl, reset) = (
        paint(ctx, if ev.fatal() { RED } else { BOLD }),
        paint(ctx, RESET),
    );
    writeln!(
        out,
        "{} {hl}{sig}{reset} from {from}, {}",
        Rfc3339(ctx.wall_ns(ev.time_ns)),
        outcome(ev)
    )
}

/// Who sent it: "root's `pkill -9 server` (via sshd → bash)", or "the kernel (a fault)".
pub(super) fn from(ctx: &Context, ev: &SignalEvent) -> String {
    match &ev.sender {
        Sender::Process(a) => sender_phrase(ctx, ev, a),
        Sender::Kernel { reason, .. } => format!("the kernel ({})", reason.describe()),
    }
}

/// "root's `pkill -9 server` (via sshd → bash)"
/// "root's `pkill -9 server` (the container runtime, on the host, via sshd → bash)"
fn sender_phrase(ctx: &Context, ev: &SignalEvent, a: &Actor) -> String {
    let user = ctx
        .users
        .name(a.uid)
        .map_or_else(|| format!("uid {}", a.uid), str::to_owned);
    let mut cmd = if a.args.is_empty() {
        escape_text(&a.proc.comm)
    } else {
        shell_words(&a.args)
    };
    if cmd.chars().count() > VERDICT_CMD_CHARS {
        // The verdict stays one readable line; the full argv is on the `args` line.
        cmd = cmd
            .chars()
            .take(VERDICT_CMD_CHARS)
            .chain(std::iter::once('…'))
            .collect();
    }
    let mut notes = Vec::new();
    if let Some(role) =
        crate::role::of(&ev.sender).filter(|r| *r != crate::role::Role::InteractiveUser)
    {
        notes.push(role.describe().to_owned());
    }
    match &a.place.container {
        Some(c) => notes.push(format!("in {}", escape_text(c.describe().as_bytes()))),
        None if ev.target_place.container.is_some() => notes.push("on the host".into()),
        None => {}
    }
    let via: Vec<String> = a
        .ancestry
        .iter()
        .rev()
        .take(2)
        .rev()
        .filter(|x| x.pid > 1)
        .map(|x| escape_text(&x.comm))
        .collect();
    if !via.is_empty() {
        notes.push(format!("via {}", via.join(" → ")));
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join(", "))
    };
    let how = ev
        .via
        .map_or(String::new(), |v| format!(" through {}", v.as_str()));
    format!("{user}'s `{cmd}`{how}{notes}")
}

pub(super) fn outcome(ev: &SignalEvent) -> String {
    let target = who_in(&ev.target, &ev.target_place);
    let sig = Signal(ev.signo);
    match ev.result {
        SignalResult::Delivered | SignalResult::AlreadyPending if ev.fatal() => {
            let pending = if ev.result == SignalResult::AlreadyPending { "already pending" } else { "delivered" };
            format!("{pending}: {target} will exit with code {}", ev.exit_code_if_fatal())
        }
        SignalResult::Delivered => match ev.disposition {
            Some(Disposition::Handled) => format!("delivered: {target} handles {sig} itself and decides whether to exit"),
            Some(Disposition::Ignored) => format!("delivered, but {target} ignores {sig}"),
            _ => format!("delivered to {target}"),
        },
        SignalResult::Ignored if ev.target.ns_pid == Some(1) => format!(
            "ignored: {target} is PID 1 of its pid namespace and has no handler for {sig}, so the kernel drops it \
             (install a handler, or run an init such as tini)"
        ),
        SignalResult::Ignored => format!("ignored by {target}"),
        SignalResult::AlreadyPending => format!("already pending for {target}"),
        SignalResult::OverflowFail => format!("not queued for {target}: the signal queue is full"),
        SignalResult::LoseInfo => format!("queued for {target} without its siginfo (queue full)"),
    }
}

pub(super) fn exit(
    ctx: &Context,
    ev: &ExitEvent,
    cause: Option<&Cause>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let after = cause.map_or_else(String::new, |c| {
        let what = match (c.event, c.signal) {
            ("oom_kill", _) => "the OOM kill".to_owned(),
            (_, Some(sig)) => format!("the {}", Signal(sig)),
            _ => "its cause".to_owned(),
        };
        format!(
            ", {} after {what} (event {})",
            human_duration(c.delay_ns),
            c.id
        )
    });
    writeln!(
        out,
        "{} {} {}{after}",
        Rfc3339(ctx.wall_ns(ev.time_ns)),
        who(&ev.proc),
        ev.status.describe()
    )
}
