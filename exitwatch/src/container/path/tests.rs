//! Tests of cgroup path parsing against paths as runtimes and kubelet really lay them out.

use super::*;

const ID: &str = "3b873b3892bcf8e62075f393b9e4e8b22616b4cd0eddc87ada276fa2fdb50d6d";
const OUTER: &str = "db6adc4d867d1e38b6244b0eb395d182137b424898b340615604b9808f34f448";
const UID: &str = "7f72fc20-1890-4a3c-90a5-234f3999ed13";
const STATIC_UID: &str = "2b6e26ee96809187da52be74f185cf43";

/// Fills `{id}`, `{outer}`, `{uid}` (dashed), `{uid_}` (systemd-escaped) and `{static}` in a sample.
fn sample(template: &str) -> String {
    template
        .replace("{id}", ID)
        .replace("{outer}", OUTER)
        .replace("{uid_}", &UID.replace('-', "_"))
        .replace("{uid}", UID)
        .replace("{static}", STATIC_UID)
}

fn pod(uid: &str, qos: Qos) -> Option<PodRef> {
    Some(PodRef {
        uid: uid.to_owned(),
        qos,
    })
}

fn ctr(runtime: Option<Runtime>, pod: Option<PodRef>) -> Option<ContainerRef> {
    Some(ContainerRef {
        id: ID.to_owned(),
        runtime,
        pod,
        namespace: None,
    })
}

fn check(cases: &[(&str, Option<ContainerRef>)]) {
    for (template, want) in cases {
        let path = sample(template);
        assert_eq!(parse(&path), *want, "{template}");
    }
}

use Qos::{BestEffort, Burstable, Guaranteed};
use Runtime::{Containerd, CriO, Docker, Podman};

#[test]
fn containerd_cri_pods_under_both_drivers_and_every_qos() {
    check(&[
        // systemd driver (v2, and v1 under any controller)
        (
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/cri-containerd-{id}.scope",
            ctr(Some(Containerd), pod(UID, Burstable)),
        ),
        (
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice/cri-containerd-{id}.scope",
            ctr(Some(Containerd), pod(UID, BestEffort)),
        ),
        (
            "/kubepods.slice/kubepods-pod{uid_}.slice/cri-containerd-{id}.scope",
            ctr(Some(Containerd), pod(UID, Guaranteed)),
        ),
        // cgroupfs driver: the runtime is not in the path
        ("/kubepods/burstable/pod{uid}/{id}", ctr(None, pod(UID, Burstable))),
        ("/kubepods/besteffort/pod{uid}/{id}", ctr(None, pod(UID, BestEffort))),
        ("/kubepods/pod{uid}/{id}", ctr(None, pod(UID, Guaranteed))),
        // kind's custom cgroup root, both drivers
        (
            "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod{uid_}.slice/cri-containerd-{id}.scope",
            ctr(Some(Containerd), pod(UID, Burstable)),
        ),
        ("/kubelet/kubepods/besteffort/pod{uid}/{id}", ctr(None, pod(UID, BestEffort))),
        // static pods are named by kubelet's 32-hex config hash
        (
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{static}.slice/cri-containerd-{id}.scope",
            ctr(Some(Containerd), pod(STATIC_UID, Burstable)),
        ),
        ("/kubepods/pod{static}/{id}", ctr(None, pod(STATIC_UID, Guaranteed))),
    ]);
}

#[test]
fn plain_containerd_names_its_namespace() {
    for ns in ["default", "k8s.io", "moby", "buildkit", "team-a.prod"] {
        let path = format!("/{ns}/{ID}");
        let got = parse(&path).unwrap();
        assert_eq!(got.runtime, Some(Containerd), "{path}");
        assert_eq!(got.namespace.as_deref(), Some(ns), "{path}");
        assert_eq!(got.pod, None);
    }
    // Only directly under the root, and never a systemd unit or kubelet's root; `_` is not allowed
    // in a containerd namespace, so `/actions_job` is some other tool's cgroup parent.
    for template in [
        "/actions_job/{id}",
        "/a..b/{id}",
        "/system.slice/{id}",
        "/kubepods/{id}",
        "/a/default/{id}",
    ] {
        let got = parse(&sample(template)).unwrap();
        assert_eq!((got.runtime, got.namespace), (None, None), "{template}");
    }
}

#[test]
fn cri_o_containers_but_not_conmon() {
    check(&[
        (
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/crio-{id}.scope",
            ctr(Some(CriO), pod(UID, Burstable)),
        ),
        (
            "/kubepods.slice/kubepods-pod{uid_}.slice/crio-{id}.scope/container",
            ctr(Some(CriO), pod(UID, Guaranteed)),
        ),
        ("/kubepods/besteffort/pod{uid}/crio-{id}", ctr(Some(CriO), pod(UID, BestEffort))),
        (
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/crio-conmon-{id}.scope",
            None,
        ),
        ("/system.slice/crio-conmon-{id}.scope", None),
        ("/kubepods/burstable/pod{uid}/crio-conmon-{id}", None),
    ]);
}

