//! Elastic Common Schema 8.11 documents: the acting process as `process`, the signalled one under `Target`.

use std::borrow::Cow;

use super::extra::{self, Standard};
use super::limit::Shorten;
use super::{sentence, Context};
use crate::escape::json_string;
use crate::event::{Event, Place, Proc};
use crate::story::Annotated;
use crate::timefmt::Rfc3339;

mod doc;

use doc::*;

pub const ECS_VERSION: &str = "8.11.0";

/// Writes one event as one ECS document, without its newline.
///
/// Field placement follows ECS 8.11 and Elastic Defend's custom `Target.process` convention: a
/// signal event's `process.*` is the task that was current when the signal was generated (the
/// sender, or for a kernel-generated signal the task the kernel was running in, told apart by
/// `exitwatch.sender.kind`); an exit's or an OOM kill's `process.*` is the process that ended.
/// What ECS has no field for lives under `exitwatch.*`.
pub fn line(ctx: &Context, a: &Annotated, s: Shorten, out: &mut Vec<u8>) -> serde_json::Result<()> {
    serde_json::to_writer(out, &doc(ctx, a, s))
}

fn doc<'a>(ctx: &'a Context, a: &'a Annotated, s: Shorten) -> Doc<'a> {
    // event.type: ECS has no type for "acted on another process". A signal changes neither the
    // sender nor (yet) the target, so it is `info`; the target's death, if it comes, is the exit
    // event's `end`. An OOM kill ends its victim: `end`, like an exit.
    let (kind_of, action) = match &a.event {
        Event::Signal(_) => ("info", "signal-sent"),
        Event::Exit(_) => ("end", "process-exited"),
        Event::Oom(_) => ("end", "oom-kill"),
        Event::Lost { .. } => ("info", "events-lost"),
        Event::Suppressed(_) => ("info", "signals-suppressed"),
    };
    let timestamp = Rfc3339(ctx.event_ns(&a.event));
    let message = sentence::of(a);
    let mut d = Doc {
        event: EventF {
            kind: if sentence::suspicious(a) {
                "alert"
            } else {
                "event"
            },
            // Lost records were process events too: the report stays in their category, so
            // the gap shows where they are searched.
            category: ["process"],
            kind_of: [kind_of],
            action,
            id: &a.id,
            reason: sentence::reason(a).unwrap_or_else(|| message.clone()),
            module: "exitwatch",
        },
        message,
        ecs: Version {
            version: ECS_VERSION,
        },
        host: Host { name: &ctx.node },
        observer: Observer {
            product: "exitwatch",
            vendor: "exitwatch",
            kind: "sensor",
            version: env!("CARGO_PKG_VERSION"),
        },
        process: None,
        place: PlaceF::default(),
        target: None,
        signal: None,
        exitwatch: extra::extra(ctx, a, s, Standard::Ecs),
        timestamp,
    };
    match &a.event {
        Event::Signal(ev) => {
            let a = ev.sender.actor();
            let mut p = process(ctx, &a.proc);
            argv(&mut p, &a.args, s);
            p.executable = a.exe.as_deref().map(|e| json_string(e).into_owned());
            p.parent = a.parent().map(|x| ParentF {
                pid: x.pid,
                name: json_string(&x.comm).into_owned(),
                start: Rfc3339(ctx.wall_ns(x.start_ns)),
            });
            p.user = user(ctx, a.euid);
            p.real_user = user(ctx, a.uid);
            p.real_group = (a.gid != u32::MAX).then(|| GroupF {
                id: a.gid.to_string(),
            });
            d.process = Some(p);
            d.place = place(&a.place);
            d.target = Some(TargetF {
                process: process(ctx, &ev.target),
                place: place(&ev.target_place),
            });
            d.signal = Some(extra::signal(ev));
        }
        Event::Exit(ev) => {
            let mut p = process(ctx, &ev.proc);
            // What `docker ps` and `kubectl describe` show: the code, or 128+n for signal n.
            p.exit_code = Some(ev.status.container_code());
            p.end = Some(d.timestamp);
            d.process = Some(p);
            d.place = place(&ev.place);
        }
        Event::Oom(ev) => {
            let mut p = process(ctx, &ev.victim);
            argv(&mut p, &ev.victim_args, s);
            p.real_user = user(ctx, ev.victim_uid);
            d.process = Some(p);
            d.place = place(&ev.victim_place);
        }
        Event::Lost { .. } | Event::Suppressed(_) => {}
    }
    d
}

fn process<'a>(ctx: &Context, p: &Proc) -> ProcessF<'a> {
    ProcessF {
        pid: p.pid,
        vpid: p.ns_pid,
        name: json_string(&p.comm).into_owned(),
        start: Rfc3339(ctx.wall_ns(p.start_ns)),
        thread: Thread { id: p.tid },
        ..ProcessF::default()
    }
}

/// Sets `args`, `args_count` and `command_line` (`exitwatch.truncated` says when `s` cut them).
fn argv(p: &mut ProcessF, args: &[Vec<u8>], s: Shorten) {
    if args.is_empty() {
        return;
    }
    let list: Vec<String> = s.args(args).0.into_iter().map(Cow::into_owned).collect();
    p.args_count = Some(args.len());
    if !list.is_empty() {
        // Joined with plain spaces, as Elastic's own Linux sources do.
        p.command_line = Some(list.join(" "));
        p.args = Some(list);
    }
}

/// uid u32::MAX is what the kernel program records when the credentials were unreadable.
fn user(ctx: &Context, uid: u32) -> Option<UserF<'_>> {
    (uid != u32::MAX).then(|| UserF {
        id: uid.to_string(),
        name: ctx.users.name(uid),
    })
}

fn place(p: &Place) -> PlaceF<'_> {
    let Some(c) = &p.container else {
        return PlaceF::default();
    };
    PlaceF {
        container: Some(ContainerF {
            id: &c.id,
            name: c.name.as_deref(),
            image: c.image.as_deref().map(|name| ImageF { name }),
            runtime: c.runtime.map(|r| r.as_str()),
        }),
        orchestrator: c.pod.as_ref().map(|pod| OrchestratorF {
            kind: "kubernetes",
            namespace: pod.namespace.as_deref(),
            resource: ResourceF {
                kind: "pod",
                name: pod.name.as_deref(),
                id: &pod.uid,
            },
        }),
    }
}

#[cfg(test)]
mod tests;
