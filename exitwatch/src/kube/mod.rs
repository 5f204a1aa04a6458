//! Kubernetes: this node's pods and the kubelet's Events through the API server (to confirm
//! which pod a container belongs to and to say why the kubelet stopped it), and Warning Events
//! posted on the pods whose processes were killed.
//!
//! Data flows one way: the watchers ([`watch`]) fill a [`view::PodView`] that the pipeline
//! reads through [`Pods`]; the pipeline hands what to post ([`note::Post`]) to the [`post`]
//! worker through a bounded queue. All network work runs on the I/O runtime: a slow or absent
//! API server never delays the kernel reader, and without one everything else goes on.

pub mod note;
pub mod post;
pub mod view;
mod watch;

use std::sync::{Arc, Mutex, PoisonError};

use crate::cli::KubeSettings;
use crate::metrics::Metrics;

pub use post::Poster;

/// This node's pods as the API lists them, shared by the watchers (writing) and the pipeline
/// (reading, briefly).
#[derive(Clone, Debug, Default)]
pub struct Pods(Arc<Mutex<view::PodView>>);

impl Pods {
    pub fn read<T>(&self, f: impl FnOnce(&view::PodView) -> T) -> T {
        f(&self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn write<T>(&self, f: impl FnOnce(&mut view::PodView) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// What the daemon holds of Kubernetes once started.
pub struct Kube {
    pub pods: Pods,
    /// Where Events to post go (`--kube-events`).
    pub poster: Option<Poster>,
}

/// Starts the API client, the watchers and (with `--kube-events`) the Event poster on the
/// current (I/O) runtime. Never fails: what cannot be reached is said once on stderr, shown in
/// /metrics (`exitwatch_kube_api_up 0`) and tried again with backoff.
pub fn start(settings: &KubeSettings, node: String, metrics: &Arc<Metrics>) -> Kube {
    let pods = Pods::default();
    metrics.kube.set_used();
    let (poster, posts) = if settings.events {
        let (p, rx) = post::channel(Arc::clone(metrics));
        (Some(p), Some(rx))
    } else {
        (None, None)
    };
    tokio::spawn(watch::run(
        settings.kubeconfig.clone(),
        node,
        pods.clone(),
        Arc::clone(metrics),
        posts,
        settings.events_per_minute,
    ));
    Kube { pods, poster }
}
