//! What exitwatch tells the API about a pod: a Warning Event per fatal signal (aggregated when it
//! repeats), per OOM kill and per escalated stop, the kubelet's reason joined to the signals it
//! caused, and the per-pod metrics.

use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use super::*;

/// The Events exitwatch created about `pod` with `reason`.
fn created(api: &KubeApi, pod: &TestPod, reason: &str, n: usize) -> Vec<Value> {
    wait_posted(api, &pod.uid, n, |p| {
        p["verb"] == "create" && p["object"]["reason"] == reason
    })
}

#[test]
fn a_sigkill_to_a_pod_container_is_a_warning_event_on_the_pod_and_a_per_pod_metric() {
    let api = KubeApi::start("sigkill");
    let mut pod = TestPod::new("default", "web", "besteffort");
    pod.run("server", &[], &["/bin/sleep", "1000"]);
    api.put_pod(&pod.object());
    let mut node = Node::on(&api, &[]);
    let c = pod.container("server");
    let pid = c.pid();

    c.kill("SIGKILL");
    let kill = node.wait_signal(pid, "SIGKILL");
    let tp = &kill["target"]["container"]["pod"];
    assert_eq!(tp["confirmed_by"], "api", "{kill:#}");
    assert_eq!(tp["uid"], pod.uid.as_str(), "{kill:#}");
    assert_eq!(
        tp["name"],
        pod.name.as_str(),
        "names from the API's Pod: {kill:#}"
    );
    assert_eq!(tp["namespace"], "default", "{kill:#}");
    assert_eq!(kill["target"]["container"]["name"], "server", "{kill:#}");
    assert_eq!(kill["sender"]["role"], "container_runtime", "{kill:#}");

    let posted = created(&api, &pod, "SignalKilled", 1);
    assert_eq!(posted.len(), 1, "one kill, one Event: {posted:#?}");
    let ev = &posted[0]["object"];
    assert_regarding(ev, &pod, "server");
    assert_eq!(ev["action"], "Kill", "{ev:#}");
    let note = ev["note"].as_str().unwrap_or("");
    assert!(
        note.contains("SIGKILL"),
        "the note names the signal: {ev:#}"
    );
    assert!(note.contains("runc"), "the note names the sender: {ev:#}");
    assert!(note.len() <= 1024, "{ev:#}");

    let labels = [
        ("namespace", "default"),
        ("pod", pod.name.as_str()),
        ("container", "server"),
        ("signal", "SIGKILL"),
        ("sender_role", "container_runtime"),
    ];
    node.wait_metric("exitwatch_signals_total", &labels, 1);
    node.wait_metric("exitwatch_kube_events_total", &[("result", "posted")], 1);
    assert_all_valid(&api);
    node.wait_exit(pid);
    node.ew.stop().assert_ok().json();
}

#[test]
fn the_same_kill_again_after_a_restart_patches_the_event_into_a_series() {
    let api = KubeApi::start("series");
    let mut pod = TestPod::new("default", "crashy", "besteffort");
    pod.run("app", &[], &["/bin/sleep", "1000"]);
    api.put_pod(&pod.object());
    let mut node = Node::on(&api, &[]);

    let first = pod.container("app").pid();
    crate::harness::run(Command::new("/bin/kill").args(["-9", &first.to_string()]));
    node.wait_exit(first);
    let one = created(&api, &pod, "SignalKilled", 1);
    let second = pod.restart("app");
    crate::harness::run(Command::new("/bin/kill").args(["-9", &second.to_string()]));
    let again = node.wait_signal(second, "SIGKILL");
    assert_eq!(
        again["target"]["container"]["pod"]["confirmed_by"], "api",
        "{again:#}"
    );

    let patched = wait_posted(&api, &pod.uid, 1, |p| p["verb"] == "patch");
    assert_eq!(patched.len(), 1, "{patched:#?}");
    let ev = &patched[0]["object"];
    assert_eq!(
        ev["metadata"]["name"], one[0]["object"]["metadata"]["name"],
        "{ev:#}"
    );
    assert_eq!(ev["series"]["count"], 2, "{ev:#}");
    assert!(ev["series"]["lastObservedTime"].is_string(), "{ev:#}");
    assert_regarding(ev, &pod, "app");
    let creates = api
        .accepted_about(&pod.uid)
        .into_iter()
        .filter(|p| p["verb"] == "create")
        .count();
    assert_eq!(
        creates,
        1,
        "a repeat is a patch, not a second Event: {:#?}",
        api.posted()
    );
    node.wait_metric(
        "exitwatch_kube_events_total",
        &[("result", "aggregated")],
        1,
    );
    node.wait_metric("exitwatch_kube_events_total", &[("result", "posted")], 1);
    node.wait_metric(
        "exitwatch_signals_total",
        &[
            ("pod", pod.name.as_str()),
            ("container", "app"),
            ("signal", "SIGKILL"),
        ],
        2,
    );
    assert_all_valid(&api);
}

