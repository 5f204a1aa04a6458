//! Containers under real runtimes: plain containerd (`ctr`), Docker, and pods run through
//! containerd's CRI plugin the way the kubelet runs them. Each test checks which container the
//! target and the sender were in, what the runtime calls them, and the receiving-side filters.
//!
//! Starts the tests' own containerd and dockerd if they are not running (see `runtime`); fails, naming what is
//! missing, when it cannot.

use std::process::Command;
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{self, of_kind, Exitwatch};
use crate::runtime::{self, CtrContainer};

mod docker;
mod podman;
mod pods;

/// Runtime calls go through daemons and shims: slower than a plain kill.
const TIMEOUT: Duration = Duration::from_secs(15);
/// A pause between a container's start and its kill, as in real life (exitwatch must not need
/// it: see `a_container_killed_the_moment_it_starts_is_caught_by_name`).
const SETTLE: Duration = Duration::from_secs(2);

/// exitwatch in JSON, with these filters, asking the tests' own runtimes.
fn exitwatch(filters: &[&str]) -> Exitwatch {
    let sockets = exitwatch_tests::daemons::exitwatch_args();
    let mut args = filters.to_vec();
    args.extend(["--format", "json"]);
    args.extend(sockets.iter().map(String::as_str));
    Exitwatch::start(&args)
}

/// Waits for the exit of `pid`, the end of each test's story.
fn wait_exit_of(ew: &mut Exitwatch, pid: u32) -> Value {
    ew.wait_json(TIMEOUT, |v| {
        v["event"] == "exit" && v["target"]["pid"] == pid
    })
}

/// The one `signal` event of `name` to `pid`.
fn signal<'a>(events: &'a [Value], pid: u32, name: &str) -> &'a Value {
    let found: Vec<_> = of_kind(events, "signal")
        .into_iter()
        .filter(|e| e["target"]["pid"] == pid && e["signal"]["name"] == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {name} to {pid} expected among {events:#?}"
    );
    found[0]
}

fn exit_of(events: &[Value], pid: u32) -> &Value {
    of_kind(events, "exit")
        .into_iter()
        .find(|e| e["target"]["pid"] == pid)
        .unwrap_or_else(|| panic!("no exit of {pid} among {events:#?}"))
}

/// Events whose target is `pid`: those a filter must have kept out.
fn about(events: &[Value], pid: u32) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["target"]["pid"] == pid)
        .collect()
}

fn diagnosis<'a>(ev: &'a Value, code: &str) -> &'a Value {
    ev["diagnosis"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["code"] == code))
        .unwrap_or_else(|| panic!("no {code} diagnosis: {ev:#}"))
}

/// A container as exitwatch reports it: full id, runtime, names from the runtime, and the
/// cgroup the id was read from.
fn assert_container(c: &Value, id: &str, runtime: &str, ev: &Value) {
    assert_eq!(c["id"], id, "{ev:#}");
    assert_eq!(c["runtime"], runtime, "{ev:#}");
    assert_eq!(c["metadata"], "complete", "{ev:#}");
    let cgroup = c["cgroup"]
        .as_str()
        .unwrap_or_else(|| panic!("no cgroup: {ev:#}"));
    assert!(
        cgroup.ends_with(id),
        "cgroup {cgroup:?} does not name {id}: {ev:#}"
    );
}

/// A `sleep` container named `name` the way nerdctl names them (a label containerd lists).
fn named_sleep(name: &str) -> CtrContainer {
    CtrContainer::run(
        &["--label", &format!("nerdctl/name={name}")],
        &["/bin/sleep", "1000"],
    )
}

/// The one SIGKILL to `pid`, in container `c` that its runtime calls `name`.
fn named_kill<'a>(events: &'a [Value], pid: u32, c: &CtrContainer, name: &str) -> &'a Value {
    let kill = signal(events, pid, "SIGKILL");
    assert_container(&kill["target"]["container"], &c.id, "containerd", kill);
    assert_eq!(kill["target"]["container"]["name"], name, "{kill:#}");
    kill
}

/// The runtime's shim had runc send it: not a process of any container.
fn assert_sent_by_runc(ev: &Value) {
    let s = &ev["sender"];
    assert_eq!(s["comm"], "runc", "{ev:#}");
    assert_eq!(s["role"], "container_runtime", "{ev:#}");
    assert_eq!(s["container"], Value::Null, "runc runs on the host: {ev:#}");
    assert!(
        s["parent"]["comm"]
            .as_str()
            .unwrap_or("")
            .starts_with("containerd-shim"),
        "{ev:#}"
    );
}

