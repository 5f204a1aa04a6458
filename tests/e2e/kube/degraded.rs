//! What exitwatch must not claim, and how it behaves when the API is not there: pods no one
//! confirmed, a container process that calls itself kubelet, the API down, RBAC denying, no API
//! server at all, and a crash loop against the per-node Event rate limit.

use std::time::Instant;

use super::*;

/// A copy of the victim helper named `kubelet`, run in `pid`'s cgroups (every hierarchy), that
/// sends SIGKILL to `target`.
fn kill_from_a_process_named_kubelet_in_the_cgroups_of(pid: u32, target: u32, dir: &TempDir) {
    let kubelet = dir.join("kubelet");
    std::fs::copy(crate::harness::victim_bin(), &kubelet).expect("copy the victim helper");
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("its cgroups");
    let mut join = String::new();
    for line in cgroups.lines() {
        let mut f = line.splitn(3, ':');
        let (_, controllers, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        let root = match controllers {
            "" => "unified".to_owned(),
            c => c.strip_prefix("name=").unwrap_or(c).to_owned(),
        };
        let procs = format!("/sys/fs/cgroup/{root}{path}/cgroup.procs");
        if std::path::Path::new(&procs).exists() {
            join += &format!("echo $$ > {procs}; ");
        }
    }
    let script = format!("{join}exec {} send KILL {target} 1", kubelet.display());
    crate::harness::run(Command::new("sh").args(["-c", &script]));
}

#[test]
fn an_unconfirmed_pod_gets_no_event_and_no_metric_and_a_process_named_kubelet_is_not_the_kubelet() {
    let api = KubeApi::start("unconfirmed");
    // In a pod's cgroup, but no Pod in the API names it (nor do CRI labels).
    let mut ghost = TestPod::new("default", "ghost", "besteffort");
    ghost.run("app", &[], &["/bin/sleep", "1000"]);
    // A confirmed pod whose container is killed by a process of its own named `kubelet`.
    let mut real = TestPod::new("default", "real", "besteffort");
    real.run("app", &[], &["/bin/sleep", "1000"]);
    real.run("side", &[], &["/bin/sleep", "1000"]);
    api.put_pod(&real.object());
    let mut node = Node::on(&api, &[]);

    let ghost_pid = ghost.container("app").pid();
    crate::harness::run(Command::new("/bin/kill").args(["-9", &ghost_pid.to_string()]));
    let kill = node.wait_signal(ghost_pid, "SIGKILL");
    let p = &kill["target"]["container"]["pod"];
    assert_eq!(
        p["uid"],
        ghost.uid.as_str(),
        "the uid is read from the cgroup: {kill:#}"
    );
    assert_eq!(p["confirmed_by"], Value::Null, "{kill:#}");

    let target = real.container("app").pid();
    let side = real.container("side").pid();
    kill_from_a_process_named_kubelet_in_the_cgroups_of(side, target, &api.dir);
    let kill = node.wait_signal(target, "SIGKILL");
    assert_eq!(kill["sender"]["comm"], "kubelet", "{kill:#}");
    assert_ne!(
        kill["sender"]["role"], "kubelet",
        "a container process: {kill:#}"
    );
    assert!(!kill["sender"]["container"].is_null(), "{kill:#}");
    assert_eq!(
        kill["target"]["container"]["pod"]["confirmed_by"], "api",
        "{kill:#}"
    );

    // The real pod's kill is posted and counted; by then the ghost's would have been too.
    wait_posted(&api, &real.uid, 1, |p| {
        p["object"]["reason"] == "SignalKilled"
    });
    node.wait_metric("exitwatch_signals_total", &[("pod", real.name.as_str())], 1);
    assert_eq!(
        node.metric("exitwatch_signals_total", &[("sender_role", "kubelet")]),
        0,
        "{:#?}",
        node.samples("exitwatch_signals_total", &[])
    );
    let all: Vec<_> = node.samples("exitwatch_signals_total", &[]);
    assert!(
        all.iter()
            .all(|(labels, _)| labels.contains(&format!("pod=\"{}\"", real.name))),
        "only the confirmed pod has per-pod series: {all:#?}"
    );
    let about_ghost: Vec<Value> = api
        .posted()
        .into_iter()
        .filter(|p| p["object"]["regarding"]["uid"] == ghost.uid.as_str())
        .collect();
    assert!(about_ghost.is_empty(), "{about_ghost:#?}");
    assert_all_valid(&api);
}

/// The kill of `pod`'s `app` container is in the file output (whatever the API does).
fn killed_in_file(node: &mut Node, pid: u32) {
    node.wait_signal(pid, "SIGKILL");
    let ok = wait_until(TIMEOUT, || {
        node.file_events()
            .iter()
            .any(|v| v["event"] == "signal" && v["target"]["pid"] == pid)
    });
    assert!(ok, "the kill of {pid} is not in {}", node.out.display());
}

/// stderr lines that speak of Kubernetes, each said once: a state is told when it changes,
/// never at every retry.
fn kube_lines(stderr: &str) -> Vec<&str> {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("kubernetes"))
        .collect();
    for (i, l) in lines.iter().enumerate() {
        assert!(
            !lines[..i].contains(l),
            "said again at a retry: {l:?}\nstderr:\n{stderr}"
        );
    }
    lines
}