#[test]
fn docker_under_systemd_cgroupfs_and_kubernetes() {
    check(&[
        ("/system.slice/docker-{id}.scope", ctr(Some(Docker), None)),
        ("/docker/{id}", ctr(Some(Docker), None)),
        (
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice/docker-{id}.scope",
            ctr(Some(Docker), pod(UID, BestEffort)),
        ),
        // dockershim / cri-dockerd with the cgroupfs driver: a bare id, runtime unknown
        ("/kubepods/burstable/pod{uid}/{id}", ctr(None, pod(UID, Burstable))),
    ]);
}

#[test]
fn podman_rootful_rootless_and_cgroupfs_but_not_conmon() {
    check(&[
        ("/machine.slice/libpod-{id}.scope", ctr(Some(Podman), None)),
        (
            "/machine.slice/libpod-{id}.scope/container",
            ctr(Some(Podman), None),
        ),
        (
            "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{id}.scope/container",
            ctr(Some(Podman), None),
        ),
        // a podman pod is not a Kubernetes pod
        (
            "/machine.slice/machine-libpod_pod_{outer}.slice/libpod-{id}.scope/container",
            ctr(Some(Podman), None),
        ),
        ("/libpod_parent/libpod-{id}", ctr(Some(Podman), None)),
        ("/machine.slice/libpod-conmon-{id}.scope", None),
        (
            "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-conmon-{id}.scope",
            None,
        ),
    ]);
}

#[test]
fn nested_cgroups_belong_to_the_innermost_container() {
    let dind = |pod| {
        Some(ContainerRef {
            id: ID.to_owned(),
            runtime: Some(Docker),
            pod,
            namespace: None,
        })
    };
    check(&[
        (
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/cri-containerd-{id}.scope/init.scope",
            ctr(Some(Containerd), pod(UID, Burstable)),
        ),
        (
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/cri-containerd-{id}.scope/system.slice/nginx.service",
            ctr(Some(Containerd), pod(UID, Burstable)),
        ),
        ("/system.slice/docker-{id}.scope/init.scope", ctr(Some(Docker), None)),
        ("/default/{id}/sub", {
            let mut c = ctr(Some(Containerd), None).unwrap();
            c.namespace = Some("default".into());
            Some(c)
        }),
        // docker-in-docker, and docker-in-kubernetes on both drivers
        ("/docker/{outer}/docker/{id}", dind(None)),
        ("/kubepods/burstable/pod{uid}/{outer}/docker/{id}", dind(pod(UID, Burstable))),
        (
            "/kubepods.slice/kubepods-pod{uid_}.slice/cri-containerd-{outer}.scope/docker/{id}",
            dind(pod(UID, Guaranteed)),
        ),
        // a kind node (itself a docker container) seen from the host
        (
            "/system.slice/docker-{outer}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{uid_}.slice/cri-containerd-{id}.scope",
            ctr(Some(Containerd), pod(UID, BestEffort)),
        ),
        // a conmon inside a container is still a monitor, not its host container
        ("/system.slice/docker-{outer}.scope/libpod-conmon-{id}.scope", None),
    ]);
}

#[test]
fn host_processes_have_no_container() {
    for path in [
        "",
        "/",
        "/init.scope",
        "/user.slice/user-1000.slice/session-3.scope",
        "/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-5e3f.scope",
        "/system.slice/sshd.service",
        "/system.slice/containerd.service",
        "/system.slice/docker.service",
        "/system.slice/crio.service",
        "/kubepods.slice",
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice",
        "/kubepods/burstable/pod{uid}",
        "/docker",
        "/default",
    ] {
        assert_eq!(parse(&sample(path)), None, "{path}");
    }
}

#[test]
fn only_64_lowercase_hex_is_an_id() {
    let short = &ID[..63];
    let long = format!("{ID}0");
    let upper = ID.to_uppercase();
    let not_hex = format!("g{}", &ID[1..]);
    for bad in [short, &long, &upper, &not_hex] {
        for path in [
            format!("/docker/{bad}"),
            format!("/system.slice/docker-{bad}.scope"),
            format!("/kubepods/burstable/pod{UID}/{bad}"),
            format!("/default/{bad}"),
            format!("/machine.slice/libpod-{bad}.scope"),
        ] {
            assert_eq!(parse(&path), None, "{path}");
        }
    }
    assert_eq!(parse(&sample("/system.slice/docker-{id}.service")), None);
    assert_eq!(parse(&sample("/system.slice/podman-{id}.scope")), None);
}

