//! Outputs: every rendered event goes to each output (`-o`) through the output's own bounded
//! queue, served by its own worker, so that a slow or dead receiver never blocks the kernel
//! reader or the other outputs for long.
//!
//! A full queue drops the NEWEST event (the one being handed over), like the kernel's ring
//! buffer does: what an output already holds stays in order, the gap is counted
//! (`exitwatch_sink_dropped_total`) and reported on stderr. An output served by its own thread
//! (stdout, a file) that is slower than exitwatch, but alive, is waited for instead, a bounded
//! while (see [`WAIT_FOR_ROOM`] and [`WAIT_SHARE`]): meanwhile the kernel's rings hold the
//! events, as small records and fatal ones apart, as long as they have room.
//!
//! A queue is bounded twice: in events (`queue_size`) and in bytes (`queue_bytes`, counted by
//! [`Record::size`]), so that a burst of large events cannot take more memory than the budget.

mod batch;
mod file;
mod http;
pub mod otlp;
mod retry;
pub mod spec;
mod stdout;
mod syslog;
mod tls;

use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, Notify};

use crate::metrics::{Metrics, SinkStats};
use crate::sysexits;
pub use spec::{Output, SinkSpec};

/// One rendered event, shared by every output.
#[derive(Clone, Debug)]
pub struct Record {
    /// The event as `--format` renders it, trailing newline included.
    pub line: Arc<[u8]>,
    /// signal, exit, oom or lost (the syslog MSGID).
    pub kind: &'static str,
    /// Syslog severity: 4 warning, 5 notice, 6 informational.
    pub severity: u8,
    /// When it happened, Unix nanoseconds.
    pub time_ns: i128,
    /// The event as an OTLP LogRecord: made only when an OTLP output is configured.
    pub otel: Option<Arc<otlp::LogRecord>>,
}

impl Record {
    /// Bytes it holds in a queue: what its queue's byte budget counts. A Record that gains
    /// another payload adds it here.
    pub fn size(&self) -> u64 {
        self.line.len() as u64
    }
}

/// Where the pipeline hands what it rendered: every output, and stderr for what the chosen
/// format leaves out (the stap format's exits and OOM kills). [`FanOut`] is the real one.
pub trait Outlet {
    /// To every output (`-o`), each through its own bounded queue; waits only for a full stdout
    /// or file queue, a bounded while (see [`WAIT_SHARE`]).
    fn send(&mut self, record: Record);
    /// To stderr, beside the outputs.
    fn aside(&mut self, text: &[u8]) -> io::Result<()>;
    /// Does an output want each event's [`Record::otel`]?
    fn wants_otlp(&self) -> bool {
        false
    }
}

impl Outlet for FanOut {
    fn send(&mut self, record: Record) {
        FanOut::send(self, record);
    }

    fn aside(&mut self, text: &[u8]) -> io::Result<()> {
        io::Write::write_all(&mut io::stderr(), text)
    }

    fn wants_otlp(&self) -> bool {
        self.otlp
    }
}

/// What the outputs need besides their URLs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The node's name (syslog HOSTNAME, HEC `host`).
    pub node: String,
    pub http: HttpSettings,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    pub token_file: Option<PathBuf>,
    /// `--ca-file`: the CA certificates of every TLS output (https, syslog+tls).
    pub ca_file: Option<PathBuf>,
    pub batch_size: usize,
    pub batch_wait: Duration,
    pub timeout: Duration,
}

/// An output that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(
        "cannot open the file output {path}: {error}; create its directory or choose another path"
    )]
    Open { path: PathBuf, error: io::Error },
    #[error("cannot read {what} {path}: {error}")]
    Read {
        what: &'static str,
        path: PathBuf,
        error: io::Error,
    },
    #[error("{0}")]
    Usage(String),
    #[error("cannot start the {0} output: {1}")]
    Start(String, io::Error),
}

