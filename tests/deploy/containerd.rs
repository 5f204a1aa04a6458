//! containerd for the deployment tests: `ctr` with deadlines, the daemon started when it is not
//! running (and left running for the next user), and a busybox container to kill.

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

pub use exitwatch_tests::process::{exec, poll, random_hex};

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

/// `exec` of a step that must work.
pub fn must(cmd: &mut Command) -> String {
    exec(cmd, TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
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
