//! The daemon's counters (events, losses, outputs, metadata cache) and their Prometheus text
//! exposition. Pure: atomics and locks, no I/O; `server` serves them over HTTP.

pub mod health;
pub mod pods;
pub mod server;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::event::Event;
use crate::signals;

pub use health::Health;

/// The labels of `exitwatch_events_total`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventKey {
    /// signal, exit or oom.
    pub kind: &'static str,
    /// The signal's name (`SIGKILL`), the one that ended an exit, or "" for a plain exit; a
    /// number only when the signal has no name (counted per event: no allocation for names).
    pub signal: Cow<'static, str>,
    /// A signal's verdict (delivered, ignored...), how an exit ended (exited, killed,
    /// core_dumped), or `killed` for an OOM kill.
    pub result: &'static str,
}

/// The labels an event is counted under; None for lost-record reports (counted apart).
pub fn event_key(ev: &Event) -> Option<EventKey> {
    let name = |n: i32| signals::name(n).map_or_else(|| Cow::Owned(n.to_string()), Cow::Borrowed);
    Some(match ev {
        Event::Signal(s) => EventKey {
            kind: "signal",
            signal: name(s.signo),
            result: s.result.as_str(),
        },
        Event::Exit(x) => match x.status.signal() {
            Some(sig) => EventKey {
                kind: "exit",
                signal: name(sig),
                result: if x.status.core_dumped() {
                    "core_dumped"
                } else {
                    "killed"
                },
            },
            None => EventKey {
                kind: "exit",
                signal: Cow::Borrowed(""),
                result: "exited",
            },
        },
        Event::Oom(_) => EventKey {
            kind: "oom",
            signal: Cow::Borrowed("SIGKILL"),
            result: "killed",
        },
        Event::Lost { .. } | Event::Suppressed(_) => return None,
    })
}

/// One output's tallies, shared by the fan-out (drops), its worker (the rest) and `/metrics`.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// The output's label: its URL without the query.
    pub name: String,
    /// Events handed to the receiver (written, sent, or acknowledged with 2xx).
    pub sent: AtomicU64,
    /// Events that will never reach it: its queue was full, or the receiver refused them.
    pub dropped: AtomicU64,
    /// Failed attempts that were tried again.
    pub retries: AtomicU64,
    /// Messages cut to fit a datagram.
    pub truncated: AtomicU64,
    /// Events waiting in its queue.
    pub queued: AtomicU64,
    /// Bytes of the records waiting in its queue (`Record::size`).
    pub queued_bytes: AtomicU64,
    /// The last failure, for warnings; cleared on success.
    pub last_error: Mutex<Option<String>>,
    /// Since when it has been failing (the first failure after a success); None while it works.
    failing_since: Mutex<Option<Instant>>,
    /// Unix seconds of its last delivery; 0 before the first.
    last_success_s: AtomicU64,
}

impl SinkStats {
    pub fn new(name: String) -> Self {
        SinkStats {
            name,
            ..SinkStats::default()
        }
    }

    /// Remembers the last failure (Some: the output is failing, since now if it was not) or
    /// that it works again (None).
    pub fn set_error(&self, e: Option<String>) {
        let mut since = lock(&self.failing_since);
        match e {
            Some(_) => {
                since.get_or_insert_with(Instant::now);
            }
            None => *since = None,
        }
        *lock(&self.last_error) = e;
    }

    /// Events reached the receiver just now: the output is up.
    pub fn delivered(&self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.last_success_s.store(now, Relaxed);
        if lock(&self.failing_since).take().is_some() {
            *lock(&self.last_error) = None;
        }
    }

    /// How long it has been failing at `now`; None while it works.
    pub fn failing_for(&self, now: Instant) -> Option<Duration> {
        lock(&self.failing_since).map(|t| now.saturating_duration_since(t))
    }

    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counters stay consistent whatever panicked while holding them.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How a Kubernetes Event offered for posting ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KubeResult {
    Posted,
    Aggregated,
    RateLimited,
    Failed,
    Dropped,
}

impl KubeResult {
    pub const ALL: [KubeResult; 5] = [
        KubeResult::Posted,
        KubeResult::Aggregated,
        KubeResult::RateLimited,
        KubeResult::Failed,
        KubeResult::Dropped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KubeResult::Posted => "posted",
            KubeResult::Aggregated => "aggregated",
            KubeResult::RateLimited => "rate_limited",
            KubeResult::Failed => "failed",
            KubeResult::Dropped => "dropped",
        }
    }
}

