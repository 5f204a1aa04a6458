//! Who sent it: command line, parent, ancestry and namespaces of the sending process.

use std::process::Command;

use serde_json::Value;

use crate::harness::{self, first, kill_via_shells, victim_bin, Exitwatch, Victim, EVENT_TIMEOUT};

fn watch(victim: &Victim) -> Exitwatch {
    Exitwatch::start(&["--pid", &victim.pid_arg(), "--format", "json"])
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string"))
        .collect()
}

#[test]
fn kill_run_by_sh_run_by_bash_is_traced_back_through_both_shells() {
    let victim = Victim::spawn(&[]);
    let ew = watch(&victim);
    let chain = kill_via_shells(victim.pid);
    let done = ew.wait_exit(EVENT_TIMEOUT).assert_ok();
    let events = done.json();
    assert_eq!(events.len(), 2, "one signal, then the exit: {events:#?}");
    let ev = &events[0];
    assert_eq!(ev["event"], "signal", "{ev:#}");

    let sig = &ev["signal"];
    assert_eq!(sig["number"], 9, "{ev:#}");
    assert_eq!(sig["name"], "SIGKILL", "{ev:#}");
    assert_eq!(sig["code_name"], "SI_USER", "{ev:#}");
    assert_eq!(sig["result"], "delivered", "{ev:#}");
    assert_eq!(sig["fatal"], true, "{ev:#}");
    assert_eq!(sig["group"], true, "{ev:#}");

    let s = &ev["sender"];
    assert_eq!(s["kind"], "process", "{ev:#}");
    assert_eq!(s["comm"], "kill", "{ev:#}");
    assert_eq!(
        strings(&s["args"]),
        ["/bin/kill", "-9", &victim.pid_arg()],
        "{ev:#}"
    );
    assert_eq!(s["args_truncated"], false, "{ev:#}");
    let kill_exe = std::fs::canonicalize("/bin/kill").unwrap();
    assert_eq!(s["exe"], kill_exe.to_str().unwrap(), "{ev:#}");
    assert_eq!(s["exe_deleted"], false, "{ev:#}");
    assert_eq!(s["uid"], 0, "{ev:#}");
    assert_eq!(s["kernel_thread"], false, "{ev:#}");
    assert_eq!(s["parent"]["pid"], chain.sh, "{ev:#}");
    assert_eq!(s["parent"]["comm"], "sh", "{ev:#}");

    let ancestry = s["ancestry"].as_array().expect("ancestry");
    let tail: Vec<(u64, &str)> = ancestry
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(|a| (a["pid"].as_u64().unwrap(), a["comm"].as_str().unwrap()))
        .collect();
    let us = u64::from(std::process::id());
    assert_eq!(
        tail[1..],
        [(u64::from(chain.bash), "bash"), (u64::from(chain.sh), "sh")],
        "{ev:#}"
    );
    assert_eq!(tail[0].0, us, "the test process started bash: {ev:#}");
    assert_eq!(ancestry[0]["pid"], 0, "the chain reaches the root: {ev:#}");
    assert_eq!(s["ancestry_truncated"], false, "{ev:#}");
    // Fixed-width RFC 3339 times: string order is time order. A child never starts before its parent.
    let starts: Vec<&str> = ancestry
        .iter()
        .chain(std::iter::once(s))
        .map(|a| a["start_time"].as_str().unwrap())
        .collect();
    assert!(
        starts.windows(2).all(|w| w[0] <= w[1]),
        "start times go backwards: {starts:#?}"
    );

    let t = &ev["target"];
    assert_eq!(t["pid"], victim.pid, "{ev:#}");
    assert_eq!(t["tid"], victim.pid, "{ev:#}");
    assert_eq!(t["comm"], "victim", "{ev:#}");

    let exit = &events[1];
    assert_eq!(exit["event"], "exit", "{exit:#}");
    assert_eq!(exit["target"]["pid"], victim.pid, "{exit:#}");
    assert_eq!(exit["exit"]["code"], 137, "{exit:#}");
    assert_eq!(exit["exit"]["signal"], 9, "{exit:#}");
    assert_eq!(exit["exit"]["signal_name"], "SIGKILL", "{exit:#}");
}

