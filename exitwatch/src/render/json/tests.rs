//! What a reader of `exitwatch.v1` relies on: the fields of each event kind, kept names, nulls.

use super::*;
use crate::event::Sender;
use crate::render::fixtures;
use crate::signals;
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
