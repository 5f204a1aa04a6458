//! The image of `cargo xtask image`, run under containerd exactly as deploy/kubernetes runs it
//! (see `pod`), catching a `kill -9` of a host process and of a container's process; and each
//! capability the DaemonSet adds shown to be needed.

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::containerd as runtime;
use crate::containerd::{Victim, NS};
use crate::manifests;
use crate::pod::{self, CtrRun, Host, CAPS};
use crate::prometheus;
use crate::running::{get_in_netns, Imported, Pod};

/// The DaemonSet's container, translated; `edit` may change the DaemonSet first.
fn translate(edit: impl FnOnce(&mut Value)) -> CtrRun {
    let objects = manifests::objects();
    let mut ds = objects
        .iter()
        .find(|o| o["kind"] == "DaemonSet")
        .expect("a DaemonSet in deploy/kubernetes")
        .clone();
    edit(&mut ds);
    let config_maps: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == "ConfigMap")
        .collect();
    let containerfile = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/Containerfile"),
    )
    .expect("deploy/Containerfile");
    let (entrypoint, cmd) = pod::entrypoint_and_cmd(&containerfile);
    // One directory per translation: each CtrRun removes its own when dropped.
    let volumes_dir = std::env::temp_dir().join(format!(
        "exitwatch-deploy-volumes-{}",
        runtime::random_hex(4)
    ));
    let host = Host {
        pid_ns: format!("/proc/{}/ns/pid", std::process::id()).into(),
        node_name: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        volumes_dir,
        api_server: unreachable_api_server(),
        moved: vec![(
            "/run/containerd/containerd.sock".into(),
            runtime::SOCK.into(),
        )],
    };
    let run = pod::ctr_run(&ds, &config_maps, (&entrypoint, &cmd), &host)
        .unwrap_or_else(|e| panic!("the DaemonSet cannot be reproduced under ctr: {e}"));
    run
}

/// An address on this machine where nothing listens (a port the kernel gave, then freed): the
/// API server a pod is told about, which no cluster here runs. In a pod's own network namespace
/// nothing listens at any address either.
pub fn unreachable_api_server() -> (String, u16) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = l.local_addr().expect("local_addr").port();
    ("127.0.0.1".into(), port)
}

/// `/proc/PID/status` field `name`.
fn status_field(pid: u32, name: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or("")
        .trim()
        .to_owned()
}
/// The capability bits of `names`.
fn mask(names: &[String]) -> u64 {
    names
        .iter()
        .map(|n| 1u64 << CAPS.iter().position(|c| c == n).expect("known cap"))
        .sum()
}

