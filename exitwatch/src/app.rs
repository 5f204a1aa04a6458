//! The daemon: check, load, then read events until done, a count is reached, or a signal stops us.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aya::maps::{MapData, PerCpuArray, RingBuf};
use exitwatch_common::names;
use tokio::io::{unix::AsyncFd, Interest};
use tokio::signal::unix::{signal, SignalKind};

use crate::cli::{Color, Config, Format};
use crate::container::cache::{CacheConfig, MetadataCache};
use crate::container::watch::Filter;
use crate::event::{self, Event, ExitEvent, Proc};
use crate::kmsg::{Kmsg, Syslog};
use crate::loader::{self, LoadError};
use crate::metrics::{self, Metrics};
use crate::pipeline::{Outputs, Pipeline, Question};
use crate::procs::{self, ProcError, State};
use crate::receivers::Receivers;
use crate::render::Context;
use crate::sink::{FanOut, Settings, SinkError, SinkSpec};
use crate::story::Story;
use crate::users::Users;
use crate::{clock, sysexits};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    NoProcess(#[from] ProcError),
    #[error("{0}")]
    Load(#[from] LoadError),
    #[error("reading events failed: {0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Sink(#[from] SinkError),
    #[error("cannot serve metrics on --metrics-addr {0}: {1}; choose another address or port")]
    Metrics(String, io::Error),
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::NoProcess(_) => sysexits::NOINPUT,
            AppError::Load(e) => e.exit_code(),
            AppError::Io(_) => sysexits::IOERR,
            AppError::Sink(e) => e.exit_code(),
            AppError::Metrics(_, e) if e.kind() == io::ErrorKind::PermissionDenied => {
                sysexits::NOPERM
            }
            AppError::Metrics(..) => sysexits::UNAVAILABLE,
        }
    }
}

