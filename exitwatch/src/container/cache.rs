//! The metadata cache: what every reachable runtime says about its containers, kept fresh by a
//! background task so that a lookup never waits for a runtime.

use std::{
    collections::HashMap,
    future::Future,
    path::PathBuf,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, MutexGuard, PoisonError,
    },
    task::Poll,
    time::Duration,
};

use tokio::{
    sync::{watch, Notify},
    time::{sleep_until, timeout, Instant},
};

use super::{
    meta::{Metadata, Query},
    runtimes::SocketSpec,
    source::{list_paths, Source, SourceError},
};

/// How the cache polls.
#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// The sockets probed, most informative first: the first runtime to list a container names it.
    pub sockets: Vec<SocketSpec>,
    /// Time between two listings of every runtime.
    pub interval: Duration,
    /// The longest one runtime may take to list its containers; past it the previous listing stands.
    pub call_timeout: Duration,
    /// The shortest time between two listings, however often a refresh is requested.
    pub min_gap: Duration,
    /// How long a container no runtime lists any more is still known (as removed).
    pub tombstone_ttl: Duration,
    /// How many removed containers are kept at most, the most recently removed first.
    pub tombstone_max: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            sockets: SocketSpec::defaults(),
            interval: Duration::from_secs(2),
            call_timeout: Duration::from_secs(1),
            min_gap: Duration::from_millis(200),
            tombstone_ttl: Duration::from_secs(600),
            tombstone_max: 4096,
        }
    }
}

/// What the cache knows about one container id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// `removed` is set when no runtime lists it any more.
    Known(Metadata),
    /// The runtimes answer but none knows this id (yet: `request_refresh`).
    Unknown,
    /// No runtime answered the last listing; the reason says which were tried and what to do.
    Unavailable(String),
}

