//! What an OCSF consumer relies on: activities and actors, severity, containers, exits, OOM kills.

use serde_json::{json, Value};

use crate::event::{Event, Sender};
use crate::exitstatus::ExitStatus;
use crate::render::Format;
use crate::render::{bare, fixtures};
use crate::signals::{Disposition, KernelReason};
use crate::story::{Annotated, Cause, Diagnosis, DiagnosisCode};

fn ocsf(a: &Annotated) -> Value {
    fixtures::line(Format::Ocsf, a)
}

fn suspicious(mut a: Annotated) -> Annotated {
    a.diagnosis.push(Diagnosis {
        code: DiagnosisCode::SuspiciousSender,
        message: "came from a suspicious sender".into(),
        evidence: json!([]),
    });
    a
}

#[test]
fn signal_is_a_process_activity_terminate_by_the_sender() {
    let v = ocsf(&bare(Event::Signal(fixtures::pkill_kills_server())));
    assert_eq!(v["class_uid"], 1007);
    assert_eq!(v["class_name"], "Process Activity");
    assert_eq!(v["category_uid"], 1);
    assert_eq!(v["category_name"], "System Activity");
    assert_eq!(v["activity_id"], 2);
    assert_eq!(v["activity_name"], "Terminate");
    assert_eq!(v["type_uid"], 100702);
    assert_eq!(v["type_name"], "Process Activity: Terminate");
    assert_eq!(v["severity_id"], 1);
    assert_eq!(v["severity"], "Informational");
    assert_eq!(v["status_id"], 1);
    assert_eq!(v["status_detail"], "delivered");
    assert_eq!(v["time"], 1_769_234_105_300_i64);
    assert_eq!(v["metadata"]["version"], "1.3.0");
    assert_eq!(v["metadata"]["product"]["name"], "exitwatch");
    assert_eq!(v["metadata"]["product"]["vendor_name"], "exitwatch");
    assert_eq!(v["metadata"]["uid"], "t-1");
    assert_eq!(v["metadata"]["correlation_uid"], "t-1");
    assert_eq!(v["device"]["hostname"], "node-1");
    assert_eq!(v["device"]["type_id"], 0);

    let s = &v["actor"]["process"];
    assert_eq!(s["pid"], 23549);
    assert_eq!(s["name"], "pkill");
    assert_eq!(s["cmd_line"], "pkill -9 server");
    assert_eq!(s["file"]["path"], "/usr/bin/pkill");
    assert_eq!(s["file"]["name"], "pkill");
    assert_eq!(s["user"], json!({ "uid": "0", "name": "root" }));
    assert_eq!(s["parent_process"]["pid"], 23495);
    assert_eq!(s["parent_process"]["name"], "bash");
    assert_eq!(s["created_time"], 1_769_234_105_202_i64);
    assert!(v["actor"].get("app_name").is_none());

    assert_eq!(v["process"]["pid"], 7942);
    assert_eq!(v["process"]["tid"], 7942);
    assert_eq!(v["process"]["namespace_pid"], 1);
    assert_eq!(v["process"]["name"], "server");
    assert!(v.get("exit_code").is_none());

    let u = &v["unmapped"];
    assert_eq!(u["signal"]["name"], "SIGKILL");
    assert_eq!(u["signal"]["fatal"], true);
    assert_eq!(u["sender"]["args"], json!(["pkill", "-9", "server"]));
    assert_eq!(u["sender"]["ids"], json!({ "uid": 0, "euid": 0, "gid": 0 }));
    assert_eq!(u["sender"]["ancestry"][2]["name"], "vGhyM0");
    assert_eq!(u["truncated"], false);
}

#[test]
fn suspicious_senders_raise_the_severity() {
    let v = ocsf(&suspicious(bare(Event::Signal(
        fixtures::pkill_kills_server(),
    ))));
    assert_eq!(
        (v["severity_id"].clone(), v["severity"].clone()),
        (json!(4), json!("High"))
    );
    let mut handled = fixtures::kill_in_pod();
    handled.disposition = Some(Disposition::Handled);
    let v = ocsf(&suspicious(bare(Event::Signal(handled))));
    assert_eq!(v["severity_id"], 3, "not fatal: Medium");
    assert_eq!(
        v["activity_id"], 2,
        "SIGTERM is still a request to terminate"
    );
}

#[test]
fn a_signal_that_asks_nothing_to_end_is_other() {
    let mut ev = fixtures::pkill_kills_server();
    ev.signo = 10;
    ev.disposition = Some(Disposition::Handled);
    let v = ocsf(&bare(Event::Signal(ev)));
    assert_eq!(v["activity_id"], 99);
    assert_eq!(v["activity_name"], "Signal");
    assert_eq!(v["type_uid"], 100799);
    assert_eq!(v["type_name"], "Process Activity: Other");
}

