//! The `exit` document: how the process ended, and the event that caused it.

use serde::Serialize;

use super::process::{placed, PlacedJson};
use super::{Head, KubeletJson, Story};
use crate::event::ExitEvent;
use crate::render::Context;
use crate::signals;
use crate::story::{Cause, Diagnosis};

#[derive(Serialize)]
pub(super) struct ExitLine<'a> {
    #[serde(flatten)]
    head: Head<'a>,
    exit: ExitJson,
    target: PlacedJson<'a>,
    cause: Option<ExitCause<'a>>,
    diagnosis: &'a [Diagnosis],
}

/// The event the exit followed from, and the kubelet's decision behind it when the API says.
#[derive(Serialize)]
struct ExitCause<'a> {
    #[serde(flatten)]
    event: &'a Cause,
    #[serde(skip_serializing_if = "Option::is_none")]
    kubelet: Option<KubeletJson<'a>>,
}

#[derive(Serialize)]
struct ExitJson {
    /// What a shell or container runtime reports: the exit code, or 128+n for signal n.
    code: u8,
    /// The raw wait(2) status.
    status: u32,
    signal: Option<i32>,
    signal_name: Option<&'static str>,
    core_dumped: bool,
    explanation: String,
}

pub(super) fn exit<'a>(
    ctx: &'a Context,
    ev: &'a ExitEvent,
    story: Story<'a>,
    cause: Option<&'a Cause>,
) -> ExitLine<'a> {
    let s = &ev.status;
    ExitLine {
        head: story.head,
        exit: ExitJson {
            code: s.container_code(),
            status: s.raw(),
            signal: s.signal(),
            signal_name: s.signal().and_then(signals::name),
            core_dumped: s.core_dumped(),
            explanation: crate::explain::for_exit(s),
        },
        target: placed(ctx, &ev.proc, &ev.place),
        cause: cause.map(|event| ExitCause {
            event,
            kubelet: story.kubelet.map(KubeletJson::of),
        }),
        diagnosis: story.diagnosis,
    }
}