#[test]
fn the_daemonset_pod_catches_kill_9_of_host_and_container_processes() {
    let started = Instant::now();
    let run = translate(|_| {});
    let _image = Imported::new(&run.image);
    let mut pod = Pod::start(&run);
    pod.ready().unwrap_or_else(|e| panic!("{e}"));
    let pid = pod.pid();

    // What the pod may do, checked on the live process rather than trusted from the spec.
    let want = format!("{:016x}", mask(&run.caps));
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(
            status_field(pid, set),
            want,
            "{set} of exitwatch in the pod; wanted exactly {:?}",
            run.caps
        );
    }
    assert_eq!(status_field(pid, "CapAmb"), "0000000000000000");
    assert_eq!(
        status_field(pid, "Uid").split_whitespace().next(),
        Some("0")
    );
    assert_eq!(
        status_field(pid, "NoNewPrivs"),
        if run.no_new_privs { "1" } else { "0" }
    );
    assert_eq!(
        status_field(pid, "Seccomp"),
        if run.seccomp { "2" } else { "0" },
        "2 is a seccomp filter"
    );
    let ns = |p: String| std::fs::read_link(p).expect("ns link");
    assert_eq!(
        ns(format!("/proc/{pid}/ns/pid")),
        ns("/proc/self/ns/pid".into()),
        "hostPID: the node's PID namespace"
    );
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("mountinfo");
    let exposed: Vec<&str> = mountinfo
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|m| m.starts_with(&format!("{}/io.containerd.runtime", runtime::STATE)))
        .collect();
    assert!(
        exposed.is_empty(),
        "other containers' root filesystems are mounted in the pod: {exposed:?}"
    );
    let root = mountinfo
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/"))
        .expect("a / mount");
    assert!(
        root.split_whitespace()
            .nth(5)
            .is_some_and(|o| o.split(',').any(|o| o == "ro")),
        "root not read-only: {root}"
    );

    host_mounts_are_read_only(pid, &mountinfo);

    // The kubelet's probes get through, on the port the DaemonSet names.
    assert!(!run.probes.is_empty(), "the DaemonSet has no HTTP probes");
    for probe in &run.probes {
        let answer = runtime::poll(Duration::from_secs(10), || {
            get_in_netns(pid, probe.port, &probe.path)
                .ok()
                .filter(|(c, _)| *c == 200)
        });
        assert!(
            answer.is_some(),
            "GET :{}{} never answered 200: {:?}",
            probe.port,
            probe.path,
            get_in_netns(pid, probe.port, &probe.path)
        );
    }

    // kill -9 of a host process, from this (host) process.
    let mut victim = Command::new("sleep").arg("1000").spawn().expect("sleep");
    thread::sleep(Duration::from_millis(100));
    // SAFETY: plain syscall.
    assert_eq!(unsafe { libc::kill(victim.id() as i32, libc::SIGKILL) }, 0);
    let _ = victim.wait();
    let host_pid = victim.id();
    let kill = pod.event("kill -9 of a host sleep", |v| {
        v["event"] == "signal" && v["target"]["pid"] == host_pid
    });
    assert_eq!(kill["signal"]["name"], "SIGKILL", "{kill:#}");
    assert_eq!(
        kill["sender"]["pid"],
        std::process::id(),
        "the sender's host pid: {kill:#}"
    );
    assert_eq!(kill["target"]["comm"], "sleep", "{kill:#}");
    assert_eq!(
        kill["node"].as_str(),
        run.options
            .iter()
            .find_map(|o| o.strip_prefix("--env=NODE_NAME=")),
        "node from the downward API: {kill:#}"
    );

    // kill -9 of a container's process: named through the runtime socket the pod mounts.
    let victim = Victim::start();
    // SAFETY: plain syscall.
    assert_eq!(unsafe { libc::kill(victim.pid as i32, libc::SIGKILL) }, 0);
    let kill = pod.event("kill -9 of a container's sleep", |v| {
        v["event"] == "signal" && v["target"]["pid"] == victim.pid
    });
    assert_eq!(
        kill["target"]["container"]["id"],
        victim.id.as_str(),
        "{kill:#}"
    );
    assert_eq!(
        kill["target"]["container"]["containerd_namespace"], NS,
        "named through the runtime socket: {kill:#}"
    );
    drop(victim);

    // An OOM kill in a container: its constraint and memory cgroup come from the kernel log,
    // which the pod reads with syslog(2) (CAP_SYSLOG; no /dev/kmsg in a pod).
    let victim = Victim::start_with(
        &["--memory-limit", &(32u64 << 20).to_string()],
        &[
            "/bin/busybox",
            "sh",
            "-c",
            "sleep 1; /bin/busybox dd if=/dev/zero of=/dev/null bs=100M count=1; sleep 1000",
        ],
    );
    let oom = pod.event("an OOM kill in a container", |v| {
        v["event"] == "oom_kill" && v["victim"]["container"]["id"] == victim.id.as_str()
    });
    assert_eq!(oom["constraint"], "memcg", "{oom:#}");
    assert!(
        oom["memcg"]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with(&victim.id)),
        "{oom:#}"
    );
    assert_eq!(oom["missing"], serde_json::json!([]), "{oom:#}");
    assert!(
        !pod.stderr_seen
            .iter()
            .any(|l| l.contains("cannot read the kernel log")),
        "{:?}",
        pod.stderr_seen
    );
    drop(victim);

    let status = pod.stop();
    assert!(
        status.is_some_and(|s| s.success()),
        "exitwatch's exit on SIGTERM: {status:?}; stderr {:?}",
        pod.stderr_seen
    );
    eprintln!(
        "the DaemonSet's pod under containerd: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Writes under the pod's host mounts fail with EROFS. They go through `/proc/PID/root`, which
/// resolves paths in the pod's mount namespace, from this test (root, every capability): so
/// what stops them is the mount itself, not a missing permission of the pod.
///
/// What this proves under the tests' containerd 1.6: `readOnly` holds for each mount. It does
/// not prove `recursiveReadOnly`: containerd 1.6 cannot make mounts recursively read-only, so
/// the kubelet falls back to plain read-only (`IfPossible`) and the mounts beneath a host path
/// (the cgroup v1 controllers under /sys/fs/cgroup on a hybrid node) keep their own flags.
fn host_mounts_are_read_only(pid: u32, mountinfo: &str) {
    let root = format!("/proc/{pid}/root");
    // mkdir in /sys/fs/cgroup would make a cgroup (cgroup2) or a directory (hybrid's tmpfs).
    // Where the node itself mounts it read-only (some systemd hybrids), EROFS proves less: said.
    let host_info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let host_cgroup_rw = host_info
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/sys/fs/cgroup"))
        .and_then(|l| l.split_whitespace().nth(5))
        .is_some_and(|o| o.split(',').any(|o| o == "rw"));
    let cgroup = Path::new(&root).join("sys/fs/cgroup/exitwatch-deploy-probe");
    match std::fs::create_dir(&cgroup) {
        Err(e) => assert_eq!(
            e.raw_os_error(),
            Some(libc::EROFS),
            "mkdir {}: {e}",
            cgroup.display()
        ),
        Ok(()) => {
            let _ = std::fs::remove_dir(&cgroup);
            panic!("/sys/fs/cgroup is writable in the pod");
        }
    }
    // CRI-O's socket directory: a plain host directory, writable on the host.
    let name = format!("exitwatch-deploy-probe-{}", runtime::random_hex(4));
    let on_host = Path::new("/var/run/crio").join(&name);
    std::fs::write(&on_host, b"x").expect("/var/run/crio is writable on the host");
    std::fs::remove_file(&on_host).expect("remove the probe file");
    let in_pod = Path::new(&root).join("var/run/crio").join(&name);
    match std::fs::write(&in_pod, b"x") {
        Err(e) => assert_eq!(
            e.raw_os_error(),
            Some(libc::EROFS),
            "write {}: {e}",
            in_pod.display()
        ),
        Ok(()) => {
            let _ = std::fs::remove_file(&on_host);
            panic!("/var/run/crio is writable in the pod");
        }
    }
    // Every host mount point is mounted `ro` (mountinfo field 6: the mount's own options).
    for dst in [
        "/sys/kernel/btf",
        "/sys/fs/cgroup",
        "/var/run/crio",
        "/run/containerd/containerd.sock",
    ] {
        let line = mountinfo
            .lines()
            .find(|l| l.split_whitespace().nth(4) == Some(dst))
            .unwrap_or_else(|| panic!("{dst} is not mounted in the pod:\n{mountinfo}"));
        assert!(
            line.split_whitespace()
                .nth(5)
                .is_some_and(|o| o.split(',').any(|o| o == "ro")),
            "{dst} not read-only: {line}"
        );
    }
    let beneath: Vec<&str> = mountinfo
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(4)
                .is_some_and(|m| m.starts_with("/sys/fs/cgroup/"))
        })
        .collect();
    let writable = beneath
        .iter()
        .filter(|l| {
            !l.split_whitespace()
                .nth(5)
                .is_some_and(|o| o.split(',').any(|o| o == "ro"))
        })
        .count();
    eprintln!(
        "host mounts: EROFS under /sys/fs/cgroup (the node's is {}) and /var/run/crio; {} mounts beneath /sys/fs/cgroup, {writable} of them writable (recursive read-only needs containerd >= 2.0)",
        if host_cgroup_rw { "rw" } else { "ro itself" },
        beneath.len()
    );
}

