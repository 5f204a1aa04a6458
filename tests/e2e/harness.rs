//! Running exitwatch, victims and senders as real processes, with a deadline on every wait.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::schema;

/// How long exitwatch may take to load and attach its programs.
/// How long exitwatch may take to load and attach its programs: 10 s on a real machine;
/// `EXITWATCH_READY_TIMEOUT` (seconds) raises it where the kernel's verifier runs emulated
/// (the QEMU TCG guests of `cargo xtask kernels`, tens of times slower).
fn ready_timeout() -> Duration {
    std::env::var("EXITWATCH_READY_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(10), Duration::from_secs)
}
/// How long an event may take to come out once its cause happened.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(5);

pub fn exitwatch_bin() -> PathBuf {
    match std::env::var_os("EXITWATCH_BIN") {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "EXITWATCH_BIN is not set: build exitwatch (`cargo xtask build`) and run \
             `EXITWATCH_BIN=$PWD/target/x86_64-unknown-linux-gnu/release/exitwatch cargo test -p exitwatch-tests --test e2e -- --test-threads=1` as root"
        ),
    }
}

pub fn victim_bin() -> &'static str {
    env!("CARGO_BIN_EXE_victim")
}

/// Lines of one pipe, read by a thread so that waits can time out.
struct Lines {
    rx: Receiver<Vec<u8>>,
    seen: Vec<Vec<u8>>,
}

impl Lines {
    fn new(pipe: impl Read + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut r = BufReader::new(pipe);
            loop {
                let mut line = Vec::new();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if line.last() == Some(&b'\n') {
                            line.pop();
                        }
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
        }
    }

    /// The next line, or None at end of file or after `timeout`.
    fn next(&mut self, timeout: Duration) -> Option<&[u8]> {
        let line = self.rx.recv_timeout(timeout).ok()?;
        self.seen.push(line);
        self.seen.last().map(Vec::as_slice)
    }

    /// Everything up to end of file (the writer has exited), waiting at most `timeout`.
    fn drain(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            match self
                .rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected | RecvTimeoutError::Timeout) => return,
            }
        }
    }

    fn text(&self) -> String {
        self.seen
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned() + "\n")
            .collect()
    }
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("waitpid") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A running exitwatch that has attached its programs.
pub struct Exitwatch {
    child: Child,
    args: Vec<String>,
    stdout: Lines,
    stderr: Lines,
}

/// What a finished exitwatch left behind.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<Vec<u8>>,
    pub stderr: String,
}

impl Exitwatch {
    /// Starts exitwatch and waits for its `ready` line.
    pub fn start(args: &[&str]) -> Exitwatch {
        Exitwatch::start_env(args, &[])
    }

    /// `start` with these environment variables added (EXITWATCH_*, NODE_NAME).
    pub fn start_env(args: &[&str], env: &[(&str, &str)]) -> Exitwatch {
        Exitwatch::start_in(&[], args, env)
    }