/// The Kubernetes API's two watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    Pods,
    Events,
}

/// The Kubernetes API as exitwatch uses it.
#[derive(Debug, Default)]
pub struct KubeStats {
    /// The API is used at all (else nothing of it is reported).
    used: AtomicBool,
    pods_up: AtomicBool,
    events_up: AtomicBool,
    /// False after a post failed, until one succeeds.
    posting_down: AtomicBool,
    results: [AtomicU64; 5],
}

impl KubeStats {
    /// The API is used from now on: its state is reported.
    pub fn set_used(&self) {
        self.used.store(true, Relaxed);
    }

    pub fn set_watch(&self, w: Watch, up: bool) {
        match w {
            Watch::Pods => self.pods_up.store(up, Relaxed),
            Watch::Events => self.events_up.store(up, Relaxed),
        }
    }

    pub fn set_posting(&self, ok: bool) {
        self.posting_down.store(!ok, Relaxed);
    }

    pub fn count(&self, r: KubeResult) {
        self.results[r as usize].fetch_add(1, Relaxed);
    }

    pub fn get(&self, r: KubeResult) -> u64 {
        self.results[r as usize].load(Relaxed)
    }

    /// None when the API is not used; else whether both watches run and posting works.
    pub fn up(&self) -> Option<bool> {
        self.used.load(Relaxed).then(|| {
            self.pods_up.load(Relaxed)
                && self.events_up.load(Relaxed)
                && !self.posting_down.load(Relaxed)
        })
    }
}

