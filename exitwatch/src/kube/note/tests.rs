use super::*;
use crate::event::Event;
use crate::render::{self, fixtures};
use crate::story::{Diagnosis, DiagnosisCode};

fn killed_in_pod() -> Annotated {
    let mut ev = fixtures::kill_in_pod();
    ev.signo = 9;
    render::bare(Event::Signal(ev))
}

#[test]
fn a_fatal_signal_to_a_confirmed_pod_is_posted_on_that_pod_and_container() {
    let a = killed_in_pod();
    let note = render::kube::note(&fixtures::ctx(), &a).unwrap();
    assert!(note.starts_with("SIGKILL from "), "{note}");
    assert!(
        note.contains("nginx(4242)") && note.contains("will exit with code 137"),
        "{note}"
    );
    let p = post_for(&a, note.clone()).unwrap();
    assert_eq!((p.reason, p.action), ("SignalKilled", "Kill"));
    assert_eq!(
        (p.pod_name.as_str(), p.namespace.as_str()),
        ("web-7d9c", "shop")
    );
    assert_eq!(p.pod_uid, "0a1b2c3d-0000-1111-2222-333344445555");
    assert_eq!(p.field_path.as_deref(), Some("spec.containers{nginx}"));
    assert_eq!(p.note, note);
}

#[test]
fn an_escalated_stop_says_so() {
    let mut a = killed_in_pod();
    a.diagnosis.push(Diagnosis {
        code: DiagnosisCode::StopEscalated,
        message: "SIGKILL 30 s after SIGTERM".into(),
        evidence: serde_json::Value::Null,
    });
    let note = render::kube::note(&fixtures::ctx(), &a).unwrap();
    assert!(note.ends_with("; SIGKILL 30 s after SIGTERM"), "{note}");
    assert_eq!(post_for(&a, note).unwrap().reason, "StopEscalated");
}

#[test]
fn unconfirmed_pods_non_fatal_signals_and_hosts_are_not_posted() {
    let mut a = killed_in_pod();
    if let Event::Signal(s) = &mut a.event {
        s.target_place
            .container
            .as_mut()
            .unwrap()
            .pod
            .as_mut()
            .unwrap()
            .confirmed_by = None;
    }
    assert_eq!(
        post_for(&a, "n".into()),
        None,
        "a pod only the cgroup path claims"
    );
    let mut term = fixtures::kill_in_pod();
    term.disposition = Some(crate::signals::Disposition::Handled);
    assert!(!term.fatal());
    assert_eq!(
        post_for(&render::bare(Event::Signal(term)), "n".into()),
        None,
        "a handled SIGTERM"
    );
    let host = render::bare(Event::Signal(fixtures::pkill_kills_server()));
    assert_eq!(post_for(&host, "n".into()), None, "not in a pod");
}

#[test]
fn an_oom_kill_in_a_pod_says_pid_1_or_not_and_notes_fit_the_api() {
    let mut oom = fixtures::memcg_oom();
    oom.victim_place = fixtures::in_pod('b', "api", "app:1");
    oom.victim.ns_pid = Some(7);
    let a = render::bare(Event::Oom(oom));
    let note = render::kube::note(&fixtures::ctx(), &a).unwrap();
    assert!(
        note.starts_with("OOM killer: container api hit its"),
        "{note}"
    );
    assert!(
        note.contains("not PID 1: the container keeps running"),
        "{note}"
    );
    assert_eq!(post_for(&a, note).unwrap().reason, "OOMKill");
    let long = post_for(&a, "é".repeat(2000)).unwrap();
    assert!(long.note.len() <= 1024 && long.note.ends_with('…'));
}
