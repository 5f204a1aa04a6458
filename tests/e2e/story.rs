//! The death story: diagnoses drawn from real sequences of signals, and exits linked to causes.

use std::process::Command;
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{self, first, of_kind, send, Exitwatch, Victim, EVENT_TIMEOUT};

fn codes(ev: &Value) -> Vec<&str> {
    ev["diagnosis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect()
}

fn diagnosis<'a>(ev: &'a Value, code: &str) -> &'a Value {
    ev["diagnosis"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == code)
        .unwrap_or_else(|| panic!("no {code} diagnosis: {ev:#}"))
}

#[test]
fn sigterm_ignored_then_sigkill_after_two_seconds_is_a_stop_that_escalated() {
    let mut victim = Victim::spawn(&["--ignore", "TERM"]);
    let ew = Exitwatch::start(&["--pid", &victim.pid_arg(), "--format", "json"]);
    send("TERM", victim.pid, 1);
    thread::sleep(Duration::from_secs(2));
    assert!(victim.alive(), "SIGTERM was ignored");
    send("KILL", victim.pid, 1);
    let events = ew.wait_exit(EVENT_TIMEOUT).assert_ok().json();
    let signals = of_kind(&events, "signal");
    assert_eq!(signals.len(), 2, "{events:#?}");
    let (term, kill) = (signals[0], signals[1]);
    assert_eq!(term["signal"]["result"], "ignored", "{term:#}");
    let d = diagnosis(kill, "stop_escalated");
    let elapsed = d["evidence"]["elapsed_ns"].as_u64().unwrap();
    assert!(
        (1_900_000_000..6_000_000_000).contains(&elapsed),
        "elapsed {elapsed}: {kill:#}"
    );
    assert_eq!(d["evidence"]["stop_request_id"], term["id"], "{kill:#}");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .starts_with("graceful stop timed out after 2."),
        "{d:#}"
    );
    let exit = first(&events, "exit");
    assert_eq!(
        exit["cause"]["id"], kill["id"],
        "the exit points at the SIGKILL: {exit:#}"
    );
    assert!(
        exit["cause"]["delay_ns"].as_u64().unwrap() < 1_000_000_000,
        "{exit:#}"
    );
}

#[test]
fn a_deleted_dropper_in_tmp_is_a_suspicious_sender() {
    let dir = std::env::temp_dir().join(format!("exitwatch-story-{}", std::process::id()));
    let (_, events) = harness::deleted_dropper_kill(&dir, "xk");
    let ev = first(&events, "signal");
    let d = diagnosis(ev, "suspicious_sender");
    let rules: Vec<&str> = d["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"exe_deleted"), "{d:#}");
    if dir.starts_with("/tmp") {
        assert!(rules.contains(&"exe_in_suspicious_dir"), "{d:#}");
    }
}

#[test]
fn a_segfault_is_diagnosed_as_a_fault_with_its_address() {
    let mut victim = Victim::spawn(&[]);
    let ew = Exitwatch::start(&["--pid", &victim.pid_arg(), "--format", "json"]);
    victim.tell("segv");
    let events = ew.wait_exit(EVENT_TIMEOUT).assert_ok().json();
    let ev = first(&events, "signal");
    assert_eq!(codes(ev), vec!["fault"], "{ev:#}");
    assert_eq!(
        diagnosis(ev, "fault")["evidence"]["address"],
        "0x0",
        "{ev:#}"
    );
    assert_eq!(first(&events, "exit")["cause"]["id"], ev["id"]);
}

#[test]
fn abort_is_a_process_signalling_itself() {
    // abort(3) raises SIGABRT in its own process: the sender is the target.
    let mut victim = Victim::spawn(&[]);
    let ew = Exitwatch::start(&["--pid", &victim.pid_arg(), "--format", "json"]);
    victim.tell("abort");
    let events = ew.wait_exit(EVENT_TIMEOUT).assert_ok().json();
    let ev = first(&events, "signal");
    assert_eq!(ev["signal"]["name"], "SIGABRT", "{ev:#}");
    assert_eq!(ev["signal"]["code_name"], "SI_TKILL", "{ev:#}");
    assert_eq!(ev["sender"]["pid"], victim.pid, "{ev:#}");
    assert!(codes(ev).contains(&"self_signal"), "{ev:#}");
    assert_eq!(first(&events, "exit")["exit"]["code"], 134);
}

#[test]
fn explain_teaches_exit_codes_without_privileges() {
    let out = Command::new(crate::harness::exitwatch_bin())
        .args(["explain", "137"])
        .output()
        .expect("run exitwatch explain");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("exit code 137: killed by SIGKILL"),
        "{text}"
    );
    let out = Command::new(crate::harness::exitwatch_bin())
        .args(["explain", "-1", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["code"], 255);
    let bad = Command::new(crate::harness::exitwatch_bin())
        .args(["explain", "bogus"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(64));
}

#[test]
fn redact_args_hides_secrets_in_the_senders_argv() {
    let victim = Victim::spawn(&[]);
    let ew = Exitwatch::start(&[
        "--pid",
        &victim.pid_arg(),
        "--format",
        "json",
        "--redact-args",
    ]);
    // kill(1) signals the pid first, then complains about the word it cannot parse.
    let _ = Command::new("/bin/kill")
        .args(["-9", &victim.pid_arg(), "password=hunter2"])
        .output();
    let events = ew.wait_exit(EVENT_TIMEOUT).assert_ok().json();
    let args = &first(&events, "signal")["sender"]["args"];
    assert_eq!(args[3], "password=***", "{args:#}");
    assert!(!args.to_string().contains("hunter2"), "{args:#}");
}
