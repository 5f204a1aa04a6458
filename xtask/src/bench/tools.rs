//! The actors of every scenario: a victim, a timed sender, and the tracer under test
//! (exitwatch or bpftrace), each started, made ready and stopped the same way.

use std::{
    io::{BufRead, BufReader, Read},
    path::PathBuf,
    process::{Command, Stdio},
    sync::mpsc,
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

use super::{
    bpfstats,
    counter::{classify, sink_dropped, Counter, Counts, Detail, Dialect, Line},
    procs::Guarded,
};

/// The sender runs here and the victim on the other CPU (the machine has two).
pub const SENDER_CPU: &str = "0";
pub const VICTIM_CPU: &str = "1";
const READY_LIMIT: Duration = Duration::from_secs(30);
const STOP_LIMIT: Duration = Duration::from_secs(60);

pub struct Bins {
    pub exitwatch: PathBuf,
    pub victim: PathBuf,
    pub sender: PathBuf,
}

/// Which signal goes to which kind of process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storm {
    /// kill(SIGUSR1) to a process that ignores it.
    IgnoredUsr1,
    /// tgkill(SIGURG) to a thread of a process that handles it, as Go's preemption does.
    GoLikeUrg,
    /// kill(SIGTERM) to a process that blocks it with the default action: each one is queued
    /// (the first delivered, then already pending) to a target it would end, so exitwatch
    /// classes every one as fatal and sends it to the fatal ring, outside any budget.
    BlockedTerm,
}

impl Storm {
    pub fn label(self) -> &'static str {
        match self {
            Storm::IgnoredUsr1 => "SIGUSR1 to a process ignoring it",
            Storm::GoLikeUrg => "SIGURG to a Go-like handler",
            Storm::BlockedTerm => "SIGTERM to a process blocking it (fatal)",
        }
    }

    fn signo(self) -> u32 {
        match self {
            Storm::IgnoredUsr1 => 10,
            Storm::GoLikeUrg => 23,
            Storm::BlockedTerm => 15,
        }
    }
}

pub struct Victim {
    guard: Guarded,
    pub pid: u32,
    tid: u32,
    pub storm: Storm,
}

impl Victim {
    pub fn start(bins: &Bins, storm: Storm) -> Result<Victim> {
        Victim::start_as(bins, storm, VICTIM_CPU, None)
    }

    /// A victim on `cpu`, run as `uid` (and its group) when given.
    pub fn start_as(bins: &Bins, storm: Storm, cpu: &str, uid: Option<u32>) -> Result<Victim> {
        let mut cmd = as_user(uid, &bins.victim);
        match storm {
            Storm::IgnoredUsr1 => cmd.args(["ignore", "10", "--cpu", cpu]),
            Storm::GoLikeUrg => cmd.args(["go-like", "--cpu", cpu]),
            // storm-victim has no such mode; perl (Debian's perl-base) blocks and waits.
            Storm::BlockedTerm => {
                cmd = as_user(uid, "taskset");
                cmd.args(["-c", cpu, "perl", "-MPOSIX", "-e", BLOCKED_TERM])
            }
        };
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut guard = Guarded::spawn(&mut cmd, "the victim")?;
        let mut line = String::new();
        let stdout = guard.child.stdout.take().context("victim stdout")?;
        BufReader::new(stdout).read_line(&mut line)?;
        let field = |key: &str| -> Option<u32> {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))?
                .parse()
                .ok()
        };
        match (field("pid="), field("tid=")) {
            (Some(pid), Some(tid)) => Ok(Victim {
                guard,
                pid,
                tid,
                storm,
            }),
            _ => bail!("the victim did not say it was ready (it said {line:?})"),
        }
    }
}

const BLOCKED_TERM: &str = "sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGTERM)) or die; \
    $| = 1; print \"ready pid=$$ tid=$$\\n\"; my @rest = <STDIN>;";

/// `program` run as `uid` (group `uid`, no supplementary groups) through setpriv, or as is.
pub fn as_user(uid: Option<u32>, program: impl AsRef<std::ffi::OsStr>) -> Command {
    match uid {
        None => Command::new(program),
        Some(uid) => {
            let mut cmd = Command::new("setpriv");
            cmd.args([
                format!("--reuid={uid}"),
                format!("--regid={uid}"),
                "--clear-groups".into(),
                "--".into(),
            ])
            .arg(program);
            cmd
        }
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        // Closing stdin ends it; the guard kills it if it does not.
        drop(self.guard.child.stdin.take());
        let _ = self.guard.wait_for(Duration::from_secs(2));
    }
}

