//! Docker containers (`docker kill`, `docker stop`, `docker run --rm`): docker's names and images.

use std::thread;

use serde_json::Value;

use super::*;
use crate::runtime::{self, DockerContainer, DOCKER_IMAGE};

#[test]
fn docker_kill_names_the_docker_container_and_image() {
    let c = DockerContainer::run(
        &DockerContainer::new_name("ew-kill"),
        &[],
        &["/bin/sleep", "1000"],
    );
    let pid = c.pid();
    let mut ew = exitwatch(&["--container", &c.name]);
    c.docker(&["kill"]);
    wait_exit_of(&mut ew, pid);
    let events = ew.stop().assert_ok().json();

    let kill = signal(&events, pid, "SIGKILL");
    let tc = &kill["target"]["container"];
    assert_container(tc, &c.id, "docker", kill);
    assert_eq!(tc["name"], c.name.as_str(), "{kill:#}");
    assert_eq!(tc["image"], DOCKER_IMAGE, "{kill:#}");
    assert_eq!(tc["cgroup"], format!("/docker/{}", c.id), "{kill:#}");
    assert_eq!(tc["pod"], Value::Null, "{kill:#}");
    assert_sent_by_runc(kill);
    assert_killed(exit_of(&events, pid), kill);
}

#[test]
fn docker_stop_escalates_to_sigkill_after_the_grace_period() {
    // busybox sleep as PID 1 has no SIGTERM handler, so the kernel drops docker's SIGTERM.
    let c = DockerContainer::run(
        &DockerContainer::new_name("ew-stop"),
        &[],
        &["/bin/sleep", "1000"],
    );
    let pid = c.pid();
    let mut ew = exitwatch(&["--container", c.short()]);
    c.docker(&["stop", "-t", "2"]);
    wait_exit_of(&mut ew, pid);
    let events = ew.stop().assert_ok().json();

    let term = signal(&events, pid, "SIGTERM");
    assert_eq!(term["signal"]["result"], "ignored", "{term:#}");
    diagnosis(term, "term_ignored_by_pid1");
    assert_sent_by_runc(term);
    let kill = signal(&events, pid, "SIGKILL");
    assert_container(&kill["target"]["container"], &c.id, "docker", kill);
    assert_eq!(
        kill["target"]["container"]["name"],
        c.name.as_str(),
        "{kill:#}"
    );
    assert_sent_by_runc(kill);
    let d = diagnosis(kill, "stop_escalated");
    assert_eq!(d["evidence"]["stop_request_id"], term["id"], "{kill:#}");
    let elapsed = d["evidence"]["elapsed_ns"].as_u64().unwrap_or(0);
    assert!(
        (1_900_000_000..6_000_000_000).contains(&elapsed),
        "`docker stop -t 2`: elapsed {elapsed} ns: {kill:#}"
    );
    assert_killed(exit_of(&events, pid), kill);
}

#[test]
fn a_docker_rm_container_killed_and_gone_keeps_its_name_and_image() {
    let name = DockerContainer::new_name("ew-rm");
    let mut ew = exitwatch(&["--container", &name]);
    let c = DockerContainer::run(&name, &["--rm"], &["/bin/sleep", "1000"]);
    let pid = c.pid();
    thread::sleep(SETTLE);
    c.docker(&["kill"]);
    wait_exit_of(&mut ew, pid);
    assert!(
        runtime::poll(TIMEOUT, || (!c.exists()).then_some(())).is_some(),
        "docker did not remove {name}"
    );
    let events = ew.stop().assert_ok().json();

    let kill = signal(&events, pid, "SIGKILL");
    let exit = exit_of(&events, pid);
    assert_killed(exit, kill);
    for ev in [kill, exit] {
        let tc = &ev["target"]["container"];
        assert_container(tc, &c.id, "docker", ev);
        assert_eq!(tc["name"], name.as_str(), "{ev:#}");
        assert_eq!(tc["image"], DOCKER_IMAGE, "{ev:#}");
    }
}
