//! deploy/kubernetes against the Kubernetes API schemas (kubernetes-validate, strict: unknown
//! fields are errors), and proof that the check can fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The oldest Kubernetes the manifests promise to work with (1.30: the first with
/// `recursiveReadOnly` mounts; older schemas refuse the field in strict mode), and the newest
/// schemas bundled with the pinned kubernetes-validate (xtask/src/deploy.rs).
const VERSIONS: &[&str] = &["1.30.0", "1.37.0"];
/// kustomize's own file: not an API object.
const KUSTOMIZATION: &str = "kustomization.yaml";

pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

/// Every manifest file (kustomization.yaml aside), sorted.
pub fn files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap_or_else(|e| panic!("{}: {e}", dir().display()))
        .map(|e| e.expect("readdir").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter(|p| p.file_name().is_some_and(|n| n != KUSTOMIZATION))
        .collect();
    files.sort();
    files
}

/// `python3 ARGS...`, or a panic naming the fix.
fn python(args: &[&str], files: &[PathBuf]) -> std::process::Output {
    Command::new("python3").args(args).args(files).output().unwrap_or_else(|e| {
        panic!("cannot run python3 ({e}): install it and kubernetes-validate with `cargo xtask setup`")
    })
}

/// The YAML documents of `files`, as JSON (PyYAML comes with kubernetes-validate).
pub fn load(files: &[PathBuf]) -> Vec<Value> {
    let script = "import json, sys, yaml\n\
        docs = [d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d]\n\
        json.dump(docs, sys.stdout)";
    let out = python(&["-c", script], files);
    assert!(
        out.status.success(),
        "reading the manifests: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python3 printed JSON")
}

/// Every object of the manifests.
pub fn objects() -> Vec<Value> {
    load(&files())
}

/// kubernetes-validate's verdict on `files` for one version: Ok, or its report.
fn validate(files: &[PathBuf], version: &str) -> Result<String, String> {
    let out = python(
        &[
            "-m",
            "kubernetes_validate",
            "--strict",
            "--kubernetes-version",
            version,
        ],
        files,
    );
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if report.contains("No module named kubernetes_validate") {
        panic!("kubernetes-validate is not installed: run `cargo xtask setup`\n{report}");
    }
    if out.status.success() {
        Ok(report)
    } else {
        Err(report)
    }
}

#[test]
fn every_manifest_passes_the_kubernetes_schemas() {
    let files = files();
    assert!(
        files.len() >= 7,
        "expected the namespace, quota, service account, RBAC, config map, DaemonSet and NetworkPolicy in {}",
        dir().display()
    );
    for version in VERSIONS {
        let report = validate(&files, version)
            .unwrap_or_else(|r| panic!("against Kubernetes {version}:\n{r}"));
        // One `passed` line per object: a file the validator skipped would be a silent hole.
        let passed = report.lines().filter(|l| l.contains(" passed ")).count();
        assert_eq!(
            passed,
            objects().len(),
            "against {version}, not every object passed:\n{report}"
        );
    }
}

