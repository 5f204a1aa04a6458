//! What an ECS consumer relies on: process and target sides, containers, alerts, exits, OOM kills.

use serde_json::{json, Value};

use crate::event::{Event, Sender};
use crate::render::Format;
use crate::render::{bare, fixtures};
use crate::signals::KernelReason;
use crate::story::{Annotated, Cause, Diagnosis, DiagnosisCode};

fn ecs(a: &Annotated) -> Value {
    fixtures::line(Format::Ecs, a)
}

#[test]
fn signal_puts_the_sender_in_process_and_the_target_in_target() {
    let v = ecs(&bare(Event::Signal(fixtures::pkill_kills_server())));
    assert_eq!(v["@timestamp"], "2026-01-24T05:55:05.300000000Z");
    assert_eq!(v["ecs"]["version"], "8.11.0");
    assert_eq!(v["event"]["kind"], "event");
    assert_eq!(v["event"]["category"], json!(["process"]));
    assert_eq!(v["event"]["type"], json!(["info"]));
    assert_eq!(v["event"]["action"], "signal-sent");
    assert_eq!(v["event"]["id"], "t-1");
    assert_eq!(v["event"]["reason"], v["message"]);
    assert_eq!(v["host"]["name"], "node-1");
    assert_eq!(v["observer"]["product"], "exitwatch");
    assert_eq!(v["observer"]["vendor"], "exitwatch");

    let p = &v["process"];
    assert_eq!(p["pid"], 23549);
    assert_eq!(p["vpid"], 23549);
    assert_eq!(p["thread"]["id"], 23549);
    assert_eq!(p["name"], "pkill");
    assert_eq!(p["executable"], "/usr/bin/pkill");
    assert_eq!(p["args"], json!(["pkill", "-9", "server"]));
    assert_eq!(p["args_count"], 3);
    assert_eq!(p["command_line"], "pkill -9 server");
    assert_eq!(p["start"], "2026-01-24T05:55:05.202486630Z");
    assert_eq!(p["parent"]["pid"], 23495);
    assert_eq!(p["parent"]["name"], "bash");
    assert_eq!(p["user"], json!({ "id": "0", "name": "root" }));
    assert_eq!(p["real_user"]["id"], "0");
    assert_eq!(p["real_group"]["id"], "0");
    assert!(p.get("exit_code").is_none());

    let t = &v["Target"]["process"];
    assert_eq!(t["pid"], 7942);
    assert_eq!(t["vpid"], 1);
    assert_eq!(t["name"], "server");
    assert_eq!(t["thread"]["id"], 7942);
    assert_eq!(t["start"], "2026-01-01T01:40:00.000000000Z");
    assert!(v.get("container").is_none() && v["Target"].get("container").is_none());

    let s = &v["Signal"];
    assert_eq!(
        (s["number"].clone(), s["name"].clone()),
        (json!(9), json!("SIGKILL"))
    );
    assert_eq!(s["code"], 0);
    assert_eq!(s["code_name"], "SI_USER");
    assert_eq!(s["result"], "delivered");
    assert_eq!(s["fatal"], true);
    assert_eq!(s["disposition"], "default");

    let x = &v["exitwatch"];
    assert_eq!(x["sender"]["kind"], "process");
    assert_eq!(x["sender"]["role"], "interactive_user");
    assert_eq!(x["sender"]["loginuid"], 1000);
    assert_eq!(x["sender"]["ancestry"][2]["name"], "vGhyM0");
    assert_eq!(x["truncated"], false);
    assert!(x.get("signal").is_none(), "ECS has Signal.* for it");
    assert!(
        x["sender"].get("args").is_none(),
        "ECS has process.args for it"
    );
}

#[test]
fn containers_and_pods_of_both_sides() {
    let v = ecs(&bare(Event::Signal(fixtures::kill_in_pod())));
    let sidecar = "a".repeat(64);
    assert_eq!(v["container"]["id"], sidecar.as_str());
    assert_eq!(v["container"]["name"], "sidecar");
    assert_eq!(
        v["container"]["image"]["name"],
        "docker.io/library/busybox:1.36"
    );
    assert_eq!(v["container"]["runtime"], "containerd");
    assert_eq!(v["orchestrator"]["type"], "kubernetes");
    assert_eq!(v["orchestrator"]["namespace"], "shop");
    assert_eq!(
        v["orchestrator"]["resource"],
        json!({ "type": "pod", "name": "web-7d9c", "id": "0a1b2c3d-0000-1111-2222-333344445555" })
    );
    assert_eq!(v["Target"]["container"]["name"], "nginx");
    assert_eq!(v["Target"]["container"]["id"], "b".repeat(64).as_str());
    assert_eq!(v["Target"]["orchestrator"]["resource"]["name"], "web-7d9c");
    assert_eq!(v["Target"]["process"]["vpid"], 1);
    assert_eq!(v["exitwatch"]["target"]["container"]["qos"], "burstable");
    assert_eq!(
        v["exitwatch"]["target"]["container"]["metadata"],
        "complete"
    );
    assert!(v["exitwatch"]["target"]["container"].get("pod").is_none());
    assert_eq!(v["Signal"]["name"], "SIGTERM");
}

