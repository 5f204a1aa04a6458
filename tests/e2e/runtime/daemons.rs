//! The daemons (containerd with its CRI plugin, dockerd) and their images, made ready once per
//! test binary: started when they do not answer, images imported when missing.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use exitwatch_tests::daemons;

use super::images::{build_rootfs, docker_archive, layer_tar};
use super::*;

/// containerd's CRI plugin runs every pod sandbox from this image (its 1.6 default).
const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.6";

/// The busybox rootfs, once containerd answers.
pub fn containerd() -> &'static Path {
    static READY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match READY.get_or_init(|| {
        let rootfs = build_rootfs(&work_dir())?;
        daemons::ensure_containerd()?;
        Ok(rootfs)
    }) {
        Ok(rootfs) => rootfs,
        Err(e) => panic!("containerd is not usable: {e}"),
    }
}

/// Docker answers and has the `bbox:local` image.
pub fn docker() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let rootfs = containerd();
        daemons::ensure_dockerd()?;
        let listed = exec(
            docker_cmd().args(["image", "inspect", DOCKER_IMAGE]),
            COMMAND_TIMEOUT,
        );
        if listed.is_err() {
            let layer = layer_tar(rootfs)?;
            exec(
                docker_cmd()
                    .args(["import"])
                    .arg(&layer.path)
                    .arg(DOCKER_IMAGE),
                COMMAND_TIMEOUT,
            )?;
        }
        Ok(())
    });
    if let Err(e) = ready {
        panic!("Docker is not usable: {e}");
    }
}

/// podman's API service answers and podman has the `localhost/bbox:podman` image.
pub fn podman() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let rootfs = containerd();
        daemons::ensure_podman_service()?;
        let listed = exec(
            podman_cmd().args(["image", "exists", PODMAN_IMAGE]),
            COMMAND_TIMEOUT,
        );
        if listed.is_err() {
            let layer = layer_tar(rootfs)?;
            exec(
                podman_cmd()
                    .arg("import")
                    .arg(&layer.path)
                    .arg(PODMAN_IMAGE),
                COMMAND_TIMEOUT,
            )?;
        }
        Ok(())
    });
    if let Err(e) = ready {
        panic!("podman is not usable: {e}");
    }
}

/// containerd's CRI plugin answers and has the pause image and the busybox image.
pub fn cri() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let rootfs = containerd();
        // The tests' containerd runs with restrict_oom_score_adj (see daemons.rs); say so if not.
        let status = exec(cri_cmd().arg("status"), COMMAND_TIMEOUT)?;
        if status.trim() == "restrict_oom_score_adj=false" && !has_cap_sys_resource() {
            return Err(format!(
                "the containerd at {CONTAINERD_SOCK} has restrict_oom_score_adj off, and this machine \
                 gives root no CAP_SYS_RESOURCE: every pod sandbox would fail to start (oom_score_adj \
                 -998). Stop it (its pid: `pgrep -f {CONTAINERD_SOCK}`) so that the tests start it again"
            ));
        }
        let images = exec(ctr(K8S_NS).args(["image", "ls", "-q"]), COMMAND_TIMEOUT)?;
        let have = |name: &str| images.lines().any(|l| l.trim() == name);
        // Sandboxes only need a PID 1 that stays; busybox's sleep does, as the real pause does.
        let wanted = [
            (PAUSE_IMAGE, ["/bin/busybox", "sleep", "2147483647"]),
            (CRI_IMAGE, ["/bin/busybox", "sleep", "1000"]),
        ];
        for (name, entrypoint) in wanted {
            if have(name) {
                continue;
            }
            let archive = docker_archive(rootfs, name, &entrypoint)?;
            exec(
                ctr(K8S_NS)
                    .args(["image", "import", "--snapshotter", daemons::snapshotter()])
                    .arg(&archive),
                COMMAND_TIMEOUT,
            )
            .map_err(|e| format!("importing {name}: {e}"))?;
        }
        Ok(())
    });
    if let Err(e) = ready {
        panic!("containerd's CRI plugin is not usable: {e}");
    }
}

/// Whether this process may lower oom_score_adj (CAP_SYS_RESOURCE, capability 24).
fn has_cap_sys_resource() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 24) != 0)
}
