use super::*;
use crate::event::{Actor, ExitEvent, Sender};
use crate::exitstatus::ExitStatus;
use crate::oom::Constraint;
use crate::render::fixtures;
use crate::signals::{KernelReason, SignalResult};

const S: u64 = 1_000_000_000;

fn story() -> Story {
    Story::new("r".into(), Rules::default())
}

fn signal(signo: i32, at: u64, result: SignalResult) -> SignalEvent {
    let mut ev = fixtures::pkill_kills_server();
    ev.signo = signo;
    ev.time_ns = at;
    ev.result = result;
    if let Sender::Process(a) = &mut ev.sender {
        std::sync::Arc::make_mut(&mut a.ancestry).retain(|x| x.comm != b"vGhyM0");
        // keep the random-name rule quiet
    }
    ev
}

fn exit(raw: u32, at: u64) -> Event {
    let target = fixtures::pkill_kills_server().target;
    Event::Exit(ExitEvent {
        time_ns: at,
        status: ExitStatus::from_raw(raw),
        proc: target,
        place: Default::default(),
    })
}

fn codes(a: &Annotated) -> Vec<DiagnosisCode> {
    a.diagnosis.iter().map(|d| d.code).collect()
}

#[test]
fn every_event_gets_a_distinct_id() {
    let mut st = story();
    let a = st.annotate(Event::Lost {
        count: 1,
        class: crate::event::LossClass::NonFatal,
    });
    let b = st.annotate(Event::Lost {
        count: 1,
        class: crate::event::LossClass::NonFatal,
    });
    assert_eq!((&*a.id, &*b.id), ("r-1", "r-2"));
}

#[test]
fn term_then_kill_is_a_stop_that_escalated_and_the_exit_points_at_the_kill() {
    let mut st = story();
    let term = st.annotate(Event::Signal(signal(15, 10 * S, SignalResult::Delivered)));
    let kill = st.annotate(Event::Signal(signal(9, 40 * S, SignalResult::Delivered)));
    assert_eq!(codes(&kill), vec![DiagnosisCode::StopEscalated]);
    assert!(
        kill.diagnosis[0]
            .message
            .starts_with("graceful stop timed out after 30.0 s: SIGTERM from pkill(23549)"),
        "{}",
        kill.diagnosis[0].message
    );
    assert_eq!(kill.diagnosis[0].evidence["stop_request_id"], &*term.id);
    let done = st.annotate(exit(9, 40 * S + 2_000_000));
    let cause = done.cause.unwrap();
    assert_eq!(
        (&*cause.id, cause.event, cause.signal, cause.delay_ns),
        (&*kill.id, "signal", Some(9), 2_000_000)
    );
}

#[test]
fn a_kill_long_after_the_grace_window_is_not_an_escalation() {
    let mut st = story();
    st.annotate(Event::Signal(signal(15, 0, SignalResult::Delivered)));
    let kill = st.annotate(Event::Signal(signal(9, 3600 * S, SignalResult::Delivered)));
    assert!(codes(&kill).is_empty());
}

#[test]
fn sigterm_ignored_by_a_containers_pid1() {
    let mut st = story();
    let a = st.annotate(Event::Signal(signal(15, 0, SignalResult::Ignored)));
    assert_eq!(codes(&a), vec![DiagnosisCode::TermIgnoredByPid1]);
    assert!(a.diagnosis[0].message.contains("tini"));
}

#[test]
fn a_clean_exit_after_sigterm_points_at_the_stop_request() {
    let mut st = story();
    let term = st.annotate(Event::Signal(signal(15, S, SignalResult::Delivered)));
    let done = st.annotate(exit(0, 2 * S));
    assert_eq!(*done.cause.unwrap().id, *term.id);
}

#[test]
fn an_exit_with_no_history_has_no_cause() {
    assert_eq!(story().annotate(exit(1 << 8, S)).cause, None);
}

