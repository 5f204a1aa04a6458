//! The metadata cache: what every reachable runtime says about its containers, kept fresh by a
//! background task so that a lookup never waits for a runtime.

mod book;
mod poll;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, MutexGuard, PoisonError,
    },
    time::Duration,
};

use tokio::sync::{watch, Notify};

use self::{book::Book, poll::poll_forever};
use super::{
    meta::{Metadata, Query},
    runtimes::SocketSpec,
    source::Source,
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

#[cfg(test)]
mod tests;