#[test]
fn argv_of_a_sender_that_already_exited_is_reported() {
    let victim = Victim::spawn(&[]);
    let ew = watch(&victim);
    // `victim send` kills and exits at once: by the time exitwatch prints, /proc has no trace of it.
    harness::send("KILL", victim.pid, 1);
    let events = ew.wait_exit(EVENT_TIMEOUT).assert_ok().json();
    let ev = first(&events, "signal");
    let s = &ev["sender"];
    assert_eq!(s["comm"], "victim", "{ev:#}");
    assert_eq!(
        strings(&s["args"]),
        [victim_bin(), "send", "KILL", &victim.pid_arg(), "1"],
        "{ev:#}"
    );
    assert_eq!(s["args_truncated"], false, "{ev:#}");
    let sender_pid = s["pid"].as_u64().unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{sender_pid}")).exists(),
        "the sender should be long gone"
    );
}

#[test]
fn long_argv_is_cut_and_says_so() {
    let victim = Victim::spawn(&[]);
    let ew = watch(&victim);
    let padding: Vec<String> = (0..40).map(|i| format!("padding-{i:02}")).collect();
    harness::run(
        Command::new(victim_bin())
            .args(["send", "KILL", &victim.pid_arg(), "1", "--"])
            .args(&padding),
    );
    let events = ew.wait_exit(EVENT_TIMEOUT).assert_ok().json();
    let ev = first(&events, "signal");
    let s = &ev["sender"];
    assert_eq!(s["args_truncated"], true, "{ev:#}");
    let args = strings(&s["args"]);
    assert_eq!(
        args[..6],
        [victim_bin(), "send", "KILL", &victim.pid_arg(), "1", "--"],
        "{ev:#}"
    );
    assert!(
        args.len() < 6 + padding.len(),
        "not every argument fits: {ev:#}"
    );
    // Kept arguments are the real ones; at most the last is cut short.
    for (got, want) in args[6..].iter().zip(&padding) {
        assert!(
            want.starts_with(got),
            "{got:?} is not a prefix of {want:?}: {ev:#}"
        );
    }
}

#[test]
fn sender_inside_a_pid_namespace_has_both_pids() {
    // unshare -fp: `victim spawn-kill` is pid 1 of a new pid namespace, its child pid 2.
    let mut cmd = Command::new("unshare");
    cmd.args(["--fork", "--pid", victim_bin(), "spawn-kill", "KILL"]);
    let mut pair = Victim::from_command(cmd, "ready ");
    let sender = pair.said("sender ");
    let sender_pid: u64 = sender["host_pid"].parse().unwrap();
    assert_eq!(
        sender["pid"], "1",
        "spawn-kill should be the namespace's init"
    );
    assert_ne!(
        pair.pid, pair.ns_pid,
        "the target should be inside the namespace"
    );

    let ew = Exitwatch::start(&["--pid", &pair.pid_arg(), "--format", "json"]);
    pair.tell("go");
    let events = ew.wait_exit(EVENT_TIMEOUT).assert_ok().json();
    let ev = first(&events, "signal");
    let s = &ev["sender"];
    assert_eq!(s["pid"], sender_pid, "{ev:#}");
    assert_eq!(s["ns_pid"], 1, "{ev:#}");
    assert_ne!(s["ns_pid"], s["pid"], "{ev:#}");
    assert_eq!(ev["target"]["pid"], pair.pid, "{ev:#}");
    assert_eq!(ev["target"]["ns_pid"], pair.ns_pid, "{ev:#}");
    pair.expect_line("reaped ");
}

#[test]
fn sender_that_deleted_its_own_executable_is_still_named() {
    // A dropper: copied somewhere, started, then unlinked before it strikes.
    // Next to the victim binary: a place we may write to and execute from (unlike a noexec /tmp).
    let dir = std::path::Path::new(victim_bin())
        .with_file_name(format!("e2e-dropper-{}", std::process::id()));
    let (dropper, events) = harness::deleted_dropper_kill(&dir, "dropper");
    let ev = first(&events, "signal");
    let s = &ev["sender"];
    assert_eq!(s["comm"], "dropper", "{ev:#}");
    assert_eq!(s["exe"], dropper.to_str().unwrap(), "{ev:#}");
    assert_eq!(s["exe_deleted"], true, "{ev:#}");
}