/// The exit of a SIGKILLed container process, linked to the kill.
fn assert_killed(exit: &Value, kill: &Value) {
    assert_eq!(exit["exit"]["code"], 137, "{exit:#}");
    assert_eq!(exit["exit"]["signal_name"], "SIGKILL", "{exit:#}");
    assert_eq!(exit["cause"]["event"], "signal", "{exit:#}");
    assert_eq!(exit["cause"]["id"], kill["id"], "{exit:#}");
    assert_eq!(
        exit["target"]["container"]["id"], kill["target"]["container"]["id"],
        "{exit:#}"
    );
}

/// `/bin/kill -9 PID` from the host.
fn host_kill(pid: u32) {
    harness::run(Command::new("/bin/kill").args(["-9", &pid.to_string()]));
}

// Plain containerd (`ctr`), as nerdctl and other tools drive it.

#[test]
fn ctr_task_kill_is_runc_killing_the_containers_pid1() {
    let c = CtrContainer::run(&[], &["/bin/sleep", "1000"]);
    let pid = c.pid();
    let mut ew = exitwatch(&["--container", c.short()]);
    c.kill("SIGKILL");
    wait_exit_of(&mut ew, pid);
    let events = ew.stop().assert_ok().json();

    let kill = signal(&events, pid, "SIGKILL");
    let target = &kill["target"];
    assert_container(&target["container"], &c.id, "containerd", kill);
    assert_eq!(
        target["container"]["containerd_namespace"], "default",
        "{kill:#}"
    );
    assert_eq!(
        target["container"]["cgroup"],
        format!("/default/{}", c.id),
        "{kill:#}"
    );
    assert_eq!(target["container"]["pod"], Value::Null, "{kill:#}");
    assert_eq!(target["ns_pid"], 1, "{kill:#}");
    assert_eq!(target["comm"], "sleep", "{kill:#}");
    assert_eq!(kill["signal"]["result"], "delivered", "{kill:#}");
    assert_sent_by_runc(kill);
    assert!(
        kill["sender"]["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "kill"),
        "runc's argv says kill: {kill:#}"
    );
    assert_ne!(
        kill["sender"]["namespaces"]["pid"], target["namespaces"]["pid"],
        "the container has its own pid namespace: {kill:#}"
    );
    assert_killed(exit_of(&events, pid), kill);
}

#[test]
fn sigterm_ignored_by_pid1_then_sigkill_is_a_stop_escalation() {
    let c = CtrContainer::run(&[], &["/bin/sleep", "1000"]);
    let pid = c.pid();
    let mut ew = exitwatch(&["--container", &c.id]);
    c.kill("SIGTERM");
    let term = ew.wait_json(TIMEOUT, |v| {
        v["event"] == "signal" && v["signal"]["name"] == "SIGTERM"
    });
    assert_eq!(term["target"]["pid"], pid, "{term:#}");
    assert_eq!(
        term["signal"]["result"], "ignored",
        "PID 1 without a handler: {term:#}"
    );
    assert_eq!(term["signal"]["fatal"], false, "{term:#}");
    diagnosis(&term, "term_ignored_by_pid1");
    assert_sent_by_runc(&term);
    thread::sleep(Duration::from_secs(1));
    c.kill("SIGKILL");
    wait_exit_of(&mut ew, pid);
    let events = ew.stop().assert_ok().json();

    let kill = signal(&events, pid, "SIGKILL");
    assert_container(&kill["target"]["container"], &c.id, "containerd", kill);
    assert_sent_by_runc(kill);
    let d = diagnosis(kill, "stop_escalated");
    assert_eq!(d["evidence"]["stop_request_id"], term["id"], "{kill:#}");
    let elapsed = d["evidence"]["elapsed_ns"].as_u64().unwrap_or(0);
    assert!(
        (900_000_000..10_000_000_000).contains(&elapsed),
        "elapsed {elapsed} ns: {kill:#}"
    );
    assert_killed(exit_of(&events, pid), kill);
}

#[test]
fn container_filter_catches_a_host_kill_and_ignores_other_containers() {
    let watched = CtrContainer::run(&[], &["/bin/sleep", "1000"]);
    let other = CtrContainer::run(&[], &["/bin/sleep", "1000"]);
    let (pid, other_pid) = (watched.pid(), other.pid());
    let mut ew = exitwatch(&["--container", watched.short()]);
    host_kill(other_pid);
    host_kill(pid);
    wait_exit_of(&mut ew, pid);
    let events = ew.stop().assert_ok().json();

    let kill = signal(&events, pid, "SIGKILL");
    assert_container(
        &kill["target"]["container"],
        &watched.id,
        "containerd",
        kill,
    );
    let s = &kill["sender"];
    assert_eq!(s["comm"], "kill", "{kill:#}");
    assert_eq!(
        s["args"],
        serde_json::json!(["/bin/kill", "-9", pid.to_string()]),
        "{kill:#}"
    );
    assert_eq!(s["container"], Value::Null, "sent from the host: {kill:#}");
    assert_ne!(s["role"], "container_runtime", "{kill:#}");
    assert_killed(exit_of(&events, pid), kill);
    assert!(
        about(&events, other_pid).is_empty(),
        "{} is another container: {events:#?}",
        other.id
    );
}

#[test]
fn a_kill_from_inside_another_container_names_both_containers() {
    // The victim's PID 1 is a shell: a pid namespace's own init cannot be SIGKILLed from inside
    // it, so the killer (which shares the victim's pid namespace, like a sidecar) kills its child.
    // The shell outlives its child: were it to exit, the kernel would SIGKILL every process of
    // the namespace, the killer's `kill` among them if it had not exited yet, and `ctr task exec`
    // would fail the test for a race of its own making.
    let victim = CtrContainer::run(
        &[],
        &["/bin/sh", "-c", "sleep 1000 & wait; exec sleep 1000"],
    );
    let init = victim.pid();
    let sleep = runtime::poll(TIMEOUT, || {
        victim.pids().into_iter().find(|&p| {
            p != init
                && std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .is_ok_and(|c| c.trim() == "sleep")
        })
    })
    .expect("the victim's shell never started sleep");
    let ns_pid = ns_pid(sleep);
    let killer = CtrContainer::run(
        &["--with-ns", &format!("pid:/proc/{init}/ns/pid")],
        &["/bin/sleep", "1000"],
    );
    let mut ew = exitwatch(&["--container", victim.short()]);
    killer.exec(&["/bin/kill", "-9", &ns_pid.to_string()]);
    wait_exit_of(&mut ew, sleep);
    // A kill of the killer container's process is not reported (only the victim's container
    // is watched); the victim's own kill after it tells when exitwatch has read that far.
    let killer_pid = killer.pid();
    killer.kill("SIGKILL");
    runtime::poll(TIMEOUT, || {
        (!std::path::Path::new(&format!("/proc/{killer_pid}")).exists()).then_some(())
    })
    .expect("the killer container's process outlived its SIGKILL");
    victim.kill("SIGKILL");
    wait_exit_of(&mut ew, init);
    let events = ew.stop().assert_ok().json();

    let kill = signal(&events, sleep, "SIGKILL");
    let (s, t) = (&kill["sender"], &kill["target"]);
    assert_container(&t["container"], &victim.id, "containerd", kill);
    assert_eq!(t["ns_pid"], ns_pid, "{kill:#}");
    assert_eq!(s["comm"], "kill", "{kill:#}");
    assert_container(&s["container"], &killer.id, "containerd", kill);
    assert_eq!(
        s["container"]["containerd_namespace"], "default",
        "{kill:#}"
    );
    assert_eq!(
        s["namespaces"]["pid"], t["namespaces"]["pid"],
        "a shared pid namespace: {kill:#}"
    );
    assert_ne!(
        s["namespaces"]["mnt"], t["namespaces"]["mnt"],
        "two containers: {kill:#}"
    );
    assert_ne!(
        s["ns_pid"], s["pid"],
        "the sender's pid in the shared namespace: {kill:#}"
    );
    assert_killed(exit_of(&events, sleep), kill);
    assert!(
        events
            .iter()
            .all(|e| e["target"]["container"]["id"] != killer.id.as_str()
                && e["target"]["pid"] != killer_pid),
        "the killer container is not watched: {events:#?}"
    );
}

/// The pid of `pid` inside its own pid namespace (the last NSpid field).
fn ns_pid(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or_else(|| panic!("no NSpid in {status}"))
}

#[test]
fn a_container_removed_right_after_its_kill_keeps_its_name() {
    // Started after exitwatch, like most containers a long-running agent sees.
    let name = format!("ew-gone-{}", runtime::random_hex(3));
    let mut ew = exitwatch(&["--container", &name]);
    let c = named_sleep(&name);
    let pid = c.pid();
    thread::sleep(SETTLE);
    c.kill("SIGKILL");
    c.remove_when_stopped();
    wait_exit_of(&mut ew, pid);
    let events = ew.stop().assert_ok().json();

    let kill = named_kill(&events, pid, &c, &name);
    let exit = exit_of(&events, pid);
    assert_killed(exit, kill);
    assert_eq!(
        exit["target"]["container"]["name"],
        name.as_str(),
        "{exit:#}"
    );
    assert_eq!(
        exit["target"]["container"]["metadata"], "complete",
        "{exit:#}"
    );
}

#[test]
fn a_container_killed_the_moment_it_starts_is_caught_by_name() {
    // The kill comes before exitwatch has scanned the new cgroup or heard the container's name
    // from containerd: the kernel passes it on undecided, and exitwatch decides by name.
    let name = format!("ew-swift-{}", runtime::random_hex(3));
    let other_name = format!("ew-other-{}", runtime::random_hex(3));
    let mut ew = exitwatch(&["--container", &name]);
    let (c, other) = (named_sleep(&name), named_sleep(&other_name));
    let (pid, other_pid) = (c.pid(), other.pid());
    other.kill("SIGKILL");
    c.kill("SIGKILL");
    wait_exit_of(&mut ew, pid);
    let events = ew.stop().assert_ok().json();

    let kill = named_kill(&events, pid, &c, &name);
    assert_killed(exit_of(&events, pid), kill);
    assert!(
        about(&events, other_pid).is_empty(),
        "container {other_name} was not asked about: {events:#?}"
    );
}

#[test]
fn an_oom_kill_in_a_container_names_the_container_and_obeys_the_filter() {
    // dd's 100 MiB block buffer against a 32 MiB limit: the memory cgroup runc made for the
    // container OOM-kills dd, a child of the container's shell.
    let name = format!("ew-oom-{}", runtime::random_hex(3));
    let mut ew = exitwatch(&["--container", &name]);
    let elsewhere = exitwatch(&["--container", "ew-nobody-of-this-name"]);
    let script = "sleep 1; /bin/busybox dd if=/dev/zero of=/dev/null bs=100M count=1; sleep 1000";
    let c = CtrContainer::run(
        &[
            "--memory-limit",
            &(32u64 << 20).to_string(),
            "--label",
            &format!("nerdctl/name={name}"),
        ],
        &["/bin/sh", "-c", script],
    );
    let oom = ew.wait_json(TIMEOUT, |v| v["event"] == "oom_kill");
    let victim = &oom["victim"];
    assert_eq!(victim["args"][1], "dd", "{oom:#}");
    assert_container(&victim["container"], &c.id, "containerd", &oom);
    assert_eq!(victim["container"]["name"], name.as_str(), "{oom:#}");
    assert_eq!(oom["constraint"], "memcg", "{oom:#}");
    assert_eq!(oom["memcg"]["limit_bytes"], 32u64 << 20, "{oom:#}");
    let pid = victim["pid"].as_u64().expect("victim pid") as u32;
    let exit = wait_exit_of(&mut ew, pid);
    assert_eq!(exit["exit"]["code"], 137, "{exit:#}");
    assert_eq!(exit["cause"]["id"], oom["id"], "{exit:#}");
    ew.stop().assert_ok();

    let unrelated = elsewhere.stop().assert_ok().json();
    assert!(
        of_kind(&unrelated, "oom_kill").is_empty() && about(&unrelated, pid).is_empty(),
        "an OOM kill in another container is not reported: {unrelated:#?}"
    );
}

#[test]
fn a_watched_containers_main_process_exiting_on_its_own_is_explained() {
    // exit(-1) in a program is 255 to the runtime; nobody sends a signal.
    let flag = format!("/go-{}", runtime::random_hex(8));
    let script = format!("while [ ! -e {flag} ]; do sleep 0.1; done; rm -f {flag}; exit 255");
    let c = CtrContainer::run(&[], &["/bin/sh", "-c", &script]);
    let pid = c.pid();
    let mut ew = exitwatch(&["--container", c.short()]);
    c.exec(&["/bin/sh", "-c", &format!(": > {flag}")]);
    let exit = ew.wait_json(TIMEOUT, |v| {
        v["event"] == "exit" && v["target"]["pid"] == pid
    });
    assert_eq!(exit["exit"]["code"], 255, "{exit:#}");
    assert_eq!(exit["exit"]["signal"], Value::Null, "{exit:#}");
    assert!(
        exit["exit"]["explanation"]
            .as_str()
            .unwrap()
            .contains("255"),
        "{exit:#}"
    );
    assert_eq!(exit["target"]["container"]["id"], c.id.as_str(), "{exit:#}");
    assert_eq!(exit["cause"], Value::Null, "nothing killed it: {exit:#}");
    let events = ew.stop().assert_ok().json();
    assert!(
        of_kind(&events, "signal")
            .iter()
            .all(|e| e["target"]["pid"] != pid),
        "{events:#?}"
    );
}