    /// `start_env`, run by `wrapper` (a command that ends by running its arguments: exitwatch's
    /// path, then `args`).
    pub fn start_in(wrapper: &[&str], args: &[&str], env: &[(&str, &str)]) -> Exitwatch {
        let mut child = wrapped(wrapper)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exitwatch_bin().display()));
        let mut ew = Exitwatch {
            stdout: Lines::new(child.stdout.take().unwrap()),
            stderr: Lines::new(child.stderr.take().unwrap()),
            child,
            args: args.iter().map(|s| s.to_string()).collect(),
        };
        let deadline = Instant::now() + ready_timeout();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match ew.stderr.next(left) {
                Some(l) if l.starts_with(b"exitwatch: ready: programs attached in ") => return ew,
                Some(_) => {}
                None => panic!(
                    "exitwatch {:?} never said it was ready (status {:?}); stderr:\n{}",
                    ew.args,
                    ew.child.try_wait(),
                    ew.stderr.text()
                ),
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads stdout until a JSON line satisfies `pred`; panics with the output so far if none
    /// does within `timeout`.
    pub fn wait_json(&mut self, timeout: Duration, mut pred: impl FnMut(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(line) = self.stdout.next(left) else {
                panic!(
                    "exitwatch {:?}: no matching event within {timeout:?}; stdout:\n{}stderr:\n{}",
                    self.args,
                    self.stdout.text(),
                    self.stderr.text()
                );
            };
            let v: Value = serde_json::from_slice(line)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(line)));
            if pred(&v) {
                return v;
            }
        }
    }

    /// Reads stdout, a JSON line at a time, until `done` says so (true) or `timeout` passes
    /// (false). For tests that count many events and report the counts themselves rather than
    /// every line; `stop` or `wait_exit` still return (and schema-check) every line.
    pub fn read_json_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&Value) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(line) = self.stdout.next(left) else {
                return false;
            };
            let v: Value = serde_json::from_slice(line)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(line)));
            if done(&v) {
                return true;
            }
        }
    }

    /// Waits for exitwatch to exit by itself.
    pub fn wait_exit(mut self, timeout: Duration) -> Finished {
        match wait_timeout(&mut self.child, timeout) {
            Some(status) => self.finished(status),
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.stdout.drain(Duration::from_secs(1));
                self.stderr.drain(Duration::from_secs(1));
                panic!(
                    "exitwatch {:?} did not exit by itself within {timeout:?}; stdout:\n{}stderr:\n{}",
                    self.args,
                    self.stdout.text(),
                    self.stderr.text()
                )
            }
        }
    }

    /// Stops exitwatch the way a user does, with Ctrl-C (SIGINT); it must exit promptly.
    pub fn stop(self) -> Finished {
        self.stop_with(libc::SIGINT)
    }

    /// Sends `sig` (SIGINT, SIGTERM) and waits for exitwatch to exit.
    pub fn stop_with(mut self, sig: i32) -> Finished {
        if self.exited() {
            return self.wait_exit(Duration::ZERO);
        }
        // SAFETY: plain syscall on our own child, not yet reaped.
        unsafe { libc::kill(self.pid() as i32, sig) };
        self.wait_exit(Duration::from_secs(3))
    }

    /// Whether exitwatch has exited by itself (it is then reaped; `stop` just collects it).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    fn finished(&mut self, status: ExitStatus) -> Finished {
        self.stdout.drain(Duration::from_secs(2));
        self.stderr.drain(Duration::from_secs(2));
        Finished {
            status,
            stdout: std::mem::take(&mut self.stdout.seen),
            stderr: self.stderr.text(),
        }
    }
}

impl Drop for Exitwatch {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// exitwatch, run by `wrapper` when there is one (a command that runs its arguments).
fn wrapped(wrapper: &[&str]) -> Command {
    match wrapper.split_first() {
        Some((prog, rest)) => {
            let mut c = Command::new(prog);
            c.args(rest).arg(exitwatch_bin());
            c
        }
        None => Command::new(exitwatch_bin()),
    }
}

/// Runs exitwatch to the end without waiting for `ready` (for the failures before it).
pub fn run_exitwatch(wrapper: &[&str], args: &[&str]) -> Finished {
    let mut child = wrapped(wrapper)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start exitwatch");
    let mut ew = Exitwatch {
        stdout: Lines::new(child.stdout.take().unwrap()),
        stderr: Lines::new(child.stderr.take().unwrap()),
        child,
        args: args.iter().map(|s| s.to_string()).collect(),
    };
    let status = wait_timeout(&mut ew.child, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("exitwatch {args:?} still running after 10 s"));
    ew.finished(status)
}

impl Finished {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn stdout_text(&self) -> String {
        self.stdout
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned() + "\n")
            .collect()
    }

    /// stdout as JSON events, every line checked against the published schema.
    pub fn json(&self) -> Vec<Value> {
        let lines: Vec<String> = self
            .stdout
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        schema::assert_valid(&lines);
        lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// Asserts a clean exit (status 0), showing the output otherwise.
    pub fn assert_ok(self) -> Self {
        assert_eq!(
            self.code(),
            Some(0),
            "exitwatch failed: {self:#?}\nstdout:\n{}",
            self.stdout_text()
        );
        self
    }
}

/// The first event of a kind; panics showing all the events if there is none.
pub fn first<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["event"] == kind)
        .unwrap_or_else(|| panic!("no {kind} event among {events:#?}"))
}

/// Events of one kind, in order.
pub fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// A `victim wait` process (or a wrapper around one) that has said it is ready.
pub struct Victim {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines,
    /// Its pid as the host (and exitwatch) sees it.
    pub pid: u32,
    /// Its thread ids, main thread first, as the host sees them.
    pub tids: Vec<u32>,
    /// Its pid inside its own pid namespace.
    pub ns_pid: u32,
}

impl Victim {
    /// `victim wait OPTIONS...`.
    pub fn spawn(options: &[&str]) -> Victim {
        let mut cmd = Command::new(victim_bin());
        cmd.arg("wait").args(options);
        Victim::from_command(cmd, "ready ")
    }

