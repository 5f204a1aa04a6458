//! Bursts as a reader meets them: summarised past three, printed as ever below, in order, never
//! held long or without bound, and said out at shutdown.

use super::*;
use crate::event::{ExitEvent, LossClass, SignalEvent};
use crate::exitstatus::ExitStatus;
use crate::render::fixtures;
use crate::story::{Cause, DiagnosisCode};

const MS: u64 = 1_000_000;
const T0: u64 = 1_000_000 * MS;

/// `sh -c 'echo 1 > …/cgroup.kill'` (pid 900) SIGKILLing `sleep(pid)` in container `digit`.
fn kill(digit: char, pid: u32, at: u64) -> Annotated {
    let mut s: SignalEvent = fixtures::pkill_kills_server();
    let sh = s.sender.actor_mut();
    sh.proc = crate::event::Proc {
        pid: 900,
        tid: 900,
        ns_pid: Some(900),
        comm: b"sh".to_vec(),
        start_ns: T0 - MS,
    };
    sh.exe = Some(b"/bin/sh".as_slice().into());
    sh.args = vec![
        b"sh".to_vec(),
        b"-c".to_vec(),
        b"echo 1 > /sys/fs/cgroup/api/cgroup.kill".to_vec(),
    ]
    .into();
    s.via = Some(crate::event::Via::CgroupKill);
    s.code = 0x80; // SI_KERNEL: the kernel sends it on the writer's behalf
    s.time_ns = at;
    s.target.pid = pid;
    s.target.comm = b"sleep".to_vec();
    s.target_place = fixtures::in_pod(digit, "api", "busybox");
    annotated(Event::Signal(s), pid)
}

fn exit(digit: char, pid: u32, at: u64) -> Annotated {
    let mut a = annotated(
        Event::Exit(ExitEvent {
            time_ns: at,
            status: ExitStatus::from_signal(9, false),
            proc: target(kill(digit, pid, at)),
            place: fixtures::in_pod(digit, "api", "busybox"),
        }),
        100_000 + pid,
    );
    a.cause = Some(Cause {
        id: format!("t-{pid}"),
        event: "signal",
        signal: Some(9),
        delay_ns: at - T0,
    });
    a
}

fn annotated(event: Event, seq: u32) -> Annotated {
    Annotated {
        id: format!("t-{seq}").into(),
        event,
        cause: None,
        diagnosis: Vec::new(),
        kubelet: None,
    }
}

fn target(a: Annotated) -> crate::event::Proc {
    match a.event {
        Event::Signal(s) => s.target,
        _ => unreachable!(),
    }
}

/// What went out, as `kind:count` ("burst:5") or `one:ID`.
fn shape(out: &[Out]) -> Vec<String> {
    out.iter()
        .map(|o| match o {
            Out::One(a) => format!("one:{}", a.id),
            Out::Burst(b) => format!("burst:{}:{}..{}", b.count, b.first.id, b.last.id),
        })
        .collect()
}

