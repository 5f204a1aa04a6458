//! The `oom_kill` document: the victim and its memory, the task whose allocation failed, the limiting memcg.

use std::borrow::Cow;

use serde::Serialize;

use super::process::{proc, ParentJson, ProcJson};
use super::{Head, Story};
use crate::container::identity::ContainerInfo;
use crate::escape::json_string;
use crate::event::OomEvent;
use crate::render::limit::Shorten;
use crate::render::Context;
use crate::story::Diagnosis;

#[derive(Serialize)]
pub(super) struct OomLine<'a> {
    #[serde(flatten)]
    head: Head<'a>,
    victim: VictimJson<'a>,
    trigger: TriggerJson<'a>,
    also_killed: Vec<ParentJson<'a>>,
    constraint: Option<&'static str>,
    memcg: Option<MemcgJson>,
    missing: &'a [&'static str],
    diagnosis: &'a [Diagnosis],
}

#[derive(Serialize)]
struct VictimJson<'a> {
    #[serde(flatten)]
    proc: ProcJson<'a>,
    args: Vec<Cow<'a, str>>,
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
struct TriggerJson<'a> {
    pid: u32,
    tid: u32,
    comm: Cow<'a, str>,
    is_victim: bool,
}

#[derive(Serialize)]
struct MemcgJson {
    path: String,
    limit_bytes: Option<u64>,
    usage_bytes: Option<u64>,
    peak_bytes: Option<u64>,
}

pub(super) fn oom<'a>(
    ctx: &'a Context,
    ev: &'a OomEvent,
    story: Story<'a>,
    s: Shorten,
) -> OomLine<'a> {
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
        head: story.head,
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
            container: ev.victim_place.container.as_deref(),
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
