//! exitwatch's own fields, which neither ECS nor OCSF has: `exitwatch.*` in ECS, `unmapped` in OCSF.

use std::borrow::Cow;

use serde::Serialize;

use super::limit::Shorten;
use super::Context;
use crate::container::identity::MetadataStatus;
use crate::escape::json_string;
use crate::event::{Event, OomEvent, Place, Sender, SignalEvent};
use crate::exitstatus::ExitStatus;
use crate::signals;
use crate::story::{Annotated, Cause, Diagnosis};
use crate::timefmt::Rfc3339;

/// What the renderer puts in: OCSF also gets what ECS keeps in its own fields.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Standard {
    Ecs,
    Ocsf,
}

#[derive(Serialize, Default)]
pub struct Extra<'a> {
    /// OCSF only: ECS has the custom `Signal.*` for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<SignalX>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<SenderX<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<PlaceX<'a>>,
    /// Where the process of an exit event lived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<PlaceX<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitX>,
    /// The signal or OOM kill event this exit followed from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<&'a Cause>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom: Option<OomX<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<super::gaps::LostView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<super::gaps::SuppressedView>,
    pub diagnosis: &'a [Diagnosis],
    /// argv or ancestry was cut to keep the line under 16 KiB.
    pub truncated: bool,
}

#[derive(Serialize)]
pub struct SignalX {
    pub number: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
    pub code: i32,
    pub code_name: &'static str,
    pub result: &'static str,
    pub fatal: bool,
    pub group: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposition: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault_addr: Option<String>,
    /// How a process sender made the kernel send it (`cgroup.kill`), as in exitwatch.v1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<&'static str>,
}

#[derive(Serialize)]
pub struct SenderX<'a> {
    /// "process", or "kernel" when the kernel generated the signal itself (the process fields
    /// then name the task it was running in).
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// OCSF only (ECS has `process.user`, `process.real_user`, `process.real_group`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ids: Option<IdsX>,
    /// OCSF only (ECS has `process.args`): argv, which `cmd_line` joins ambiguously.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loginuid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessionid: Option<u32>,
    pub kernel_thread: bool,
    pub exe_deleted: bool,
    pub args_truncated: bool,
    /// Root first, the parent last.
    pub ancestry: Vec<AncestorX>,
    pub ancestry_truncated: bool,
    #[serde(flatten)]
    pub place: PlaceX<'a>,
}

#[derive(Serialize)]
pub struct IdsX {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
}

#[derive(Serialize)]
pub struct AncestorX {
    pub pid: u32,
    pub name: String,
    pub start: Rfc3339,
}

#[derive(Serialize)]
pub struct PlaceX<'a> {
    pub namespaces: NamespacesX,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerX<'a>>,
}

#[derive(Serialize)]
pub struct NamespacesX {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mnt: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uts: Option<u32>,
}

#[derive(Serialize)]
pub struct ContainerX<'a> {
    pub cgroup: &'a str,
    /// OCSF only (ECS has `orchestrator.*`): OCSF's container knows the pod's uid only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodX<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qos: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containerd_namespace: Option<&'a str>,
    /// "complete", "not_found" or "unavailable" (then with `metadata_error`): one type per
    /// field, as Elasticsearch mappings need.
    pub metadata: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata_error: Option<&'a str>,
}

#[derive(Serialize)]
pub struct PodX<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<&'a str>,
}

#[derive(Serialize)]
pub struct ExitX {
    /// The raw wait(2) status.
    pub status: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal_name: Option<&'static str>,
    pub core_dumped: bool,
    pub explanation: String,
}

#[derive(Serialize)]
pub struct OomX<'a> {
    pub oom_score_adj: i32,
    pub args_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryX>,
    /// The victim's own memory cgroup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<&'a str>,
    pub trigger: TriggerX,
    pub also_killed: Vec<PidName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint: Option<&'static str>,
    /// The memory cgroup whose limit was hit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memcg: Option<MemcgX<'a>>,
    /// What could not be known, by exitwatch.v1 field name.
    pub missing: &'a [&'static str],
}

#[derive(Serialize)]
pub struct MemoryX {
    pub total_vm_bytes: u64,
    pub anon_rss_bytes: u64,
    pub file_rss_bytes: u64,
    pub shmem_rss_bytes: u64,
    pub pgtables_bytes: u64,
}

/// The task whose allocation failed.
#[derive(Serialize)]
pub struct TriggerX {
    pub pid: u32,
    pub tid: u32,
    pub name: String,
    pub is_victim: bool,
}

#[derive(Serialize)]
pub struct PidName {
    pub pid: u32,
    pub name: String,
}

#[derive(Serialize)]
pub struct MemcgX<'a> {
    pub path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_bytes: Option<u64>,
}

