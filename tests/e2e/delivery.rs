//! What became of the signal: ignored, sent to one thread, dropped by a namespace's init.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{self, first, of_kind, victim_bin, Exitwatch, Victim, EVENT_TIMEOUT};

#[test]
fn sigterm_to_a_process_that_ignores_it_is_reported_as_ignored() {
    let mut victim = Victim::spawn(&["--ignore", "TERM"]);
    let mut ew = Exitwatch::start(&["--pid", &victim.pid_arg(), "--format", "json"]);
    harness::send("TERM", victim.pid, 1);
    let ev = ew.wait_json(EVENT_TIMEOUT, |v| v["event"] == "signal");
    let sig = &ev["signal"];
    assert_eq!(sig["name"], "SIGTERM", "{ev:#}");
    assert_eq!(sig["result"], "ignored", "{ev:#}");
    assert_eq!(sig["disposition"], "ignored", "{ev:#}");
    assert_eq!(sig["fatal"], false, "{ev:#}");
    assert_eq!(ev["target"]["pid"], victim.pid, "{ev:#}");
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        victim.alive(),
        "the victim ignores SIGTERM and should still be running"
    );
    let events = ew.stop().assert_ok().json();
    assert!(of_kind(&events, "exit").is_empty(), "{events:#?}");
}

/// The kernel wakes exitwatch at most once per 2 ms per ring (`exitwatch_common::wake`): the
/// signals right behind the one that woke it are read when it looks again (10 ms later), not
/// whenever some later event comes. Twice: after a quiet spell, when exitwatch sleeps with no
/// deadline, the next signal must wake it again.
#[test]
fn signals_right_behind_the_one_that_woke_exitwatch_are_reported_at_once() {
    let mut victim = Victim::spawn(&["--ignore", "TERM"]);
    let mut ew = Exitwatch::start(&["--pid", &victim.pid_arg(), "--format", "json"]);
    for round in 1..=2 {
        // One process, five kill() calls 0.3 ms apart: only the first wakes exitwatch, which
        // reads it long before the others are sent.
        harness::run(Command::new(victim_bin()).args([
            "send",
            "TERM",
            &victim.pid_arg(),
            "5",
            "300",
        ]));
        let sent = Instant::now();
        let mut seen = 0;
        // Within 250 ms: exitwatch also drains the rings on its periodic work (every second),
        // which must not be what reports them.
        let all = ew.read_json_until(Duration::from_millis(250), |v| {
            seen += usize::from(v["event"] == "signal");
            seen == 5
        });
        assert!(
            all,
            "round {round}: {seen} of 5 signals reported within 250 ms of the last ({:?})",
            sent.elapsed()
        );
        // Quiet for longer than exitwatch's follow-up look: it now sleeps without a deadline.
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(victim.alive(), "the victim ignores SIGTERM");
    let events = ew.stop().assert_ok().json();
    assert_eq!(of_kind(&events, "signal").len(), 10, "{events:#?}");
}

#[test]
fn tgkill_to_one_thread_names_that_thread() {
    let victim = Victim::spawn(&["--threads", "2"]);
    let worker = victim.tids[1];
    assert_ne!(worker, victim.pid);
    let ew = Exitwatch::start(&["--pid", &victim.pid_arg(), "--format", "json"]);
    harness::run(Command::new(victim_bin()).args([
        "tgkill",
        "TERM",
        &victim.pid_arg(),
        &worker.to_string(),
    ]));
    let events = ew.wait_exit(EVENT_TIMEOUT).assert_ok().json();
    let ev = first(&events, "signal");
    assert_eq!(ev["signal"]["name"], "SIGTERM", "{ev:#}");
    assert_eq!(ev["signal"]["group"], false, "{ev:#}");
    assert_eq!(ev["signal"]["fatal"], true, "{ev:#}");
    assert_eq!(ev["target"]["pid"], victim.pid, "{ev:#}");
    assert_eq!(ev["target"]["tid"], worker, "{ev:#}");
    let exit = first(&events, "exit");
    assert_eq!(exit["exit"]["code"], 143, "{exit:#}");
}

#[test]
fn sigterm_to_a_namespace_init_without_handler_is_dropped() {
    // The container trap: PID 1 of a pid namespace only gets signals it handles (or SIGKILL
    // from outside).
    let mut cmd = Command::new("unshare");
    cmd.args(["--fork", "--pid", victim_bin(), "wait"]);
    // util-linux unshare complains (harmlessly) when its child dies of SIGKILL.
    cmd.stderr(Stdio::null());
    let mut init = Victim::from_command(cmd, "ready ");
    assert_eq!(init.ns_pid, 1);
    let mut ew = Exitwatch::start(&["--pid", &init.pid_arg(), "--format", "json"]);
    harness::send("TERM", init.pid, 1);
    let ev = ew.wait_json(EVENT_TIMEOUT, |v| v["event"] == "signal");
    assert_eq!(ev["signal"]["name"], "SIGTERM", "{ev:#}");
    assert_eq!(ev["signal"]["result"], "ignored", "{ev:#}");
    assert_eq!(ev["signal"]["disposition"], "default", "{ev:#}");
    assert_eq!(ev["signal"]["fatal"], false, "{ev:#}");
    assert_eq!(ev["target"]["ns_pid"], 1, "{ev:#}");
    assert!(
        init.alive(),
        "SIGTERM should not have killed the namespace's init"
    );

    harness::send("KILL", init.pid, 1);
    let ev = ew.wait_json(EVENT_TIMEOUT, |v| v["event"] == "signal");
    assert_eq!(ev["signal"]["name"], "SIGKILL", "{ev:#}");
    assert_eq!(ev["signal"]["result"], "delivered", "{ev:#}");
    assert_eq!(ev["signal"]["fatal"], true, "{ev:#}");
    let events = ew.wait_exit(EVENT_TIMEOUT).assert_ok().json();
    assert_eq!(first(&events, "exit")["exit"]["code"], 137, "{events:#?}");
}