#[test]
fn each_capability_the_daemonset_adds_is_needed() {
    let run = translate(|_| {});
    assert!(!run.caps.is_empty(), "the DaemonSet adds no capability");
    let _image = Imported::new(&run.image);
    for cap in &run.caps {
        let without = translate(|ds| {
            let add = &mut ds["spec"]["template"]["spec"]["containers"][0]["securityContext"]
                ["capabilities"]["add"];
            add.as_array_mut()
                .unwrap()
                .retain(|c| c.as_str().map(|c| c.trim_start_matches("CAP_")) != Some(cap.as_str()));
        });
        let mut pod = Pod::start(&without);
        if cap == "SYSLOG" {
            // Not needed to run: needed for what an OOM kill hit (the kernel log).
            pod.ready()
                .unwrap_or_else(|e| panic!("without CAP_SYSLOG: {e}"));
            assert!(
                pod.says("it takes CAP_SYSLOG", Duration::from_secs(5)),
                "without CAP_SYSLOG exitwatch should warn that OOM kills lose their details: {:?}",
                pod.stderr_seen
            );
            continue;
        }
        let err = pod.ready().expect_err(&format!(
            "exitwatch became ready without CAP_{cap}: then the DaemonSet should not add it"
        ));
        assert!(
            err.contains(&format!("CAP_{cap}")),
            "without CAP_{cap}, exitwatch should say it is missing: {err}"
        );
    }
}