#[test]
fn pods_need_a_real_uid_under_kubepods() {
    check(&[
        ("/kubepods/burstable/podnotauid/{id}", ctr(None, None)),
        ("/custom/pod{uid}/{id}", ctr(None, None)),
        ("/kubepods/burstable/pod{uid}x/{id}", ctr(None, None)),
        (
            "/pods.slice/pods-pod{uid_}.slice/docker-{id}.scope",
            ctr(Some(Docker), None),
        ),
    ]);
    // An upper-case uid comes out lower-case.
    let path = format!("/kubepods/pod{}/{ID}", UID.to_uppercase());
    assert_eq!(parse(&path).unwrap().pod, pod(UID, Guaranteed));
}

#[test]
fn a_deleted_cgroup_still_names_its_container() {
    let path = sample("/system.slice/docker-{id}.scope (deleted)");
    assert_eq!(parse(&path), ctr(Some(Docker), None));
}

#[test]
fn proc_cgroup_prefers_the_v2_line() {
    let v2 = sample("0::/kubepods.slice/kubepods-pod{uid_}.slice/cri-containerd-{id}.scope\n");
    assert_eq!(
        parse_proc_cgroup(&v2),
        ctr(Some(Containerd), pod(UID, Guaranteed))
    );
    let both = sample("5:memory:/docker/{outer}\n0::/system.slice/docker-{id}.scope\n");
    assert_eq!(parse_proc_cgroup(&both).unwrap().id, ID);
}

#[test]
fn proc_cgroup_falls_back_to_v1_controllers() {
    // kubelet's cgroupfs driver on cgroup v1: every controller shows the same path.
    let v1 = sample(
        "12:pids:/kubepods/burstable/pod{uid}/{id}
11:memory:/kubepods/burstable/pod{uid}/{id}
10:cpu,cpuacct:/kubepods/burstable/pod{uid}/{id}
9:devices:/kubepods/burstable/pod{uid}/{id}
1:name=systemd:/kubepods/burstable/pod{uid}/{id}
",
    );
    assert_eq!(parse_proc_cgroup(&v1), ctr(None, pod(UID, Burstable)));
    // Hybrid host, docker's cgroupfs driver: the unified line shows the shim's service.
    let hybrid = sample(
        "12:memory:/docker/{id}
1:name=systemd:/docker/{id}
0::/system.slice/containerd.service
",
    );
    assert_eq!(parse_proc_cgroup(&hybrid), ctr(Some(Docker), None));
    // docker's systemd driver on v1
    let systemd_v1 = sample("4:memory:/system.slice/docker-{id}.scope\n");
    assert_eq!(parse_proc_cgroup(&systemd_v1), ctr(Some(Docker), None));
}

#[test]
fn proc_cgroup_of_a_host_process_or_garbage_is_none() {
    let host = "12:memory:/user.slice/user-1000.slice/session-2.scope
1:name=systemd:/user.slice/user-1000.slice/session-2.scope
0::/user.slice/user-1000.slice/session-2.scope
";
    assert_eq!(parse_proc_cgroup(host), None);
    assert_eq!(parse_proc_cgroup("0::/\n"), None);
    assert_eq!(parse_proc_cgroup(""), None);
    assert_eq!(parse_proc_cgroup("garbage\n\n"), None);
    let after_garbage = sample("garbage\n0::/docker/{id}\n");
    assert_eq!(parse_proc_cgroup(&after_garbage), ctr(Some(Docker), None));
}

#[test]
fn container_query_is_a_case_insensitive_hex_prefix() {
    for query in [
        "3",
        "3b873b3892bc",
        "3B873B3892BC",
        ID,
        "containerd://3b873b3892bc",
        &format!("docker://{ID}"),
    ] {
        assert!(id_matches(ID, query), "{query}");
    }
    for query in [
        "",
        "containerd://",
        "db6adc",
        "3b873b3892bg",
        " 3b87",
        &format!("{ID}0"),
        "3b87-",
    ] {
        assert!(!id_matches(ID, query), "{query}");
    }
}

#[test]
fn names_read_as_the_runtimes_and_kubernetes_spell_them() {
    let runtimes = [Containerd, CriO, Docker, Podman];
    let names = ["containerd", "cri-o", "docker", "podman"];
    for (rt, name) in runtimes.into_iter().zip(names) {
        assert_eq!(rt.as_str(), name);
        assert_eq!(rt.to_string(), name);
        assert_eq!(serde_json::to_string(&rt).unwrap(), format!("\"{name}\""));
    }
    for (qos, name) in [Guaranteed, Burstable, BestEffort].into_iter().zip([
        "guaranteed",
        "burstable",
        "besteffort",
    ]) {
        assert_eq!(qos.as_str(), name);
        assert_eq!(serde_json::to_string(&qos).unwrap(), format!("\"{name}\""));
    }
}