/// Doubles a shell variable until the memory cgroup's limit stops it: an allocation past the
/// limit from busybox alone.
const EAT: &str = "a=0123456789abcdef; while :; do a=$a$a; done";

#[test]
fn oom_kills_of_pid1_and_of_a_child_in_a_pod_are_oomkill_events_and_metrics() {
    let api = KubeApi::start("oom");
    let mut pod = TestPod::new("default", "hungry", "burstable");
    let limit = ["--memory-limit", "67108864"];
    // PID 1 of `app` eats once told (SIGUSR1), when exitwatch watches; a child of `worker` eats.
    let eat_on_usr1 = format!("trap '{EAT}' USR1; while :; do sleep 1; done");
    pod.run("app", &limit, &["/bin/sh", "-c", &eat_on_usr1]);
    pod.run("worker", &limit, &["/bin/sleep", "1000"]);
    api.put_pod(&pod.object());
    let mut node = Node::on(&api, &[]);
    let ns = crate::runtime::CTR_NS;
    let app = pod.container("app");
    let app_pid = app.pid();
    app.kill("SIGUSR1");
    let oom = node.ew.wait_json(Duration::from_secs(60), |v| {
        v["event"] == "oom_kill" && v["victim"]["pid"] == app_pid
    });
    assert_eq!(oom["constraint"], "memcg", "{oom:#}");

    let worker = pod.container("worker");
    let worker_pid1 = worker.pid();
    // A child of the container eats; the OOM killer takes it, PID 1 stays.
    let exec_id = format!("eat-{}", crate::runtime::random_hex(3));
    let _ = crate::runtime::exec(
        exitwatch_tests::daemons::ctr(ns)
            .args(["task", "exec", "--exec-id", &exec_id, &worker.id])
            .args(["/bin/sh", "-c", EAT]),
        Duration::from_secs(60),
    );
    let child = node.ew.wait_json(Duration::from_secs(60), |v| {
        v["event"] == "oom_kill"
            && v["memcg"]["path"]
                .as_str()
                .unwrap_or("")
                .contains(&worker.id)
    });
    assert_ne!(child["victim"]["pid"], worker_pid1, "{child:#}");

    let events = created(&api, &pod, "OOMKill", 2);
    let containers: Vec<&Value> = events
        .iter()
        .map(|p| &p["object"]["regarding"]["fieldPath"])
        .collect();
    assert!(
        containers.contains(&&json!("spec.containers{app}"))
            && containers.contains(&&json!("spec.containers{worker}")),
        "{events:#?}"
    );
    for p in &events {
        let ev = &p["object"];
        assert_eq!(ev["action"], "OOMKill", "{ev:#}");
        assert_eq!(ev["type"], "Warning", "{ev:#}");
        assert_eq!(ev["reportingController"], "exitwatch", "{ev:#}");
    }
    let base = [
        ("namespace", "default"),
        ("pod", pod.name.as_str()),
        ("scope", "memcg"),
    ];
    let with = |c: &'static str, pid1: &'static str| {
        let mut l = base.to_vec();
        l.extend([("container", c), ("pid1", pid1)]);
        l
    };
    node.wait_metric("exitwatch_oom_kills_total", &with("app", "true"), 1);
    node.wait_metric("exitwatch_oom_kills_total", &with("worker", "false"), 1);
    assert_eq!(
        node.metric("exitwatch_oom_kills_total", &with("app", "false")),
        0
    );
    assert_eq!(
        node.metric("exitwatch_oom_kills_total", &with("worker", "true")),
        0
    );
    assert!(worker.pid() == worker_pid1, "the worker's PID 1 survived");
    assert_all_valid(&api);
}

