//! containerd for the deployment tests: `ctr` with deadlines, the daemon started when it is not
//! running (and left running for the next user), and a busybox container to kill.

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

pub const SOCK: &str = "/run/containerd/containerd.sock";
/// The containerd namespace the tests work in; removed when they are done.
pub const NS: &str = "exitwatch-deploy-test";
const TIMEOUT: Duration = Duration::from_secs(30);

/// `ctr` on `NS`.
pub fn ctr() -> Command {
    let mut c = Command::new("ctr");
    c.args(["--address", SOCK, "-n", NS]);
    c
}

/// Runs `cmd` to completion within `timeout`: its stdout, or what went wrong.
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
        Ok(Ok(out)) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into()),
        Ok(Ok(out)) => Err(format!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )),
        Ok(Err(e)) => Err(format!("{shown}: {e}")),
        Err(_) => {
            // SAFETY: plain syscall; the child is not reaped yet, so the pid is still its own.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            Err(format!("{shown} still running after {timeout:?}"))
        }
    }
}

/// `exec` of a step that must work.
pub fn must(cmd: &mut Command) -> String {
    exec(cmd, TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
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
        .expect("/dev/urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// containerd answers; started here (in its own process group, outliving the tests) if needed.
pub fn ensure() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let answers = || exec(Command::new("ctr").args(["--address", SOCK, "version"]), Duration::from_secs(5)).is_ok();
        if answers() {
            return Ok(());
        }
        let log = std::env::temp_dir().join("exitwatch-deploy-containerd.log");
        let file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        Command::new("containerd")
            .stdin(Stdio::null())
            .stdout(file.try_clone().map_err(|e| e.to_string())?)
            .stderr(file)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("containerd is not running and cannot be started ({e}): `cargo xtask setup` installs it"))?;
        poll(Duration::from_secs(40), || answers().then_some(()))
            .ok_or_else(|| format!("containerd was started but does not answer; see {}", log.display()))
    });
    if let Err(e) = ready {
        panic!("{e}");
    }
}

/// A busybox `sleep` container in `NS`, with a 64-hex id as runtimes make them (exitwatch
/// recognises containers by such ids in cgroup paths); removed on drop.
pub struct Victim {
    pub id: String,
    pub pid: u32,
}

impl Victim {
    pub fn start() -> Victim {
        Victim::start_with(&[], &["/bin/sleep", "1000"])
    }

    /// A container of the busybox rootfs running `command`, with `ctr run` options `opts`.
    pub fn start_with(opts: &[&str], command: &[&str]) -> Victim {
        ensure();
        let rootfs = rootfs();
        let id = random_hex(32);
        must(
            ctr()
                .args(["run", "-d"])
                .args(opts)
                .arg("--rootfs")
                .arg(&rootfs)
                .arg(&id)
                .args(command),
        );
        let mut v = Victim { id, pid: 0 };
        v.pid = poll(Duration::from_secs(10), || task_pid(&v.id))
            .unwrap_or_else(|| panic!("container {} has no running task", v.id));
        v
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = exec(
            ctr().args(["task", "kill", "--signal", "SIGKILL", &self.id]),
            TIMEOUT,
        );
        poll(Duration::from_secs(10), || {
            exec(ctr().args(["task", "rm", "-f", &self.id]), TIMEOUT).ok()
        });
        let _ = exec(ctr().args(["container", "rm", &self.id]), TIMEOUT);
    }
}

/// The host pid of task `id`'s PID 1 (`ctr task ls`: TASK PID STATUS).
pub fn task_pid(id: &str) -> Option<u32> {
    let out = exec(ctr().args(["task", "ls"]), TIMEOUT).ok()?;
    out.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.first() == Some(&id) && f.get(2) == Some(&"RUNNING")).then(|| f.get(1)?.parse().ok())?
    })
}

/// A rootfs of the static busybox and its `sleep`.
fn rootfs() -> PathBuf {
    let root = std::env::temp_dir().join("exitwatch-deploy-rootfs");
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir rootfs");
    if !bin.join("busybox").exists() {
        std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap_or_else(|e| {
            panic!("/bin/busybox ({e}): `cargo xtask setup` installs busybox-static")
        });
        std::os::unix::fs::symlink("busybox", bin.join("sleep")).expect("symlink sleep");
    }
    root
}
