//! `exitwatch.v1` JSON: one object per line (schema: docs/exitwatch.v1.schema.json).

use serde::Serialize;

use super::limit::Shorten;
use super::Context;
use crate::container::identity::ContainerInfo;
use crate::escape::json_string;
use crate::event::{Actor, Ancestor, Event, ExitEvent, OomEvent, Place, Proc, Sender, SignalEvent};
use crate::signals;
use crate::story::{Annotated, Cause, Diagnosis};
use crate::timefmt::rfc3339_nanos;

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

#[derive(Serialize)]
struct SignalLine<'a> {
    #[serde(flatten)]
    head: Head<'a>,
    signal: SignalJson,
    sender: SenderJson<'a>,
    target: PlacedJson<'a>,
    diagnosis: &'a [Diagnosis],
}

#[derive(Serialize)]
struct SignalJson {
    number: i32,
    name: Option<&'static str>,
    code: i32,
    code_name: &'static str,
    result: &'static str,
    fatal: bool,
    group: bool,
    disposition: Option<&'static str>,
    fault_addr: Option<String>,
}

#[derive(Serialize)]
struct SenderJson<'a> {
    kind: &'static str,
    role: Option<&'static str>,
    reason: Option<&'static str>,
    #[serde(flatten)]
    actor: Option<ActorJson<'a>>,
    context: Option<ActorJson<'a>>,
}

#[derive(Serialize)]
struct ActorJson<'a> {
    #[serde(flatten)]
    proc: PlacedJson<'a>,
    args: Vec<String>,
    args_truncated: bool,
    uid: u32,
    gid: u32,
    euid: u32,
    loginuid: Option<u32>,
    sessionid: Option<u32>,
    kernel_thread: bool,
    exe: Option<String>,
    exe_deleted: bool,
    parent: Option<ParentJson>,
    ancestry: Vec<AncestorJson>,
    ancestry_truncated: bool,
}

#[derive(Serialize)]
struct ProcJson {
    pid: u32,
    tid: u32,
    comm: String,
    start_time: String,
    ns_pid: Option<u32>,
}

/// A process with where it lived: its container (null on the host) and namespaces.
#[derive(Serialize)]
struct PlacedJson<'a> {
    #[serde(flatten)]
    proc: ProcJson,
    container: Option<&'a ContainerInfo>,
    namespaces: NamespacesJson,
}

#[derive(Serialize)]
struct NamespacesJson {
    pid: Option<u32>,
    mnt: Option<u32>,
    uts: Option<u32>,
}

fn placed<'a>(ctx: &Context, p: &Proc, place: &'a Place) -> PlacedJson<'a> {
    let ns = place.ns;
    PlacedJson {
        proc: proc(ctx, p),
        container: place.container.as_ref(),
        namespaces: NamespacesJson {
            pid: ns.pid,
            mnt: ns.mnt,
            uts: ns.uts,
        },
    }
}

#[derive(Serialize)]
struct ParentJson {
    pid: u32,
    comm: String,
}

#[derive(Serialize)]
struct AncestorJson {
    pid: u32,
    comm: String,
    start_time: String,
}

#[derive(Serialize)]
struct ExitLine<'a> {
    #[serde(flatten)]
    head: Head<'a>,
    exit: ExitJson,
    target: PlacedJson<'a>,
    cause: Option<&'a Cause>,
    diagnosis: &'a [Diagnosis],
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

#[derive(Serialize)]
struct OomLine<'a> {
    #[serde(flatten)]
    head: Head<'a>,
    victim: VictimJson<'a>,
    trigger: TriggerJson,
    also_killed: Vec<ParentJson>,
    constraint: Option<&'static str>,
    memcg: Option<MemcgJson>,
    missing: &'a [&'static str],
    diagnosis: &'a [Diagnosis],
}

#[derive(Serialize)]
struct VictimJson<'a> {
    #[serde(flatten)]
    proc: ProcJson,
    args: Vec<String>,
    /// argv was cut to keep the line under 16 KiB.
    args_truncated: bool,
    uid: u32,
    oom_score_adj: i32,
    total_vm_bytes: Option<u64>,
    anon_rss_bytes: Option<u64>,
    file_rss_bytes: Option<u64>,
    shmem_rss_bytes: Option<u64>,
    pgtables_bytes: Option<u64>,
    cgroup: Option<&'a str>,
    /// Its container (null on the host, or when its cgroup is unknown).
    container: Option<&'a ContainerInfo>,
}

#[derive(Serialize)]
struct TriggerJson {
    pid: u32,
    tid: u32,
    comm: String,
    is_victim: bool,
}

#[derive(Serialize)]
struct MemcgJson {
    path: String,
    limit_bytes: Option<u64>,
    usage_bytes: Option<u64>,
    peak_bytes: Option<u64>,
}

