//! The translation checked on small DaemonSets: flags made, fields refused, quantities.
use super::*;
use serde_json::json;

fn host() -> Host {
    Host {
        pid_ns: "/proc/7/ns/pid".into(),
        node_name: "node-a".into(),
        volumes_dir: std::env::temp_dir().join("exitwatch-pod-rs-test"),
        api_server: ("127.0.0.1".into(), 6443),
        moved: vec![],
    }
}

fn daemonset(container: Value, pod: Value) -> Value {
    let mut spec = pod;
    spec["containers"] = json!([container]);
    json!({"spec": {"template": {"spec": spec}}})
}

#[test]
fn security_context_becomes_ctr_flags() {
    let ds = daemonset(
        json!({"image": "img:1", "args": ["--x"],
               "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
               "ports": [{"name": "metrics", "containerPort": 9797}],
               "readinessProbe": {"httpGet": {"path": "/healthz", "port": "metrics"}},
               "resources": {"limits": {"memory": "128Mi", "cpu": "500m"}},
               "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                   "runAsUser": 0, "capabilities": {"drop": ["ALL"], "add": ["BPF", "PERFMON"]}}}),
        json!({"hostPID": true, "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}),
    );
    let run = ctr_run(&ds, &[], (&["/e".into()], &["--cmd".into()]), &host()).unwrap();
    let has = |f: &str| run.options.iter().any(|o| o == f);
    assert!(has("--with-ns=pid:/proc/7/ns/pid") && has("--read-only") && has("--seccomp"));
    assert!(has("--env=NODE_NAME=node-a") && has("--memory-limit=134217728") && has("--cpus=0.5"));
    assert!(
        has("--cap-add=CAP_BPF") && has("--cap-drop=CAP_SYS_ADMIN") && !has("--cap-drop=CAP_BPF")
    );
    assert!(!has("--allow-new-privs") && !has("--net-host"));
    assert_eq!(
        run.options
            .iter()
            .filter(|o| o.starts_with("--cap-drop"))
            .count(),
        CAPS.len() - 2
    );
    assert_eq!(run.process, ["/e", "--x"]);
    assert_eq!(
        run.probes,
        [Probe {
            path: "/healthz".into(),
            port: 9797
        }]
    );
    assert!(run.no_new_privs && run.seccomp);
}

#[test]
fn what_cannot_be_reproduced_is_refused() {
    let base = json!({"image": "i", "securityContext": {"capabilities": {"drop": ["ALL"]}}});
    let refused =
        |c: Value, p: Value| ctr_run(&daemonset(c, p), &[], (&[], &[]), &host()).unwrap_err();
    let mut c = base.clone();
    c["securityContext"]["runAsUser"] = json!(65534);
    assert!(refused(c, json!({})).contains("runAsUser"));
    assert!(refused(json!({"image": "i"}), json!({})).contains("drop lacks ALL"));
    assert!(refused(base.clone(), json!({"hostIPC": true})).contains("hostIPC"));
    let mut c = base;
    c["volumeMounts"] = json!([{"name": "v", "mountPath": "/v"}]);
    assert!(
        refused(c, json!({"volumes": [{"name": "v", "emptyDir": {}}]})).contains("only hostPath")
    );
}

#[test]
fn quantities_and_the_containerfile() {
    assert_eq!(bytes("64Mi"), Ok(64 << 20));
    assert_eq!(bytes("1G"), Ok(1_000_000_000));
    assert!(bytes("lots").is_err());
    assert_eq!(cores("1"), Ok(1.0));
    assert_eq!(cores("250m"), Ok(0.25));
    let (e, c) = entrypoint_and_cmd(
        "FROM scratch\nENTRYPOINT [\"/exitwatch\"]\nCMD [\"--format\", \"json\"]\n",
    );
    assert_eq!(
        (e, c),
        (
            vec!["/exitwatch".to_owned()],
            vec!["--format".to_owned(), "json".to_owned()]
        )
    );
}

#[test]
fn recursive_read_only_falls_back_to_read_only_as_on_containerd_1_6() {
    let mount = |extra: Value| {
        let mut m = json!({"name": "v", "mountPath": "/v"});
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        let c = json!({"image": "i", "securityContext": {"capabilities": {"drop": ["ALL"]}},
                       "volumeMounts": [m]});
        let p =
            json!({"volumes": [{"name": "v", "hostPath": {"path": "/tmp", "type": "Directory"}}]});
        ctr_run(&daemonset(c, p), &[], (&[], &[]), &host()).map(|r| {
            r.options
                .iter()
                .find(|o| o.starts_with("--mount"))
                .cloned()
                .unwrap()
        })
    };
    let ro = "--mount=type=bind,src=/tmp,dst=/v,options=rbind:ro";
    assert_eq!(
        mount(json!({"readOnly": true, "recursiveReadOnly": "IfPossible"})).unwrap(),
        ro
    );
    assert_eq!(mount(json!({"readOnly": true})).unwrap(), ro);
    assert!(mount(json!({})).unwrap().ends_with("rbind:rw"));
    assert!(
        mount(json!({"readOnly": true, "recursiveReadOnly": "Enabled"}))
            .unwrap_err()
            .contains("Enabled")
    );
    assert!(mount(json!({"recursiveReadOnly": "IfPossible"}))
        .unwrap_err()
        .contains("needs readOnly"));
}

#[test]
fn a_mounted_token_comes_with_the_api_servers_address() {
    let c = json!({"image": "i", "securityContext": {"capabilities": {"drop": ["ALL"]}}});
    let mut h = host();
    h.volumes_dir =
        std::env::temp_dir().join(format!("exitwatch-pod-rs-sa-{}", std::process::id()));
    let run = ctr_run(
        &daemonset(c.clone(), json!({"automountServiceAccountToken": true})),
        &[],
        (&[], &[]),
        &h,
    )
    .unwrap();
    let has = |f: &str| run.options.iter().any(|o| o == f);
    assert!(
        has("--env=KUBERNETES_SERVICE_HOST=127.0.0.1") && has("--env=KUBERNETES_SERVICE_PORT=6443")
    );
    let sa = h.volumes_dir.join("kube-api-access");
    assert!(has(&format!(
        "--mount=type=bind,src={},dst=/var/run/secrets/kubernetes.io/serviceaccount,options=rbind:ro",
        sa.display()
    )));
    for f in ["token", "ca.crt", "namespace"] {
        assert!(sa.join(f).is_file(), "{f}");
    }
    drop(run);
    assert!(!h.volumes_dir.exists(), "removed with the run");
    let run = ctr_run(
        &daemonset(c, json!({"automountServiceAccountToken": false})),
        &[],
        (&[], &[]),
        &host(),
    )
    .unwrap();
    assert!(!run.options.iter().any(|o| o.contains("KUBERNETES_SERVICE")));
}