#[test]
fn the_schema_check_refuses_a_broken_daemonset() {
    let good = std::fs::read_to_string(dir().join("daemonset.yaml")).expect("daemonset.yaml");
    let tmp = std::env::temp_dir().join(format!("exitwatch-deploy-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    // A misspelt field (strict mode) and a wrong type: both mistakes a hand edit makes.
    let broken = [
        (
            "readOnlyRootFilesystem: true",
            "readOnlyRootFileSystem: true",
            "readOnlyRootFileSystem",
        ),
        (
            "containerPort: 9797",
            "containerPort: \"9797\"",
            "containerPort",
        ),
    ];
    for (from, to, named) in broken {
        assert!(
            good.contains(from),
            "daemonset.yaml no longer has `{from}`: update this test"
        );
        let file = tmp.join("daemonset.yaml");
        std::fs::write(&file, good.replacen(from, to, 1)).unwrap();
        let report = validate(&[file], VERSIONS[1])
            .expect_err("the broken DaemonSet passed the schema check");
        assert!(
            report.contains(named),
            "the report does not name `{named}`:\n{report}"
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn the_kustomization_applies_every_manifest() {
    let k = load(&[dir().join(KUSTOMIZATION)]);
    let listed: Vec<&str> = k[0]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut want: Vec<String> = files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut got: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
    want.sort();
    got.sort();
    assert_eq!(
        got,
        want,
        "kustomization.yaml's resources and the files of {}",
        dir().display()
    );
}

/// The one object of `kind` in the manifests.
pub fn the(kind: &str) -> Value {
    let all: Vec<Value> = objects()
        .into_iter()
        .filter(|o| o["kind"] == kind)
        .collect();
    assert_eq!(all.len(), 1, "one {kind} in {}", dir().display());
    all.into_iter().next().unwrap()
}

#[test]
fn the_network_policy_admits_only_the_metrics_port_of_the_daemonset_pods() {
    let ds = the("DaemonSet");
    let np = the("NetworkPolicy");
    assert_eq!(np["metadata"]["namespace"], ds["metadata"]["namespace"]);
    // Its selector picks the DaemonSet's pods.
    let labels = &ds["spec"]["template"]["metadata"]["labels"];
    let selector = np["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .expect("podSelector.matchLabels");
    assert!(!selector.is_empty());
    for (k, v) in selector {
        assert_eq!(&labels[k], v, "pod label {k}");
    }
    assert_eq!(np["spec"]["policyTypes"], serde_json::json!(["Ingress"]));
    let rules = np["spec"]["ingress"].as_array().expect("ingress rules");
    let ports = ds["spec"]["template"]["spec"]["containers"][0]["ports"]
        .as_array()
        .expect("container ports")
        .clone();
    let metrics = ports
        .iter()
        .find(|p| p["name"] == "metrics")
        .expect("a container port named metrics");
    // Every rule names ports, each of them the metrics port over TCP: nothing else gets in.
    assert!(!rules.is_empty());
    for rule in rules {
        let allowed = rule["ports"]
            .as_array()
            .expect("a rule without ports admits all");
        assert!(!allowed.is_empty(), "a rule with no ports admits all");
        for p in allowed {
            assert_eq!(p["protocol"], "TCP", "{p}");
            assert!(
                p["port"] == metrics["name"] || p["port"] == metrics["containerPort"],
                "port {} is not the metrics port {metrics}",
                p["port"]
            );
        }
    }
}

#[test]
fn every_host_mount_is_read_only_recursively_where_possible() {
    let ds = the("DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    let host_volumes: Vec<&str> = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .filter(|v| !v["hostPath"].is_null())
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert!(host_volumes.contains(&"cgroup"), "{host_volumes:?}");
    let mut seen = 0;
    for m in pod["containers"][0]["volumeMounts"]
        .as_array()
        .expect("volumeMounts")
    {
        if !host_volumes.contains(&m["name"].as_str().unwrap_or_default()) {
            continue;
        }
        seen += 1;
        assert_eq!(m["readOnly"], true, "{m}");
        assert_eq!(m["recursiveReadOnly"], "IfPossible", "{m}");
    }
    assert_eq!(seen, host_volumes.len(), "every hostPath volume is mounted");
}

/// (apiGroup, resource, verb) triples a ClusterRole's rules grant.
fn grants(role: &Value) -> Vec<(String, String, String)> {
    let strings = |v: &Value, what: &str| -> Vec<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("rule without {what}: {role}"))
            .iter()
            .map(|s| s.as_str().expect("a string").to_owned())
            .collect()
    };
    let mut out = Vec::new();
    for rule in role["rules"].as_array().expect("rules") {
        let keys: Vec<&String> = rule.as_object().expect("a rule").keys().collect();
        for key in &keys {
            assert!(
                ["apiGroups", "resources", "verbs"].contains(&key.as_str()),
                "rule field {key} (resourceNames, nonResourceURLs) is not expected: {rule}"
            );
        }
        for group in strings(&rule["apiGroups"], "apiGroups") {
            for resource in strings(&rule["resources"], "resources") {
                for verb in strings(&rule["verbs"], "verbs") {
                    out.push((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_cluster_role_grants_exactly_what_exitwatch_uses() {
    let role = the("ClusterRole");
    let got = grants(&role);
    for (group, resource, verb) in &got {
        assert!(
            ![group, resource, verb].iter().any(|s| s.contains('*')),
            "a wildcard in {group}/{resource} {verb}"
        );
    }
    // Read its node's pods and the kubelet's core Events; post and patch its own Events.
    let mut want: Vec<(String, String, String)> = [
        ("", "pods", "get"),
        ("", "pods", "list"),
        ("", "pods", "watch"),
        ("", "events", "get"),
        ("", "events", "list"),
        ("", "events", "watch"),
        ("events.k8s.io", "events", "create"),
        ("events.k8s.io", "events", "patch"),
    ]
    .iter()
    .map(|(g, r, v)| (g.to_string(), r.to_string(), v.to_string()))
    .collect();
    want.sort();
    assert_eq!(got, want, "the ClusterRole's grants");
    // Not an aggregated role either: aggregationRule would let other roles' rules in.
    assert!(role["aggregationRule"].is_null(), "{role}");

    // Bound to the DaemonSet's service account, and to nothing else.
    let binding = the("ClusterRoleBinding");
    assert_eq!(
        binding["roleRef"],
        serde_json::json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": role["metadata"]["name"]})
    );
    let ds = the("DaemonSet");
    let sa = the("ServiceAccount");
    assert_eq!(
        binding["subjects"],
        serde_json::json!([{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                            "namespace": ds["metadata"]["namespace"]}])
    );
    assert_eq!(sa["metadata"]["namespace"], ds["metadata"]["namespace"]);
}

#[test]
fn the_daemonset_runs_as_the_account_with_its_token_and_posts_events() {
    let ds = the("DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(
        pod["serviceAccountName"],
        the("ServiceAccount")["metadata"]["name"]
    );
    // The pod asks for the token (the account itself does not mount it anywhere else).
    assert_eq!(pod["automountServiceAccountToken"], true, "{pod}");
    let c = &pod["containers"][0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(args.contains(&"--kube-events"), "{args:?}");
    // The node's name as the API knows it: what the pods are watched by.
    let node_name = c["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == "NODE_NAME")
        .expect("env NODE_NAME");
    assert_eq!(
        node_name["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName",
        "{node_name}"
    );
    // The API server is reachable: the NetworkPolicy restricts ingress only.
    let np = the("NetworkPolicy");
    assert!(
        !np["spec"]["policyTypes"]
            .as_array()
            .expect("policyTypes")
            .iter()
            .any(|t| t == "Egress"),
        "an egress policy would need the API server's address: {np}"
    );
}
