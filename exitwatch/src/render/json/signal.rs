//! The `signal` document: the signal, its sender (a process, or the kernel with its context task) and its target.

use serde::Serialize;

use super::memo::{Kept, Splice};
use super::process::{actor, ActorJson};
use super::{Head, KubeletJson, Story};
use crate::event::{Actor, Sender, SignalEvent};
use crate::render::limit::Shorten;
use crate::render::Context;
use crate::signals;
use crate::story::Diagnosis;

#[derive(Serialize)]
pub(super) struct SignalLine<'a> {
    #[serde(flatten)]
    head: Head<'a>,
    signal: Splice<SignalJson>,
    sender: Splice<SenderJson<'a>>,
    target: Kept,
    /// Why it was sent, when the API server says: `{"kubelet": {reason, message, time}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    cause: Option<SignalCause<'a>>,
    diagnosis: &'a [Diagnosis],
}

#[derive(Serialize)]
struct SignalCause<'a> {
    kubelet: KubeletJson<'a>,
}

#[derive(Serialize)]
pub(super) struct SignalJson {
    number: i32,
    name: Option<&'static str>,
    code: i32,
    code_name: &'static str,
    result: &'static str,
    fatal: bool,
    group: bool,
    disposition: Option<&'static str>,
    fault_addr: Option<String>,
    /// How a process sender made the kernel send it (`cgroup.kill`); absent for kill(2).
    #[serde(skip_serializing_if = "Option::is_none")]
    via: Option<&'static str>,
}

#[derive(Serialize)]
pub(super) struct SenderJson<'a> {
    kind: &'static str,
    role: Option<&'static str>,
    reason: Option<&'static str>,
    #[serde(flatten)]
    actor: Option<ActorJson<'a>>,
    context: Option<ActorJson<'a>>,
}

impl SignalJson {
    pub(super) fn of(ev: &SignalEvent) -> Self {
        SignalJson {
            number: ev.signo,
            name: signals::name(ev.signo),
            code: ev.code,
            code_name: signals::code_name(ev.signo, ev.code),
            result: ev.result.as_str(),
            fatal: ev.fatal(),
            group: ev.group,
            disposition: ev.disposition.map(|d| d.as_str()),
            fault_addr: ev.fault_addr.map(|a| format!("{a:#x}")),
            via: ev.via.map(|v| v.as_str()),
        }
    }
}

impl<'a> SenderJson<'a> {
    /// A process sender.
    pub(super) fn process(ctx: &Context, a: &'a Actor, s: Shorten) -> serde_json::Result<Self> {
        Ok(SenderJson {
            kind: "process",
            role: crate::role::of_actor(a).map(|r| r.as_str()),
            reason: None,
            actor: Some(actor(ctx, a, s)?),
            context: None,
        })
    }
}

pub(super) fn signal<'a>(
    ctx: &'a Context,
    ev: &'a SignalEvent,
    story: Story<'a>,
    s: Shorten,
) -> serde_json::Result<SignalLine<'a>> {
    let sender = match &ev.sender {
        // The same in every signal of one sender: kept (see `memo`).
        Sender::Process(a) => Splice::Kept(ctx.memo.sender(ctx, a, s)?),
        Sender::Kernel { reason, context } => Splice::Fresh(SenderJson {
            kind: "kernel",
            role: crate::role::of(&ev.sender).map(|r| r.as_str()),
            reason: Some(reason.as_str()),
            actor: None,
            context: Some(actor(ctx, context, s)?),
        }),
    };
    Ok(SignalLine {
        head: story.head,
        signal: match ev.fault_addr {
            // The same for every signal of one kind, code and outcome: kept (see `memo`).
            None => Splice::Kept(ctx.memo.signal(ev)?),
            Some(_) => Splice::Fresh(SignalJson::of(ev)),
        },
        sender,
        target: ctx.memo.target(ctx, &ev.target, &ev.target_place)?,
        cause: story.kubelet.map(|k| SignalCause {
            kubelet: KubeletJson::of(k),
        }),
        diagnosis: story.diagnosis,
    })
}
