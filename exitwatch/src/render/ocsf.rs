//! OCSF 1.3 events: signals, exits and OOM kills as Process Activity, lost records as Event Log Activity.

use std::borrow::Cow;

use super::extra::{self, Standard};
use super::limit::Shorten;
use super::{sentence, Context};
use crate::escape::json_string;
use crate::event::{self, Event, Place, Proc, Sender};
use crate::signals::SignalResult;
use crate::story::Annotated;

mod doc;

use doc::*;

pub const OCSF_VERSION: &str = "1.3.0";
const PROCESS_ACTIVITY: u32 = 1007;
const EVENT_LOG_ACTIVITY: u32 = 1008;
const SYSTEM_ACTIVITY: u32 = 1;
const TERMINATE: u32 = 2;
const OTHER: u32 = 99;

/// Writes one event as one OCSF event, without its newline.
///
/// Who is the `actor`: for a signal, the sending process (`actor.process`); when the kernel
/// generated the signal itself, `actor.app_name` "kernel" (the task it was running in is kept
/// in `unmapped.sender`, and is not who acted). An OOM kill is a Terminate whose actor is the
/// kernel (the task whose allocation failed is `unmapped.oom.trigger`). An exit is a Terminate
/// of the process by itself when it called exit(2), and by the kernel when a signal killed it;
/// the signal's own event, with its sender, shares the exit's `metadata.correlation_uid`.
pub fn line(ctx: &Context, a: &Annotated, s: Shorten, out: &mut Vec<u8>) -> serde_json::Result<()> {
    serde_json::to_writer(out, &doc(ctx, a, s))
}

fn doc<'a>(ctx: &'a Context, a: &'a Annotated, s: Shorten) -> Doc<'a> {
    let mut d = Doc {
        class_uid: PROCESS_ACTIVITY,
        class_name: "Process Activity",
        category_uid: SYSTEM_ACTIVITY,
        category_name: "System Activity",
        activity_id: TERMINATE,
        activity_name: "Terminate",
        type_uid: 0,
        type_name: String::new(),
        severity_id: 1,
        severity: "Informational",
        status_id: 1,
        status: "Success",
        status_detail: None,
        time: ms(ctx.event_ns(&a.event)),
        message: sentence::of(a),
        metadata: Metadata {
            version: OCSF_VERSION,
            product: Product {
                name: "exitwatch",
                vendor_name: "exitwatch",
                version: env!("CARGO_PKG_VERSION"),
            },
            uid: &a.id,
            correlation_uid: a.cause.as_ref().map_or(&a.id, |c| &c.id),
            profiles: ["container"],
        },
        device: Device {
            hostname: &ctx.node,
            type_id: 0,
            kind: "Unknown",
            os: Os {
                name: "Linux",
                kind: "Linux",
                type_id: 200,
            },
        },
        actor: None,
        process: None,
        exit_code: None,
        count: None,
        log_provider: None,
        log_name: None,
        unmapped: extra::extra(ctx, a, s, Standard::Ocsf),
    };
    let kernel = || {
        Some(Actor {
            process: None,
            app_name: Some("kernel"),
        })
    };
    match &a.event {
        Event::Signal(ev) => {
            // A signal that will kill, or a stop request the target may honour, is a Terminate;
            // anything else (SIGUSR1 to a handler, SIGSTOP, SIGCHLD...) is Other.
            if !(ev.fatal() || matches!(ev.signo, 1 | 2 | 3 | 15)) {
                d.activity_id = OTHER;
                d.activity_name = "Signal";
            }
            if matches!(
                ev.result,
                SignalResult::Ignored | SignalResult::OverflowFail
            ) {
                (d.status_id, d.status) = (2, "Failure");
            }
            d.status_detail = Some(ev.result.as_str());
            if sentence::suspicious(a) {
                (d.severity_id, d.severity) = if ev.fatal() {
                    (4, "High")
                } else {
                    (3, "Medium")
                };
            }
            d.actor = match &ev.sender {
                Sender::Process(actor) => Some(Actor {
                    process: Some(actor_process(ctx, actor, s)),
                    app_name: None,
                }),
                Sender::Kernel { .. } => kernel(),
            };
            d.process = Some(process(ctx, &ev.target, Some(&ev.target_place)));
        }
        Event::Exit(ev) => {
            let mut p = process(ctx, &ev.proc, Some(&ev.place));
            p.terminated_time = Some(d.time);
            d.actor = match ev.status.signal() {
                Some(_) => kernel(),
                None => Some(Actor {
                    process: Some(process(ctx, &ev.proc, None)),
                    app_name: None,
                }),
            };
            d.process = Some(p);
            // What `docker ps` and `kubectl describe` show: the code, or 128+n for signal n.
            d.exit_code = Some(ev.status.container_code());
        }
        Event::Oom(ev) => {
            let mut p = process(ctx, &ev.victim, Some(&ev.victim_place));
            p.cmd_line = cmd_line(s.args(&ev.victim_args).0);
            p.user = user(ctx, ev.victim_uid);
            d.actor = kernel();
            d.process = Some(p);
        }
        // A sender's signals counted, not reported: the feed has a (known) gap.
        Event::Suppressed(x) => gap(
            &mut d,
            "Signals Suppressed",
            "sender_budget",
            x.count,
            "kernel signal budget",
        ),
        // Not a process activity: exitwatch's own event log lost records. Event Log
        // Activity is OCSF's class for what happens to a logging service's data, and needs
        // no process; Medium, since a gap in a security feed is what an attacker wants.
        Event::Lost { count, .. } => gap(
            &mut d,
            "Events Lost",
            "ring_buffer_full",
            *count,
            "kernel ring buffer",
        ),
    }
    d.type_uid = d.class_uid * 100 + d.activity_id;
    let activity = if d.activity_id == OTHER {
        "Other"
    } else {
        d.activity_name
    };
    d.type_name = format!("{}: {activity}", d.class_name);
    d
}