impl SinkError {
    pub fn exit_code(&self) -> u8 {
        match self {
            SinkError::Open { .. } => sysexits::CANTCREAT,
            SinkError::Read { error, .. } if error.kind() == io::ErrorKind::PermissionDenied => {
                sysexits::NOPERM
            }
            SinkError::Read { .. } => sysexits::NOINPUT,
            SinkError::Usage(_) => sysexits::USAGE,
            SinkError::Start(..) => sysexits::OSERR,
        }
    }
}

/// The receiving end of one output's queue.
pub(crate) struct Queue {
    rx: mpsc::Receiver<Record>,
    pub stats: Arc<SinkStats>,
    spent: Arc<Spent>,
}

/// Records a writer thread has written, on their way back to the event thread to be freed.
///
/// glibc frees a chunk from another thread's arena under that arena's lock: a writer thread
/// freeing each line it wrote contended with every malloc of the event thread (futex waits
/// and wakes on both sides were a fifth of the daemon's time at 100k events/s). Given back in
/// batches, they are freed by the thread that allocated them, without contention.
#[derive(Default)]
pub(crate) struct Spent(std::sync::Mutex<SpentRecords>);

#[derive(Default)]
struct SpentRecords {
    records: Vec<Record>,
    bytes: u64,
}

/// Bytes of written records waiting to be freed, at most: past it a writer frees its own
/// (when the event thread is idle, this is what it holds until its next event).
const MAX_SPENT_BYTES: u64 = 256 * 1024;

impl Spent {
    /// Takes `batch` (leaving it empty), unless the bound is reached: then it is freed here.
    fn give(&self, batch: &mut Vec<Record>) {
        let bytes: u64 = batch.iter().map(Record::size).sum();
        let mut spent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if spent.bytes + bytes <= MAX_SPENT_BYTES {
            spent.bytes += bytes;
            spent.records.append(batch);
            return;
        }
        drop(spent);
        batch.clear();
    }

    /// Frees, on the calling thread, what the writers gave back; never waits for them.
    fn collect(&self) {
        let records = match self.0.try_lock() {
            Ok(mut spent) if !spent.records.is_empty() => {
                spent.bytes = 0;
                std::mem::take(&mut spent.records)
            }
            _ => return,
        };
        drop(records);
    }

    #[cfg(test)]
    fn held(&self) -> (usize, u64) {
        let spent = self.0.lock().unwrap();
        (spent.records.len(), spent.bytes)
    }
}

impl Queue {
    pub async fn recv(&mut self) -> Option<Record> {
        let r = self.rx.recv().await;
        self.took(r)
    }

    pub fn try_recv(&mut self) -> Option<Record> {
        let r = self.rx.try_recv().ok();
        self.took(r)
    }

    pub fn blocking_recv(&mut self) -> Option<Record> {
        let r = self.rx.blocking_recv();
        self.took(r)
    }

    /// The next record, for a writer thread that has just written: it waits [`LINGER`] first.
    /// Events come in bursts; a writer that waits on the queue as soon as it is empty is woken
    /// by the event thread for nearly every event (a futex call on the event path each time),
    /// one that lingers takes the rest of the burst in one write, woken by its own timer.
    pub fn recv_after_write(&mut self) -> Option<Record> {
        std::thread::sleep(LINGER);
        self.try_recv().or_else(|| self.blocking_recv())
    }

    /// Records a writer thread has written, for the event thread to free (see [`Spent`]).
    pub fn give_back(&self, written: &mut Vec<Record>) {
        self.spent.give(written);
    }

    /// A record left the queue: its bytes no longer count against the budget.
    fn took(&self, r: Option<Record>) -> Option<Record> {
        if let Some(r) = &r {
            self.stats.queued_bytes.fetch_sub(r.size(), Relaxed);
        }
        r
    }

    /// `n` events left the output's hands: delivered, or dropped and counted.
    pub fn settled(&self, n: usize) {
        self.stats.queued.fetch_sub(n as u64, Relaxed);
    }

