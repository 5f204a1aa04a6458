//! Kubernetes (#14): exitwatch on a node, reading Pods and the kubelet's Events from an API
//! server and posting a Warning Event on the Pod for each fatal signal, OOM kill and escalated
//! stop, with per-pod metrics. The API server is tests/kube/apiserver.py (TLS, a bearer token,
//! every object exitwatch sends validated like the real one); the containers are real, run by the
//! tests' containerd in pod cgroups (`/kubepods/<qos>/pod<uid>/<id>`, as the kubelet's cgroupfs
//! driver makes them) with no CRI labels: what they are is known only from the API's Pods.

mod api;
mod degraded;
mod events;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::Exitwatch;
use crate::runtime::{random_hex, CtrContainer};
use crate::siem::collectors::{wait_until, TempDir};
use crate::siem::{free_port, get};

pub use api::KubeApi;

/// The node name exitwatch is given and every test Pod is scheduled on.
pub const NODE: &str = "test-node";
/// Runtime calls and the API round trips: slower than a plain kill.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A fresh pod uid as the API server makes them.
fn new_uid() -> String {
    let u = random_hex(16);
    format!(
        "{}-{}-{}-{}-{}",
        &u[..8],
        &u[8..12],
        &u[12..16],
        &u[16..20],
        &u[20..]
    )
}

/// Now as RFC 3339 (seconds), as the kubelet stamps its Events.
fn now_rfc3339() -> String {
    crate::harness::run(Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]))
        .trim()
        .to_owned()
}

/// A pod whose containers run under the tests' containerd in its pod cgroup, and whose Pod
/// object (spec.nodeName NODE, containerStatuses naming `containerd://<id>`) the API serves.
pub struct TestPod {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    qos: &'static str,
    /// (container name, container), in spec order.
    pub containers: Vec<(String, CtrContainer)>,
}

impl TestPod {
    /// `qos` is `besteffort` or `burstable` (the cgroup's parent, as the kubelet picks it).
    pub fn new(namespace: &str, prefix: &str, qos: &'static str) -> TestPod {
        TestPod {
            name: format!("{prefix}-{}", random_hex(3)),
            namespace: namespace.to_owned(),
            uid: new_uid(),
            qos,
            containers: Vec::new(),
        }
    }

    /// The container's cgroup, as the kubelet's cgroupfs driver names it.
    fn cgroup(&self, id: &str) -> String {
        format!("/kubepods/{}/pod{}/{id}", self.qos, self.uid)
    }

    /// Runs container `name` (`ctr run --cgroup <pod cgroup>/<id> OPTS`) with `command`.
    pub fn run(&mut self, name: &str, opts: &[&str], command: &[&str]) -> &CtrContainer {
        let id = crate::runtime::new_id();
        let cgroup = self.cgroup(&id);
        let mut all = vec!["--cgroup", &cgroup];
        all.extend(opts);
        let c = CtrContainer::run_as(id, &all, command);
        self.containers.push((name.to_owned(), c));
        &self.containers.last().unwrap().1
    }

    pub fn container(&self, name: &str) -> &CtrContainer {
        self.containers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
            .unwrap_or_else(|| panic!("no container {name} in pod {}", self.name))
    }

    /// The Pod as the API serves it: running on NODE, each container's status naming its id.
    pub fn object(&self) -> Value {
        let started = now_rfc3339();
        let containers: Vec<Value> = self
            .containers
            .iter()
            .map(|(n, _)| json!({"name": n, "image": crate::runtime::CRI_IMAGE}))
            .collect();
        let statuses: Vec<Value> = self
            .containers
            .iter()
            .map(|(n, c)| {
                json!({
                    "name": n,
                    "image": crate::runtime::CRI_IMAGE,
                    "imageID": "",
                    "containerID": format!("containerd://{}", c.id),
                    "ready": true,
                    "started": true,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": started}},
                })
            })
            .collect();
        let qos = match self.qos {
            "besteffort" => "BestEffort",
            "burstable" => "Burstable",
            _ => "Guaranteed",
        };
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": self.name, "namespace": self.namespace, "uid": self.uid},
            "spec": {"nodeName": NODE, "containers": containers, "restartPolicy": "Always"},
            "status": {
                "phase": "Running",
                "qosClass": qos,
                "hostIP": "127.0.0.1",
                "startTime": started,
                "containerStatuses": statuses,
            },
        })
    }

    /// `ctr task kill -s SIG` on container `name`, then waits for its task to stop, removes it
    /// and starts a new one (the same container id and cgroup, as a restart in place): its
    /// new PID 1.
    pub fn restart(&self, name: &str) -> u32 {
        let c = self.container(name);
        let ns = crate::runtime::CTR_NS;
        let ctr = exitwatch_tests::daemons::ctr;
        crate::runtime::poll(Duration::from_secs(10), || {
            crate::runtime::exec(ctr(ns).args(["task", "rm", &c.id]), TIMEOUT).ok()
        })
        .unwrap_or_else(|| panic!("the task of {} did not stop", c.id));
        crate::runtime::must(ctr(ns).args(["task", "start", "-d", &c.id]));
        c.pid()
    }
}

impl Drop for TestPod {
    fn drop(&mut self) {
        // The containers first (their own cgroups), then the pod's, in every hierarchy.
        self.containers.clear();
        let pod_dir = format!("kubepods/{}/pod{}", self.qos, self.uid);
        let roots = std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .chain([PathBuf::from("/sys/fs/cgroup")]);
        for root in roots {
            let _ = std::fs::remove_dir(root.join(&pod_dir));
        }
    }
}

