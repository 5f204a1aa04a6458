//! Real container runtimes for the container tests: containerd (plain, and through its CRI plugin
//! as the kubelet drives it) and Docker, started when they are not running, with busybox images
//! built here from the busybox-static binary (no registry is used), and guards that remove each
//! test's containers and pods even when the test fails.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

mod daemons;
mod guards;
mod images;

pub use guards::{CtrContainer, DockerContainer, Pod};

pub const CONTAINERD_SOCK: &str = "/run/containerd/containerd.sock";
/// The image the CRI tests' containers run.
pub const CRI_IMAGE: &str = "localhost/bbox:1";
pub const DOCKER_IMAGE: &str = "bbox:local";
/// The namespace kubelet's containers live in, in containerd.
pub const K8S_NS: &str = "k8s.io";
/// The namespace `ctr` uses when none is given.
pub const CTR_NS: &str = "default";

/// How long one runtime command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `cmd` to completion within `timeout` and returns its stdout, or says what went wrong.
pub fn exec(cmd: &mut Command, timeout: Duration) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(out)) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        }
        Ok(Ok(out)) => Err(format!(
            "{shown} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        )),
        Ok(Err(e)) => Err(format!("{shown}: {e}")),
        Err(_) => {
            // Not reaped yet (the thread still waits on it), so the pid is still this child's.
            // SAFETY: plain syscall.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            Err(format!("{shown} still running after {timeout:?}"))
        }
    }
}

/// `exec` for the tests' own steps: any failure fails the test.
pub fn must(cmd: &mut Command) -> String {
    exec(cmd, COMMAND_TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
}

fn ctr(ns: &str) -> Command {
    let mut c = Command::new("ctr");
    c.args(["--address", CONTAINERD_SOCK, "-n", ns]);
    c
}

fn docker_cmd() -> Command {
    Command::new("docker")
}

fn cri_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cri"));
    c.env("CRI_SOCKET", CONTAINERD_SOCK);
    c
}

/// Polls `check` every 100 ms until it gives a value or `timeout` passes.
pub fn poll<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh container id as nerdctl and docker make them: 64 hex digits, the only ids exitwatch
/// can recognise in a cgroup path.
pub fn new_id() -> String {
    random_hex(32)
}

/// Where this machine's tests keep their rootfs, image archives and daemon logs.
fn work_dir() -> PathBuf {
    std::env::temp_dir().join("exitwatch-e2e-containers")
}