    /// Any command whose stdout says `<prefix>pid=.. host_pid=.. tids=..` once it is ready.
    pub fn from_command(mut cmd: Command, prefix: &str) -> Victim {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let mut stdout = Lines::new(child.stdout.take().unwrap());
        let stdin = child.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(5);
        let fields = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = stdout
                .next(left)
                .map(|l| String::from_utf8_lossy(l).into_owned())
                .unwrap_or_else(|| panic!("{cmd:?} never said `{prefix}...`"));
            if line.starts_with(prefix) {
                break exitwatch_tests::ready_fields(&line);
            }
        };
        let num = |k: &str| -> u32 { fields[k].parse().unwrap() };
        let ns_pid = num("pid");
        let pid = num("host_pid");
        // Thread ids are the victim's own view; only the main thread's is translated, so
        // callers wanting host tids must not use a pid namespace.
        let tids = fields
            .get("tids")
            .map(|t| t.split(',').map(|x| x.parse().unwrap()).collect())
            .unwrap_or_default();
        Victim {
            child,
            stdin,
            stdout,
            pid,
            tids,
            ns_pid,
        }
    }

    /// The `key=value` fields of the first stdout line so far that starts with `prefix`.
    pub fn said(&self, prefix: &str) -> HashMap<String, String> {
        self.stdout
            .seen
            .iter()
            .map(|l| String::from_utf8_lossy(l))
            .find(|l| l.starts_with(prefix))
            .map(|l| exitwatch_tests::ready_fields(&l))
            .unwrap_or_else(|| panic!("nothing said `{prefix}...`; said:\n{}", self.stdout.text()))
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn pid_arg(&self) -> String {
        self.pid.to_string()
    }

    /// Sends a command line to the victim's stdin.
    pub fn tell(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}")
            .and_then(|_| stdin.flush())
            .expect("write to victim");
    }

    /// Waits for a stdout line starting with `prefix` (e.g. `caught 10`).
    pub fn expect_line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.next(left) {
                Some(l) if l.starts_with(prefix.as_bytes()) => {
                    return String::from_utf8_lossy(l).into_owned()
                }
                Some(_) => {}
                None => panic!(
                    "victim never said `{prefix}...`; it said:\n{}",
                    self.stdout.text()
                ),
            }
        }
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a short command to completion (10 s at most) and returns its stdout; it must succeed.
pub fn run(cmd: &mut Command) -> String {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut out = Lines::new(child.stdout.take().unwrap());
    let mut err = Lines::new(child.stderr.take().unwrap());
    let status = wait_timeout(&mut child, Duration::from_secs(10)).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{cmd:?} still running after 10 s")
    });
    out.drain(Duration::from_secs(1));
    err.drain(Duration::from_secs(1));
    assert!(
        status.success(),
        "{cmd:?} failed ({status}); stderr:\n{}",
        err.text()
    );
    out.text()
}

/// `victim send SIG PID [COUNT]`: a short-lived process that signals `pid` and exits.
pub fn send(sig: &str, pid: u32, count: u32) {
    run(Command::new(victim_bin()).args(["send", sig, &pid.to_string(), &count.to_string()]));
}

/// The pids of a `bash` -> `sh` -> `/bin/kill -9 PID` chain.
pub struct ShellChain {
    pub bash: u32,
    pub sh: u32,
}

/// Kills `pid` with `/bin/kill -9` run by `sh`, itself run by `bash` (both fork, neither execs
/// its last command: the trailing `true` sees to that).
pub fn kill_via_shells(pid: u32) -> ShellChain {
    let script = format!(r#"echo bash=$$; sh -c 'echo sh=$$; /bin/kill -9 {pid}; true'; true"#);
    let out = run(Command::new("bash").args(["-c", &script]));
    let f = exitwatch_tests::ready_fields(&out);
    let get = |k: &str| -> u32 {
        f.get(k)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("the shells said {out:?}"))
    };
    ShellChain {
        bash: get("bash"),
        sh: get("sh"),
    }
}

/// A dropper: a copy of the victim binary at `dir/name`, started, unlinked (with `dir`), and then
/// SIGKILLing its own child while exitwatch watches that child. Returns the copy's former path
/// and exitwatch's events.
pub fn deleted_dropper_kill(dir: &std::path::Path, name: &str) -> (PathBuf, Vec<Value>) {
    std::fs::create_dir_all(dir).unwrap();
    let dropper = dir.join(name);
    std::fs::copy(victim_bin(), &dropper).unwrap();
    let mut cmd = Command::new(&dropper);
    cmd.args(["spawn-kill", "KILL"]);
    let mut pair = Victim::from_command(cmd, "ready ");
    std::fs::remove_file(&dropper).unwrap();
    let _ = std::fs::remove_dir(dir);

    let ew = Exitwatch::start(&["--pid", &pair.pid_arg(), "--format", "json"]);
    pair.tell("go");
    (dropper, ew.wait_exit(EVENT_TIMEOUT).assert_ok().json())
}