#[test]
fn oom_events_are_diagnosed_by_constraint_and_cause_the_exit() {
    let mut st = story();
    let oom = st.annotate(Event::Oom(fixtures::memcg_oom()));
    assert_eq!(codes(&oom), vec![DiagnosisCode::OomMemcg]);
    let mut global = fixtures::memcg_oom();
    global.context.as_mut().unwrap().constraint = Constraint::Global;
    assert_eq!(
        codes(&st.annotate(Event::Oom(global.clone()))),
        vec![DiagnosisCode::OomGlobal]
    );
    let done = st.annotate(Event::Exit(ExitEvent {
        time_ns: global.time_ns + 5,
        status: ExitStatus::from_raw(9),
        proc: global.victim,
        place: Default::default(),
    }));
    let cause = done.cause.unwrap();
    assert_eq!(
        (cause.event, cause.signal, cause.delay_ns),
        ("oom_kill", Some(9), 5)
    );
}

#[test]
fn faults_and_self_signals() {
    let mut st = story();
    let mut segv = signal(11, 0, SignalResult::Delivered);
    let Sender::Process(actor) = segv.sender.clone() else {
        unreachable!()
    };
    segv.code = 1;
    segv.fault_addr = Some(0x10);
    segv.sender = Sender::Kernel {
        reason: KernelReason::Fault,
        context: actor.clone(),
    };
    let a = st.annotate(Event::Signal(segv));
    assert_eq!(codes(&a), vec![DiagnosisCode::Fault]);
    assert!(
        a.diagnosis[0]
            .message
            .contains("SIGSEGV (SEGV_MAPERR) at address 0x10"),
        "{}",
        a.diagnosis[0].message
    );

    let mut abort = signal(6, 0, SignalResult::Delivered);
    let target = abort.target.clone();
    abort.sender = Sender::Process(Actor {
        proc: target,
        ..actor
    });
    assert_eq!(
        codes(&st.annotate(Event::Signal(abort))),
        vec![DiagnosisCode::SelfSignal]
    );
}

#[test]
fn suspicious_senders_say_which_rule_fired() {
    let mut st = story();
    let mut ev = signal(9, 0, SignalResult::Delivered);
    if let Sender::Process(a) = &mut ev.sender {
        a.exe = Some(b"/tmp/kx".as_slice().into());
        a.exe_deleted = true;
    }
    ev.target.comm = b"falco".to_vec();
    let a = st.annotate(Event::Signal(ev));
    assert_eq!(codes(&a), vec![DiagnosisCode::SuspiciousSender]);
    let rules: Vec<&str> = a.diagnosis[0]
        .evidence
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        vec!["exe_deleted", "exe_in_suspicious_dir", "protected_target"]
    );
}

#[test]
fn the_seeds_trojan_name_is_flagged_and_rules_can_be_turned_off() {
    let ev = fixtures::pkill_kills_server(); // has vGhyM0 in its ancestry
    let a = story().annotate(Event::Signal(ev.clone()));
    assert_eq!(codes(&a), vec![DiagnosisCode::SuspiciousSender]);
    assert_eq!(a.diagnosis[0].evidence[0]["process"], "vGhyM0(19400)");
    let quiet = Rules {
        random_names: false,
        ..Rules::default()
    };
    assert!(Story::new("r".into(), quiet)
        .annotate(Event::Signal(ev))
        .diagnosis
        .is_empty());
}

#[test]
fn memory_is_bounded() {
    let mut st = story();
    for pid in 0..(MAX_TARGETS as u32 + 100) {
        let mut ev = signal(15, 0, SignalResult::Delivered);
        ev.target.pid = pid;
        st.annotate(Event::Signal(ev));
    }
    assert_eq!(st.history.len(), MAX_TARGETS);
}

#[test]
fn ids_are_the_run_and_a_sequence_number() {
    let mut s = Story::new("18ee0b9f9906158b".into(), Rules::default());
    assert_eq!(&*s.id(1), "18ee0b9f9906158b-1");
    assert_eq!(&*s.id(10), "18ee0b9f9906158b-10");
    assert_eq!(&*s.id(u64::MAX), "18ee0b9f9906158b-18446744073709551615");
}

#[test]
fn a_past_sender_is_named_as_who_names_it() {
    let mut p = fixtures::pkill_kills_server().target;
    assert_eq!(Who::of(&p).to_string(), who(&p));
    p.comm = vec![0xff, b'x'];
    assert_eq!(Who::of(&p).to_string(), who(&p));
    assert_eq!(Who::OomKiller.to_string(), "the OOM killer");
}