    pub fn name(&self) -> &str {
        &self.stats.name
    }
}

struct Out {
    tx: Option<mpsc::Sender<Record>>,
    stats: Arc<SinkStats>,
    /// Completes when the worker has finished (its sender is dropped).
    done: oneshot::Receiver<()>,
    queue_size: usize,
    queue_bytes: u64,
    reported_drops: u64,
    reported_at: Option<Instant>,
    /// Served by its own thread (stdout, files): worth waiting for when full.
    waits: bool,
    /// A wait for room ran out: no more waiting until its queue has drained to half.
    stuck: std::sync::atomic::AtomicBool,
    /// Reports of what was not reported (`lost`, `suppressed`) that found the queue full:
    /// kept until it has room, so that a reader can account for every event.
    held: std::sync::Mutex<std::collections::VecDeque<Record>>,
}

/// How long a writer thread lingers after a write before it looks at its queue again: the
/// most an event waits for it beyond the write before.
const LINGER: Duration = Duration::from_millis(1);

/// Reports of gaps held per output while its queue is full, at most (they come at most a
/// few per second; past this, they are dropped and counted like any other event).
const MAX_HELD: usize = 4096;

/// How long the event thread waits, at most, for room in the full queue of an output served
/// by its own thread. A pipe to a slower reader (`exitwatch | vector`, containerd's log copier
/// in a burst) then paces exitwatch instead of losing events: rendered lines are ten times the
/// kernel's records, and a burst of 10,000 SIGKILLs and exits overflowed the 8 MiB queue while
/// the kernel's rings had room. A reader that does not move within this is given up on (drops,
/// counted) until it has drained to half. Network outputs are never waited for: a receiver
/// that is down retries with backoff for minutes, and must not pace the node's events.
pub const WAIT_FOR_ROOM: Duration = Duration::from_millis(250);

/// The event thread's time for waiting on outputs, all of them together: at most
/// [`WAIT_SHARE`] of every [`WAIT_WINDOW`]. A reader that moves just often enough never counts
/// as stuck; this keeps it from setting the pace of everything else (the other outputs, the
/// health check's turns, SIGTERM, the kernel's rings filling): past the share, its events are
/// dropped and counted until the next window.
pub const WAIT_WINDOW: Duration = Duration::from_secs(1);
pub const WAIT_SHARE: Duration = Duration::from_millis(500);

/// How often a waiting event thread looks at the queue again.
const WAIT_STEP: Duration = Duration::from_micros(200);

/// What is left of the waiting share in the current window.
struct WaitBudget(std::sync::Mutex<(Instant, Duration)>);

impl Default for WaitBudget {
    fn default() -> Self {
        WaitBudget(std::sync::Mutex::new((Instant::now(), Duration::ZERO)))
    }
}

impl WaitBudget {
    /// How long a wait may take now.
    fn left(&self, now: Instant) -> Duration {
        let mut b = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if now.duration_since(b.0) >= WAIT_WINDOW {
            *b = (now, Duration::ZERO);
        }
        WAIT_SHARE.saturating_sub(b.1)
    }

    fn spend(&self, waited: Duration) {
        let mut b = self.0.lock().unwrap_or_else(|e| e.into_inner());
        b.1 += waited;
    }
}

impl Out {
    fn has_room(&self, tx: &mpsc::Sender<Record>, size: u64) -> bool {
        tx.capacity() > 0
            && self.stats.queued_bytes.load(Relaxed).saturating_add(size) <= self.queue_bytes
    }

