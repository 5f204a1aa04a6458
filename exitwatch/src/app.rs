//! The daemon: check, load, then read events until done, a count is reached, or a signal stops us.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use aya::maps::{MapData, PerCpuArray, RingBuf};
use exitwatch_common::names;
use tokio::io::{unix::AsyncFd, Interest};
use tokio::signal::unix::{signal, SignalKind};

use crate::cli::{Color, Config, Format};
use crate::event::{self, Event, ExitEvent, Proc};
use crate::loader::{self, LoadError};
use crate::procs::{self, ProcError, State};
use crate::render::{self, Context};
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
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::NoProcess(_) => sysexits::NOINPUT,
            AppError::Load(e) => e.exit_code(),
            AppError::Io(_) => sysexits::IOERR,
        }
    }
}

/// Runs exitwatch with a checked configuration; returns the process exit status.
pub async fn run(config: Config) -> Result<u8, AppError> {
    let started = Instant::now();
    let mut pending = BTreeMap::new();
    for &pid in &config.pids {
        let w = procs::resolve(pid)?;
        pending.insert(w.pid, w);
    }
    let watched: Vec<u32> = pending.keys().copied().collect();
    let offsets = loader::preflight()?;
    let mut loaded = loader::load(offsets, config.filter, config.ring_buffer_size, &watched)?;
    let ring = RingBuf::try_from(loaded.ebpf.take_map(names::EVENTS).expect("EVENTS map"))
        .map_err(|e| io::Error::other(e.to_string()))?;
    let lost_map: PerCpuArray<MapData, u64> =
        PerCpuArray::try_from(loaded.ebpf.take_map(names::LOST).expect("LOST map"))
            .map_err(|e| io::Error::other(e.to_string()))?;
    // SAFETY: the RingBuf owns its map fd, which stays open and unchanged while the AsyncFd
    // owns the RingBuf.
    let mut ring = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
        .map_err(|e| io::Error::other(e.to_string()))?;

    let ctx = Context {
        node: node_name(),
        boot_epoch_ns: clock::boot_epoch_ns(),
        color: use_color(config.format, config.color),
        users: Users::load(),
    };
    let mut out = Output {
        format: config.format,
        ctx,
        stdout: io::BufWriter::new(io::stdout()),
    };
    let attached_ms = started.elapsed().as_secs_f64() * 1000.0;
    eprintln!(
        "exitwatch: ready: programs attached in {attached_ms:.0} ms; {}",
        describe_scope(&pending)
    );

    // A watched process may have ended between the /proc check and the attach.
    for (pid, w) in pending.clone() {
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
                out.emit(&Event::Exit(ExitEvent {
                    time_ns: clock::since_boot_ns(),
                    status,
                    proc,
                }))?;
                pending.remove(&pid);
            }
            State::Zombie(None) | State::Gone => {
                eprintln!("exitwatch: {}({pid}) exited before exitwatch attached; its exit status is unknown", w.comm);
                pending.remove(&pid);
            }
        }
    }
    out.flush()?;

    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut lost_reported = 0u64;
    let mut signals_seen = 0u64;
    let watching = !config.pids.is_empty();
    let mut done = watching && pending.is_empty();

    while !done {
        tokio::select! {
            guard = ring.readable_mut() => {
                let mut guard = guard?;
                while let Some(item) = guard.get_inner_mut().next() {
                    let ev = match event::decode(&item) {
                        Ok(ev) => ev,
                        Err(e) => { eprintln!("exitwatch: skipped a malformed record: {e}"); continue; }
                    };
                    match &ev {
                        Event::Signal(_) => signals_seen += 1,
                        Event::Exit(x) => { pending.remove(&x.proc.pid); }
                        Event::Lost { .. } => {}
                    }
                    out.emit(&ev)?;
                    if config.count.is_some_and(|n| signals_seen >= n) || (watching && pending.is_empty()) {
                        done = true;
                        break;
                    }
                }
                guard.clear_ready();
                out.flush()?;
            }
            _ = tick.tick() => report_lost(&lost_map, &mut lost_reported, &mut out)?,
            _ = sigint.recv() => done = true,
            _ = sigterm.recv() => done = true,
        }
    }
    // Drain what is already queued, then account for every record the kernel could not queue.
    if config.count.is_none_or(|n| signals_seen < n) {
        while let Some(item) = ring.get_mut().next() {
            if let Ok(ev) = event::decode(&item) {
                out.emit(&ev)?;
            }
        }
    }
    report_lost(&lost_map, &mut lost_reported, &mut out)?;
    out.flush()?;
    drop(loaded);
    Ok(sysexits::OK)
}

fn report_lost(
    map: &PerCpuArray<MapData, u64>,
    reported: &mut u64,
    out: &mut Output,
) -> io::Result<()> {
    let total: u64 = map.get(&0, 0).map(|v| v.iter().sum()).unwrap_or(*reported);
    if total > *reported {
        out.emit(&Event::Lost {
            count: total - *reported,
        })?;
        *reported = total;
        out.flush()?;
    }
    Ok(())
}

struct Output {
    format: Format,
    ctx: Context,
    stdout: io::BufWriter<io::Stdout>,
}

impl Output {
    fn emit(&mut self, ev: &Event) -> io::Result<()> {
        render::render(self.format, &self.ctx, ev, &mut self.stdout)?;
        if self.format == Format::Stap && !matches!(ev, Event::Signal(_)) {
            // Not part of the systemtap script's output: say it on stderr.
            render::render(Format::Text, &self.ctx, ev, &mut io::stderr())?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stdout.flush()
    }
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
