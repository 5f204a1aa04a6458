//! Containers and pods a test starts, removed when dropped, even when the test fails.

use std::path::PathBuf;
use std::time::Duration;

use super::daemons::{containerd, cri, docker, podman};
use super::*;

/// The host pid of a containerd task's PID 1 (`ctr task ls`), once it runs.
fn task_pid(ns: &str, id: &str) -> Option<u32> {
    let out = exec(ctr(ns).args(["task", "ls"]), COMMAND_TIMEOUT).ok()?;
    out.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        (f.next() == Some(id) && f.clone().nth(1) == Some("RUNNING"))
            .then(|| f.next()?.parse().ok())
            .flatten()
    })
}

/// Every process of a containerd task, as host pids (`ctr task ps`).
fn task_pids(ns: &str, id: &str) -> Vec<u32> {
    let out = must(ctr(ns).args(["task", "ps", id]));
    out.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// A container started with `ctr run -d` in containerd's `default` namespace, on the busybox rootfs.
pub struct CtrContainer {
    pub id: String,
}

impl CtrContainer {
    /// `ctr run -d OPTS --rootfs ROOTFS <new id> COMMAND...`, once its PID 1 runs.
    pub fn run(opts: &[&str], command: &[&str]) -> CtrContainer {
        CtrContainer::run_as(new_id(), opts, command)
    }

    /// `run` with the id chosen beforehand (options such as `--cgroup` may name it).
    pub fn run_as(id: String, opts: &[&str], command: &[&str]) -> CtrContainer {
        let rootfs = containerd();
        let c = CtrContainer { id };
        must(
            ctr(CTR_NS)
                .args(["run", "-d"])
                .args(opts)
                .arg("--rootfs")
                .arg(rootfs)
                .arg(&c.id)
                .args(command),
        );
        c.pid();
        c
    }

    /// The first 12 hex digits, as `docker ps` shows ids.
    pub fn short(&self) -> &str {
        &self.id[..12]
    }

    /// Its PID 1, as the host sees it.
    pub fn pid(&self) -> u32 {
        poll(Duration::from_secs(10), || task_pid(CTR_NS, &self.id))
            .unwrap_or_else(|| panic!("container {} has no running task", self.id))
    }

    /// Its processes, as the host sees them.
    pub fn pids(&self) -> Vec<u32> {
        task_pids(CTR_NS, &self.id)
    }

    /// `ctr task kill -s SIG`: containerd's shim has runc send it to PID 1.
    pub fn kill(&self, sig: &str) {
        must(ctr(CTR_NS).args(["task", "kill", "-s", sig, &self.id]));
    }

    /// `ctr task exec`: runs `command` inside the container and waits for it.
    pub fn exec(&self, command: &[&str]) -> String {
        let exec_id = format!("e2e-{}", random_hex(4));
        must(
            ctr(CTR_NS)
                .args(["task", "exec", "--exec-id", &exec_id, &self.id])
                .args(command),
        )
    }

    /// Deletes the task and the container as soon as the task has stopped (`ctr task rm` refuses
    /// a running one), the way `nerdctl run --rm` does.
    pub fn remove_when_stopped(&self) {
        poll(Duration::from_secs(10), || {
            exec(ctr(CTR_NS).args(["task", "rm", &self.id]), COMMAND_TIMEOUT).ok()
        })
        .unwrap_or_else(|| panic!("the task of container {} did not stop within 10 s", self.id));
        must(ctr(CTR_NS).args(["container", "rm", &self.id]));
    }
}

impl Drop for CtrContainer {
    fn drop(&mut self) {
        let _ = exec(
            ctr(CTR_NS).args(["task", "rm", "-f", &self.id]),
            COMMAND_TIMEOUT,
        );
        let _ = exec(
            ctr(CTR_NS).args(["container", "rm", &self.id]),
            COMMAND_TIMEOUT,
        );
    }
}

/// A `docker run -d --network none` container of `bbox:local`, removed on drop.
pub struct DockerContainer {
    pub name: String,
    pub id: String,
}

impl DockerContainer {
    /// A fresh name for a container, made of `prefix`.
    pub fn new_name(prefix: &str) -> String {
        format!("{prefix}-{}", random_hex(4))
    }

    /// `docker run -d --network none --name NAME OPTS bbox:local COMMAND...`.
    pub fn run(name: &str, opts: &[&str], command: &[&str]) -> DockerContainer {
        docker();
        let mut c = DockerContainer {
            name: name.to_owned(),
            id: String::new(),
        };
        let out = must(
            docker_cmd()
                .args(["run", "-d", "--network", "none", "--name", &c.name])
                .args(opts)
                .arg(DOCKER_IMAGE)
                .args(command),
        );
        c.id = out.trim().to_owned();
        assert_eq!(c.id.len(), 64, "docker run printed {out:?}");
        c
    }

    pub fn short(&self) -> &str {
        &self.id[..12]
    }

    pub fn pid(&self) -> u32 {
        let out = must(docker_cmd().args(["inspect", "-f", "{{.State.Pid}}", &self.name]));
        out.trim()
            .parse()
            .unwrap_or_else(|_| panic!("docker inspect said {out:?}"))
    }

    /// Whether docker still knows the container (a `--rm` one goes once it stopped).
    pub fn exists(&self) -> bool {
        exec(docker_cmd().args(["inspect", &self.id]), COMMAND_TIMEOUT).is_ok()
    }

    pub fn docker(&self, verb: &[&str]) -> String {
        must(docker_cmd().args(verb).arg(&self.name))
    }
}

impl Drop for DockerContainer {
    fn drop(&mut self) {
        let _ = exec(docker_cmd().args(["rm", "-f", &self.name]), COMMAND_TIMEOUT);
    }
}

/// A `podman run -d --network none` container of `localhost/bbox:podman`, removed on drop.
pub struct PodmanContainer {
    pub name: String,
    pub id: String,
}

impl PodmanContainer {
    /// `podman run -d --network none --name NAME bbox COMMAND...`, with small open files and
    /// processes limits: podman's defaults (1048576) need CAP_SYS_RESOURCE, which root on these
    /// machines lacks ("error setting rlimit type 7").
    pub fn run(name: &str, command: &[&str]) -> PodmanContainer {
        podman();
        // Lower than any hard limit root has (lowering needs no capability), as runc applies
        // them from inside the container's namespaces.
        let limit = |resource, flag: &str, wanted: libc::rlim_t| {
            let mut l = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit fills the struct it is given.
            assert_eq!(unsafe { libc::getrlimit(resource, &mut l) }, 0, "getrlimit");
            let n = wanted.min(l.rlim_cur).min(l.rlim_max);
            format!("{flag}={n}:{n}")
        };
        let out = must(
            podman_cmd()
                .args(["run", "-d", "--network", "none", "--name", name])
                .args(["--ulimit", &limit(libc::RLIMIT_NOFILE, "nofile", 1024)])
                .args(["--ulimit", &limit(libc::RLIMIT_NPROC, "nproc", 4096)])
                .arg(PODMAN_IMAGE)
                .args(command),
        );
        let c = PodmanContainer {
            name: name.to_owned(),
            id: out.trim().to_owned(),
        };
        assert_eq!(c.id.len(), 64, "podman run printed {out:?}");
        c
    }

    pub fn pid(&self) -> u32 {
        let out = must(podman_cmd().args(["inspect", "-f", "{{.State.Pid}}", &self.name]));
        out.trim()
            .parse()
            .unwrap_or_else(|_| panic!("podman inspect said {out:?}"))
    }

    pub fn podman(&self, verb: &[&str]) -> String {
        must(podman_cmd().args(verb).arg(&self.name))
    }
}

impl Drop for PodmanContainer {
    fn drop(&mut self) {
        let _ = exec(podman_cmd().args(["rm", "-f", &self.name]), COMMAND_TIMEOUT);
    }
}

/// A host-network pod sandbox run through CRI as the kubelet does, with its cgroup at
/// `/kubepods/besteffort/pod<uid>`; stopped and removed with its containers on drop.
pub struct Pod {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub sandbox: String,
}

/// A container of a `Pod`.
pub struct PodContainer {
    pub id: String,
}

impl PodContainer {
    /// Its PID 1, as the host sees it.
    pub fn pid(&self) -> u32 {
        poll(Duration::from_secs(10), || task_pid(K8S_NS, &self.id))
            .unwrap_or_else(|| panic!("CRI container {} has no running task", self.id))
    }
}

impl Pod {
    pub fn run(namespace: &str, name_prefix: &str) -> Pod {
        cri();
        let u = random_hex(16);
        let uid = format!(
            "{}-{}-{}-{}-{}",
            &u[..8],
            &u[8..12],
            &u[12..16],
            &u[16..20],
            &u[20..]
        );
        let mut pod = Pod {
            name: format!("{name_prefix}-{}", random_hex(3)),
            namespace: namespace.to_owned(),
            uid,
            sandbox: String::new(),
        };
        let out = must(cri_cmd().args(["pod", &pod.name, &pod.namespace, &pod.uid]));
        pod.sandbox = exitwatch_tests::ready_fields(&out)
            .remove("sandbox")
            .unwrap_or_else(|| panic!("cri pod said {out:?}"));
        pod
    }

    /// `NAMESPACE/NAME`, as `--pod` takes it.
    pub fn qualified(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Creates and starts a container of the busybox image running `command`.
    pub fn container(&self, name: &str, command: &[&str]) -> PodContainer {
        let out = must(
            cri_cmd()
                .args([
                    "container",
                    &self.sandbox,
                    &self.name,
                    &self.namespace,
                    &self.uid,
                    name,
                    CRI_IMAGE,
                ])
                .args(command),
        );
        let id = exitwatch_tests::ready_fields(&out)
            .remove("container")
            .unwrap_or_else(|| panic!("cri container said {out:?}"));
        let c = PodContainer { id };
        c.pid();
        c
    }

    /// CRI StopContainer, as the kubelet stops a container (timeout 0: SIGKILL at once).
    pub fn stop_container(&self, c: &PodContainer, timeout_secs: u32) {
        must(cri_cmd().args(["stop-container", &c.id, &timeout_secs.to_string()]));
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        if !self.sandbox.is_empty() {
            let _ = exec(
                cri_cmd().args(["remove-pod", &self.sandbox]),
                COMMAND_TIMEOUT,
            );
        }
        // The kubelet makes and removes pod cgroups; runc only made them on the way.
        let pod_dir = format!("kubepods/besteffort/pod{}", self.uid);
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
