//! When exitwatch stops: its watched processes are gone, it has counted enough, or Ctrl-C.

use std::time::{Duration, Instant};

use crate::harness::{self, of_kind, Exitwatch, Victim, EVENT_TIMEOUT};

#[test]
fn exits_once_every_watched_process_is_gone() {
    let first = Victim::spawn(&[]);
    let second = Victim::spawn(&[]);
    let mut ew = Exitwatch::start(&[
        "--pid",
        &first.pid_arg(),
        "--pid",
        &second.pid_arg(),
        "--format",
        "json",
    ]);
    harness::send("KILL", first.pid, 1);
    ew.wait_json(EVENT_TIMEOUT, |v| {
        v["event"] == "exit" && v["target"]["pid"] == first.pid
    });
    std::thread::sleep(Duration::from_millis(200));
    harness::send("TERM", second.pid, 1);
    let events = ew.wait_exit(EVENT_TIMEOUT).assert_ok().json();
    let exits: Vec<_> = of_kind(&events, "exit")
        .iter()
        .map(|e| {
            (
                e["target"]["pid"].as_u64().unwrap(),
                e["exit"]["code"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        exits,
        [(u64::from(first.pid), 137), (u64::from(second.pid), 143)],
        "{events:#?}"
    );
}

#[test]
fn count_stops_after_that_many_events() {
    let mut victim = Victim::spawn(&["--handle", "USR1"]);
    let ew = Exitwatch::start(&[
        "--pid",
        &victim.pid_arg(),
        "-s",
        "USR1",
        "-n",
        "1",
        "--format",
        "json",
    ]);
    harness::send("USR1", victim.pid, 1);
    let events = ew.wait_exit(EVENT_TIMEOUT).assert_ok().json();
    assert_eq!(of_kind(&events, "signal").len(), 1, "{events:#?}");
    assert!(
        victim.alive(),
        "it was -n, not the victim's end, that stopped exitwatch"
    );
}

#[test]
fn ctrl_c_or_sigterm_stops_it_promptly_and_cleanly() {
    // Right after `ready`, as a script would: a few rounds, since a missing handler there is
    // a narrow window.
    for round in 0..10 {
        let sig = if round % 2 == 0 {
            libc::SIGINT
        } else {
            libc::SIGTERM
        };
        let ew = Exitwatch::start(&["--format", "json"]);
        let asked = Instant::now();
        let done = ew.stop_with(sig);
        assert_eq!(
            done.code(),
            Some(0),
            "signal {sig} in round {round}: {done:#?}"
        );
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "took {:?}",
            asked.elapsed()
        );
        done.json();
    }
}
