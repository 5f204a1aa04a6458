//! podman containers (`podman kill`, `podman stop`), rootful with the cgroupfs manager: their
//! cgroup paths (`/libpod_parent/libpod-<id>`) and podman's names and images through its
//! Docker-compatible API.

use super::*;
use crate::runtime::{DockerContainer, PodmanContainer, PODMAN_IMAGE};

#[test]
fn podman_kill_names_the_podman_container_and_image() {
    let name = DockerContainer::new_name("ew-podman-kill");
    let c = PodmanContainer::run(&name, &["/bin/sleep", "1000"]);
    let pid = c.pid();
    let mut ew = exitwatch(&["--container", &name]);
    c.podman(&["kill"]);
    wait_exit_of(&mut ew, pid);
    let events = ew.stop().assert_ok().json();

    let kill = signal(&events, pid, "SIGKILL");
    let tc = &kill["target"]["container"];
    assert_container(tc, &c.id, "podman", kill);
    assert_eq!(tc["name"], name.as_str(), "{kill:#}");
    assert_eq!(tc["image"], PODMAN_IMAGE, "{kill:#}");
    assert_eq!(
        tc["cgroup"],
        format!("/libpod_parent/libpod-{}", c.id),
        "podman's cgroupfs layout: {kill:#}"
    );
    // `podman kill` runs runc itself: runc, a runtime, child of podman.
    let s = &kill["sender"];
    assert_eq!(s["comm"], "runc", "{kill:#}");
    assert_eq!(s["role"], "container_runtime", "{kill:#}");
    assert_eq!(s["parent"]["comm"], "podman", "{kill:#}");
    assert_killed(exit_of(&events, pid), kill);
}

#[test]
fn podman_stop_escalates_to_sigkill_after_the_grace_period() {
    let name = DockerContainer::new_name("ew-podman-stop");
    let c = PodmanContainer::run(&name, &["/bin/sleep", "1000"]);
    let pid = c.pid();
    let mut ew = exitwatch(&["--container", &c.id[..12]]);
    c.podman(&["stop", "-t", "2"]);
    wait_exit_of(&mut ew, pid);
    let events = ew.stop().assert_ok().json();

    let term = signal(&events, pid, "SIGTERM");
    assert_eq!(term["signal"]["result"], "ignored", "{term:#}");
    let kill = signal(&events, pid, "SIGKILL");
    assert_container(&kill["target"]["container"], &c.id, "podman", kill);
    assert_eq!(
        kill["target"]["container"]["name"],
        name.as_str(),
        "{kill:#}"
    );
    let d = diagnosis(kill, "stop_escalated");
    assert_eq!(d["evidence"]["stop_request_id"], term["id"], "{kill:#}");
    assert_killed(exit_of(&events, pid), kill);
}
