//! The daemon: start (outputs, programs, reader, runtimes), loop (hand each record, log line,
//! runtime answer and deadline to the pipeline), shut down (drain, account for losses, flush).
//!
//! Two threads: this one reads the kernel's rings and runs the pipeline, and nothing else can
//! make it wait; a second runtime ("exitwatch-io") serves the outputs, the container runtimes'
//! clients and /metrics, and takes rendered lines through bounded queues.

mod error;
mod feed;
mod start;

use feed::{drain, feed, report_gaps};

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::signal::unix::{signal, SignalKind};

use crate::cli::Config;
use crate::container::cache::{CacheConfig, MetadataCache, SourceState};
use crate::container::runtimes::SocketSpec;
use crate::enrich::system::System;
use crate::kmsg::KernelLog;
use crate::loader;
use crate::metrics::{self, Metrics};
use crate::pipeline::{Outputs, Pipeline};
use crate::reader::Reader;
use crate::sink::{FanOut, Settings};
use crate::{clock, sysexits};

pub use error::AppError;
pub use start::node_name;

type Pipe = Pipeline<System, FanOut>;

/// Runs exitwatch with a checked configuration; returns the process exit status.
pub async fn run(config: Config) -> Result<u8, AppError> {
    let started = Instant::now();
    let metrics = Metrics::new();
    metrics
        .health
        .set_unhealthy_after(config.daemon.unhealthy_after);
    let io = start::io_runtime()?;
    let background = io.enter();
    if let Some(addr) = &config.daemon.metrics_addr {
        let listener =
            metrics::server::bind(addr).map_err(|e| AppError::Metrics(addr.clone(), e))?;
        metrics::server::spawn(listener, Arc::clone(&metrics));
    }
    // Outputs open before the programs load, so that a bad path or token fails at once.
    let settings = Settings {
        node: node_name(&config),
        http: config.daemon.http.clone(),
    };
    let sinks = FanOut::start(&config.daemon.outputs, &settings, &metrics)?;
    let cache = MetadataCache::spawn(CacheConfig {
        sockets: SocketSpec::with_overrides(&config.runtime_sockets),
        ..CacheConfig::default()
    });
    let kube_settings = &config.daemon.kube;
    let kube = kube_settings
        .wanted(|k| std::env::var(k).ok())
        .then(|| crate::kube::start(kube_settings, node_name(&config), &metrics));
    drop(background);
    let stdout_closed = sinks.stdout_closed();
    let pending = start::resolve_pids(&config.pids)?;
    let watched: Vec<u32> = pending.keys().copied().collect();
    let preflight = loader::preflight()?;
    let mut loaded = loader::load(preflight, config.filter, config.ring_buffer_size, &watched)?;
    let mut reader = Reader::new(&mut loaded.ebpf)?;
    let mut log = KernelLog::open();
    let attached_ms = started.elapsed().as_secs_f64() * 1000.0;
    metrics.health.set_attached();
    metrics.health.turn(Instant::now());
    let mut receivers = start::receivers(&config, &mut loaded.ebpf, &cache).await?;
    let scope = start::describe_scope(receivers.as_ref(), &pending);
    let outputs = Outputs::new(
        config.format,
        start::context(&config),
        sinks,
        Arc::clone(&metrics),
    );
    let question = start::question(&config, pending.clone());
    let story = start::story(&config);
    let unreadable = log.unreadable().is_some();
    let (pods, poster) = match kube {
        Some(k) => (Some(k.pods), k.poster),
        None => (None, None),
    };
    let mut pipe = Pipeline::new(
        System::new(cache.clone()).with_pods(pods.clone()),
        outputs,
        question,
        story,
        unreadable,
    )
    .redact(config.redaction.clone())
    .verbose(config.verbose)
    .kube_events(poster);

    // Handlers before `ready`: a Ctrl-C the moment we say ready must still stop us cleanly.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    // Records already queued come first: a watched process that died after the attach has its
    // exit there, and only one that died before the attach needs /proc to tell its end.
    drain(&mut reader, &mut pipe)?;
    start::settle_early_exits(&pending, &mut pipe)?;
    // Ready only now: the check above must not race a signal sent on `ready`.
    eprintln!("exitwatch: ready: programs attached in {attached_ms:.0} ms; {scope}");
    start::after_ready(&loaded.degraded, log.unreadable());

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut ticks = 0u64;
    let mut vanished = start::Vanished::default();
    let mut answers = cache.answers();
    let mut answers_open = true;
    // Event times follow a stepped wall clock within a second.
    let mut epoch = clock::BootEpoch::new(clock::System, Duration::from_secs(1));
    while !pipe.done() {
        metrics.health.turn(Instant::now());
        pipe.set_boot_epoch(epoch.get());
        let deadline = pipe.next_deadline().map(|at| {
            let wait = Duration::from_nanos(at.saturating_sub(clock::since_boot_ns()));
            tokio::time::Instant::now() + wait
        });
        tokio::select! {
            batch = reader.turn() => {
                let mut batch = batch?;
                feed(&mut pipe, &mut batch)?;
                reader.recycle(batch);
                let lines = log.poll(pipe.wants_kernel_log(), false);
                pipe.kernel_log(lines, clock::since_boot_ns())?;
            }
            lines = log.next(), if log.is_stream() => pipe.kernel_log(lines, clock::since_boot_ns())?,
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => {
                // What the kernel has queued meanwhile may settle what waits (a SIGKILL's
                // mark_victim): read it first, whichever branch the select picked.
                drain(&mut reader, &mut pipe)?;
                let lines = log.poll(pipe.wants_kernel_log(), true);
                pipe.kernel_log(lines, clock::since_boot_ns())?;
                pipe.tick(clock::since_boot_ns())?;
            }
            answered = answers.changed(), if answers_open => match answered {
                Ok(()) => {
                    drain(&mut reader, &mut pipe)?;
                    let answer = *answers.borrow_and_update();
                    pipe.metadata_answered(answer, clock::since_boot_ns())?;
                }
                // The cache's poller is gone: nothing more will come (waits still expire).
                Err(_) => answers_open = false,
            },
            _ = tick.tick() => {
                ticks += 1;
                report_gaps(&mut reader, &mut pipe, &metrics, Instant::now(), ticks.is_multiple_of(10))?;
                vanished.check(&pending, &mut pipe, Instant::now())?;
                if let Some(r) = &mut receivers {
                    r.refresh(&cache);
                }
                pipe.outlet_mut().report(Instant::now());
                metrics.expire_pods(Instant::now(), kube_settings.pod_metrics_ttl, |uid| {
                    pods.as_ref().is_some_and(|p| p.read(|v| v.has(uid)))
                });
                let (live, removed) = cache.size();
                metrics.cache_live.store(live as u64, Relaxed);
                metrics.cache_removed.store(removed as u64, Relaxed);
                for s in cache.sources() {
                    let answered = match s.state {
                        SourceState::Listed(_) => Some(true),
                        SourceState::Failed(_) => Some(false),
                        SourceState::Absent | SourceState::Pending => None,
                    };
                    metrics.set_runtime(&s.name, answered);
                }
            }
            // `exitwatch | head`: nobody reads any more.
            _ = stdout_closed.notified() => break,
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
        }
    }
    // Drain what is already queued, then account for every record the kernel could not queue.
    if !pipe.done() {
        drain(&mut reader, &mut pipe)?;
    }
    pipe.finish()?;
    report_gaps(&mut reader, &mut pipe, &metrics, Instant::now(), true)?;
    metrics.health.set_stopping();
    drop(reader);
    drop(loaded);
    // Give the outputs until the deadline to deliver what they hold; a second signal cuts it short.
    let deadline = tokio::time::Instant::now() + config.daemon.flush_timeout;
    tokio::select! {
        _ = pipe.outlet_mut().close(deadline) => {}
        _ = sigint.recv() => eprintln!("exitwatch: stopping without waiting for the outputs"),
        _ = sigterm.recv() => eprintln!("exitwatch: stopping without waiting for the outputs"),
    }
    io.stop();
    Ok(sysexits::OK)
}