/// How one runtime answered the last listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceState {
    /// Not asked yet.
    Pending,
    /// Its socket is not there (or nobody listens): probed again every round.
    Absent,
    /// It listed this many containers.
    Listed(usize),
    Failed(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceStatus {
    /// Which runtime API and socket, e.g. `containerd (CRI) at /run/containerd/containerd.sock`.
    pub name: String,
    pub state: SourceState,
}

/// A handle on the cache; clones share it. The background task stops once every handle is dropped.
#[derive(Clone)]
pub struct MetadataCache {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    wake: Notify,
    /// A refresh was asked since the current round started (a `wake` permit may be stale).
    requested: AtomicBool,
    /// The number of the last listing round completed.
    rounds: watch::Receiver<u64>,
}

struct State {
    book: Book,
    unavailable: Option<String>,
    sources: Vec<SourceStatus>,
    /// The number of the last round started.
    started: u64,
}

impl MetadataCache {
    /// Starts polling the runtimes of `config.sockets`, at once and then every `config.interval`.
    /// Needs a tokio runtime (current-thread is enough).
    pub fn spawn(config: CacheConfig) -> MetadataCache {
        let sources = config.sockets.iter().map(SocketSpec::source).collect();
        MetadataCache::spawn_with(sources, config)
    }

    /// `spawn` with the given sources in place of `config.sockets`.
    pub fn spawn_with(sources: Vec<Box<dyn Source>>, config: CacheConfig) -> MetadataCache {
        let (done, rounds) = watch::channel(0);
        let state = State {
            book: Book::default(),
            unavailable: None,
            sources: sources
                .iter()
                .map(|s| SourceStatus {
                    name: s.describe(),
                    state: SourceState::Pending,
                })
                .collect(),
            started: 0,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            wake: Notify::new(),
            requested: AtomicBool::new(false),
            rounds,
        });
        tokio::spawn(poll_forever(Arc::clone(&shared), sources, config, done));
        MetadataCache { shared }
    }

    /// What is known about container `id`, from memory: never waits.
    pub fn lookup(&self, id: &str) -> Lookup {
        let state = self.state();
        match (state.book.get(id), &state.unavailable) {
            (Some(meta), _) => Lookup::Known(meta),
            (None, Some(reason)) => Lookup::Unavailable(reason.clone()),
            (None, None) => Lookup::Unknown,
        }
    }

    /// The containers, removed ones included, that `query` names, by id.
    pub fn find(&self, query: &Query<'_>) -> Vec<Metadata> {
        self.state().book.find(query)
    }

    /// Asks for a listing now (at most one per `min_gap`), e.g. on seeing an id `lookup` did not know.
    pub fn request_refresh(&self) {
        self.shared.requested.store(true, Ordering::Release);
        self.shared.wake.notify_one();
    }

    /// Asks for a listing and waits until one that started after this call has completed. Bound it
    /// with a timeout: a listing takes up to `call_timeout`.
    pub async fn refresh(&self) {
        let target = self.state().started + 1;
        let mut rounds = self.shared.rounds.clone();
        self.request_refresh();
        // An error means the poller is gone: there is nothing left to wait for.
        let _ = rounds.wait_for(|&done| done >= target).await;
    }

    /// The number of the latest listing round started: a round numbered above it began later.
    pub fn ticket(&self) -> u64 {
        self.state().started
    }

    /// The number of the last listing round completed, as it changes.
    pub fn answers(&self) -> watch::Receiver<u64> {
        self.shared.rounds.clone()
    }

    /// How many containers the cache holds: (running, removed but still remembered).
    pub fn size(&self) -> (usize, usize) {
        let state = self.state();
        (state.book.live.len(), state.book.removed.len())
    }

    /// How each runtime answered the last listing, in `sockets` order.
    pub fn sources(&self) -> Vec<SourceStatus> {
        self.state().sources.clone()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state whole, so one that panicked left nothing half-done.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The background task: a listing round, then sleep until the interval is up or a refresh is asked.
async fn poll_forever(
    shared: Arc<Shared>,
    mut sources: Vec<Box<dyn Source>>,
    config: CacheConfig,
    done: watch::Sender<u64>,
) {
    // Each source's last good listing: a timeout or error keeps it, an absent socket empties it.
    let mut listings: Vec<Vec<Metadata>> = sources.iter().map(|_| Vec::new()).collect();
    loop {
        let round = {
            let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.started += 1;
            shared.requested.store(false, Ordering::Release);
            state.started
        };
        let began = Instant::now();
        let listed = join_all(
            sources
                .iter_mut()
                .map(|s| list_within(s.as_mut(), config.call_timeout))
                .collect(),
        )
        .await;
        let mut states = Vec::with_capacity(listed.len());
        let mut errors = Vec::new();
        for (i, result) in listed.into_iter().enumerate() {
            states.push(match result {
                Ok(list) => {
                    listings[i] = list;
                    SourceState::Listed(listings[i].len())
                }
                Err(err) => {
                    let state = if let SourceError::Absent { .. } = err {
                        listings[i].clear();
                        SourceState::Absent
                    } else {
                        SourceState::Failed(err.to_string())
                    };
                    errors.push((sources[i].describe(), err));
                    state
                }
            });
        }
        let live = merge(&listings);
        let unavailable = if errors.len() == sources.len() {
            Some(why_unavailable(&errors))
        } else {
            None
        };
        {
            let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.book.apply(live, Instant::now(), &config);
            state.unavailable = unavailable;
            for ((status, source), new) in state.sources.iter_mut().zip(&sources).zip(states) {
                *status = SourceStatus {
                    name: source.describe(),
                    state: new,
                };
            }
        }
        done.send_replace(round);
        if Arc::strong_count(&shared) == 1 {
            return;
        }
        let next = began + config.interval;
        loop {
            tokio::select! {
                () = sleep_until(next) => break,
                () = shared.wake.notified() => {
                    if shared.requested.load(Ordering::Acquire) {
                        sleep_until(began + config.min_gap).await;
                        break;
                    }
                }
            }
        }
    }
}

async fn list_within(
    source: &mut dyn Source,
    limit: Duration,
) -> Result<Vec<Metadata>, SourceError> {
    timeout(limit, source.list())
        .await
        .unwrap_or(Err(SourceError::Timeout(limit)))
}

/// Runs the futures concurrently, so one hung runtime costs the others nothing; outputs in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// One record per id: the first source to list it leads, later ones fill what it lacks.
fn merge(listings: &[Vec<Metadata>]) -> HashMap<String, Metadata> {
    let mut live: HashMap<String, Metadata> = HashMap::new();
    for meta in listings.iter().flatten() {
        match live.get_mut(&meta.id) {
            Some(known) => known.merge(meta.clone()),
            None => {
                live.insert(meta.id.clone(), meta.clone());
            }
        }
    }
    live
}

/// Why no runtime could be asked, and what to do about it.
fn why_unavailable(errors: &[(String, SourceError)]) -> String {
    if errors.is_empty() {
        return "no container runtime socket is configured".into();
    }
    let mut looked_for: Vec<PathBuf> = Vec::new();
    for (_, err) in errors {
        let SourceError::Absent { looked_for: paths } = err else {
            let failures: Vec<_> = errors
                .iter()
                .map(|(name, err)| format!("{name}: {err}"))
                .collect();
            return format!("no container runtime answered ({})", failures.join("; "));
        };
        for path in paths {
            if !looked_for.contains(path) {
                looked_for.push(path.clone());
            }
        }
    }
    format!(
        "no container runtime socket found (looked for {}); in a container, mount the host's /run",
        list_paths(&looked_for)
    )
}

/// The containers known now, and the recently removed ones.
#[derive(Default)]
struct Book {
    live: HashMap<String, Metadata>,
    removed: HashMap<String, (Instant, Metadata)>,
}

impl Book {
    fn get(&self, id: &str) -> Option<Metadata> {
        self.live
            .get(id)
            .or_else(|| self.removed.get(id).map(|(_, meta)| meta))
            .cloned()
    }

    fn find(&self, query: &Query<'_>) -> Vec<Metadata> {
        let removed = self.removed.values().map(|(_, meta)| meta);
        let mut found: Vec<_> = self
            .live
            .values()
            .chain(removed)
            .filter(|m| m.matches(query))
            .cloned()
            .collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        found
    }

    /// Replaces the live set with `live`: what left it becomes a tombstone, what came back is live again.
    fn apply(&mut self, live: HashMap<String, Metadata>, now: Instant, config: &CacheConfig) {
        let old = std::mem::replace(&mut self.live, live);
        for (id, mut meta) in old {
            if !self.live.contains_key(&id) {
                meta.removed = true;
                self.removed.insert(id, (now, meta));
            }
        }
        self.removed.retain(|id, (at, _)| {
            !self.live.contains_key(id) && now.duration_since(*at) < config.tombstone_ttl
        });
        if self.removed.len() > config.tombstone_max {
            let mut by_age: Vec<_> = self
                .removed
                .iter()
                .map(|(id, (at, _))| (*at, id.clone()))
                .collect();
            by_age.sort();
            for (_, id) in by_age
                .iter()
                .take(self.removed.len() - config.tombstone_max)
            {
                self.removed.remove(id);
            }
        }
    }
}

#[cfg(test)]
mod tests;
