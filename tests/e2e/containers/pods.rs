//! Pods run through containerd's CRI plugin as the kubelet runs them: pod names, namespaces and
//! uids, and the `--pod` and `--namespace` filters.

use std::thread;

use serde_json::Value;

use super::*;
use crate::runtime::{self, Pod, CRI_IMAGE};

/// A pod container as exitwatch reports it.
fn assert_pod_container(ev: &Value, pod: &Pod, id: &str, name: &str) {
    let tc = &ev["target"]["container"];
    assert_container(tc, id, "containerd", ev);
    assert_eq!(tc["name"], name, "{ev:#}");
    assert_eq!(tc["image"], CRI_IMAGE, "{ev:#}");
    assert_eq!(tc["pod"]["name"], pod.name.as_str(), "{ev:#}");
    assert_eq!(tc["pod"]["namespace"], pod.namespace.as_str(), "{ev:#}");
    assert_eq!(tc["pod"]["uid"], pod.uid.as_str(), "{ev:#}");
    assert_eq!(tc["pod"]["qos"], "besteffort", "{ev:#}");
    assert_eq!(
        tc["cgroup"],
        format!("/kubepods/besteffort/pod{}/{id}", pod.uid),
        "kubelet's cgroupfs layout: {ev:#}"
    );
}

#[test]
fn pod_filter_by_name_or_uid_names_the_pod_and_ignores_other_pods() {
    let web = Pod::run("default", "web");
    let app = web.container("app", &["/bin/sleep", "1000"]);
    let other = Pod::run("default", "other");
    let other_app = other.container("app", &["/bin/sleep", "1000"]);
    let (pid, other_pid) = (app.pid(), other_app.pid());
    let mut by_name = exitwatch(&["--pod", &web.qualified()]);
    let mut by_uid = exitwatch(&["--pod", &web.uid]);
    host_kill(other_pid);
    // What the kubelet does to a container it gives no grace period.
    web.stop_container(&app, 0);
    wait_exit_of(&mut by_name, pid);
    wait_exit_of(&mut by_uid, pid);

    for (how, ew) in [("--pod NS/NAME", by_name), ("--pod UID", by_uid)] {
        let events = ew.stop().assert_ok().json();
        let kill = signal(&events, pid, "SIGKILL");
        assert_pod_container(kill, &web, &app.id, "app");
        assert_sent_by_runc(kill);
        assert_killed(exit_of(&events, pid), kill);
        assert!(
            about(&events, other_pid).is_empty(),
            "{how}: pod {} is not watched: {events:#?}",
            other.name
        );
    }
}

#[test]
fn namespace_filter_covers_a_pod_started_after_exitwatch() {
    let namespace = format!("ew-{}", runtime::random_hex(3));
    let mut ew = exitwatch(&["--namespace", &namespace]);
    let db = Pod::run(&namespace, "db");
    let app = db.container("app", &["/bin/sleep", "1000"]);
    let other = Pod::run("default", "other");
    let other_app = other.container("app", &["/bin/sleep", "1000"]);
    let (pid, other_pid) = (app.pid(), other_app.pid());
    thread::sleep(SETTLE);
    host_kill(other_pid);
    host_kill(pid);
    wait_exit_of(&mut ew, pid);
    let events = ew.stop().assert_ok().json();

    let kill = signal(&events, pid, "SIGKILL");
    assert_pod_container(kill, &db, &app.id, "app");
    assert_eq!(kill["sender"]["comm"], "kill", "{kill:#}");
    assert_eq!(kill["sender"]["container"], Value::Null, "{kill:#}");
    assert_killed(exit_of(&events, pid), kill);
    assert!(
        about(&events, other_pid).is_empty(),
        "pod default/{} is not watched: {events:#?}",
        other.name
    );
}
