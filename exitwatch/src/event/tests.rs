use super::*;
use crate::render::fixtures;

#[test]
fn kinds_and_severities() {
    let kill = fixtures::pkill_kills_server();
    let mut handled = kill.clone();
    (handled.signo, handled.disposition) = (15, Some(Disposition::Handled));
    let cases = [
        (
            Event::Signal(kill),
            Kind::Signal,
            "signal",
            Severity::Warning,
        ),
        (
            Event::Signal(handled),
            Kind::Signal,
            "signal",
            Severity::Notice,
        ),
        (
            fixtures::nginx_exits(),
            Kind::Exit,
            "exit",
            Severity::Informational,
        ),
        (
            Event::Oom(fixtures::memcg_oom()),
            Kind::Oom,
            "oom",
            Severity::Warning,
        ),
        (
            Event::Lost {
                count: 1,
                class: crate::event::LossClass::NonFatal,
            },
            Kind::Lost,
            "lost",
            Severity::Warning,
        ),
    ];
    for (ev, kind, name, severity) in cases {
        assert_eq!(
            (ev.kind(), ev.kind().as_str(), ev.severity()),
            (kind, name, severity)
        );
    }
    assert_eq!(Severity::Warning as u8, 4);
}

#[test]
fn places_are_the_senders_then_the_targets() {
    let ev = Event::Signal(fixtures::kill_in_pod());
    let names: Vec<_> = ev
        .places()
        .map(|p| p.container.as_ref().unwrap().name.clone().unwrap())
        .collect();
    assert_eq!(names, ["sidecar", "nginx"]);
    let ids: Vec<&str> = ev.container_ids().collect();
    assert_eq!(ids, ["a".repeat(64), "b".repeat(64)]);
    let target = ev.receiving_place().unwrap().container.as_ref().unwrap();
    assert_eq!(target.name.as_deref(), Some("nginx"));
    assert!(Event::Lost {
        count: 1,
        class: crate::event::LossClass::NonFatal
    }
    .receiving_place()
    .is_none());
    assert_eq!(
        Event::Lost {
            count: 1,
            class: crate::event::LossClass::NonFatal
        }
        .container_ids()
        .count(),
        0
    );
}

#[test]
fn places_mut_reach_the_kernels_context_task_too() {
    let mut s = fixtures::pkill_kills_server();
    s.sender = Sender::Kernel {
        reason: KernelReason::Fault,
        context: s.sender.actor().clone(),
    };
    let mut ev = Event::Signal(s);
    for p in ev.places_mut() {
        p.ns.pid = Some(7);
    }
    let Event::Signal(s) = &ev else {
        unreachable!()
    };
    assert_eq!(
        (s.sender.actor().place.ns.pid, s.target_place.ns.pid),
        (Some(7), Some(7))
    );
}

#[test]
fn times_and_argv() {
    let oom = Event::Oom(fixtures::memcg_oom());
    assert_eq!(oom.time_ns(), Some(fixtures::memcg_oom().time_ns));
    assert_eq!(
        Event::Lost {
            count: 1,
            class: crate::event::LossClass::NonFatal
        }
        .time_ns(),
        None
    );
    assert_eq!(oom.args().map(|a| a.len()), Some(2));
    assert!(fixtures::nginx_exits().args().is_none());
}

#[test]
fn argv_splits_at_nuls() {
    assert_eq!(
        split_argv(b"kill\0-9\0"),
        [b"kill".to_vec(), b"-9".to_vec()]
    );
    assert_eq!(
        split_argv(b"a\0\0b"),
        [b"a".to_vec(), Vec::new(), b"b".to_vec()]
    );
    assert!(split_argv(b"").is_empty());
    assert!(split_argv(b"\0").is_empty());
}