#[test]
fn the_api_down_keeps_kills_reported_and_exitwatch_recovers_when_it_returns() {
    let api = KubeApi::start("down");
    let mut pod = TestPod::new("default", "flaky", "besteffort");
    pod.run("a", &[], &["/bin/sleep", "1000"]);
    pod.run("b", &[], &["/bin/sleep", "1000"]);
    api.put_pod(&pod.object());
    let mut node = Node::on(&api, &[]);

    api.down(true);
    node.wait_metric("exitwatch_kube_api_up", &[], 0);
    let a = pod.container("a").pid();
    pod.container("a").kill("SIGKILL");
    killed_in_file(&mut node, a);

    let from = api.requests().len();
    api.down(false);
    api.wait_watch("/api/v1/pods", from, Duration::from_secs(60));
    node.wait_metric("exitwatch_kube_api_up", &[], 1);
    let b = pod.container("b").pid();
    pod.container("b").kill("SIGKILL");
    killed_in_file(&mut node, b);
    wait_posted(&api, &pod.uid, 1, |p| {
        p["object"]["regarding"]["fieldPath"] == "spec.containers{b}"
    });
    assert_all_valid(&api);
    let fin = node.ew.stop().assert_ok();
    let lines = kube_lines(&fin.stderr);
    let pods_down = lines
        .iter()
        .filter(|l| l.contains("cannot watch") && l.contains("pods"))
        .count();
    assert!(
        (1..=2).contains(&pods_down),
        "the outage is said (once per reason), not at every retry: {lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("pods") && l.contains("again")),
        "and its end: {lines:#?}"
    );
}

#[test]
fn an_api_answering_503_is_api_up_0_and_said_within_seconds() {
    let api = KubeApi::start("unavailable");
    let mut pod = TestPod::new("default", "busy", "besteffort");
    pod.run("a", &[], &["/bin/sleep", "1000"]);
    api.put_pod(&pod.object());
    let mut node = Node::on(&api, &[]);

    api.unavailable();
    // Not after a client's own retries of 503 (kube-rs's default: 15, backing off to 1000 s).
    node.wait_metric("exitwatch_kube_api_up", &[], 0);
    let a = pod.container("a").pid();
    pod.container("a").kill("SIGKILL");
    killed_in_file(&mut node, a);
    let fin = node.ew.stop().assert_ok();
    let lines = kube_lines(&fin.stderr);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("pods") && l.contains("503")),
        "the 503 is said: {lines:#?}"
    );
}

#[test]
fn rbac_denied_is_said_once_with_what_to_grant_and_granting_it_recovers() {
    let api = KubeApi::start("rbac");
    let mut pod = TestPod::new("default", "locked", "besteffort");
    pod.run("a", &[], &["/bin/sleep", "1000"]);
    pod.run("b", &[], &["/bin/sleep", "1000"]);
    api.put_pod(&pod.object());
    api.deny(&[
        "list:pods",
        "watch:pods",
        "list:events",
        "watch:events",
        "create:events",
        "patch:events",
    ]);
    let mut node = Node::start(&api.kubeconfig, &api.dir, &[]);
    node.wait_metric("exitwatch_kube_api_up", &[], 0);
    let a = pod.container("a").pid();
    pod.container("a").kill("SIGKILL");
    killed_in_file(&mut node, a);
    assert!(
        api.posted().is_empty(),
        "nothing created while denied: {:#?}",
        api.posted()
    );

    let from = api.requests().len();
    api.deny(&[]);
    api.wait_watch("/api/v1/pods", from, Duration::from_secs(90));
    node.wait_metric("exitwatch_kube_api_up", &[], 1);
    let b = pod.container("b").pid();
    pod.container("b").kill("SIGKILL");
    killed_in_file(&mut node, b);
    wait_posted(&api, &pod.uid, 1, |p| {
        p["object"]["regarding"]["fieldPath"] == "spec.containers{b}"
    });
    let fin = node.ew.stop().assert_ok();
    let said: Vec<&str> = kube_lines(&fin.stderr)
        .into_iter()
        .filter(|l| l.contains("forbidden") || l.contains("grant"))
        .collect();
    assert!(!said.is_empty(), "nothing said about RBAC:\n{}", fin.stderr);
    assert!(
        said.iter()
            .any(|l| l.contains("pods") && l.contains("grant") && l.contains("list")),
        "what is missing and what to grant: {said:#?}"
    );
    let pods_lines = said.iter().filter(|l| l.contains("pods")).count();
    assert_eq!(pods_lines, 1, "said once, not at every retry: {said:#?}");
}

