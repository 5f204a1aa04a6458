//! What exitwatch did not report, and why: records the kernel lost (by class) and signals a
//! sender's budget suppressed. One view, shared by every format.

use serde::Serialize;

use super::Context;
use crate::escape::json_string;
use crate::event::{LossClass, Suppressed};
use crate::signals::{self, Signal};
use crate::timefmt::Rfc3339;

/// "3 fatal signal or OOM record(s) lost: ..." — what the loss means for the reader.
pub fn lost_sentence(count: u64, class: LossClass) -> String {
    let (what, ring, meaning) = match class {
        LossClass::Fatal => (
            "fatal signal or OOM kill record(s)",
            "fatal",
            "kills happened that are not reported",
        ),
        LossClass::NonFatal => (
            "non-fatal signal record(s)",
            "non-fatal",
            "fatal signals are unaffected",
        ),
        LossClass::Identity => (
            "sender identity or cgroup path record(s)",
            "event",
            "events about those senders name them by pid and command only",
        ),
        LossClass::Exit => ("exit record(s)", "event", "some stories have no ending"),
    };
    format!(
        "{count} {what} lost: the kernel's {ring} ring buffer was full ({meaning}); raise --ring-buffer-size"
    )
}

/// "4000 SIGTERM from alice's flood(4242) suppressed: ..." (names stay raw: callers escape).
pub fn suppressed_sentence(s: &Suppressed) -> String {
    match &s.sender {
        Some(p) => format!(
            "{} {} from {}({}){} suppressed: over its budget of non-fatal signals (--nonfatal-budget)",
            s.count,
            Signal(s.signo),
            String::from_utf8_lossy(&p.comm),
            p.pid,
            s.uid.map_or(String::new(), |u| format!(", uid {u},")),
        ),
        None => format!(
            "{} non-fatal signal(s) suppressed from senders exitwatch could not tell apart (its table of senders was full)",
            s.count
        ),
    }
}

#[derive(Serialize)]
pub struct LostView {
    pub count: u64,
    pub reason: &'static str,
    pub class: &'static str,
}

pub fn lost(count: u64, class: LossClass) -> LostView {
    LostView {
        count,
        reason: "ring_buffer_full",
        class: class.as_str(),
    }
}

#[derive(Serialize)]
pub struct SenderView {
    pub pid: u32,
    pub comm: String,
    pub uid: Option<u32>,
    pub start_time: Rfc3339,
}

#[derive(Serialize)]
pub struct SignalView {
    pub number: i32,
    pub name: Option<&'static str>,
}

#[derive(Serialize)]
pub struct SuppressedView {
    pub sender: Option<SenderView>,
    pub signal: Option<SignalView>,
    pub count: u64,
    pub reason: &'static str,
}

pub fn suppressed(ctx: &Context, s: &Suppressed) -> SuppressedView {
    SuppressedView {
        sender: s.sender.as_ref().map(|p| SenderView {
            pid: p.pid,
            comm: json_string(&p.comm).into_owned(),
            uid: s.uid,
            start_time: Rfc3339(ctx.wall_ns(p.start_ns)),
        }),
        signal: (s.signo != 0).then(|| SignalView {
            number: s.signo,
            name: signals::name(s.signo),
        }),
        count: s.count,
        reason: "sender_budget",
    }
}