fn map_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Runs exitwatch with a checked configuration; returns the process exit status.
pub async fn run(config: Config) -> Result<u8, AppError> {
    let started = Instant::now();
    let metrics = Metrics::new();
    if let Some(addr) = &config.daemon.metrics_addr {
        let listener = metrics::server::bind(addr)
            .await
            .map_err(|e| AppError::Metrics(addr.clone(), e))?;
        metrics::server::spawn(listener, Arc::clone(&metrics));
    }
    // Outputs open before the programs load, so that a bad path or token fails at once.
    let sinks = FanOut::start(
        &config.daemon.outputs,
        &Settings {
            node: node_name(),
            http: config.daemon.http.clone(),
        },
        &metrics,
    )?;
    let stdout_closed = sinks.stdout_closed();
    let mut pending = BTreeMap::new();
    for &pid in &config.pids {
        let w = procs::resolve(pid)?;
        pending.insert(w.pid, w);
    }
    let watched: Vec<u32> = pending.keys().copied().collect();
    let preflight = loader::preflight()?;
    let mut loaded = loader::load(preflight, config.filter, config.ring_buffer_size, &watched)?;
    let ring = RingBuf::try_from(
        loaded
            .ebpf
            .take_map(names::EVENTS)
            .ok_or_else(|| map_err("no EVENTS map"))?,
    )
    .map_err(map_err)?;
    let lost_map: PerCpuArray<MapData, u64> = PerCpuArray::try_from(
        loaded
            .ebpf
            .take_map(names::LOST)
            .ok_or_else(|| map_err("no LOST map"))?,
    )
    .map_err(map_err)?;
    // SAFETY: the RingBuf owns its map fd, which stays open and unchanged while the AsyncFd
    // owns the RingBuf.
    let mut ring =
        unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }.map_err(map_err)?;
    // /dev/kmsg streams; a pod's device cgroup denies it, and syslog(2) then reads the same log.
    let (mut kmsg, mut syslog, kmsg_error) = match Kmsg::open() {
        Ok(k) => (Some(k), None, None),
        Err(device) => match Syslog::open() {
            Ok(s) => (None, Some(s), None),
            Err(call) => (
                None,
                None,
                Some(format!("/dev/kmsg: {device}; syslog(2): {call}")),
            ),
        },
    };
    let mut syslog_read = Instant::now();

    let attached_ms = started.elapsed().as_secs_f64() * 1000.0;
    metrics.health.set_attached();
    metrics.health.turn(Instant::now());
    let cache = MetadataCache::spawn(CacheConfig::default());
    let mut receivers = match config.receivers.is_empty() {
        true => None,
        false => {
            let map = loaded
                .ebpf
                .take_map(names::WATCHED_CGROUPS)
                .ok_or_else(|| map_err("no WATCHED_CGROUPS map"))?;
            let map: aya::maps::HashMap<MapData, u64, u32> =
                aya::maps::HashMap::try_from(map).map_err(map_err)?;
            let mut r = Receivers::new(config.receivers.clone(), map);
            // Names (--pod web, --container nginx) need the runtime's first answer.
            let _ = tokio::time::timeout(Duration::from_secs(3), cache.refresh()).await;
            if r.refresh(&cache) == 0 {
                eprintln!(
                    "exitwatch: warning: no container matches {} yet; exitwatch keeps looking as containers start",
                    describe_filter(r.filter())
                );
            }
            Some(r)
        }
    };
    // Colours are for a terminal: not for files and receivers, unless asked for.
    let only_stdout = config
        .daemon
        .outputs
        .iter()
        .all(|o| o.spec == SinkSpec::Stdout);
    let ctx = Context {
        node: node_name(),
        boot_epoch_ns: clock::boot_epoch_ns(),
        color: use_color(config.format, config.color)
            && (config.color == Color::Always || only_stdout),
        users: Users::load(),
        page_size: page_size(),
    };
    let scope = match &receivers {
        Some(r) => format!("watching {}", describe_filter(r.filter())),
        None => describe_scope(&pending),
    };
    let kmsg_note = kmsg_error.clone();
    let story = Story::new(
        format!(
            "{:x}",
            (clock::boot_epoch_ns() + i128::from(clock::since_boot_ns())) as u64
        ),
        config.rules.clone(),
    );
    let mut pipe = Pipeline::new(
        Outputs {
            format: config.format,
            ctx,
            sinks,
            metrics: Arc::clone(&metrics),
        },
        Question {
            pending: pending.clone(),
            count: config.count,
            receivers: config.receivers.clone(),
        },
        story,
        cache.clone(),
        kmsg_error,
    )
    .redact(config.redaction.clone());

    // Handlers before `ready`: a Ctrl-C the moment we say ready must still stop us cleanly.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    // Records already queued come first: a watched process that died after the attach has its
    // exit there, and only one that died before the attach needs /proc to tell its end.
    while let Some(item) = ring.get_mut().next() {
        match event::decode(&item) {
            Ok(ev) => pipe.record(ev, clock::since_boot_ns())?,
            Err(e) => eprintln!("exitwatch: skipped a malformed record: {e}"),
        }
    }
    // A watched process may have ended between the /proc check and the attach.
    for (pid, w) in pending {
        if !pipe.pending.contains_key(&pid) {
            continue;
        }
        match procs::state(pid) {
            State::Alive => {}
            State::Zombie(Some(status)) => {
                let proc = Proc {
                    pid,
                    tid: pid,
                    ns_pid: None,
                    comm: w.comm.into_bytes(),
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
                eprintln!("exitwatch: {}({pid}) exited before exitwatch attached; its exit status is unknown", w.comm);
                pipe.pending.remove(&pid);
            }
        }
    }

    // Ready only now: the zombie check above must not race a signal sent on `ready`.
    eprintln!("exitwatch: ready: programs attached in {attached_ms:.0} ms; {scope}");
    // Loading parsed ~6 MB of BTF twice; hand that heap back so an idle daemon stays small.
    // SAFETY: malloc_trim only releases free memory at the top of glibc's heaps.
    unsafe { libc::malloc_trim(0) };
    for note in &loaded.degraded {
        eprintln!("exitwatch: warning: {note}");
    }
    if let Some(e) = &kmsg_note {
        eprintln!(
            "exitwatch: warning: cannot read the kernel log ({e}; it takes CAP_SYSLOG): OOM kills will lack their constraint and memory cgroup"
        );
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut lost_reported = 0u64;
    let mut answers = cache.answers();
    let mut answers_open = true;

    while !pipe.done() {
        metrics.health.turn(Instant::now());
        let deadline = pipe.next_deadline().map(|at| {
            let wait = Duration::from_nanos(at.saturating_sub(clock::since_boot_ns()));
            tokio::time::Instant::now() + wait
        });
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard?;
                drain(guard.get_inner_mut(), &mut pipe)?;
                guard.clear_ready();
                read_syslog(&mut syslog, &mut syslog_read, false, &mut pipe)?;
            }
            lines = async { kmsg.as_mut().expect("guarded").next().await }, if kmsg.is_some() => {
                match lines {
                    Ok(lines) => pipe.kernel_log(lines, clock::since_boot_ns())?,
                    Err(e) => {
                        eprintln!("exitwatch: warning: stopped reading /dev/kmsg: {e}");
                        kmsg = None;
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => {
                // What the kernel has queued meanwhile may settle what waits (a SIGKILL's
                // mark_victim): read it first, whichever branch the select picked.
                drain(ring.get_mut(), &mut pipe)?;
                read_syslog(&mut syslog, &mut syslog_read, true, &mut pipe)?;
                pipe.tick(clock::since_boot_ns())?;
            }
            answered = answers.changed(), if answers_open => {
                match answered {
                    Ok(()) => {
                        drain(ring.get_mut(), &mut pipe)?;
                        let answer = *answers.borrow_and_update();
                        pipe.metadata_answered(answer, clock::since_boot_ns())?;
                    }
                    // The cache's poller is gone: nothing more will come (waits still expire).
                    Err(_) => answers_open = false,
                }
            }
            _ = tick.tick() => {
                report_lost(&lost_map, &mut lost_reported, &mut pipe)?;
                if let Some(r) = &mut receivers {
                    r.refresh(&cache);
                }
                pipe.sinks.report(Instant::now());
                let (live, removed) = cache.size();
                metrics.cache_live.store(live as u64, std::sync::atomic::Ordering::Relaxed);
                metrics.cache_removed.store(removed as u64, std::sync::atomic::Ordering::Relaxed);
            }
            // `exitwatch | head`: nobody reads any more.
            _ = stdout_closed.notified() => break,
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
        }
    }
    // Drain what is already queued, then account for every record the kernel could not queue.
    if !pipe.done() {
        drain(ring.get_mut(), &mut pipe)?;
    }
    pipe.finish()?;
    report_lost(&lost_map, &mut lost_reported, &mut pipe)?;
    metrics.health.set_stopping();
    drop(loaded);
    // Give the outputs until the deadline to deliver what they hold; a second signal cuts it short.
    let deadline = tokio::time::Instant::now() + config.daemon.flush_timeout;
    tokio::select! {
        _ = pipe.sinks.close(deadline) => {}
        _ = sigint.recv() => eprintln!("exitwatch: stopping without waiting for the outputs"),
        _ = sigterm.recv() => eprintln!("exitwatch: stopping without waiting for the outputs"),
    }
    Ok(sysexits::OK)
}

fn report_lost(
    map: &PerCpuArray<MapData, u64>,
    reported: &mut u64,
    pipe: &mut Pipeline,
) -> io::Result<()> {
    let total: u64 = map.get(&0, 0).map(|v| v.iter().sum()).unwrap_or(*reported);
    if total > *reported {
        pipe.emit_now(Event::Lost {
            count: total - *reported,
        })?;
        *reported = total;
    }
    Ok(())
}

fn describe_filter(f: &Filter) -> String {
    let mut parts = Vec::new();
    parts.extend(f.containers.iter().map(|c| format!("--container {c}")));
    parts.extend(f.pods.iter().map(|p| format!("--pod {p}")));
    parts.extend(f.namespaces.iter().map(|n| format!("--namespace {n}")));
    parts.join(", ")
}

fn describe_scope(pending: &BTreeMap<u32, procs::Watched>) -> String {
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

/// `NODE_NAME` (the Kubernetes downward API), else the hostname.
pub fn node_name() -> String {
    std::env::var("NODE_NAME")
        .ok()
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

/// Hands every record already in the ring buffer to the pipeline, until it is done.
fn drain(ring: &mut RingBuf<MapData>, pipe: &mut Pipeline) -> io::Result<()> {
    while let Some(item) = ring.next() {
        match event::decode(&item) {
            Ok(ev) => pipe.record(ev, clock::since_boot_ns())?,
            Err(e) => eprintln!("exitwatch: skipped a malformed record: {e}"),
        }
        if pipe.done() {
            break;
        }
    }
    Ok(())
}

/// At most this often, syslog(2) is read while an OOM kill waits for its line (a whole-buffer read).
const SYSLOG_GAP: Duration = Duration::from_millis(50);

/// Reads syslog(2), when that is how the kernel log is read and an OOM kill waits for its line;
/// `now` ignores the gap (its wait is over).
fn read_syslog(
    syslog: &mut Option<Syslog>,
    last: &mut Instant,
    now: bool,
    pipe: &mut Pipeline,
) -> io::Result<()> {
    let Some(log) = syslog else {
        return Ok(());
    };
    if !pipe.wants_kernel_log() || (!now && last.elapsed() < SYSLOG_GAP) {
        return Ok(());
    }
    *last = Instant::now();
    match log.poll() {
        Ok(lines) => pipe.kernel_log(lines, clock::since_boot_ns()),
        Err(e) => {
            eprintln!("exitwatch: warning: stopped reading the kernel log with syslog(2): {e}");
            *syslog = None;
            Ok(())
        }
    }
}