fn text(b: &Burst) -> String {
    let mut out = Vec::new();
    crate::render::text_burst(&fixtures::ctx(), b, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn a_burst_is_summarised_in_one_verdict_line() {
    let mut bursts = Bursts::default();
    for pid in 101..=105 {
        let at = T0 + u64::from(pid - 100) * MS;
        assert!(bursts.take(kill('a', pid, at), at).is_empty(), "held");
    }
    let out = bursts.tick(T0 + 5 * MS + WINDOW_NS);
    assert_eq!(shape(&out), ["burst:5:t-101..t-105"]);
    let Out::Burst(b) = &out[0] else {
        unreachable!()
    };
    let s = text(b);
    let first = s.lines().next().unwrap();
    assert_eq!(
        first,
        "2026-01-01T00:16:40.001000000Z SIGKILL from root's `sh -c 'echo 1 > /sys/fs/cgroup/api/cgroup.kill'` \
         through cgroup.kill (on the host, via vGhyM0 → bash), delivered to 5 processes in container api of pod shop/web-7d9c \
         (first sleep(101), last sleep(105)): they will exit with code 137"
    );
    assert!(
        s.contains("\n  args      sh -c 'echo 1 > /sys/fs/cgroup/api/cgroup.kill'\n"),
        "{s}"
    );
    assert!(
        s.contains("\n  events    t-101 … t-105 (5 over 4 ms)\n"),
        "{s}"
    );
    assert!(!s.contains("  target "), "no single target: {s}");
}

#[test]
fn the_exits_that_follow_are_summarised_too() {
    let mut bursts = Bursts::default();
    for pid in 101..=104 {
        let at = T0 + u64::from(pid - 100) * MS;
        bursts.take(exit('a', pid, at), at);
    }
    let out = bursts.finish();
    let Out::Burst(b) = &out[0] else {
        panic!("{:?}", shape(&out))
    };
    assert_eq!(
        text(b).lines().next().unwrap(),
        "2026-01-01T00:16:40.001000000Z 4 processes in container api of pod shop/web-7d9c exited with 137: \
         killed by SIGKILL (first sleep(101), last sleep(104)), 1 ms to 4 ms after their SIGKILL (events t-101 … t-104)"
    );
}

#[test]
fn fewer_than_three_print_as_ever() {
    let mut bursts = Bursts::default();
    bursts.take(kill('a', 101, T0), T0);
    bursts.take(kill('a', 102, T0 + MS), T0 + MS);
    assert_eq!(
        shape(&bursts.tick(T0 + MS + WINDOW_NS)),
        ["one:t-101", "one:t-102"]
    );
    assert!(bursts.open.is_empty());
}

#[test]
fn interleaved_keys_each_keep_their_burst_in_order_of_their_first_event() {
    let mut bursts = Bursts::default();
    let mut out = Vec::new();
    let feed = [
        kill('a', 101, T0),
        exit('a', 101, T0 + MS),
        kill('a', 102, T0 + 2 * MS),
        kill('b', 201, T0 + 3 * MS),
        exit('a', 102, T0 + 4 * MS),
        kill('a', 103, T0 + 5 * MS),
        kill('b', 202, T0 + 6 * MS),
        exit('a', 103, T0 + 7 * MS),
    ];
    for (i, a) in feed.into_iter().enumerate() {
        out.extend(bursts.take(a, T0 + i as u64 * MS));
    }
    assert!(out.is_empty());
    out.extend(bursts.finish());
    assert_eq!(
        shape(&out),
        [
            "burst:3:t-101..t-103",
            "burst:3:t-100101..t-100103",
            "one:t-201",
            "one:t-202"
        ]
    );
}

#[test]
fn a_burst_ends_when_its_window_passes() {
    let mut bursts = Bursts::default();
    for i in 0..3 {
        bursts.take(
            kill('a', 101 + i, T0 + u64::from(i) * MS),
            T0 + u64::from(i) * MS,
        );
    }
    let deadline = T0 + 2 * MS + WINDOW_NS;
    assert_eq!(bursts.next_deadline(), Some(deadline));
    assert!(bursts.tick(deadline - 1).is_empty());
    assert_eq!(shape(&bursts.tick(deadline)), ["burst:3:t-101..t-103"]);
    assert_eq!(bursts.next_deadline(), None);
    // An event of the same key after the window starts a burst of its own, and one more than
    // the window after the last by event time does too, however close its arrival.
    bursts.take(kill('a', 104, T0 + 300 * MS), T0 + 300 * MS);
    let late = T0 + 300 * MS + WINDOW_NS + 1;
    let out = bursts.take(kill('a', 105, late), T0 + 301 * MS);
    assert_eq!(shape(&out), ["one:t-104"]);
    assert_eq!(shape(&bursts.finish()), ["one:t-105"]);
}

#[test]
fn a_steady_stream_is_cut_every_max_span() {
    let mut bursts = Bursts::default();
    let mut out = Vec::new();
    // One kill every 50 ms for 5 s: never a pause as long as the window.
    for i in 0..100u32 {
        let at = T0 + u64::from(i) * 50 * MS;
        out.extend(bursts.take(kill('a', 1000 + i, at), at));
    }
    assert_eq!(
        shape(&out),
        ["burst:41:t-1000..t-1040", "burst:41:t-1041..t-1081"]
    );
    assert_eq!(shape(&bursts.finish()), ["burst:18:t-1082..t-1099"]);
}

#[test]
fn shutdown_says_out_what_is_held() {
    let mut bursts = Bursts::default();
    for i in 0..4 {
        bursts.take(kill('a', 101 + i, T0), T0);
    }
    bursts.take(kill('b', 201, T0), T0);
    assert_eq!(
        shape(&bursts.finish()),
        ["burst:4:t-101..t-104", "one:t-201"]
    );
    assert!(bursts.finish().is_empty());
}

#[test]
fn holding_is_bounded_in_bursts_and_in_events() {
    let mut bursts = Bursts::default();
    // Ten thousand kills in one container: two events held, whatever the count.
    for pid in 0..10_000 {
        bursts.take(kill('a', pid, T0), T0);
        assert!(bursts.open.iter().all(|b| b.held.len() <= 2));
    }
    assert_eq!(bursts.open[0].count, 10_000);
    // Senders into as many containers as there are bursts to hold, and one more.
    let mut out = Vec::new();
    for (i, digit) in "bcdefghi".chars().enumerate() {
        out.extend(bursts.take(kill(digit, 20_000 + i as u32, T0), T0));
        assert!(bursts.open.len() <= MAX_OPEN);
    }
    assert_eq!(shape(&out), ["burst:10000:t-0..t-9999"], "the oldest goes");
}

#[test]
fn diagnoses_are_said_once_per_code_with_how_many_had_them() {
    let mut bursts = Bursts::default();
    let diag = |code, message: &str| Diagnosis {
        code,
        message: message.into(),
        evidence: serde_json::Value::Null,
    };
    for pid in 101..=103 {
        let mut a = kill('a', pid, T0);
        a.diagnosis.push(diag(
            DiagnosisCode::SuspiciousSender,
            &format!("sender {pid}"),
        ));
        if pid == 102 {
            a.diagnosis
                .push(diag(DiagnosisCode::StopEscalated, "escalated"));
        }
        bursts.take(a, T0);
    }
    let out = bursts.finish();
    let Out::Burst(b) = &out[0] else {
        unreachable!()
    };
    let codes: Vec<_> = b.diagnoses.iter().map(|(d, n)| (d.code, n)).collect();
    assert_eq!(
        codes,
        [
            (DiagnosisCode::SuspiciousSender, &3),
            (DiagnosisCode::StopEscalated, &1)
        ]
    );
    let s = text(b);
    assert!(
        s.contains("  diagnosis suspicious_sender: sender 101 (3 of the 3 events)\n"),
        "{s}"
    );
    assert!(
        s.contains("  diagnosis stop_escalated: escalated (1 of the 3 events)\n"),
        "{s}"
    );
}

#[test]
fn an_oom_kill_lets_out_what_is_open_and_losses_go_at_once() {
    let mut bursts = Bursts::default();
    for i in 0..3 {
        bursts.take(kill('a', 101 + i, T0), T0);
    }
    let lost = annotated(
        Event::Lost {
            count: 7,
            class: LossClass::Fatal,
        },
        1,
    );
    assert_eq!(shape(&bursts.take(lost, T0)), ["one:t-1"]);
    assert_eq!(bursts.open.len(), 1, "still held");
    let oom = annotated(Event::Oom(fixtures::memcg_oom()), 2);
    assert_eq!(
        shape(&bursts.take(oom, T0)),
        ["burst:3:t-101..t-103", "one:t-2"]
    );
}

#[test]
fn senders_signals_and_outcomes_are_kept_apart() {
    let mut bursts = Bursts::default();
    let mut term = kill('a', 102, T0);
    let mut other_sender = kill('a', 103, T0);
    let mut ignored = kill('a', 104, T0);
    if let Event::Signal(s) = &mut term.event {
        s.signo = 15;
    }
    if let Event::Signal(s) = &mut other_sender.event {
        s.sender.actor_mut().proc.pid = 901;
    }
    if let Event::Signal(s) = &mut ignored.event {
        s.result = crate::signals::SignalResult::Ignored;
    }
    for a in [kill('a', 101, T0), term, other_sender, ignored] {
        bursts.take(a, T0);
    }
    assert_eq!(bursts.open.len(), 4);
}