/// Everything `/metrics` reports. Shared (`Arc`) by the pipeline, the outputs and the server.
#[derive(Debug, Default)]
pub struct Metrics {
    events: Mutex<BTreeMap<EventKey, u64>>,
    /// Lost kernel records, by class (`LossClass::as_str`).
    lost: Mutex<BTreeMap<&'static str, u64>>,
    /// Non-fatal signals senders' budgets suppressed, by signal name.
    suppressed: Mutex<BTreeMap<String, u64>>,
    /// Targets of reported signals the kernel stopped tracking (an LRU) before they exited.
    pub exits_untracked: AtomicU64,
    sinks: Mutex<Vec<Arc<SinkStats>>>,
    /// Containers the metadata cache knows: running, and removed but remembered.
    pub cache_live: AtomicU64,
    pub cache_removed: AtomicU64,
    /// Container runtimes seen on this node (by `SourceStatus::name`): whether the last
    /// listing answered.
    runtimes: Mutex<BTreeMap<String, bool>>,
    pub health: Health,
    pub kube: KubeStats,
    /// Fatal signals and OOM kills per confirmed pod.
    pods: Mutex<pods::PodCounters>,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics::default())
    }

    /// Counts an event that was emitted.
    pub fn count_event(&self, ev: &Event) {
        match event_key(ev) {
            Some(key) => *lock(&self.events).entry(key).or_default() += 1,
            None => match ev {
                Event::Lost { count, class } => {
                    *lock(&self.lost).entry(class.as_str()).or_default() += count;
                }
                Event::Suppressed(s) => {
                    let signal =
                        signals::name(s.signo).map_or_else(|| s.signo.to_string(), str::to_owned);
                    *lock(&self.suppressed).entry(signal).or_default() += s.count;
                }
                _ => {}
            },
        }
    }

    /// Counts a fatal signal or OOM kill in its pod (confirmed pods only).
    pub fn count_pod(&self, ev: &Event, now: Instant) {
        lock(&self.pods).count(ev, now);
    }

    /// Forgets per-pod series of pods not `live` unchanged for `ttl`.
    pub fn expire_pods(&self, now: Instant, ttl: Duration, live: impl Fn(&str) -> bool) {
        lock(&self.pods).expire(now, ttl, live);
    }

    /// Registers an output; the returned tallies are reported until exit.
    pub fn add_sink(&self, name: String) -> Arc<SinkStats> {
        let stats = Arc::new(SinkStats::new(name));
        lock(&self.sinks).push(Arc::clone(&stats));
        stats
    }

    /// A runtime's last listing: `Some(answered)`, or None when its socket is absent (a runtime
    /// absent from the start is not reported; one that went away is down).
    pub fn set_runtime(&self, name: &str, answered: Option<bool>) {
        let mut runtimes = lock(&self.runtimes);
        match (answered, runtimes.get_mut(name)) {
            (Some(up), Some(v)) => *v = up,
            (Some(up), None) => {
                runtimes.insert(name.to_owned(), up);
            }
            (None, Some(v)) => *v = false,
            (None, None) => {}
        }
    }

    /// `/healthz`: Ok, or why not (programs, reader, outputs).
    /// The agent alone: attached, and its reader turning (`/livez`).
    pub fn alive(&self, now: Instant) -> Result<(), String> {
        self.health.check(now, health::MAX_IDLE)
    }

    pub fn healthy(&self, now: Instant) -> Result<(), String> {
        self.health.check(now, health::MAX_IDLE)?;
        match self.outputs_failing(now, self.health.unhealthy_after()) {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }

    /// Why the outputs make exitwatch unhealthy at `now`: every one has been failing for longer
    /// than `after`.
    pub fn outputs_failing(&self, now: Instant, after: Duration) -> Option<String> {
        let sinks = lock(&self.sinks).clone();
        let mut shortest: Option<Duration> = None;
        for s in &sinks {
            let f = s.failing_for(now)?;
            shortest = Some(shortest.map_or(f, |m| m.min(f)));
        }
        let shortest = shortest?;
        (shortest > after).then(|| {
            format!(
                "every output has been failing for over {} s (--unhealthy-after {})",
                shortest.as_secs(),
                after.as_secs()
            )
        })
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        family(
            &mut out,
            "build_info",
            "gauge",
            "exitwatch's version; always 1.",
        );
        sample(
            &mut out,
            "build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1,
        );
        family(
            &mut out,
            "events_total",
            "counter",
            "Events reported, by kind, signal and result.",
        );
        for (k, n) in lock(&self.events).iter() {
            let labels = [
                ("kind", k.kind),
                ("signal", &k.signal),
                ("result", k.result),
            ];
            sample(&mut out, "events_total", &labels, *n);
        }
        family(
            &mut out,
            "lost_events_total",
            "counter",
            "Kernel records lost before exitwatch could read them (a ring buffer was full), by class: fatal signals and OOM kills, non-fatal signals, identities (and cgroup paths), exits.",
        );
        let lost = lock(&self.lost);
        for class in ["fatal", "nonfatal", "identity", "exit"] {
            let labels = [("reason", "ring_buffer_full"), ("class", class)];
            sample(
                &mut out,
                "lost_events_total",
                &labels,
                lost.get(class).copied().unwrap_or(0),
            );
        }
        drop(lost);
        family(
            &mut out,
            "suppressed_signals_total",
            "counter",
            "Non-fatal signals not reported because their sender went over its budget, by signal.",
        );
        for (signal, n) in lock(&self.suppressed).iter() {
            sample(
                &mut out,
                "suppressed_signals_total",
                &[("signal", signal)],
                *n,
            );
        }
        family(
            &mut out,
            "exits_untracked_total",
            "counter",
            "Targets of reported signals the kernel stopped tracking before they exited (more than it can track at once): their exits go unreported.",
        );
        sample(
            &mut out,
            "exits_untracked_total",
            &[],
            self.exits_untracked.load(Relaxed),
        );
        let sinks = lock(&self.sinks).clone();
        type Read = fn(&SinkStats) -> u64;
        let per_sink: [(&str, &str, &str, Read); 5] = [
            (
                "sink_sent_total",
                "counter",
                "Events delivered to each output.",
                |s| s.sent.load(Relaxed),
            ),
            (
                "sink_dropped_total",
                "counter",
                "Events an output will never receive: queue full or refused.",
                |s| s.dropped.load(Relaxed),
            ),
            (
                "sink_retries_total",
                "counter",
                "Failed deliveries tried again, per output.",
                |s| s.retries.load(Relaxed),
            ),
            (
                "sink_truncated_total",
                "counter",
                "Messages cut to fit a datagram, per output.",
                |s| s.truncated.load(Relaxed),
            ),
            (
                "sink_queue_length",
                "gauge",
                "Events waiting in each output's queue.",
                |s| s.queued.load(Relaxed),
            ),
        ];
        for (name, kind, help, get) in per_sink {
            family(&mut out, name, kind, help);
            for s in &sinks {
                sample(&mut out, name, &[("sink", &s.name)], get(s));
            }
        }
        family(
            &mut out,
            "sink_queue_bytes",
            "gauge",
            "Bytes of events waiting in each output's queue.",
        );
        for s in &sinks {
            sample(
                &mut out,
                "sink_queue_bytes",
                &[("sink", &s.name)],
                s.queued_bytes.load(Relaxed),
            );
        }
        let now = Instant::now();
        family(
            &mut out,
            "output_up",
            "gauge",
            "1 unless the output's last attempt failed.",
        );
        for s in &sinks {
            let up = s.failing_for(now).is_none();
            sample(&mut out, "output_up", &[("output", &s.name)], u64::from(up));
        }
        family(
            &mut out,
            "output_last_success_timestamp_seconds",
            "gauge",
            "Unix time of the output's last delivery; 0 before the first.",
        );
        for s in &sinks {
            sample(
                &mut out,
                "output_last_success_timestamp_seconds",
                &[("output", &s.name)],
                s.last_success_s.load(Relaxed),
            );
        }
        family(
            &mut out,
            "runtime_up",
            "gauge",
            "Container runtimes seen on this node: 1 when the last listing answered.",
        );
        for (name, up) in lock(&self.runtimes).iter() {
            sample(&mut out, "runtime_up", &[("source", name)], u64::from(*up));
        }
        family(
            &mut out,
            "metadata_cache_containers",
            "gauge",
            "Containers the runtime metadata cache holds, by state.",
        );
        sample(
            &mut out,
            "metadata_cache_containers",
            &[("state", "live")],
            self.cache_live.load(Relaxed),
        );
        sample(
            &mut out,
            "metadata_cache_containers",
            &[("state", "removed")],
            self.cache_removed.load(Relaxed),
        );
        self.render_kube(&mut out);
        family(
            &mut out,
            "programs_attached",
            "gauge",
            "1 once the kernel programs are attached.",
        );
        sample(
            &mut out,
            "programs_attached",
            &[],
            u64::from(self.health.attached()),
        );
        out
    }
}