    /// Waits, a bounded while, for room for `size` bytes (see [`WAIT_FOR_ROOM`], [`WAIT_SHARE`]).
    fn wait_for_room(&self, tx: &mpsc::Sender<Record>, size: u64, budget: &WaitBudget) {
        // A record larger than the whole budget never fits; a writer that is gone never takes.
        if !self.waits || size > self.queue_bytes || tx.is_closed() {
            return;
        }
        if self.stuck.load(Relaxed) {
            // Caught up: worth waiting for again.
            if self.stats.queued_bytes.load(Relaxed) <= self.queue_bytes / 2
                && tx.capacity() >= self.queue_size / 2
            {
                self.stuck.store(false, Relaxed);
            }
            return;
        }
        if self.has_room(tx, size) {
            return;
        }
        let start = Instant::now();
        let allowed = budget.left(start).min(WAIT_FOR_ROOM);
        let deadline = start + allowed;
        while !self.has_room(tx, size) {
            if Instant::now() >= deadline {
                // Only a whole wait in vain says the writer does not move.
                if allowed == WAIT_FOR_ROOM {
                    self.stuck.store(true, Relaxed);
                }
                break;
            }
            std::thread::sleep(WAIT_STEP);
        }
        budget.spend(start.elapsed());
    }

    fn hold(&self, record: Record) {
        let mut held = self.held();
        if held.len() < MAX_HELD {
            held.push_back(record);
        } else {
            self.stats.dropped.fetch_add(1, Relaxed);
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<Record>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Moves held reports into the queue while it has room; true when none is left.
    fn flush_held(&self, tx: &mpsc::Sender<Record>) -> bool {
        let mut held = self.held();
        while let Some(r) = held.front() {
            // Gap reports are small and few: they may go past the byte budget.
            self.stats.queued_bytes.fetch_add(r.size(), Relaxed);
            if tx.try_send(r.clone()).is_err() {
                self.stats.queued_bytes.fetch_sub(r.size(), Relaxed);
                return false;
            }
            held.pop_front();
            self.stats.queued.fetch_add(1, Relaxed);
        }
        true
    }
}

/// How often drops of one output are reported on stderr, at most.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Every output, each with its queue and worker.
pub struct FanOut {
    outs: Vec<Out>,
    stdout_closed: Arc<Notify>,
    /// An OTLP output is among them.
    otlp: bool,
    /// What the writer threads wrote, freed here (see [`Spent`]).
    spent: Arc<Spent>,
    /// The event thread's time for waiting on full queues (see [`WAIT_SHARE`]).
    wait_budget: WaitBudget,
}

impl FanOut {
    /// Opens every output (files, token, CA certificates) and starts its worker. Needs a tokio
    /// runtime: network outputs run as tasks; stdout and files write from their own threads.
    pub fn start(
        outputs: &[Output],
        settings: &Settings,
        metrics: &Metrics,
    ) -> Result<FanOut, SinkError> {
        let http = match outputs.iter().any(|o| o.spec.is_http()) {
            true => Some(http::Shared::load(outputs, settings)?),
            false => None,
        };
        let syslog_tls = match outputs.iter().any(|o| {
            matches!(
                o.spec,
                SinkSpec::Syslog {
                    transport: spec::Transport::Tls,
                    ..
                }
            )
        }) {
            true => Some(tls::client_config(settings.http.ca_file.as_deref())?),
            false => None,
        };
        // otlps:// trusts what https trusts (--http-ca-file, else the system's bundle).
        let otlp_tls = match outputs
            .iter()
            .any(|o| matches!(o.spec, SinkSpec::Otlp { tls: true, .. }))
        {
            true => Some(tls::client_config(settings.http.ca_file.as_deref())?),
            false => None,
        };
        let otlp = outputs
            .iter()
            .any(|o| matches!(o.spec, SinkSpec::Otlp { .. }));
        // OTLP/HTTP goes through the environment's proxies as the http outputs do.
        let proxies = hyper_util::client::proxy::matcher::Matcher::from_env();
        let stdout_closed = Arc::new(Notify::new());
        let mut workers = Vec::new();
        for Output {
            spec,
            queue_size,
            queue_bytes,
        } in outputs
        {
            // Open what can fail before any worker starts.
            let worker = match spec {
                SinkSpec::Stdout => Worker::Stdout,
                SinkSpec::File { path, rotation } => {
                    Worker::File(file::RotatingFile::open(path.clone(), *rotation).map_err(
                        |error| SinkError::Open {
                            path: path.clone(),
                            error,
                        },
                    )?)
                }
                SinkSpec::Syslog { .. } => {
                    let t = syslog::Target::new(spec, &settings.node, syslog_tls.clone())?;
                    Worker::network(move |q| t.run(q))
                }
                SinkSpec::Http { .. } => {
                    let t = http.as_ref().expect("loaded").target(spec, settings)?;
                    Worker::network(move |q| t.run(q))
                }
                SinkSpec::Otlp {
                    transport: spec::OtlpTransport::Grpc,
                    ..
                } => {
                    let t = otlp::GrpcTarget::new(spec, settings, otlp_tls.as_ref())?;
                    Worker::network(move |q| t.run(q))
                }
                SinkSpec::Otlp {
                    transport: spec::OtlpTransport::Http,
                    ..
                } => {
                    let t = otlp::HttpTarget::new(spec, settings, otlp_tls.as_ref(), &proxies)?;
                    Worker::network(move |q| t.run(q))
                }
            };
            workers.push((spec.label(), (*queue_size, *queue_bytes), worker));
        }
        let mut outs = Vec::new();
        let spent = Arc::new(Spent::default());
        for (name, (queue_size, queue_bytes), worker) in workers {
            let (tx, rx) = mpsc::channel(queue_size);
            let (done_tx, done) = oneshot::channel();
            let stats = metrics.add_sink(name.clone());
            let queue = Queue {
                rx,
                stats: Arc::clone(&stats),
                spent: Arc::clone(&spent),
            };
            let waits = !matches!(worker, Worker::Network(_));
            let started = match worker {
                Worker::Stdout => stdout::spawn(queue, Arc::clone(&stdout_closed), done_tx),
                Worker::File(f) => file::spawn(queue, f, done_tx),
                Worker::Network(run) => {
                    let task = run(queue);
                    tokio::spawn(async move {
                        task.await;
                        drop(done_tx);
                    });
                    Ok(())
                }
            };
            started.map_err(|e| SinkError::Start(name, e))?;
            outs.push(Out {
                tx: Some(tx),
                stats,
                done,
                queue_size,
                queue_bytes,
                reported_drops: 0,
                reported_at: None,
                held: Default::default(),
                waits,
                stuck: Default::default(),
            });
        }
        Ok(FanOut {
            outs,
            stdout_closed,
            otlp,
            spent,
            wait_budget: WaitBudget::default(),
        })
    }

    /// Hands one event to every output; waits only for a full stdout or file queue, at most
    /// [`WAIT_FOR_ROOM`] and [`WAIT_SHARE`] of each second in all.
    pub fn send(&self, record: Record) {
        self.spent.collect();
        let gap = matches!(record.kind, "lost" | "suppressed");
        for out in &self.outs {
            let Some(tx) = &out.tx else { continue };
            if !out.flush_held(tx) && gap {
                out.hold(record.clone());
                continue;
            }
            let size = record.size();
            if !gap {
                out.wait_for_room(tx, size, &self.wait_budget);
            }
            let bytes = out.stats.queued_bytes.fetch_add(size, Relaxed);
            out.stats.queued.fetch_add(1, Relaxed);
            let over = bytes.saturating_add(size) > out.queue_bytes && !gap;
            if over || tx.try_send(record.clone()).is_err() {
                out.stats.queued.fetch_sub(1, Relaxed);
                out.stats.queued_bytes.fetch_sub(size, Relaxed);
                if gap {
                    out.hold(record.clone());
                } else {
                    out.stats.dropped.fetch_add(1, Relaxed);
                }
            }
        }
    }

    /// Notified once stdout is closed (`exitwatch | head`): time to stop, as before.
    pub fn stdout_closed(&self) -> Arc<Notify> {
        Arc::clone(&self.stdout_closed)
    }

    /// Says on stderr which outputs dropped events since the last report (at most every 10 s each).
    pub fn report(&mut self, now: Instant) {
        self.report_drops(now, false);
    }

    /// Says the drops not said yet: at most every [`REPORT_EVERY`] per output, or all of them
    /// (`all`: at shutdown, when nothing more will be sent, so none goes unsaid).
    fn report_drops(&mut self, now: Instant, all: bool) {
        for out in &mut self.outs {
            let dropped = out.stats.dropped.load(Relaxed);
            let due = all
                || out
                    .reported_at
                    .is_none_or(|at| now.duration_since(at) >= REPORT_EVERY);
            if dropped > out.reported_drops && due {
                let why = out
                    .stats
                    .last_error()
                    .map_or_else(String::new, |e| format!("; last error: {e}"));
                eprintln!(
                    "exitwatch: warning: output {} dropped {} events (queue of {} events or {} bytes full, or refused by the receiver){why}",
                    out.stats.name,
                    dropped - out.reported_drops,
                    out.queue_size,
                    out.queue_bytes
                );
                out.reported_drops = dropped;
                out.reported_at = Some(now);
            }
        }
    }

    /// Closes every queue and waits, until `deadline` at most, for the workers to deliver what
    /// they hold. Says on stderr what could not be delivered in time. Later events go nowhere.
    pub async fn close(&mut self, deadline: tokio::time::Instant) {
        // Held reports go first, as the queues make room (until the deadline).
        for out in &self.outs {
            let Some(tx) = &out.tx else { continue };
            let held: Vec<Record> = out.held().drain(..).collect();
            for r in held {
                let size = r.size();
                out.stats.queued.fetch_add(1, Relaxed);
                out.stats.queued_bytes.fetch_add(size, Relaxed);
                if tokio::time::timeout_at(deadline, tx.send(r))
                    .await
                    .map_or(true, |s| s.is_err())
                {
                    out.stats.queued.fetch_sub(1, Relaxed);
                    out.stats.queued_bytes.fetch_sub(size, Relaxed);
                    out.stats.dropped.fetch_add(1, Relaxed);
                }
            }
        }
        // Nothing more will be sent: every drop is said now, not at a next report that never
        // comes (a reader counting events must be able to account for each one).
        self.report_drops(Instant::now(), true);
        // Closing every queue first lets all the workers drain at once.
        let waiting: Vec<_> = std::mem::take(&mut self.outs)
            .into_iter()
            .map(|out| (out.stats, out.done, out.reported_drops))
            .collect();
        for (stats, done, said) in waiting {
            let delivered = tokio::time::timeout_at(deadline, done).await.is_ok();
            // A receiver may still refuse what it was sent while the queue drained.
            let dropped = stats.dropped.load(Relaxed);
            if dropped > said {
                eprintln!(
                    "exitwatch: warning: output {} dropped {} events (refused by the receiver){}",
                    stats.name,
                    dropped - said,
                    stats
                        .last_error()
                        .map_or_else(String::new, |e| format!("; last error: {e}"))
                );
            }
            if !delivered {
                eprintln!(
                    "exitwatch: warning: output {}: {} events still undelivered at the --flush-timeout deadline{}",
                    stats.name,
                    stats.queued.load(Relaxed),
                    stats
                        .last_error()
                        .map_or_else(String::new, |e| format!(" (last error: {e})"))
                );
            }
        }
    }
}

/// An output's worker, opened and ready to serve its queue: stdout and files write from their
/// own threads; network outputs (syslog, http, OTLP) are tasks on the runtime.
enum Worker {
    Stdout,
    File(file::RotatingFile),
    Network(Box<dyn FnOnce(Queue) -> NetworkTask + Send>),
}

type NetworkTask = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

impl Worker {
    /// A network output whose `run` serves the queue until it is closed and drained.
    fn network<F>(run: impl FnOnce(Queue) -> F + Send + 'static) -> Worker
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        Worker::Network(Box::new(move |q| Box::pin(run(q))))
    }
}

#[cfg(test)]
mod tests;