/// exitwatch as the DaemonSet runs it: the kubeconfig, the node's name, Events on, `/metrics`
/// on a free port, JSON to stdout and to a file.
pub struct Node {
    pub ew: Exitwatch,
    pub metrics: u16,
    pub out: PathBuf,
}

impl Node {
    pub fn start(kubeconfig: &std::path::Path, dir: &TempDir, extra: &[&str]) -> Node {
        let metrics = free_port();
        let out = dir.join("events.json");
        let url = format!("file://{}", out.display());
        let addr = format!("127.0.0.1:{metrics}");
        let sockets = exitwatch_tests::daemons::exitwatch_args();
        let mut args = vec![
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--node-name",
            NODE,
            "--kube-events",
            "--metrics-addr",
            &addr,
            "--format",
            "json",
            "-o",
            "stdout",
            "-o",
            &url,
        ];
        args.extend(sockets.iter().map(String::as_str));
        args.extend(extra);
        Node {
            ew: Exitwatch::start(&args),
            metrics,
            out,
        }
    }

    /// exitwatch on `api`, once its watches of Pods and Events are open and the API is up.
    pub fn on(api: &KubeApi, extra: &[&str]) -> Node {
        let from = api.requests().len();
        let node = Node::start(&api.kubeconfig, &api.dir, extra);
        api.wait_watch("/api/v1/pods", from, TIMEOUT);
        api.wait_watch("/api/v1/events", from, TIMEOUT);
        node.wait_metric("exitwatch_kube_api_up", &[], 1);
        node
    }

    /// The samples of `family` whose labels include all of `labels` (in any order).
    pub fn samples(&self, family: &str, labels: &[(&str, &str)]) -> Vec<(String, u64)> {
        let (status, body) = get(self.metrics, "/metrics");
        assert_eq!(status, 200, "{body}");
        body.lines()
            .filter_map(|l| {
                let rest = l.strip_prefix(family)?;
                let (labelset, value) = rest.rsplit_once(' ')?;
                if !(labelset.is_empty() || labelset.starts_with('{')) {
                    return None;
                }
                let has = |(k, v): &(&str, &str)| labelset.contains(&format!("{k}=\"{v}\""));
                let value = value.parse::<f64>().ok()? as u64;
                labels.iter().all(has).then(|| (labelset.to_owned(), value))
            })
            .collect()
    }

    /// The sum of those samples.
    pub fn metric(&self, family: &str, labels: &[(&str, &str)]) -> u64 {
        self.samples(family, labels).iter().map(|(_, v)| v).sum()
    }

    /// Waits until that sum is `want`; panics showing /metrics otherwise.
    pub fn wait_metric(&self, family: &str, labels: &[(&str, &str)], want: u64) {
        if !wait_until(TIMEOUT, || self.metric(family, labels) == want) {
            panic!(
                "{family} {labels:?} never became {want} (is {}); /metrics:\n{}",
                self.metric(family, labels),
                get(self.metrics, "/metrics").1
            );
        }
    }

    /// The JSON lines of the file output so far.
    pub fn file_events(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits for the `signal` event of `name` to `pid` on stdout.
    pub fn wait_signal(&mut self, pid: u32, name: &str) -> Value {
        self.ew.wait_json(TIMEOUT, |v| {
            v["event"] == "signal" && v["target"]["pid"] == pid && v["signal"]["name"] == name
        })
    }

    pub fn wait_exit(&mut self, pid: u32) -> Value {
        self.ew.wait_json(TIMEOUT, |v| {
            v["event"] == "exit" && v["target"]["pid"] == pid
        })
    }
}

/// Waits until the API has accepted `n` creates or patches about pod `uid` satisfying `pred`.
fn wait_posted(api: &KubeApi, uid: &str, n: usize, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let got: Vec<Value> = api
            .accepted_about(uid)
            .into_iter()
            .filter(|p| pred(p))
            .collect();
        if got.len() >= n {
            return got;
        }
        if Instant::now() >= deadline {
            panic!(
                "{n} accepted Events about {uid} expected within {TIMEOUT:?}, got {}; all posted: {:#?}",
                got.len(),
                api.posted()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Nothing exitwatch sent was refused by the API's validation.
fn assert_all_valid(api: &KubeApi) {
    let refused: Vec<Value> = api
        .posted()
        .into_iter()
        .filter(|p| !p["invalid"].is_null())
        .collect();
    assert!(refused.is_empty(), "the API refused: {refused:#?}");
}

/// The Event as exitwatch posts it for `pod`'s container `container`.
fn assert_regarding(ev: &Value, pod: &TestPod, container: &str) {
    let r = &ev["regarding"];
    assert_eq!(r["apiVersion"], "v1", "{ev:#}");
    assert_eq!(r["kind"], "Pod", "{ev:#}");
    assert_eq!(r["name"], pod.name.as_str(), "{ev:#}");
    assert_eq!(r["namespace"], pod.namespace.as_str(), "{ev:#}");
    assert_eq!(r["uid"], pod.uid.as_str(), "{ev:#}");
    assert_eq!(
        r["fieldPath"],
        format!("spec.containers{{{container}}}"),
        "{ev:#}"
    );
    assert_eq!(ev["type"], "Warning", "{ev:#}");
    assert_eq!(ev["reportingController"], "exitwatch", "{ev:#}");
    assert_eq!(ev["reportingInstance"], NODE, "{ev:#}");
    assert_eq!(
        ev["metadata"]["namespace"],
        pod.namespace.as_str(),
        "{ev:#}"
    );
}