fn oom<'a>(ctx: &'a Context, ev: &'a OomEvent, story: Story<'a>, s: Shorten) -> OomLine<'a> {
    let page = ctx.page_size;
    let (args, args_truncated) = s.args(&ev.victim_args);
    let mem = ev.memory;
    let memcg = ev
        .context
        .as_ref()
        .and_then(|c| c.oom_memcg.clone())
        .map(|path| MemcgJson {
            path,
            limit_bytes: ev.memcg_usage.and_then(|u| u.limit_bytes),
            usage_bytes: ev.memcg_usage.and_then(|u| u.usage_bytes),
            peak_bytes: ev.memcg_usage.and_then(|u| u.peak_bytes),
        });
    OomLine {
        head: Head::at(ctx, "oom_kill", story.id, ev.time_ns),
        victim: VictimJson {
            proc: proc(ctx, &ev.victim),
            args,
            args_truncated,
            uid: ev.victim_uid,
            oom_score_adj: ev.oom_score_adj,
            total_vm_bytes: mem.map(|m| m.total_vm_pages * page),
            anon_rss_bytes: mem.map(|m| m.anon_pages * page),
            file_rss_bytes: mem.map(|m| m.file_pages * page),
            shmem_rss_bytes: mem.map(|m| m.shmem_pages * page),
            pgtables_bytes: mem.map(|m| m.pgtables_bytes),
            cgroup: ev.victim_memcg(),
            container: ev.victim_place.container.as_ref(),
        },
        trigger: TriggerJson {
            pid: ev.trigger.pid,
            tid: ev.trigger.tid,
            comm: json_string(&ev.trigger.comm),
            is_victim: ev.trigger_is_victim(),
        },
        also_killed: ev
            .also_killed
            .iter()
            .map(|p| ParentJson {
                pid: p.pid,
                comm: json_string(&p.comm),
            })
            .collect(),
        constraint: ev.context.as_ref().map(|c| c.constraint.as_str()),
        memcg,
        missing: &ev.missing,
        diagnosis: story.diagnosis,
    }
}

fn proc(ctx: &Context, p: &Proc) -> ProcJson {
    ProcJson {
        pid: p.pid,
        tid: p.tid,
        comm: json_string(&p.comm),
        start_time: rfc3339_nanos(ctx.wall_ns(p.start_ns)),
        ns_pid: p.ns_pid,
    }
}

fn ancestor(ctx: &Context, a: &Ancestor) -> AncestorJson {
    AncestorJson {
        pid: a.pid,
        comm: json_string(&a.comm),
        start_time: rfc3339_nanos(ctx.wall_ns(a.start_ns)),
    }
}

fn actor<'a>(ctx: &Context, a: &'a Actor, s: Shorten) -> ActorJson<'a> {
    let (args, args_cut) = s.args(&a.args);
    let (ancestry, ancestry_cut) = s.ancestry(&a.ancestry);
    ActorJson {
        proc: placed(ctx, &a.proc, &a.place),
        args,
        args_truncated: a.args_truncated || args_cut,
        uid: a.uid,
        gid: a.gid,
        euid: a.euid,
        loginuid: a.loginuid,
        sessionid: a.sessionid,
        kernel_thread: a.kernel_thread,
        exe: a.exe.as_deref().map(json_string),
        exe_deleted: a.exe_deleted,
        parent: a.parent().map(|p| ParentJson {
            pid: p.pid,
            comm: json_string(&p.comm),
        }),
        ancestry: ancestry.iter().map(|x| ancestor(ctx, x)).collect(),
        ancestry_truncated: a.ancestry_truncated || ancestry_cut,
    }
}

fn signal<'a>(
    ctx: &'a Context,
    ev: &'a SignalEvent,
    story: Story<'a>,
    s: Shorten,
) -> SignalLine<'a> {
    let role = crate::role::of(&ev.sender).map(|r| r.as_str());
    let sender = match &ev.sender {
        Sender::Process(a) => SenderJson {
            kind: "process",
            role,
            reason: None,
            actor: Some(actor(ctx, a, s)),
            context: None,
        },
        Sender::Kernel { reason, context } => SenderJson {
            kind: "kernel",
            role,
            reason: Some(reason.as_str()),
            actor: None,
            context: Some(actor(ctx, context, s)),
        },
    };
    SignalLine {
        head: Head::at(ctx, "signal", story.id, ev.time_ns),
        signal: SignalJson {
            number: ev.signo,
            name: signals::name(ev.signo),
            code: ev.code,
            code_name: signals::code_name(ev.signo, ev.code),
            result: ev.result.as_str(),
            fatal: ev.fatal(),
            group: ev.group,
            disposition: ev.disposition.map(|d| d.as_str()),
            fault_addr: ev.fault_addr.map(|a| format!("{a:#x}")),
        },
        sender,
        target: placed(ctx, &ev.target, &ev.target_place),
        diagnosis: story.diagnosis,
    }
}

