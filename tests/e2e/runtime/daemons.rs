//! The daemons (containerd with its CRI plugin, dockerd) and their images, made ready once per
//! test binary: started when they do not answer, images imported when missing.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::images::{build_rootfs, docker_archive, layer_tar};
use super::*;

/// containerd's CRI plugin runs every pod sandbox from this image (its 1.6 default).
const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.6";

/// Debian's /etc/containerd/config.toml plus `restrict_oom_score_adj`: these machines give root
/// no CAP_SYS_RESOURCE, and without it containerd's CRI plugin starts every pod sandbox with
/// oom_score_adj -998, which runc then cannot set ("can't get final child's PID from pipe").
const CONTAINERD_CONFIG: &str = r#"version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.internal.v1.opt"]
    path = "/var/lib/containerd/opt"
"#;

/// How long a daemon may take to answer after it was started.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(40);

/// The busybox rootfs, once containerd answers.
pub fn containerd() -> &'static Path {
    static READY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match READY.get_or_init(|| {
        let rootfs = build_rootfs(&work_dir())?;
        ensure_containerd()?;
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
        ensure_dockerd()?;
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

/// containerd's CRI plugin answers and has the pause image and the busybox image.
pub fn cri() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let rootfs = containerd();
        let status = exec(cri_cmd().arg("status"), COMMAND_TIMEOUT)?;
        if status.trim() == "restrict_oom_score_adj=false" && !has_cap_sys_resource() {
            return Err(format!(
                "the containerd already running here (not started by these tests) has \
                 restrict_oom_score_adj off, and this machine gives root no CAP_SYS_RESOURCE: every pod \
                 sandbox would fail to start (oom_score_adj -998). Stop that containerd so the tests start \
                 their own, or restart it with `containerd --config {}`",
                write_containerd_config()?.display()
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
                ctr(K8S_NS).args(["image", "import"]).arg(&archive),
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

fn ensure_containerd() -> Result<(), String> {
    let answers = || exec(ctr(CTR_NS).arg("version"), Duration::from_secs(5)).is_ok();
    if answers() {
        return Ok(());
    }
    let mut cmd = Command::new("containerd");
    cmd.arg("--config").arg(write_containerd_config()?);
    start_daemon("containerd", &mut cmd, answers)
}

fn write_containerd_config() -> Result<PathBuf, String> {
    let dir = work_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    let path = dir.join("containerd.toml");
    std::fs::write(&path, CONTAINERD_CONFIG).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
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

fn ensure_dockerd() -> Result<(), String> {
    let answers = || {
        exec(
            docker_cmd().args(["version", "--format", "{{.Server.Version}}"]),
            Duration::from_secs(5),
        )
        .is_ok()
    };
    if answers() {
        return Ok(());
    }
    // No bridge and no iptables: these machines have no CNI and the tests use --network none.
    let mut cmd = Command::new("dockerd");
    cmd.args([
        "--iptables=false",
        "--bridge=none",
        "--containerd",
        CONTAINERD_SOCK,
    ]);
    start_daemon("dockerd", &mut cmd, answers)
}

/// Starts a daemon in its own process group (it outlives the tests, for the next run) and waits
/// until `answers`.
fn start_daemon(name: &str, cmd: &mut Command, answers: impl Fn() -> bool) -> Result<(), String> {
    let dir = work_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    let log_path = dir.join(format!("{name}.log"));
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| {
            format!("{name} does not answer and cannot be started ({e}): install it with `cargo xtask setup`")
        })?;
    let tail = || {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    };
    let started = poll(DAEMON_TIMEOUT, || {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(Err(format!(
                "{name} exited at once ({status}); its log {}:\n{}",
                log_path.display(),
                tail()
            )));
        }
        answers().then_some(Ok(()))
    });
    started.unwrap_or_else(|| {
        Err(format!(
            "{name} was started but did not answer within {DAEMON_TIMEOUT:?}; its log {}:\n{}",
            log_path.display(),
            tail()
        ))
    })
}