#[derive(Clone, Debug, Default)]
pub struct Sent {
    /// ns per call of each timed batch (unpaced storms).
    pub batch_ns: Vec<f64>,
    pub sent: u64,
    pub elapsed: Duration,
}

/// `batches` timed batches of `count` calls each, as fast as the kernel allows.
pub fn storm(bins: &Bins, victim: &Victim, count: u64, batches: u64) -> Result<Sent> {
    sender(
        bins,
        victim,
        &[
            "--count",
            &count.to_string(),
            "--batches",
            &batches.to_string(),
        ],
    )
}

/// `count` calls at `rate` per second.
pub fn paced(bins: &Bins, victim: &Victim, count: u64, rate: u64) -> Result<Sent> {
    sender(
        bins,
        victim,
        &["--count", &count.to_string(), "--rate", &rate.to_string()],
    )
}

fn sender(bins: &Bins, victim: &Victim, extra: &[&str]) -> Result<Sent> {
    let mut cmd = sender_command(bins, victim, SENDER_CPU, None);
    cmd.args(extra);
    let out = cmd.output().context("running storm-sender")?;
    if !out.status.success() {
        bail!(
            "storm-sender failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parse_sent(&String::from_utf8_lossy(&out.stdout))
}

/// storm-sender aimed at `victim`, pinned to `cpu`, run as `uid` when given.
pub fn sender_command(bins: &Bins, victim: &Victim, cpu: &str, uid: Option<u32>) -> Command {
    let mut cmd = as_user(uid, &bins.sender);
    cmd.args(["--pid", &victim.pid.to_string()])
        .args(["--signal", &victim.storm.signo().to_string()])
        .args(["--cpu", cpu]);
    if victim.storm == Storm::GoLikeUrg {
        cmd.args(["--tid", &victim.tid.to_string()]);
    }
    cmd
}

/// storm-sender's `key=value` lines.
pub fn parse_sent(text: &str) -> Result<Sent> {
    let mut sent = Sent::default();
    for line in text.lines() {
        for (key, value) in line.split_whitespace().filter_map(|w| w.split_once('=')) {
            match key {
                "ns_per_call" => sent.batch_ns.push(value.parse()?),
                "sent" => sent.sent = value.parse()?,
                "elapsed_ns" => sent.elapsed = Duration::from_nanos(value.parse()?),
                _ => {}
            }
        }
    }
    Ok(sent)
}

/// The tracer under test.
#[derive(Clone, Debug)]
pub enum Tracer {
    /// exitwatch with these arguments; stdout goes to a counter.
    Exitwatch(Vec<String>),
    /// bpftrace running this program.
    Bpftrace(String),
}

pub struct Running {
    guard: Guarded,
    dialect: Dialect,
    counter: Counter,
    stderr: JoinHandle<Counts>,
    /// What exitwatch's ready line said.
    pub attached_ms: Option<f64>,
    /// From spawn to ready (exitwatch: its ready line; bpftrace: its program on the tracepoint).
    pub wall_to_ready: Duration,
}

impl Running {
    pub fn start(bins: &Bins, tracer: &Tracer) -> Result<Running> {
        Running::start_with(bins, tracer, Detail::Counts)
    }

    /// With [`Detail::Everything`], the counts say who sent what to whom (slower to read).
    pub fn start_with(bins: &Bins, tracer: &Tracer, detail: Detail) -> Result<Running> {
        let (mut cmd, dialect, what) = match tracer {
            Tracer::Exitwatch(args) => {
                let mut cmd = Command::new(&bins.exitwatch);
                cmd.args(args);
                (cmd, Dialect::ExitwatchJson, "exitwatch")
            }
            Tracer::Bpftrace(program) => {
                let mut cmd = Command::new("bpftrace");
                cmd.args(["-e", program]);
                (cmd, Dialect::Bpftrace, "bpftrace")
            }
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut guard = Guarded::spawn(&mut cmd, what)?;
        let counter = Counter::spawn(
            dialect,
            detail,
            guard.child.stdout.take().context("stdout")?,
        );
        let (ready_tx, ready_rx) = mpsc::channel();
        let stderr = guard.child.stderr.take().context("stderr")?;
        let stderr = thread::spawn(move || watch_stderr(dialect, stderr, ready_tx));
        let attached_ms = match dialect {
            Dialect::ExitwatchJson => match ready_rx.recv_timeout(READY_LIMIT) {
                Ok(ms) => Some(ms),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = guard.wait_for(STOP_LIMIT)?;
                    bail!("exitwatch exited ({status}) before it was ready (its stderr is above)")
                }
                Err(mpsc::RecvTimeoutError::Timeout) => bail!(
                    "exitwatch did not say it was ready within {READY_LIMIT:?} (its stderr is above)"
                ),
            },
            Dialect::Bpftrace => {
                wait_attached(&mut guard)?;
                None
            }
        };
        Ok(Running {
            guard,
            dialect,
            counter,
            stderr,
            attached_ms,
            wall_to_ready: started.elapsed(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// Stops the tracer as a user would (SIGINT) and counts everything it printed.
    pub fn stop(mut self) -> Result<Counts> {
        self.guard.interrupt()?;
        match self.guard.wait_for(STOP_LIMIT) {
            Ok(status) if status.success() => {}
            Ok(status) => bail!("{} exited with {status} when interrupted", self.guard.what),
            Err(e) => {
                let stuck = where_stuck(self.pid());
                if self.dialect == Dialect::ExitwatchJson {
                    return Err(e.context(format!("exitwatch ignored SIGINT ({stuck})")));
                }
                // bpftrace's output is only a check on exitwatch's: note it, kill it, go on.
                eprintln!("bench: warning: {e:#} after SIGINT ({stuck}); killing it");
                let _ = self.guard.child.kill();
                self.guard.wait_for(STOP_LIMIT)?;
            }
        }
        let mut counts = self.counter.finish()?;
        if counts.unparsed > 0 {
            bail!(
                "the bench could not read {} of exitwatch's JSON lines (who sent what to whom): \
                 the counter (xtask/src/bench/counter.rs) does not know their shape",
                counts.unparsed
            );
        }
        let from_stderr = self.stderr.join().unwrap_or_default();
        counts.lost += from_stderr.lost;
        counts.dropped += from_stderr.dropped;
        Ok(counts)
    }
}

/// What the kernel says a process that does not exit is waiting for.
fn where_stuck(pid: u32) -> String {
    let read = |f: &str| std::fs::read_to_string(format!("/proc/{pid}/{f}")).unwrap_or_default();
    let state = read("stat")
        .split_whitespace()
        .nth(2)
        .unwrap_or("?")
        .to_owned();
    format!("state {state}, waiting in {}", read("wchan").trim())
}

/// Forwards a tracer's stderr to ours, sends exitwatch's ready time, and counts the losses
/// bpftrace reports there.
fn watch_stderr(dialect: Dialect, stderr: impl Read, ready: mpsc::Sender<f64>) -> Counts {
    let mut counts = Counts::default();
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if let Some(ms) = attached_ms(&line) {
            let _ = ready.send(ms);
            continue;
        }
        if let Line::Lost(n, _) = classify(dialect, line.as_bytes()) {
            counts.lost += n;
        }
        if let Some(n) = sink_dropped(&line) {
            counts.dropped += n;
        }
        // bpftrace cannot raise RLIMIT_MEMLOCK in this sandbox and says so; it does not matter
        // on kernels that account BPF memory to cgroups (5.11+).
        if !line.contains("RLIMIT_MEMLOCK") {
            eprintln!("  | {line}");
        }
    }
    counts
}

/// `exitwatch: ready: programs attached in 133 ms; ...` -> 133.
pub fn attached_ms(line: &str) -> Option<f64> {
    let rest = line.strip_prefix("exitwatch: ready: programs attached in ")?;
    rest.split_whitespace().next()?.parse().ok()
}

fn wait_attached(guard: &mut Guarded) -> Result<()> {
    let deadline = Instant::now() + READY_LIMIT;
    while Instant::now() < deadline {
        let attached = bpfstats::attached_by(guard.pid());
        if attached.iter().any(|a| a.hook == "signal_generate") {
            return Ok(());
        }
        if let Some(status) = guard.child.try_wait()? {
            bail!("bpftrace exited ({status}) before attaching (its stderr is above)");
        }
        thread::sleep(Duration::from_millis(20));
    }
    bail!("bpftrace did not attach to signal_generate within {READY_LIMIT:?}")
}

#[cfg(test)]
mod tests {
    use super::attached_ms;

    #[test]
    fn ready_line() {
        assert_eq!(
            attached_ms("exitwatch: ready: programs attached in 133 ms; watching x(1)"),
            Some(133.0)
        );
        assert_eq!(attached_ms("exitwatch: warning: something"), None);
    }
}