impl Metrics {
    fn render_kube(&self, out: &mut String) {
        family(
            out,
            "kube_api_up",
            "gauge",
            "1 while exitwatch watches this node's pods and the kubelet's Events (and posting Events works); absent when the Kubernetes API is not used.",
        );
        if let Some(up) = self.kube.up() {
            sample(out, "kube_api_up", &[], u64::from(up));
        }
        family(
            out,
            "kube_events_total",
            "counter",
            "Kubernetes Events offered for posting on pods, by how it ended: posted, aggregated (a repeat: the earlier Event's series count), rate_limited, failed, dropped (queue full).",
        );
        if self.kube.used.load(Relaxed) {
            for r in KubeResult::ALL {
                sample(
                    out,
                    "kube_events_total",
                    &[("result", r.as_str())],
                    self.kube.get(r),
                );
            }
        }
        let pods = lock(&self.pods);
        family(
            out,
            "signals_total",
            "counter",
            "Fatal signals to processes of confirmed pods, by namespace, pod, container, signal and the sender's role (kubelet, container_runtime, systemd, kernel, interactive_user, other).",
        );
        for (k, n) in pods.iter() {
            if let pods::Key::Signal {
                namespace,
                pod,
                container,
                signal,
                sender_role,
            } = k
            {
                let labels = [
                    ("namespace", namespace.as_str()),
                    ("pod", pod),
                    ("container", container),
                    ("signal", signal),
                    ("sender_role", sender_role),
                ];
                sample(out, "signals_total", &labels, n);
            }
        }
        family(
            out,
            "oom_kills_total",
            "counter",
            "OOM kills of processes of confirmed pods, by namespace, pod, container, scope (memcg: a limit; global: the node) and whether the victim was the container's PID 1.",
        );
        for (k, n) in pods.iter() {
            if let pods::Key::Oom {
                namespace,
                pod,
                container,
                scope,
                pid1,
            } = k
            {
                let labels = [
                    ("namespace", namespace.as_str()),
                    ("pod", pod),
                    ("container", container),
                    ("scope", scope),
                    ("pid1", if *pid1 { "true" } else { "false" }),
                ];
                sample(out, "oom_kills_total", &labels, n);
            }
        }
        family(
            out,
            "pod_series_overflow_total",
            "counter",
            "Per-pod counts not kept because 10000 per-pod series existed.",
        );
        sample(out, "pod_series_overflow_total", &[], pods.overflow);
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP exitwatch_{name} {help}");
    let _ = writeln!(out, "# TYPE exitwatch_{name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str("exitwatch_");
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_label(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Label values escape backslash, double quote and newline.
fn escape_label(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests;
