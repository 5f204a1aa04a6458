//! Which signals are reported: the default filter, `--signal`, `--all-signals`.

use crate::harness::{self, first, of_kind, Exitwatch, Victim, EVENT_TIMEOUT};

fn names(events: &[serde_json::Value]) -> Vec<String> {
    of_kind(events, "signal")
        .iter()
        .map(|e| e["signal"]["name"].as_str().unwrap_or("?").to_owned())
        .collect()
}

#[test]
fn handled_sigusr1_is_not_reported_by_default() {
    let mut victim = Victim::spawn(&["--handle", "USR1"]);
    let ew = Exitwatch::start(&["--pid", &victim.pid_arg(), "--format", "json"]);
    harness::send("USR1", victim.pid, 1);
    victim.expect_line(&format!("caught {}", libc::SIGUSR1));
    harness::send("KILL", victim.pid, 1);
    let events = ew.wait_exit(EVENT_TIMEOUT).assert_ok().json();
    assert_eq!(names(&events), ["SIGKILL"], "{events:#?}");
}

#[test]
fn handled_sigusr1_is_reported_when_asked_for() {
    let mut victim = Victim::spawn(&["--handle", "USR1"]);
    let mut ew = Exitwatch::start(&[
        "--pid",
        &victim.pid_arg(),
        "--format",
        "json",
        "--signal",
        "USR1",
    ]);
    harness::send("USR1", victim.pid, 1);
    let ev = ew.wait_json(EVENT_TIMEOUT, |v| v["event"] == "signal");
    assert_eq!(ev["signal"]["name"], "SIGUSR1", "{ev:#}");
    assert_eq!(ev["signal"]["number"], libc::SIGUSR1, "{ev:#}");
    assert_eq!(ev["signal"]["result"], "delivered", "{ev:#}");
    assert_eq!(ev["signal"]["disposition"], "handled", "{ev:#}");
    assert_eq!(ev["signal"]["fatal"], false, "{ev:#}");
    victim.expect_line(&format!("caught {}", libc::SIGUSR1));
    ew.stop().assert_ok().json();
}

#[test]
fn storm_of_harmless_signals_is_not_reported() {
    let victim = Victim::spawn(&[]);
    let ew = Exitwatch::start(&["--pid", &victim.pid_arg(), "--format", "json"]);
    harness::send("CHLD,URG", victim.pid, 2000);
    harness::send("KILL", victim.pid, 1);
    let events = ew.wait_exit(EVENT_TIMEOUT).assert_ok().json();
    assert_eq!(names(&events), ["SIGKILL"], "{events:#?}");
    assert!(of_kind(&events, "lost").is_empty(), "{events:#?}");
}

#[test]
fn all_signals_reports_even_sigchld() {
    let victim = Victim::spawn(&[]);
    let ew = Exitwatch::start(&[
        "--pid",
        &victim.pid_arg(),
        "--format",
        "json",
        "--all-signals",
    ]);
    harness::send("CHLD", victim.pid, 1);
    harness::send("KILL", victim.pid, 1);
    let events = ew.wait_exit(EVENT_TIMEOUT).assert_ok().json();
    assert_eq!(names(&events), ["SIGCHLD", "SIGKILL"], "{events:#?}");
    let chld = first(&events, "signal");
    assert_eq!(chld["signal"]["fatal"], false, "{chld:#}");
}
