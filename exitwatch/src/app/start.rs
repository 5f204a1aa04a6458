//! What the daemon sets up before its loop: the processes and receivers asked about, the
//! rendering context, the story, and what it says once it is ready.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal};
use std::time::Duration;

use aya::maps::MapData;
use aya::Ebpf;
use exitwatch_common::names;

use crate::cli::{Color, Config};
use crate::clock;
use crate::container::cache::MetadataCache;
use crate::container::watch::Filter;
use crate::event::{Event, ExitEvent, Proc};
use crate::pipeline::Question;
use crate::procs::{self, ProcError, State, Watched};
use crate::reader::ReaderError;
use crate::receivers::Receivers;
use crate::render::{Context, Format};
use crate::sink::SinkSpec;
use crate::story::Story;
use crate::users::Users;

use super::{AppError, Pipe};

/// The second runtime: outputs, the container runtimes' clients and /metrics run here, so
/// that nothing they wait on delays the thread that reads the kernel's rings.
pub fn io_runtime() -> std::io::Result<Background> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("exitwatch-io".into())
        .spawn(move || {
            runtime.block_on(async {
                let _ = stopped.await;
            })
        })?;
    Ok(Background { handle, stop })
}

/// The second runtime's thread: runs what is spawned in its context until `stop`.
pub struct Background {
    handle: tokio::runtime::Handle,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Background {
    /// While the guard lives, `tokio::spawn` (and sockets made in the tasks) go to this runtime.
    pub fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        self.handle.enter()
    }

    /// Ends it without waiting for what still runs there (the outputs had their deadline).
    pub fn stop(self) {
        let _ = self.stop.send(());
    }
}

/// The `--pid`s, each resolved to its process (a thread id names its process).
pub fn resolve_pids(pids: &[u32]) -> Result<BTreeMap<u32, Watched>, ProcError> {
    let mut pending = BTreeMap::new();
    for &pid in pids {
        let w = procs::resolve(pid)?;
        pending.insert(w.pid, w);
    }
    Ok(pending)
}

/// The kernel's cgroup verdicts for `--container`/`--pod`/`--namespace`, first filled once
/// the runtimes answered (names need their first listing); None without those options.
pub async fn receivers(
    config: &Config,
    ebpf: &mut Ebpf,
    cache: &MetadataCache,
) -> Result<Option<Receivers>, AppError> {
    if config.receivers.is_empty() {
        return Ok(None);
    }
    let map = ebpf
        .take_map(names::WATCHED_CGROUPS)
        .ok_or(ReaderError::NoMap(names::WATCHED_CGROUPS))?;
    let map: aya::maps::HashMap<MapData, u64, u32> = aya::maps::HashMap::try_from(map)
        .map_err(|e| ReaderError::Map(names::WATCHED_CGROUPS, e.to_string()))?;
    let mut r = Receivers::new(config.receivers.clone(), map);
    let _ = tokio::time::timeout(Duration::from_secs(3), cache.refresh()).await;
    if r.refresh(cache) == 0 {
        eprintln!(
            "exitwatch: warning: no container matches {} yet; exitwatch keeps looking as containers start",
            describe_filter(r.filter())
        );
    }
    Ok(Some(r))
}

/// What every renderer needs. Colours are for a terminal: not for files and receivers, unless
/// asked for.
pub fn context(config: &Config) -> Context {
    let only_stdout = config
        .daemon
        .outputs
        .iter()
        .all(|o| o.spec == SinkSpec::Stdout);
    Context {
        node: node_name(config),
        boot_epoch_ns: clock::boot_epoch_ns(),
        color: use_color(config.format, config.color)
            && (config.color == Color::Always || only_stdout),
        users: Users::load(),
        page_size: page_size(),
        memo: Default::default(),
    }
}

pub fn question(config: &Config, pending: BTreeMap<u32, Watched>) -> Question {
    Question {
        pending,
        count: config.count,
        receivers: config.receivers.clone(),
    }
}

/// Event ids are unique across restarts: they start with the daemon's start time in hex.
pub fn story(config: &Config) -> Story {
    let run = (clock::boot_epoch_ns() + i128::from(clock::since_boot_ns())) as u64;
    Story::new(format!("{run:x}"), config.rules.clone())
}

/// A watched process may have ended between the /proc check and the attach: a zombie still
/// shows its status; one already reaped is said to be unknown.
pub fn settle_early_exits(pending: &BTreeMap<u32, Watched>, pipe: &mut Pipe) -> io::Result<()> {
    settle(pending, pipe, "exited before exitwatch attached", |_| true)
}