#[test]
fn without_an_api_server_kills_are_still_reported_and_api_up_is_0() {
    let dir = TempDir::new("kube-none");
    let certs = crate::siem::collectors::Certs::issue(&dir.0, "none");
    let kubeconfig = dir.join("kubeconfig");
    let nobody = free_port();
    api::write_kubeconfig(
        &kubeconfig,
        &format!("https://127.0.0.1:{nobody}"),
        &certs.ca,
        "no-token",
    );
    let mut pod = TestPod::new("default", "alone", "besteffort");
    pod.run("app", &[], &["/bin/sleep", "1000"]);
    let mut node = Node::start(&kubeconfig, &dir, &[]);
    node.wait_metric("exitwatch_kube_api_up", &[], 0);
    let pid = pod.container("app").pid();
    pod.container("app").kill("SIGKILL");
    killed_in_file(&mut node, pid);
    let kill = node.wait_exit(pid);
    assert_eq!(kill["exit"]["code"], 137, "{kill:#}");
    assert_eq!(node.metric("exitwatch_signals_total", &[]), 0);
    let fin = node.ew.stop().assert_ok();
    let lines = kube_lines(&fin.stderr);
    assert!(
        lines.iter().any(|l| l.contains("pods")),
        "the missing API is said: {lines:#?}"
    );
}

#[test]
fn a_crash_loop_flood_is_held_by_the_node_rate_limit_and_every_event_is_counted() {
    let api = KubeApi::start("flood");
    let mut pod = TestPod::new("default", "loop", "besteffort");
    pod.run("app", &[], &["/bin/sleep", "1000"]);
    api.put_pod(&pod.object());
    let mut node = Node::on(&api, &["--kube-events-per-minute", "60"]);
    let c = pod.container("app");
    const KILLS: u64 = 50;
    const BURST: u64 = 10;

    let started = Instant::now();
    // 50 children killed as fast as a shell can (a child may die before it execs sleep):
    // what a crash loop's kills look like to the API.
    let script =
        format!("i=0; while [ $i -lt {KILLS} ]; do sleep 100 & kill -9 $!; wait; i=$((i+1)); done");
    c.exec(&["/bin/sh", "-c", &script]);
    let mut seen = 0;
    let all = node.ew.read_json_until(TIMEOUT, |v| {
        if v["event"] == "signal"
            && v["signal"]["name"] == "SIGKILL"
            && v["target"]["container"]["id"] == c.id.as_str()
        {
            seen += 1;
        }
        seen == KILLS
    });
    assert!(all, "{seen} of {KILLS} kills seen");
    let results = ["posted", "aggregated", "rate_limited", "failed", "dropped"];
    let counted = || {
        results
            .iter()
            .map(|r| node.metric("exitwatch_kube_events_total", &[("result", r)]))
            .sum::<u64>()
    };
    let ok = wait_until(TIMEOUT, || counted() == KILLS);
    let by: Vec<(&str, u64)> = results
        .iter()
        .map(|r| {
            (
                *r,
                node.metric("exitwatch_kube_events_total", &[("result", r)]),
            )
        })
        .collect();
    assert!(
        ok,
        "every eligible Event counted once: {by:?} (sum {}) != {KILLS}",
        counted()
    );
    let elapsed = started.elapsed().as_secs() + 1;
    let sent = api.accepted_about(&pod.uid).len() as u64;
    assert!(
        sent <= BURST + elapsed,
        "{sent} Events created or patched in {elapsed} s: more than the burst {BURST} + 1/s; {by:?}"
    );
    let limited = node.metric("exitwatch_kube_events_total", &[("result", "rate_limited")]);
    assert!(limited >= KILLS - BURST - elapsed, "{by:?}");
    let posted_or_patched = node.metric("exitwatch_kube_events_total", &[("result", "posted")])
        + node.metric("exitwatch_kube_events_total", &[("result", "aggregated")]);
    assert_eq!(
        posted_or_patched, sent,
        "what the API accepted is what is counted: {by:?}"
    );
    node.wait_metric(
        "exitwatch_signals_total",
        &[("pod", pod.name.as_str()), ("container", "app")],
        KILLS,
    );
    assert_all_valid(&api);
}
