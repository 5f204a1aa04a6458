//! The cache's background task: list every runtime at once, merge, then wait for the next round.

use std::{
    collections::HashMap,
    future::Future,
    path::PathBuf,
    pin::Pin,
    sync::{atomic::Ordering, Arc, PoisonError},
    task::Poll,
    time::Duration,
};

use tokio::{
    sync::watch,
    time::{sleep_until, timeout, Instant},
};

use super::{CacheConfig, Shared, SourceState, SourceStatus};
use crate::container::{
    meta::Metadata,
    source::{list_paths, Source, SourceError},
};

/// The background task: a listing round, then sleep until the interval is up or a refresh is asked.
pub(super) async fn poll_forever(
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
