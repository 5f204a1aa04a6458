use super::*;
use crate::event::Event;
use crate::render::fixtures;

fn kill() -> Event {
    let mut ev = fixtures::kill_in_pod();
    ev.signo = 9;
    Event::Signal(ev)
}

#[test]
fn fatal_signals_and_oom_kills_count_per_confirmed_pod() {
    let t0 = Instant::now();
    let mut p = PodCounters::default();
    p.count(&kill(), t0);
    p.count(&kill(), t0);
    let mut oom = fixtures::memcg_oom();
    oom.victim_place = fixtures::in_pod('b', "api", "app:1");
    oom.victim.ns_pid = Some(1);
    p.count(&Event::Oom(oom), t0);
    let got: Vec<(Key, u64)> = p.iter().map(|(k, n)| (k.clone(), n)).collect();
    assert_eq!(
        got,
        vec![
            (
                Key::Signal {
                    namespace: "shop".into(),
                    pod: "web-7d9c".into(),
                    container: "nginx".into(),
                    signal: "SIGKILL".into(),
                    // `kill` in another container of the pod: no role.
                    sender_role: "other",
                },
                2
            ),
            (
                Key::Oom {
                    namespace: "shop".into(),
                    pod: "web-7d9c".into(),
                    container: "api".into(),
                    scope: "memcg",
                    pid1: true,
                },
                1
            ),
        ]
    );
}

#[test]
fn unconfirmed_pods_and_non_fatal_signals_are_not_counted() {
    let mut p = PodCounters::default();
    let mut ev = fixtures::kill_in_pod();
    ev.signo = 9;
    ev.target_place
        .container
        .as_mut()
        .unwrap()
        .pod
        .as_mut()
        .unwrap()
        .confirmed_by = None;
    p.count(&Event::Signal(ev), Instant::now());
    let mut term = fixtures::kill_in_pod();
    term.disposition = Some(crate::signals::Disposition::Handled);
    p.count(&Event::Signal(term), Instant::now());
    assert!(p.is_empty());
}

#[test]
fn series_of_gone_pods_expire_and_their_number_is_bounded() {
    let t0 = Instant::now();
    let mut p = PodCounters::default();
    p.count(&kill(), t0);
    let ttl = Duration::from_secs(600);
    p.expire(t0 + Duration::from_secs(900), ttl, |_| true);
    assert_eq!(p.len(), 1, "a live pod keeps its series");
    p.expire(t0 + Duration::from_secs(300), ttl, |_| false);
    assert_eq!(p.len(), 1, "not yet");
    p.expire(t0 + Duration::from_secs(601), ttl, |_| false);
    assert!(p.is_empty(), "gone and unchanged for the ttl");
    for i in 0..MAX_SERIES + 3 {
        let mut ev = fixtures::kill_in_pod();
        ev.signo = 9;
        ev.target_place.container.as_mut().unwrap().name = Some(format!("c{i}"));
        p.count(&Event::Signal(ev), t0);
    }
    assert_eq!((p.len(), p.overflow), (MAX_SERIES, 3));
}