/// A core Event from the kubelet on this node about `pod`'s container `container`.
fn kubelet_event(pod: &TestPod, container: &str, reason: &str, kind: &str, message: &str) -> Value {
    let now = now_rfc3339();
    json!({
        "metadata": {
            "name": format!("{}.{}", pod.name, random_hex(8)),
            "namespace": pod.namespace,
        },
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": pod.name,
            "namespace": pod.namespace,
            "uid": pod.uid,
            "fieldPath": format!("spec.containers{{{container}}}"),
        },
        "reason": reason,
        "message": message,
        "source": {"component": "kubelet", "host": NODE},
        "type": kind,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "reportingComponent": "kubelet",
        "reportingInstance": NODE,
    })
}

const PROBE: &str = "Liveness probe failed: HTTP probe failed with statuscode: 500";

#[test]
fn a_liveness_probe_kill_carries_the_kubelets_reason_and_its_escalation_is_an_event() {
    let api = KubeApi::start("probe");
    let mut pod = TestPod::new("default", "live", "besteffort");
    // PID 1 without a SIGTERM handler: SIGTERM is ignored, as a stuck server's would be.
    pod.run("app", &[], &["/bin/sleep", "1000"]);
    api.put_pod(&pod.object());
    let mut node = Node::on(&api, &[]);
    let c = pod.container("app");
    let pid = c.pid();

    api.post_kubelet_event(&kubelet_event(&pod, "app", "Unhealthy", "Warning", PROBE));
    api.post_kubelet_event(&kubelet_event(
        &pod,
        "app",
        "Killing",
        "Normal",
        "Container app failed liveness probe, will be restarted",
    ));
    // exitwatch's Event watch delivers them; nothing to wait on but the watch itself.
    thread::sleep(Duration::from_secs(1));
    c.kill("SIGTERM");
    let term = node.wait_signal(pid, "SIGTERM");
    thread::sleep(Duration::from_secs(2));
    c.kill("SIGKILL");
    let kill = node.wait_signal(pid, "SIGKILL");
    let exit = node.wait_exit(pid);

    let escalated = created(&api, &pod, "StopEscalated", 1);
    assert_eq!(escalated.len(), 1, "{escalated:#?}");
    assert_regarding(&escalated[0]["object"], &pod, "app");
    for ev in [&term, &kill, &exit] {
        let k = &ev["cause"]["kubelet"];
        assert!(
            k["reason"] == "Killing" || k["reason"] == "Unhealthy",
            "the kubelet's reason joined: {ev:#}"
        );
        assert_eq!(k["message"], PROBE, "the probe's own message: {ev:#}");
        let t = k["time"].as_str().unwrap_or("");
        assert!(
            exitwatch_tests::unix_ns_from_rfc3339(t).is_some(),
            "an RFC 3339 time: {ev:#}"
        );
    }
    assert_eq!(
        kill["target"]["container"]["pod"]["confirmed_by"], "api",
        "{kill:#}"
    );

    assert_all_valid(&api);
    node.ew.stop().assert_ok().json();
}
