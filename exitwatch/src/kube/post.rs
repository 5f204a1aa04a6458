//! Posts Warning Events on pods (events.k8s.io/v1) through kube-rs's `Recorder`, which turns
//! repeats into a series (one Event, its count PATCHed) so a crash loop is one Event. A
//! per-node token bucket bounds what this node sends to the API server; the queue is bounded
//! in events and bytes. Every post is counted once: posted, aggregated, rate_limited, failed
//! or dropped (`exitwatch_kube_events_total`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tokio::sync::mpsc;

use super::note::Post;
use super::watch::advice;
use crate::metrics::{KubeResult, Metrics};

/// Events waiting to be posted, at most; and their bytes.
const QUEUE: usize = 256;
const QUEUE_BYTES: usize = 1 << 20;
/// One post may take this long.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// Bursts the bucket allows above the per-minute rate.
pub const BURST: f64 = 10.0;
/// kube-rs's Recorder aggregates a repeat into the earlier Event this long after it.
const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);
/// Keys remembered to tell a repeat (aggregated) from a new Event (posted).
const MAX_KEYS: usize = 4096;

/// The pipeline's end of the queue: never waits.
#[derive(Clone, Debug)]
pub struct Poster {
    tx: mpsc::Sender<Post>,
    bytes: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
}

pub struct Posts {
    rx: mpsc::Receiver<Post>,
    bytes: Arc<AtomicUsize>,
}

pub fn channel(metrics: Arc<Metrics>) -> (Poster, Posts) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let bytes = Arc::new(AtomicUsize::new(0));
    (
        Poster {
            tx,
            bytes: Arc::clone(&bytes),
            metrics,
        },
        Posts { rx, bytes },
    )
}

impl Poster {
    /// Queues a post; a full queue drops it (counted).
    pub fn send(&self, post: Post) {
        let size = post.size();
        if self.bytes.load(Relaxed) + size > QUEUE_BYTES {
            self.metrics.kube.count(KubeResult::Dropped);
            return;
        }
        self.bytes.fetch_add(size, Relaxed);
        if self.tx.try_send(post).is_err() {
            self.bytes.fetch_sub(size, Relaxed);
            self.metrics.kube.count(KubeResult::Dropped);
        }
    }
}

impl Posts {
    async fn next(&mut self) -> Option<Post> {
        let p = self.rx.recv().await?;
        self.bytes.fetch_sub(p.size(), Relaxed);
        Some(p)
    }
}

/// A token bucket: `per_minute` tokens a minute, at most [`BURST`] saved.
#[derive(Debug)]
pub struct Bucket {
    tokens: f64,
    per_s: f64,
    cap: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(per_minute: u32, now: Instant) -> Self {
        let cap = BURST.min(f64::from(per_minute)).max(1.0);
        Bucket {
            tokens: cap,
            per_s: f64::from(per_minute) / 60.0,
            cap,
            last: now,
        }
    }

    pub fn take(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.per_s).min(self.cap);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Tells a repeat (the Recorder PATCHes the earlier Event's series) from a new Event.
#[derive(Debug, Default)]
pub struct Repeats {
    seen: HashMap<(String, &'static str, Option<String>), Instant>,
}

impl Repeats {
    /// True when the same reason on the same pod and container was posted within the window.
    pub fn repeat(&mut self, p: &Post, now: Instant) -> bool {
        let key = (p.pod_uid.clone(), p.reason, p.field_path.clone());
        let fresh = |t: &Instant| now.saturating_duration_since(*t) < SERIES_WINDOW;
        let repeat = self.seen.get(&key).is_some_and(fresh);
        if self.seen.len() >= MAX_KEYS {
            self.seen.retain(|_, t| fresh(t));
            if self.seen.len() >= MAX_KEYS {
                self.seen.clear();
            }
        }
        self.seen.insert(key, now);
        repeat
    }
}

/// Posts what comes until the pipeline closes the queue.
pub async fn serve(
    client: kube::Client,
    node: String,
    mut posts: Posts,
    metrics: Arc<Metrics>,
    per_minute: u32,
) {
    let recorder = Recorder::new(
        client,
        Reporter {
            controller: "exitwatch".into(),
            instance: Some(node),
        },
    );
    let mut bucket = Bucket::new(per_minute, Instant::now());
    let mut repeats = Repeats::default();
    let mut said: Option<String> = None;
    while let Some(p) = posts.next().await {
        let now = Instant::now();
        if !bucket.take(now) {
            metrics.kube.count(KubeResult::RateLimited);
            continue;
        }
        let repeat = repeats.repeat(&p, now);
        let ev = Event {
            type_: EventType::Warning,
            reason: p.reason.into(),
            note: Some(p.note),
            action: p.action.into(),
            secondary: None,
        };
        let reference = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(p.pod_name),
            namespace: Some(p.namespace),
            uid: Some(p.pod_uid),
            field_path: p.field_path,
            ..ObjectReference::default()
        };
        match tokio::time::timeout(POST_TIMEOUT, recorder.publish(&ev, &reference)).await {
            Ok(Ok(())) => {
                metrics.kube.set_posting(true);
                metrics.kube.count(if repeat {
                    KubeResult::Aggregated
                } else {
                    KubeResult::Posted
                });
                if said.take().is_some() {
                    eprintln!("exitwatch: kubernetes: posting Events works again");
                }
            }
            Ok(Err(e)) => {
                metrics.kube.count(KubeResult::Failed);
                metrics.kube.set_posting(false);
                let why = advice("events (events.k8s.io)", "create, patch", &e);
                if said.as_deref() != Some(why.as_str()) {
                    eprintln!("exitwatch: kubernetes: cannot post an Event: {why}");
                    said = Some(why);
                }
            }
            Err(_) => {
                metrics.kube.count(KubeResult::Failed);
                metrics.kube.set_posting(false);
            }
        }
    }
}

/// No API client: what would be posted is counted as failed.
pub async fn discard(mut posts: Posts, metrics: Arc<Metrics>) {
    while posts.next().await.is_some() {
        metrics.kube.count(KubeResult::Failed);
    }
}

#[cfg(test)]
mod tests;