/// Everything exitwatch knows beyond the standard's fields; `truncated` is set when `s` cut
/// the sender's or the victim's argv, or the sender's ancestry.
pub fn extra<'a>(ctx: &Context, a: &'a Annotated, s: Shorten, std: Standard) -> Extra<'a> {
    let mut x = Extra {
        diagnosis: &a.diagnosis,
        cause: a.cause.as_ref(),
        ..Extra::default()
    };
    match &a.event {
        Event::Signal(ev) => {
            if std == Standard::Ocsf {
                x.signal = Some(signal(ev));
            }
            let (sender, cut) = sender(ctx, ev, s, std);
            x.sender = Some(sender);
            x.target = Some(place(&ev.target_place, std));
            x.truncated = cut;
        }
        Event::Exit(ev) => {
            x.process = Some(place(&ev.place, std));
            x.exit = Some(exit(ev.status));
        }
        Event::Oom(ev) => {
            let cut = s.args(&ev.victim_args).1;
            x.oom = Some(oom(ctx, ev, cut));
            x.truncated = cut;
        }
        Event::Lost { count, class } => x.lost = Some(super::gaps::lost(*count, *class)),
        Event::Suppressed(s) => x.suppressed = Some(super::gaps::suppressed(ctx, s)),
    }
    x
}

pub fn signal(ev: &SignalEvent) -> SignalX {
    SignalX {
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

/// The sender's extra fields, and whether `s` cut its argv or ancestry.
fn sender<'a>(
    ctx: &Context,
    ev: &'a SignalEvent,
    s: Shorten,
    std: Standard,
) -> (SenderX<'a>, bool) {
    let (kind, reason) = match &ev.sender {
        Sender::Process(_) => ("process", None),
        Sender::Kernel { reason, .. } => ("kernel", Some(reason.as_str())),
    };
    let a = ev.sender.actor();
    let (args, args_cut) = s.args(&a.args);
    let (ancestry, ancestry_cut) = s.ancestry(&a.ancestry);
    let ocsf = std == Standard::Ocsf;
    let x = SenderX {
        kind,
        role: crate::role::of(&ev.sender).map(|r| r.as_str()),
        reason,
        ids: ocsf.then_some(IdsX {
            uid: a.uid,
            euid: a.euid,
            gid: a.gid,
        }),
        args: ocsf.then(|| args.into_iter().map(Cow::into_owned).collect()),
        loginuid: a.loginuid,
        sessionid: a.sessionid,
        kernel_thread: a.kernel_thread,
        exe_deleted: a.exe_deleted,
        args_truncated: a.args_truncated || args_cut,
        ancestry: ancestry
            .iter()
            .map(|x| AncestorX {
                pid: x.pid,
                name: json_string(&x.comm).into_owned(),
                start: Rfc3339(ctx.wall_ns(x.start_ns)),
            })
            .collect(),
        ancestry_truncated: a.ancestry_truncated || ancestry_cut,
        place: place(&a.place, std),
    };
    (x, args_cut || ancestry_cut)
}

pub fn place(p: &Place, std: Standard) -> PlaceX<'_> {
    PlaceX {
        namespaces: NamespacesX {
            pid: p.ns.pid,
            mnt: p.ns.mnt,
            uts: p.ns.uts,
        },
        container: p.container.as_ref().map(|c| {
            let (metadata, metadata_error) = match &c.metadata {
                MetadataStatus::Complete => ("complete", None),
                MetadataStatus::NotFound => ("not_found", None),
                MetadataStatus::Unavailable(why) => ("unavailable", Some(why.as_str())),
            };
            ContainerX {
                cgroup: &c.cgroup,
                pod: c
                    .pod
                    .as_ref()
                    .filter(|_| std == Standard::Ocsf)
                    .map(|p| PodX {
                        name: p.name.as_deref(),
                        namespace: p.namespace.as_deref(),
                    }),
                qos: c.pod.as_ref().and_then(|p| p.qos).map(|q| q.as_str()),
                containerd_namespace: c.containerd_namespace.as_deref(),
                metadata,
                metadata_error,
            }
        }),
    }
}

fn exit(st: ExitStatus) -> ExitX {
    ExitX {
        status: st.raw(),
        signal: st.signal(),
        signal_name: st.signal().and_then(signals::name),
        core_dumped: st.core_dumped(),
        explanation: crate::explain::for_exit(&st),
    }
}

fn oom<'a>(ctx: &Context, ev: &'a OomEvent, args_truncated: bool) -> OomX<'a> {
    let page = ctx.page_size;
    let memcg = ev.context.as_ref().and_then(|c| c.oom_memcg.as_deref());
    OomX {
        oom_score_adj: ev.oom_score_adj,
        args_truncated,
        memory: ev.memory.map(|m| MemoryX {
            total_vm_bytes: m.total_vm_pages * page,
            anon_rss_bytes: m.anon_pages * page,
            file_rss_bytes: m.file_pages * page,
            shmem_rss_bytes: m.shmem_pages * page,
            pgtables_bytes: m.pgtables_bytes,
        }),
        cgroup: ev.victim_memcg(),
        trigger: TriggerX {
            pid: ev.trigger.pid,
            tid: ev.trigger.tid,
            name: json_string(&ev.trigger.comm).into_owned(),
            is_victim: ev.trigger_is_victim(),
        },
        also_killed: ev
            .also_killed
            .iter()
            .map(|p| PidName {
                pid: p.pid,
                name: json_string(&p.comm).into_owned(),
            })
            .collect(),
        constraint: ev.context.as_ref().map(|c| c.constraint.as_str()),
        memcg: memcg.map(|path| MemcgX {
            path,
            limit_bytes: ev.memcg_usage.and_then(|u| u.limit_bytes),
            usage_bytes: ev.memcg_usage.and_then(|u| u.usage_bytes),
            peak_bytes: ev.memcg_usage.and_then(|u| u.peak_bytes),
        }),
        missing: &ev.missing,
    }
}
