//! What a reader of `exitwatch.v1` relies on: the fields of each event kind, kept names, nulls.

use super::*;
use crate::event::{Sender, SignalEvent};
use crate::render::fixtures;
use crate::signals;
use crate::users::Users;
use serde_json::Value;
use std::sync::Arc;

fn ctx() -> Context {
    Context {
        node: "node-1".into(),
        boot_epoch_ns: 0,
        color: false,
        users: Users::default(),
        page_size: 4096,
        memo: Default::default(),
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
    let v = line(&Event::Lost {
        count: 7,
        class: crate::event::LossClass::NonFatal,
    });
    assert_eq!(v["event"], "lost");
    assert_eq!(v["count"], 7);
}

#[test]
fn lost_lines_say_their_class() {
    for (class, name) in [
        (crate::event::LossClass::Fatal, "fatal"),
        (crate::event::LossClass::Identity, "identity"),
        (crate::event::LossClass::Exit, "exit"),
    ] {
        let v = line(&Event::Lost { count: 2, class });
        assert_eq!(
            (v["class"].as_str(), v["reason"].as_str()),
            (Some(name), Some("ring_buffer_full"))
        );
    }
}

#[test]
fn a_suppressed_line_names_the_sender_its_signal_and_the_count() {
    let flood = crate::event::Suppressed {
        sender: Some(crate::event::Proc {
            pid: 4242,
            tid: 4242,
            ns_pid: None,
            comm: b"flo\x1bod".to_vec(),
            start_ns: 5_000_000_000,
        }),
        uid: Some(1000),
        signo: 15,
        count: 123_456,
    };
    let v = line(&Event::Suppressed(flood.clone()));
    assert_eq!(v["event"], "suppressed");
    assert_eq!(v["sender"]["pid"], 4242);
    assert_eq!(v["sender"]["comm"], "flo\u{1b}od");
    assert_eq!(v["sender"]["uid"], 1000);
    assert_eq!(
        v["sender"]["start_time"], "1970-01-01T00:00:05.000000000Z",
        "start time since boot, in the test's clock"
    );
    assert_eq!(
        v["signal"],
        serde_json::json!({"number": 15, "name": "SIGTERM"})
    );
    assert_eq!(
        (v["count"].as_u64(), v["reason"].as_str()),
        (Some(123_456), Some("sender_budget"))
    );
    let unattributed = crate::event::Suppressed {
        sender: None,
        uid: None,
        signo: 0,
        count: 9,
    };
    let v = line(&Event::Suppressed(unattributed));
    assert_eq!((v["sender"].is_null(), v["signal"].is_null()), (true, true));
}

#[test]
fn a_sender_whose_identity_was_lost_says_so_and_nothing_else_is_made_up() {
    let mut ev = fixtures::pkill_kills_server();
    let a = ev.sender.actor_mut();
    (a.args, a.exe, a.ancestry, a.identity_lost) =
        (Default::default(), None, Default::default(), true);
    let v = line(&Event::Signal(ev));
    assert_eq!(v["sender"]["identity"], "lost");
    assert_eq!(v["sender"]["comm"], "pkill");
    assert_eq!(
        (
            v["sender"]["exe"].is_null(),
            v["sender"]["args"].as_array().map(Vec::len)
        ),
        (true, Some(0))
    );
    let whole = line(&Event::Signal(fixtures::pkill_kills_server()));
    assert!(
        whole["sender"].get("identity").is_none(),
        "absent when captured"
    );
}

#[test]
fn a_signal_carries_the_kubelets_reason_and_the_pods_confirmation() {
    let mut ev = fixtures::kill_in_pod();
    ev.signo = 9;
    let mut a = crate::render::bare(crate::event::Event::Signal(ev));
    let v = fixtures::line(crate::render::Format::Json, &a);
    assert!(v.get("cause").is_none(), "no cause without the API");
    assert_eq!(v["target"]["container"]["pod"]["confirmed_by"], "runtime");
    a.kubelet = Some(crate::kube::view::KubeletCause {
        reason: "Killing".into(),
        message: "Liveness probe failed: HTTP probe failed with statuscode: 500".into(),
        time_ns: 1_800_000_000_000_000_000,
    });
    let v = fixtures::line(crate::render::Format::Json, &a);
    assert_eq!(v["cause"]["kubelet"]["reason"], "Killing");
    assert_eq!(
        v["cause"]["kubelet"]["message"],
        "Liveness probe failed: HTTP probe failed with statuscode: 500"
    );
    assert_eq!(
        v["cause"]["kubelet"]["time"],
        "2027-01-15T08:00:00.000000000Z"
    );
    let mut text = Vec::new();
    crate::render::render(crate::render::Format::Text, &fixtures::ctx(), &a, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("\n  kubelet: Liveness probe failed: HTTP probe failed with statuscode: 500 (Killing)\n"), "{text}");
}

#[test]
fn an_exit_carries_the_kubelets_reason_beside_its_cause() {
    let mut a = crate::render::bare(fixtures::nginx_exits());
    a.cause = Some(crate::story::Cause {
        id: "t-1".into(),
        event: "signal",
        signal: Some(15),
        delay_ns: 5,
    });
    a.kubelet = Some(crate::kube::view::KubeletCause {
        reason: "Killing".into(),
        message: "Stopping container nginx".into(),
        time_ns: 0,
    });
    let v = fixtures::line(crate::render::Format::Json, &a);
    assert_eq!(v["cause"]["id"], "t-1");
    assert_eq!(v["cause"]["kubelet"]["message"], "Stopping container nginx");
}

/// Renders `ev` as one line with `ctx` (whose memo persists between calls).
fn line_with(ctx: &Context, ev: &SignalEvent) -> String {
    let mut out = Vec::new();
    let a = crate::render::bare(Event::Signal(ev.clone()));
    crate::render::render(crate::render::Format::Json, ctx, &a, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// What a renderer that never saw an event before writes for `ev` with `ctx`'s clock.
fn fresh_line(ctx: &Context, ev: &SignalEvent) -> String {
    line_with(&ctx.clone(), ev)
}

#[test]
fn a_signals_sender_and_target_are_rendered_once_and_reused_exactly() {
    let ctx = ctx();
    let ev = fixtures::pkill_kills_server();
    let first = line_with(&ctx, &ev);
    assert_eq!(
        ctx.memo.len(),
        (1, 1, 1, 1),
        "lineage, sender, target, signal"
    );
    // Spliced in place, as serde writes the fields around it.
    assert!(first.contains(
        r#""sessionid":3,"kernel_thread":false,"exe":"/usr/bin/pkill","exe_deleted":false,"parent":{"pid":23495,"comm":"#
    ));
    assert!(first.contains(r#""args":["pkill","-9","server"],"args_truncated":false,"uid":0"#));
    assert!(first.contains(
        r#""ancestry":[{"pid":0,"comm":"swapper/0","start_time":"1970-01-01T00:00:00.000000000Z"},"#
    ));
    assert!(first.contains(
        r#""sender":{"kind":"process","role":"interactive_user","reason":null,"pid":23549,"#
    ));
    assert!(first.contains(r#""context":null},"target":{"pid":7942,"tid":7942,"comm":"server","#));
    let again = line_with(&ctx, &ev);
    assert_eq!(
        ctx.memo.len(),
        (1, 1, 1, 1),
        "the second line reused the first's"
    );
    assert_eq!(first, again);
    assert_eq!(first, fresh_line(&ctx, &ev));
}

#[test]
fn a_kept_rendering_is_never_stale() {
    let mut ctx = ctx();
    let mut ev = fixtures::pkill_kills_server();
    line_with(&ctx, &ev);
    // Same processes (pid, start time), other values, one change at a time: each line is what
    // a fresh renderer writes.
    type Change = (&'static str, fn(&mut SignalEvent));
    let changes: Vec<Change> = vec![
        ("argv redacted", |ev| {
            Arc::make_mut(&mut ev.sender.actor_mut().args)[2] = b"<redacted>".to_vec()
        }),
        ("an ancestor changed", |ev| {
            Arc::make_mut(&mut ev.sender.actor_mut().ancestry)[2].comm = b"init".to_vec()
        }),
        ("the executable gone", |ev| ev.sender.actor_mut().exe = None),
        ("another thread of the sender", |ev| {
            ev.sender.actor_mut().proc.tid += 1
        }),
        ("that thread's argv (its image's lineage kept)", |ev| {
            Arc::make_mut(&mut ev.sender.actor_mut().args).push(b"--again".to_vec())
        }),
        ("the sender renamed itself", |ev| {
            ev.sender.actor_mut().proc.comm = b"kubelet".to_vec()
        }),
        ("its role changed (no login)", |ev| {
            let a = ev.sender.actor_mut();
            a.loginuid = None;
            Arc::make_mut(&mut a.ancestry).retain(|x| x.comm != b"sshd");
        }),
        ("its identity lost", |ev| {
            ev.sender.actor_mut().identity_lost = true
        }),
        ("the target found in a container", |ev| {
            ev.target_place = fixtures::in_pod('a', "nginx", "nginx:1.27")
        }),
        ("the target's container named since", |ev| {
            let c = ev.target_place.container.as_mut().unwrap();
            c.name = Some("renamed".into());
        }),
        ("the target's container gone", |ev| {
            ev.target_place.container = None
        }),
        ("the target renamed", |ev| {
            ev.target.comm = b"worker".to_vec()
        }),
        ("another thread of the target", |ev| ev.target.tid += 1),
        ("another signal", |ev| ev.signo = signals::SIGTERM),
        ("another outcome, as fatal", |ev| {
            ev.result = signals::SignalResult::AlreadyPending
        }),
        ("ignored", |ev| ev.result = signals::SignalResult::Ignored),
        ("another disposition", |ev| {
            ev.disposition = Some(crate::signals::Disposition::Handled)
        }),
        ("sent to one thread", |ev| ev.group = !ev.group),
        ("by cgroup.kill", |ev| {
            ev.via = Some(crate::event::Via::CgroupKill)
        }),
        ("a fault at an address", |ev| {
            ev.signo = 11;
            ev.code = 1;
            ev.fault_addr = Some(0xdead);
        }),
        ("at another address", |ev| ev.fault_addr = Some(0xbeef)),
    ];
    for (what, change) in changes {
        let before = line_with(&ctx, &ev);
        change(&mut ev);
        let after = line_with(&ctx, &ev);
        assert_ne!(before, after, "{what}: the line changed");
        assert_eq!(after, fresh_line(&ctx, &ev), "{what}");
    }
    // The clock was stepped (the pipeline moves the boot epoch in place): every start time
    // moves with it, as a fresh renderer writes them.
    let shown = line_with(&ctx, &ev);
    ctx.boot_epoch_ns = 1_000_000_000;
    let stepped = line_with(&ctx, &ev);
    assert_ne!(shown, stepped);
    assert_eq!(stepped, fresh_line(&ctx, &ev));
}

#[test]
fn the_memo_is_bounded() {
    let ctx = ctx();
    let mut ev = fixtures::pkill_kills_server();
    for pid in 0..3_000 {
        ev.sender.actor_mut().proc.pid = pid;
        ev.target.pid = pid;
        line_with(&ctx, &ev);
    }
    let (lineages, senders, targets, _) = ctx.memo.len();
    assert!(
        lineages <= 1024 && senders <= 1024 && targets <= 1024,
        "{:?} held",
        ctx.memo.len()
    );
    // A sender as large as a line allows keeps the memo within its bytes, too.
    ev.sender.actor_mut().args = vec![vec![b'x'; 12 * 1024]].into();
    for pid in 0..200 {
        ev.sender.actor_mut().proc.pid = pid;
        line_with(&ctx, &ev);
    }
    let (lineages, senders, _, _) = ctx.memo.len();
    let most = 2 * (1 << 20) / (12 * 1024);
    assert!(
        lineages <= most && senders <= most,
        "{:?} held",
        ctx.memo.len()
    );
}
