//! The process views every `exitwatch.v1` document shares: a process, where it lived, an actor with its argv and ancestry.

use std::borrow::Cow;

use serde::Serialize;

use super::lineage::Part;
use crate::container::identity::ContainerInfo;
use crate::escape::json_string;
use crate::event::{Actor, Ancestor, Place, Proc};
use crate::render::limit::Shorten;
use crate::render::Context;
use crate::timefmt::Rfc3339;

#[derive(Serialize)]
pub(super) struct ActorJson<'a> {
    #[serde(flatten)]
    proc: PlacedJson<'a>,
    args: Part,
    args_truncated: bool,
    uid: u32,
    gid: u32,
    euid: u32,
    loginuid: Option<u32>,
    sessionid: Option<u32>,
    kernel_thread: bool,
    exe: Part,
    exe_deleted: bool,
    parent: Part,
    ancestry: Part,
    ancestry_truncated: bool,
    /// Present only when the identity record was lost: args, exe, ancestry, the container
    /// and the audit ids are then unknown (empty or null), not guessed.
    #[serde(skip_serializing_if = "Option::is_none")]
    identity: Option<&'static str>,
}

#[derive(Serialize)]
pub(super) struct ProcJson<'a> {
    pid: u32,
    tid: u32,
    comm: Cow<'a, str>,
    start_time: Rfc3339,
    ns_pid: Option<u32>,
}

/// A process with where it lived: its container (null on the host) and namespaces.
#[derive(Serialize)]
pub(super) struct PlacedJson<'a> {
    #[serde(flatten)]
    proc: ProcJson<'a>,
    container: Option<&'a ContainerInfo>,
    namespaces: NamespacesJson,
}

#[derive(Serialize)]
struct NamespacesJson {
    pid: Option<u32>,
    mnt: Option<u32>,
    uts: Option<u32>,
}

pub(super) fn placed<'a>(ctx: &Context, p: &'a Proc, place: &'a Place) -> PlacedJson<'a> {
    let ns = place.ns;
    PlacedJson {
        proc: proc(ctx, p),
        container: place.container.as_deref(),
        namespaces: NamespacesJson {
            pid: ns.pid,
            mnt: ns.mnt,
            uts: ns.uts,
        },
    }
}

#[derive(Serialize)]
pub(super) struct ParentJson<'a> {
    pub(super) pid: u32,
    pub(super) comm: Cow<'a, str>,
}

#[derive(Serialize)]
pub(super) struct AncestorJson<'a> {
    pid: u32,
    comm: Cow<'a, str>,
    start_time: Rfc3339,
}

pub(super) fn proc<'a>(ctx: &Context, p: &'a Proc) -> ProcJson<'a> {
    ProcJson {
        pid: p.pid,
        tid: p.tid,
        comm: json_string(&p.comm),
        start_time: Rfc3339(ctx.wall_ns(p.start_ns)),
        ns_pid: p.ns_pid,
    }
}

impl<'a> AncestorJson<'a> {
    pub(super) fn of(ctx: &Context, a: &'a Ancestor) -> Self {
        AncestorJson {
            pid: a.pid,
            comm: json_string(&a.comm),
            start_time: Rfc3339(ctx.wall_ns(a.start_ns)),
        }
    }
}

/// An actor, its argv, executable and ancestry rendered once per process image (see [`super::lineage`]).
pub(super) fn actor<'a>(
    ctx: &Context,
    a: &'a Actor,
    s: Shorten,
) -> serde_json::Result<ActorJson<'a>> {
    let l = super::lineage::of(ctx, a, s)?;
    Ok(ActorJson {
        proc: placed(ctx, &a.proc, &a.place),
        args_truncated: a.args_truncated || l.args_cut,
        args: Part(l.clone(), |l| Some(&l.args)),
        uid: a.uid,
        gid: a.gid,
        euid: a.euid,
        loginuid: a.loginuid,
        sessionid: a.sessionid,
        kernel_thread: a.kernel_thread,
        exe: Part(l.clone(), |l| l.exe.as_deref()),
        exe_deleted: a.exe_deleted,
        parent: Part(l.clone(), |l| l.parent.as_deref()),
        ancestry_truncated: a.ancestry_truncated || l.ancestry_cut,
        ancestry: Part(l, |l| Some(&l.ancestry)),
        identity: a.identity_lost.then_some("lost"),
    })
}