#[test]
fn containers_and_pods() {
    let v = ocsf(&bare(Event::Signal(fixtures::kill_in_pod())));
    let c = &v["process"]["container"];
    assert_eq!(c["uid"], "b".repeat(64).as_str());
    assert_eq!(c["name"], "nginx");
    assert_eq!(c["image"]["name"], "docker.io/library/nginx:1.27");
    assert_eq!(c["runtime"], "containerd");
    assert_eq!(c["orchestrator"], "Kubernetes");
    assert_eq!(c["pod_uuid"], "0a1b2c3d-0000-1111-2222-333344445555");
    assert_eq!(v["actor"]["process"]["container"]["name"], "sidecar");
    assert_eq!(v["actor"]["process"]["namespace_pid"], 12);
    assert_eq!(v["metadata"]["profiles"], json!(["container"]));
    let pod = &v["unmapped"]["target"]["container"]["pod"];
    assert_eq!(pod, &json!({ "name": "web-7d9c", "namespace": "shop" }));
}

#[test]
fn kernel_senders_are_the_kernel() {
    let mut ev = fixtures::pkill_kills_server();
    let Sender::Process(actor) = ev.sender else {
        unreachable!()
    };
    (ev.signo, ev.code) = (11, 1);
    ev.sender = Sender::Kernel {
        reason: KernelReason::Fault,
        context: actor,
    };
    let v = ocsf(&bare(Event::Signal(ev)));
    assert_eq!(v["actor"], json!({ "app_name": "kernel" }));
    assert_eq!(v["unmapped"]["sender"]["kind"], "kernel");
    assert_eq!(v["unmapped"]["sender"]["reason"], "fault");
}

#[test]
fn death_by_signal_is_terminated_by_the_kernel_and_correlated_with_its_signal() {
    let mut a = bare(fixtures::nginx_exits());
    a.cause = Some(Cause {
        id: "t-0".into(),
        event: "signal",
        signal: Some(15),
        delay_ns: 40_000_000,
    });
    let v = ocsf(&a);
    assert_eq!(v["type_uid"], 100702);
    assert_eq!(v["exit_code"], 143);
    assert_eq!(v["actor"], json!({ "app_name": "kernel" }));
    assert_eq!(v["process"]["pid"], 4242);
    assert_eq!(v["process"]["terminated_time"], v["time"]);
    assert_eq!(v["process"]["container"]["name"], "nginx");
    assert_eq!(v["metadata"]["correlation_uid"], "t-0");
    assert_eq!(v["unmapped"]["exit"]["signal_name"], "SIGTERM");
    assert_eq!(v["unmapped"]["cause"]["id"], "t-0");
}

#[test]
fn exit_by_itself_is_its_own_actor() {
    let Event::Exit(mut x) = fixtures::nginx_exits() else {
        unreachable!()
    };
    x.status = ExitStatus::from_exit(1);
    let v = ocsf(&bare(Event::Exit(x)));
    assert_eq!(v["exit_code"], 1);
    assert_eq!(v["actor"]["process"]["pid"], 4242);
    assert!(v["actor"].get("app_name").is_none());
}

#[test]
fn oom_kill_is_a_terminate_by_the_kernel() {
    let v = ocsf(&bare(Event::Oom(fixtures::memcg_oom())));
    assert_eq!(v["type_uid"], 100702);
    assert_eq!(v["time"], 1_767_225_720_000_i64);
    assert_eq!(v["actor"], json!({ "app_name": "kernel" }));
    assert_eq!(v["process"]["pid"], 5937);
    assert_eq!(v["process"]["cmd_line"], "python3 leak.py");
    assert_eq!(v["process"]["user"]["uid"], "0");
    assert_eq!(v["unmapped"]["oom"]["constraint"], "memcg");
    assert_eq!(v["unmapped"]["oom"]["trigger"]["is_victim"], true);
}

#[test]
fn lost_events_are_an_event_log_activity() {
    let v = ocsf(&bare(Event::Lost {
        count: 7,
        class: crate::event::LossClass::NonFatal,
    }));
    assert_eq!(v["class_uid"], 1008);
    assert_eq!(v["activity_id"], 99);
    assert_eq!(v["type_uid"], 100899);
    assert_eq!(v["count"], 7);
    assert_eq!(v["status_id"], 2);
    assert_eq!(v["severity_id"], 3);
    assert_eq!(v["log_provider"], "exitwatch");
    assert!(v.get("process").is_none());
    assert_eq!(v["unmapped"]["lost"]["count"], 7);
}
