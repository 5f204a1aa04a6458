//! The tests' own container runtimes: a containerd (with its CRI plugin) and a dockerd that the
//! tests start with their own config files, sockets and state directories, so that no test
//! reads or edits the machine's runtime configuration (/etc/containerd, /etc/docker) or
//! disturbs a runtime already running here. Each daemon is started once and left running for
//! the next test binary, which finds it answering on its socket and reuses it.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{exec, poll};

/// Sockets, runtime state and logs (a tmpfs on most machines: gone at reboot).
pub const STATE_DIR: &str = "/run/exitwatch-tests";
/// Images and snapshots, kept between runs so that imports are done once.
pub const DATA_DIR: &str = "/var/lib/exitwatch-tests";
pub const CONTAINERD_SOCK: &str = "/run/exitwatch-tests/containerd/containerd.sock";
/// containerd's runtime state: the shims' bundles and every container's root filesystem mount.
pub const CONTAINERD_STATE: &str = "/run/exitwatch-tests/containerd";
pub const DOCKER_SOCK: &str = "/run/exitwatch-tests/docker/docker.sock";
/// podman's Docker-compatible API, served by `podman system service` over the tests' storage.
pub const PODMAN_SOCK: &str = "/run/exitwatch-tests/podman/podman.sock";

/// The tests' containerd: Debian's defaults, plus `restrict_oom_score_adj` (these machines give
/// root no CAP_SYS_RESOURCE, and without it the CRI plugin starts every pod sandbox with
/// oom_score_adj -998, which runc then cannot set: "can't get final child's PID from pipe").
/// Addresses and directories are given on the command line.
const CONTAINERD_CONFIG: &str = r#"version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.internal.v1.opt"]
    path = "/var/lib/exitwatch-tests/containerd-opt"
"#;

/// The snapshotter the tests' containerd unpacks images with: overlayfs where the kernel has it,
/// else `native` (plain copies), e.g. in a test guest without the overlay module.
pub fn snapshotter() -> &'static str {
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if filesystems
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"))
    {
        "overlayfs"
    } else {
        "native"
    }
}

