//! containerd for the deployment tests: `ctr` with deadlines, the tests' own daemon (its own
//! config, socket and state) started when it is not running (and left running for the next
//! user), and a busybox container to kill.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use exitwatch_tests::daemons;
pub use exitwatch_tests::process::{exec, poll, random_hex};

pub use exitwatch_tests::daemons::{CONTAINERD_SOCK as SOCK, CONTAINERD_STATE as STATE};
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

/// The tests' own containerd answers (`exitwatch_tests::daemons`); started here if needed.
pub fn ensure() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(e) = READY.get_or_init(daemons::ensure_containerd) {
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
