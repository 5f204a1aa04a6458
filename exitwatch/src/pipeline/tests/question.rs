//! The user's question: receivers kept, dropped or waited for; `--count`; `--pid`.

use super::*;

#[test]
fn the_receiver_filter_keeps_drops_and_waits() {
    let setup = Setup {
        question: receivers(&["nginx"]),
        ..Setup::default()
    };
    let (mut pipe, node, outs) = setup.start();
    node.learn(&id('a'), "nginx");
    node.learn(&id('b'), "sidecar");
    // Kept: the target is the container asked for.
    pipe.record(kill_into('a'), NOW).unwrap();
    // Dropped: another container, and a process outside any container.
    pipe.record(kill_into('b'), NOW).unwrap();
    pipe.record(Event::Signal(fixtures::pkill_kills_server()), NOW)
        .unwrap();
    assert_eq!(outs.json().len(), 1);
    assert_eq!(outs.json()[0]["target"]["container"]["name"], "nginx");
    // Undecided: a container the runtime has not listed may be the one asked for.
    pipe.record(kill_into('c'), NOW).unwrap();
    assert_eq!(outs.json().len(), 1);
    node.learn(&id('c'), "nginx");
    pipe.metadata_answered(1, NOW + 1).unwrap();
    assert_eq!(outs.json().len(), 2, "named nginx: it was asked for");
}

#[test]
fn an_undecided_container_never_named_is_dropped_at_its_deadline() {
    let setup = Setup {
        question: receivers(&["nginx"]),
        ..Setup::default()
    };
    let (mut pipe, node, outs) = setup.start();
    pipe.record(kill_into('c'), NOW).unwrap();
    node.learn(&id('d'), "other");
    // A listing that does not name it does not settle it while a filter waits on its name.
    pipe.metadata_answered(1, NOW + 1).unwrap();
    assert_eq!(pipe.next_deadline(), Some(NOW + METADATA_WAIT_NS));
    pipe.tick(NOW + METADATA_WAIT_NS).unwrap();
    assert!(outs.json().is_empty());
    assert_eq!(pipe.next_deadline(), None);
}

#[test]
fn count_stops_after_n_signals_and_exits_do_not_count() {
    let setup = Setup {
        question: Question {
            count: Some(2),
            ..receivers(&[])
        },
        ..Setup::default()
    };
    let (mut pipe, _node, outs) = setup.start();
    pipe.record(Event::Signal(fixtures::pkill_kills_server()), NOW)
        .unwrap();
    pipe.record(exit_of(42, NOW), NOW).unwrap();
    assert!(!pipe.done());
    pipe.record(Event::Signal(fixtures::pkill_kills_server()), NOW)
        .unwrap();
    assert!(pipe.done());
    assert_eq!(outs.json().len(), 3);
}

#[test]
fn watching_pids_is_done_when_every_one_exited() {
    let watched = |pid| {
        (
            pid,
            Watched {
                pid,
                comm: "server".into(),
            },
        )
    };
    let setup = Setup {
        question: Question {
            pending: [watched(42), watched(43)].into(),
            ..receivers(&[])
        },
        ..Setup::default()
    };
    let (mut pipe, _node, _outs) = setup.start();
    assert!(pipe.is_pending(42) && !pipe.done());
    pipe.record(exit_of(42, NOW), NOW).unwrap();
    assert!(!pipe.is_pending(42) && !pipe.done());
    pipe.forget(43);
    assert!(pipe.done());
}