/// Unix epoch milliseconds, OCSF's `timestamp_t`.
/// An Event Log Activity about a gap in exitwatch's own feed: `count` events not reported.
fn gap(
    d: &mut Doc<'_>,
    activity: &'static str,
    detail: &'static str,
    count: u64,
    log: &'static str,
) {
    d.class_uid = EVENT_LOG_ACTIVITY;
    d.class_name = "Event Log Activity";
    d.activity_id = OTHER;
    d.activity_name = activity;
    (d.severity_id, d.severity) = (3, "Medium");
    (d.status_id, d.status) = (2, "Failure");
    d.status_detail = Some(detail);
    d.count = Some(count);
    d.log_provider = Some("exitwatch");
    d.log_name = Some(log);
}

fn ms(unix_ns: i128) -> i64 {
    unix_ns.div_euclid(1_000_000) as i64
}

fn process<'a>(ctx: &Context, p: &Proc, place: Option<&'a Place>) -> Process<'a> {
    Process {
        pid: p.pid,
        tid: p.tid,
        name: json_string(&p.comm).into_owned(),
        created_time: ms(ctx.wall_ns(p.start_ns)),
        namespace_pid: p.ns_pid,
        container: place.and_then(container),
        ..Process::default()
    }
}

fn actor_process<'a>(ctx: &'a Context, a: &'a event::Actor, s: Shorten) -> Process<'a> {
    let mut p = process(ctx, &a.proc, Some(&a.place));
    p.cmd_line = cmd_line(s.args(&a.args).0);
    p.file = a.exe.as_deref().map(|exe| {
        let path = json_string(exe).into_owned();
        File {
            name: path.rsplit('/').next().unwrap_or_default().to_owned(),
            path,
            type_id: 1,
            kind: "Regular File",
        }
    });
    p.user = user(ctx, a.euid);
    p.parent_process = a.parent().map(|x| Parent {
        pid: x.pid,
        name: json_string(&x.comm).into_owned(),
        created_time: ms(ctx.wall_ns(x.start_ns)),
    });
    p
}

fn cmd_line(args: Vec<Cow<'_, str>>) -> Option<String> {
    (!args.is_empty()).then(|| args.join(" "))
}

/// uid u32::MAX is what the kernel program records when the credentials were unreadable.
fn user(ctx: &Context, uid: u32) -> Option<User<'_>> {
    (uid != u32::MAX).then(|| User {
        uid: uid.to_string(),
        name: ctx.users.name(uid),
    })
}

fn container(p: &Place) -> Option<Container<'_>> {
    let c = p.container.as_ref()?;
    Some(Container {
        uid: &c.id,
        name: c.name.as_deref(),
        image: c.image.as_deref().map(|name| Image { name }),
        runtime: c.runtime.map(|r| r.as_str()),
        orchestrator: c.pod.as_ref().map(|_| "Kubernetes"),
        pod_uuid: c.pod.as_ref().map(|p| p.uid.as_str()),
    })
}

#[cfg(test)]
mod tests;
