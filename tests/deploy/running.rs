//! The pod's container under `ctr run`: the image imported from its archive, the container
//! started, waited for, read and stopped, and everything removed afterwards; HTTP probes sent from
//! inside its network namespace, as the kubelet sends them to the pod's IP.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::containerd::{self as runtime, ctr, NS, SOCK as CONTAINERD_SOCK};
use crate::pod::CtrRun;

const READY: Duration = Duration::from_secs(20);
const EVENT: Duration = Duration::from_secs(10);

/// The archive of `cargo xtask image` (`EXITWATCH_IMAGE_ARCHIVE`, which `cargo xtask test` sets,
/// or its default place); a failure that says how to make it when it is missing.
fn archive() -> PathBuf {
    let path = std::env::var_os("EXITWATCH_IMAGE_ARCHIVE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/image/exitwatch.tar")
        });
    assert!(
        path.is_file(),
        "no image archive at {}: run `cargo xtask image` first (`cargo xtask test` does)",
        path.display()
    );
    path
}

/// The image imported into `NS`; removed with the namespace on drop.
pub struct Imported;

impl Imported {
    pub fn new(reference: &str) -> Imported {
        runtime::ensure();
        let out = runtime::must(ctr().args(["image", "import"]).arg(archive()));
        let listed = runtime::must(ctr().args(["image", "ls", "-q"]));
        assert!(listed.lines().any(|l| l.trim() == reference),
            "the archive holds {listed:?} (import said {out:?}), but the DaemonSet runs {reference}: \
             rebuild it with `cargo xtask image` or fix the image in deploy/kubernetes/daemonset.yaml");
        Imported
    }
}

impl Drop for Imported {
    fn drop(&mut self) {
        if let Ok(images) =
            runtime::exec(ctr().args(["image", "ls", "-q"]), Duration::from_secs(30))
        {
            for image in images.lines() {
                let _ = runtime::exec(
                    ctr().args(["image", "rm", image.trim()]),
                    Duration::from_secs(30),
                );
            }
        }
        // containerd collects the image's content in the background; the namespace empties soon.
        runtime::poll(Duration::from_secs(10), || {
            runtime::exec(
                Command::new("ctr").args(["--address", CONTAINERD_SOCK, "namespaces", "rm", NS]),
                Duration::from_secs(30),
            )
            .ok()
        });
    }
}

/// Lines of a pipe, read by a thread so waits can time out.
fn lines(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            if line.is_err() || tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    rx
}

/// The pod's container under `ctr run --rm`, stopped and removed on drop.
pub struct Pod {
    id: String,
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    pub stderr_seen: Vec<String>,
}

impl Pod {
    pub fn start(run: &CtrRun) -> Pod {
        let id = format!("exitwatch-{}", runtime::random_hex(4));
        let mut child = ctr()
            .arg("run")
            .arg("--rm")
            .args(&run.options)
            .arg(&run.image)
            .arg(&id)
            .args(&run.process)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ctr run");
        let (stdout, stderr) = (
            lines(child.stdout.take().unwrap()),
            lines(child.stderr.take().unwrap()),
        );
        Pod {
            id,
            child,
            stdout,
            stderr,
            stderr_seen: Vec::new(),
        }
    }

    /// Waits for `exitwatch: ready`; the error holds its stderr when it ended or hung instead.
    pub fn ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY;
        while Instant::now() < deadline {
            match self.stderr.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    let ready = line.starts_with("exitwatch: ready");
                    self.stderr_seen.push(line);
                    if ready {
                        return Ok(());
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
        let status = self.wait(Duration::from_secs(5));
        Err(format!(
            "not ready ({status:?}); stderr:\n{}",
            self.stderr_seen.join("\n")
        ))
    }

    /// Waits up to `timeout` for a line of stderr that contains `text`.
    pub fn says(&mut self, text: &str, timeout: Duration) -> bool {
        if self.stderr_seen.iter().any(|l| l.contains(text)) {
            return true;
        }
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.stderr.recv_timeout(left) else {
                return false;
            };
            let found = line.contains(text);
            self.stderr_seen.push(line);
            if found {
                return true;
            }
        }
        false
    }

    /// Its PID 1 (exitwatch), as the host sees it.
    pub fn pid(&self) -> u32 {
        runtime::poll(Duration::from_secs(10), || runtime::task_pid(&self.id))
            .expect("the container's task")
    }

    /// The first JSON event `want` accepts, within `EVENT`.
    pub fn event(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + EVENT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.stdout.recv_timeout(left) else {
                break;
            };
            let v: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            if want(&v) {
                return v;
            }
        }
        let stderr: Vec<String> = self.stderr.try_iter().collect();
        panic!(
            "no event for {what} within {EVENT:?}; stderr: {:?} {stderr:?}",
            self.stderr_seen
        );
    }

    /// The first line of stdout `want` accepts within `timeout`; the error holds every line seen.
    pub fn line(
        &mut self,
        timeout: Duration,
        want: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.stdout.recv_timeout(left) else {
                break;
            };
            if want(&line) {
                return Ok(line);
            }
            seen.push(line);
        }
        let stderr: Vec<String> = self.stderr.try_iter().collect();
        Err(format!(
            "stdout:\n{}\nstderr:\n{}\n{}",
            seen.join("\n"),
            self.stderr_seen.join("\n"),
            stderr.join("\n")
        ))
    }

    /// Its exit status, once it ended by itself within `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        runtime::poll(timeout, || self.child.try_wait().ok().flatten())
    }

    /// SIGTERM, as the kubelet stops a pod; its exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let _ = runtime::exec(
            ctr().args(["task", "kill", "--signal", "SIGTERM", &self.id]),
            Duration::from_secs(30),
        );
        self.wait(Duration::from_secs(15))
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = runtime::exec(
                ctr().args(["task", "kill", "--signal", "SIGKILL", &self.id]),
                Duration::from_secs(30),
            );
            let _ = self.wait(Duration::from_secs(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = runtime::exec(
            ctr().args(["task", "rm", "-f", &self.id]),
            Duration::from_secs(30),
        );
        let _ = runtime::exec(
            ctr().args(["container", "rm", &self.id]),
            Duration::from_secs(30),
        );
    }
}

/// HTTP GET from inside the network namespace of `pid`, as the kubelet probes the pod: (status, body).
pub fn get_in_netns(pid: u32, port: u16, path: &str) -> Result<(u16, String), String> {
    let ns = File::open(format!("/proc/{pid}/ns/net")).map_err(|e| e.to_string())?;
    let path = path.to_owned();
    // setns moves only this thread, which ends with the request.
    thread::spawn(move || {
        // SAFETY: plain syscall on an fd we own.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(format!("setns: {}", std::io::Error::last_os_error()));
        }
        let mut s =
            TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect :{port}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(3))).ok();
        write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").map_err(|e| e.to_string())?;
        let mut answer = String::new();
        s.read_to_string(&mut answer).map_err(|e| e.to_string())?;
        let code = answer
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or(answer.clone())?;
        Ok((
            code,
            answer.split("\r\n\r\n").nth(1).unwrap_or("").to_owned(),
        ))
    })
    .join()
    .expect("probe thread")
}