/// How long a watched process must have been gone from /proc, with its exit still not read
/// from the kernel, before exitwatch stops waiting for it: its exit record was lost.
const VANISHED_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// Watched processes gone from /proc while their exit was never read (its record lost to a
/// full ring): after [`VANISHED_AFTER`], settled from /proc as at start, so that `--pid`
/// still ends when every watched process has.
#[derive(Default)]
pub struct Vanished {
    since: std::collections::HashMap<u32, std::time::Instant>,
}

impl Vanished {
    pub fn check(
        &mut self,
        pending: &BTreeMap<u32, Watched>,
        pipe: &mut Pipe,
        now: std::time::Instant,
    ) -> io::Result<()> {
        for &pid in pending.keys() {
            let gone = pipe.is_pending(pid) && procs::state(pid) != State::Alive;
            if !gone {
                self.since.remove(&pid);
            } else {
                self.since.entry(pid).or_insert(now);
            }
        }
        let since = &self.since;
        settle(
            pending,
            pipe,
            "exited but its exit record was lost",
            |pid| {
                since
                    .get(&pid)
                    .is_some_and(|t| now.duration_since(*t) >= VANISHED_AFTER)
            },
        )
    }
}

/// Settles the still pending processes `due` picks from /proc: a zombie's status is its exit;
/// one already reaped ended `why`, status unknown.
fn settle(
    pending: &BTreeMap<u32, Watched>,
    pipe: &mut Pipe,
    why: &str,
    due: impl Fn(u32) -> bool,
) -> io::Result<()> {
    for (&pid, w) in pending {
        if !pipe.is_pending(pid) || !due(pid) {
            continue;
        }
        match procs::state(pid) {
            State::Alive => {}
            State::Zombie(Some(status)) => {
                let proc = Proc {
                    pid,
                    tid: pid,
                    ns_pid: None,
                    comm: w.comm.clone().into_bytes(),
                    start_ns: 0,
                };
                pipe.emit_now(Event::Exit(ExitEvent {
                    time_ns: clock::since_boot_ns(),
                    status,
                    proc,
                    place: Default::default(),
                }))?;
            }
            State::Zombie(None) | State::Gone => {
                eprintln!(
                    "exitwatch: {}({pid}) {why}; its exit status is unknown",
                    crate::escape::escape_text(w.comm.as_bytes())
                );
                pipe.forget(pid);
            }
        }
    }
    Ok(())
}

/// Said once the daemon is ready: what it runs without, and heap handed back.
pub fn after_ready(degraded: &[String], log_unreadable: Option<&str>) {
    // Loading parsed ~6 MB of BTF twice; hand that heap back so an idle daemon stays small.
    // SAFETY: malloc_trim only releases free memory at the top of glibc's heaps.
    unsafe { libc::malloc_trim(0) };
    for note in degraded {
        eprintln!("exitwatch: warning: {note}");
    }
    if let Some(e) = log_unreadable {
        eprintln!(
            "exitwatch: warning: cannot read the kernel log ({e}; it takes CAP_SYSLOG): OOM kills will lack their constraint and memory cgroup"
        );
    }
}

pub fn describe_scope(receivers: Option<&Receivers>, pending: &BTreeMap<u32, Watched>) -> String {
    if let Some(r) = receivers {
        return format!("watching {}", describe_filter(r.filter()));
    }
    if pending.is_empty() {
        return "watching every process on this node".into();
    }
    let list: Vec<String> = pending
        .values()
        .map(|w| {
            format!(
                "{}({})",
                crate::escape::escape_text(w.comm.as_bytes()),
                w.pid
            )
        })
        .collect();
    format!("watching {}", list.join(", "))
}

fn describe_filter(f: &Filter) -> String {
    let mut parts = Vec::new();
    parts.extend(f.containers.iter().map(|c| format!("--container {c}")));
    parts.extend(f.pods.iter().map(|p| format!("--pod {p}")));
    parts.extend(f.namespaces.iter().map(|n| format!("--namespace {n}")));
    parts.join(", ")
}

fn use_color(format: Format, color: Color) -> bool {
    format == Format::Text
        && match color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none()
                    && std::env::var("TERM").map_or(true, |t| t != "dumb")
            }
        }
}

/// This node's name: `--node-name`, else `NODE_NAME` (the Kubernetes downward API), else the
/// hostname. Outputs, renderers and the Kubernetes API all use this one.
pub fn node_name(config: &Config) -> String {
    let given = config.daemon.kube.node_name.clone();
    given
        .or_else(|| std::env::var("NODE_NAME").ok())
        .filter(|s| !s.is_empty())
        .filter(|s| !s.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as u64
    } else {
        4096
    }
}