/// The metric names of a Prometheus text exposition: series, and the families of its `# HELP` and
/// `# TYPE` lines (which exitwatch prints for its per-pod families before any series exists).
fn exported(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| match l.strip_prefix('#') {
            Some(meta) => {
                let mut w = meta.split_whitespace();
                matches!(w.next(), Some("HELP" | "TYPE")).then(|| w.next())?
            }
            None => l.split(['{', ' ']).next().filter(|n| !n.is_empty()),
        })
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn the_pod_exports_every_metric_the_alerts_use() {
    let run = translate(|_| {});
    let _image = Imported::new(&run.image);
    let mut pod = Pod::start(&run);
    pod.ready().unwrap_or_else(|e| panic!("{e}"));
    let pid = pod.pid();
    let port = run
        .probes
        .first()
        .expect("a probe on the metrics port")
        .port;
    let (code, body) = runtime::poll(Duration::from_secs(10), || {
        get_in_netns(pid, port, "/metrics")
            .ok()
            .filter(|(c, _)| *c == 200)
    })
    .unwrap_or_else(|| panic!("GET /metrics: {:?}", get_in_netns(pid, port, "/metrics")));
    assert_eq!(code, 200);
    let names = exported(&body);
    assert!(
        names.iter().any(|n| n.starts_with("exitwatch_")),
        "no exitwatch metric in /metrics:\n{body}"
    );
    // A counter's family may be named without `_total` in its TYPE line (OpenMetrics style).
    let missing: Vec<String> = prometheus::alert_metrics()
        .into_iter()
        .filter(|(name, _)| {
            let family = name.strip_suffix("_total").unwrap_or(name);
            !names.iter().any(|n| n == name || n == family)
        })
        .map(|(name, alert)| format!("{name} (alert {alert})"))
        .collect();
    assert!(
        missing.is_empty(),
        "alerts in deploy/prometheus use metrics the image does not export: {missing:?}\nit exports {names:?}"
    );
    // The pod is given a token and an API server address where nothing answers (pod.rs): it
    // runs on, says so on stderr and on /metrics.
    assert!(
        pod.says("exitwatch: kubernetes:", Duration::from_secs(10)),
        "no word about the unreachable API server: {:?}",
        pod.stderr_seen
    );
    let up = body
        .lines()
        .find_map(|l| l.strip_prefix("exitwatch_kube_api_up "))
        .unwrap_or_else(|| panic!("no exitwatch_kube_api_up series:\n{body}"));
    assert_eq!(up.trim(), "0", "exitwatch_kube_api_up with no API server");
    let _ = pod.stop();
}