fn exit<'a>(
    ctx: &'a Context,
    ev: &'a ExitEvent,
    story: Story<'a>,
    cause: Option<&'a Cause>,
) -> ExitLine<'a> {
    let s = &ev.status;
    ExitLine {
        head: Head::at(ctx, "exit", story.id, ev.time_ns),
        exit: ExitJson {
            code: s.container_code(),
            status: s.raw(),
            signal: s.signal(),
            signal_name: s.signal().and_then(signals::name),
            core_dumped: s.core_dumped(),
            explanation: crate::explain::for_exit(s),
        },
        target: placed(ctx, &ev.proc, &ev.place),
        cause,
        diagnosis: story.diagnosis,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures;
    use crate::users::Users;
    use serde_json::Value;

    fn ctx() -> Context {
        Context {
            node: "node-1".into(),
            boot_epoch_ns: 0,
            color: false,
            users: Users::default(),
            page_size: 4096,
        }
    }

    fn line(event: &Event) -> Value {
        let mut out = Vec::new();
        let a = crate::render::bare(event.clone());
        crate::render::render(crate::render::Format::Json, &ctx(), &a, &mut out).unwrap();
        assert_eq!(
            out.iter().filter(|&&b| b == b'\n').count(),
            1,
            "exactly one line"
        );
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn signal_event_has_the_v1_fields() {
        let v = line(&Event::Signal(fixtures::pkill_kills_server()));
        assert_eq!(v["schema"], "exitwatch.v1");
        assert_eq!(v["event"], "signal");
        assert_eq!(v["node"], "node-1");
        assert_eq!(v["signal"]["name"], "SIGKILL");
        assert_eq!(v["signal"]["result"], "delivered");
        assert_eq!(v["signal"]["fatal"], true);
        assert_eq!(v["sender"]["kind"], "process");
        assert_eq!(v["sender"]["comm"], "pkill");
        assert_eq!(
            v["sender"]["args"],
            serde_json::json!(["pkill", "-9", "server"])
        );
        assert_eq!(v["sender"]["parent"]["pid"], 23495);
        assert_eq!(v["sender"]["ancestry"][0]["comm"], "swapper/0");
        assert_eq!(v["sender"]["ancestry"][2]["comm"], "vGhyM0");
        assert_eq!(v["sender"]["context"], Value::Null);
        assert_eq!(v["target"]["pid"], 7942);
        assert_eq!(v["target"]["ns_pid"], 1);
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn kernel_sender_keeps_the_current_task_as_context() {
        let mut ev = fixtures::pkill_kills_server();
        let crate::event::Sender::Process(actor) = ev.sender else {
            unreachable!()
        };
        ev.signo = 11;
        ev.code = 1;
        ev.fault_addr = Some(0);
        ev.sender = Sender::Kernel {
            reason: signals::KernelReason::Fault,
            context: actor,
        };
        let v = line(&Event::Signal(ev));
        assert_eq!(v["sender"]["kind"], "kernel");
        assert_eq!(v["sender"]["reason"], "fault");
        assert_eq!(v["sender"]["context"]["pid"], 23549);
        assert!(v["sender"].get("pid").is_none());
        assert_eq!(v["signal"]["fault_addr"], "0x0");
        assert_eq!(v["signal"]["code_name"], "SEGV_MAPERR");
    }

    #[test]
    fn invalid_utf8_in_names_is_kept_visible() {
        let mut ev = fixtures::pkill_kills_server();
        ev.target.comm = vec![b'a', 0xff, b'\x1b'];
        let v = line(&Event::Signal(ev));
        assert_eq!(v["target"]["comm"], "a\\xff\u{1b}");
    }

    #[test]
    fn oom_kill_line_names_victim_trigger_constraint_and_memcg() {
        let v = line(&Event::Oom(fixtures::memcg_oom()));
        assert_eq!(v["event"], "oom_kill");
        assert_eq!(v["victim"]["comm"], "python3");
        assert_eq!(v["victim"]["anon_rss_bytes"], 61 << 20);
        assert_eq!(v["victim"]["cgroup"], "/kubepods/burstable/pod1/c1");
        assert_eq!(v["trigger"]["is_victim"], true);
        assert_eq!(v["constraint"], "memcg");
        assert_eq!(v["memcg"]["path"], "/kubepods/burstable/pod1");
        assert_eq!(v["memcg"]["limit_bytes"], 64 << 20);
        assert_eq!(v["missing"], serde_json::json!([]));
    }

    #[test]
    fn oom_kill_line_names_the_victims_container() {
        let path = "/kubepods/burstable/pod0a1b2c3d-0000-1111-2222-333344445555/\
                    3b87c0a1f2e4d5c6b7a8998877665544332211ffeeddccbbaa00112233445566";
        let mut ev = fixtures::memcg_oom();
        ev.victim_place = crate::event::Place::from_cgroup_path(path);
        let v = line(&Event::Oom(ev));
        let c = &v["victim"]["container"];
        assert_eq!(c["id"], &path[path.len() - 64..], "{v:#}");
        assert_eq!(c["pod"]["uid"], "0a1b2c3d-0000-1111-2222-333344445555");
        assert_eq!(c["pod"]["qos"], "burstable");
        assert_eq!(
            line(&Event::Oom(fixtures::memcg_oom()))["victim"]["container"],
            serde_json::Value::Null,
            "a host process"
        );
    }

    #[test]
    fn lost_line_counts() {
        let v = line(&Event::Lost { count: 7 });
        assert_eq!(v["event"], "lost");
        assert_eq!(v["count"], 7);
    }
}