#[test]
fn a_suspicious_sender_makes_an_alert_with_its_reason() {
    let mut a = bare(Event::Signal(fixtures::pkill_kills_server()));
    a.diagnosis.push(Diagnosis {
        code: DiagnosisCode::SuspiciousSender,
        message: "SIGKILL to server(7942) came from a suspicious sender (random_name)".into(),
        evidence: json!([{ "rule": "random_name", "process": "vGhyM0(19400)" }]),
    });
    let v = ecs(&a);
    assert_eq!(v["event"]["kind"], "alert");
    assert_eq!(
        v["event"]["reason"],
        "SIGKILL to server(7942) came from a suspicious sender (random_name)"
    );
    assert_eq!(v["exitwatch"]["diagnosis"][0]["code"], "suspicious_sender");
    assert_eq!(
        v["exitwatch"]["diagnosis"][0]["evidence"][0]["rule"],
        "random_name"
    );
}

#[test]
fn kernel_sender_keeps_the_current_task_in_process() {
    let mut ev = fixtures::pkill_kills_server();
    let Sender::Process(actor) = ev.sender else {
        unreachable!()
    };
    (ev.signo, ev.code, ev.fault_addr) = (11, 1, Some(0x10));
    ev.sender = Sender::Kernel {
        reason: KernelReason::Fault,
        context: actor,
    };
    let v = ecs(&bare(Event::Signal(ev)));
    assert_eq!(v["process"]["pid"], 23549);
    assert_eq!(v["exitwatch"]["sender"]["kind"], "kernel");
    assert_eq!(v["exitwatch"]["sender"]["reason"], "fault");
    assert_eq!(v["exitwatch"]["sender"]["role"], "kernel");
    assert_eq!(v["Signal"]["fault_addr"], "0x10");
}

#[test]
fn exit_is_a_process_end_with_its_container_code() {
    let mut a = bare(fixtures::nginx_exits());
    a.cause = Some(Cause {
        id: "t-0".into(),
        event: "signal",
        signal: Some(15),
        delay_ns: 40_000_000,
    });
    let v = ecs(&a);
    assert_eq!(v["event"]["type"], json!(["end"]));
    assert_eq!(v["event"]["action"], "process-exited");
    assert_eq!(v["process"]["pid"], 4242);
    assert_eq!(v["process"]["exit_code"], 143);
    assert_eq!(v["process"]["end"], v["@timestamp"]);
    assert_eq!(v["container"]["name"], "nginx");
    assert_eq!(v["orchestrator"]["resource"]["name"], "web-7d9c");
    assert!(v.get("Target").is_none() && v.get("Signal").is_none());
    assert_eq!(v["exitwatch"]["exit"]["signal_name"], "SIGTERM");
    let explanation = v["exitwatch"]["exit"]["explanation"].as_str().unwrap();
    assert!(
        explanation.starts_with("killed by SIGTERM (128+15)"),
        "{explanation}"
    );
    assert_eq!(v["exitwatch"]["process"]["container"]["qos"], "burstable");
    assert_eq!(v["exitwatch"]["cause"]["id"], "t-0");
}

#[test]
fn oom_kill_ends_its_victim() {
    let v = ecs(&bare(Event::Oom(fixtures::memcg_oom())));
    assert_eq!(v["@timestamp"], "2026-01-01T00:02:00.000000000Z");
    assert_eq!(v["event"]["type"], json!(["end"]));
    assert_eq!(v["event"]["action"], "oom-kill");
    assert_eq!(v["process"]["pid"], 5937);
    assert_eq!(v["process"]["name"], "python3");
    assert_eq!(v["process"]["args"], json!(["python3", "leak.py"]));
    assert_eq!(v["process"]["real_user"]["name"], "root");
    let o = &v["exitwatch"]["oom"];
    assert_eq!(o["constraint"], "memcg");
    assert_eq!(o["memcg"]["path"], "/kubepods/burstable/pod1");
    assert_eq!(o["memcg"]["limit_bytes"], 64 << 20);
    assert_eq!(o["memory"]["anon_rss_bytes"], 61 << 20);
    assert_eq!(o["cgroup"], "/kubepods/burstable/pod1/c1");
    assert_eq!(o["trigger"]["is_victim"], true);
    assert_eq!(o["args_truncated"], false);
}

#[test]
fn lost_events_are_counted() {
    let v = ecs(&bare(Event::Lost {
        count: 7,
        class: crate::event::LossClass::NonFatal,
    }));
    assert_eq!(v["event"]["action"], "events-lost");
    assert_eq!(
        v["exitwatch"]["lost"],
        json!({ "count": 7, "reason": "ring_buffer_full", "class": "nonfatal" })
    );
    assert!(v.get("process").is_none());
    assert!(v["@timestamp"].as_str().unwrap().ends_with('Z'));
}