/// How long a daemon may take to answer after it was started (minutes under TCG).
fn daemon_timeout() -> Duration {
    let secs = std::env::var("EXITWATCH_DAEMON_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    Duration::from_secs(secs)
}

/// `ctr` talking to the tests' containerd, in containerd namespace `ns`.
pub fn ctr(ns: &str) -> Command {
    let mut c = Command::new("ctr");
    c.args(["--address", CONTAINERD_SOCK, "-n", ns]);
    c
}

/// `docker` talking to the tests' dockerd.
pub fn docker() -> Command {
    let mut c = Command::new("docker");
    c.args(["--host", &format!("unix://{DOCKER_SOCK}")]);
    c
}

/// `podman` on the tests' own storage and run directories (never /var/lib/containers), with
/// runc and the cgroupfs manager (no systemd here), and events in a file (no journald).
pub fn podman() -> Command {
    let mut c = Command::new("podman");
    c.args(["--root", &format!("{DATA_DIR}/podman")])
        .args(["--runroot", &format!("{STATE_DIR}/podman/run")])
        .args(["--cgroup-manager", "cgroupfs", "--runtime", "runc"])
        .args(["--storage-driver", "vfs", "--events-backend", "file"]);
    c
}

/// The flags that point exitwatch at these daemons instead of the machine's usual sockets.
pub fn exitwatch_args() -> [String; 6] {
    [
        "--runtime-socket".into(),
        format!("containerd={CONTAINERD_SOCK}"),
        "--runtime-socket".into(),
        format!("docker={DOCKER_SOCK}"),
        "--runtime-socket".into(),
        format!("podman={PODMAN_SOCK}"),
    ]
}

/// The tests' podman API service answers: started here when it does not.
pub fn ensure_podman_service() -> Result<(), String> {
    let answers = || {
        exec(
            Command::new("curl")
                .args([
                    "--silent",
                    "--fail",
                    "--max-time",
                    "2",
                    "--unix-socket",
                    PODMAN_SOCK,
                ])
                .arg("http://d/_ping"),
            Duration::from_secs(5),
        )
        .is_ok()
    };
    if answers() {
        return Ok(());
    }
    let dir = Path::new(PODMAN_SOCK).parent().expect("a directory");
    std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    let mut cmd = podman();
    cmd.args(["system", "service", "--time=0"])
        .arg(format!("unix://{PODMAN_SOCK}"));
    start("podman", &mut cmd, answers)
}

/// The tests' containerd answers: started here when it does not.
pub fn ensure_containerd() -> Result<(), String> {
    let answers = || exec(ctr("default").arg("version"), Duration::from_secs(5)).is_ok();
    if answers() {
        return Ok(());
    }
    let config = format!(
        "{CONTAINERD_CONFIG}\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  snapshotter = \"{}\"\n",
        snapshotter()
    );
    let config = write(Path::new(STATE_DIR).join("containerd.toml"), &config)?;
    let mut cmd = Command::new("containerd");
    cmd.arg("--config")
        .arg(config)
        .args(["--address", CONTAINERD_SOCK])
        .args(["--root", &format!("{DATA_DIR}/containerd")])
        .args(["--state", CONTAINERD_STATE]);
    start("containerd", &mut cmd, answers)
}

/// The tests' dockerd answers, on the tests' containerd: started here when it does not.
pub fn ensure_dockerd() -> Result<(), String> {
    ensure_containerd()?;
    let answers = || {
        exec(
            docker().args(["version", "--format", "{{.Server.Version}}"]),
            Duration::from_secs(5),
        )
        .is_ok()
    };
    if answers() {
        return Ok(());
    }
    // An empty config file of its own: /etc/docker/daemon.json is the machine's.
    let config = write(Path::new(STATE_DIR).join("docker.json"), "{}\n")?;
    let dir = Path::new(DOCKER_SOCK).parent().expect("a directory");
    std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    // No bridge and no iptables: these machines have no CNI and the tests use --network none.
    let mut cmd = Command::new("dockerd");
    cmd.arg("--config-file")
        .arg(config)
        .args(["--host", &format!("unix://{DOCKER_SOCK}")])
        .args(["--containerd", CONTAINERD_SOCK])
        .args(["--data-root", &format!("{DATA_DIR}/docker")])
        .args(["--exec-root", &format!("{STATE_DIR}/docker-exec")])
        .args(["--pidfile", &format!("{STATE_DIR}/docker.pid")])
        .args(["--iptables=false", "--bridge=none"]);
    start("dockerd", &mut cmd, answers)
}

fn write(path: PathBuf, text: &str) -> Result<PathBuf, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    }
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Starts a daemon in its own process group (it outlives the tests, for the next run), its
/// output in STATE_DIR/NAME.log, and waits until `answers`.
fn start(name: &str, cmd: &mut Command, answers: impl Fn() -> bool) -> Result<(), String> {
    let log_path = Path::new(STATE_DIR).join(format!("{name}.log"));
    let log = write(log_path.clone(), "").and_then(|p| {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .map_err(|e| format!("{}: {e}", p.display()))
    })?;
    // The daemon outlives this test binary: it must not keep what it would inherit beyond
    // stdio (cargo's jobserver and output pipes, a caller's lock file), or those stay open for
    // as long as it runs.
    // SAFETY: close_range is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| {
            format!("{name} does not answer and cannot be started ({e}): `cargo xtask test` installs it")
        })?;
    let tail = || {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    };
    let timeout = daemon_timeout();
    let started = poll(timeout, || {
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
            "{name} was started but did not answer within {timeout:?}; its log {}:\n{}",
            log_path.display(),
            tail()
        ))
    })
}
