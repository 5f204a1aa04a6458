//! The API client and the two watches: this node's pods (fieldSelector spec.nodeName) and the
//! kubelets' Events on pods (kept only for this node's pods). kube-rs's watcher re-lists and
//! backs off by itself; here each change goes into the shared view, and what is wrong is said
//! once on stderr with what to do, and again only when it changes.

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Event as CoreEvent, Pod as ApiPod};
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::{Client, Config};

use super::post::{self, Posts};
use super::view::{
    self, bare_container_id, bounded, container_of_field_path, Container, Deletion, Note,
};
use super::Pods;
use crate::escape::escape_text;
use crate::metrics::{Metrics, Watch};

/// Connects, then runs the watches and the poster until the runtime stops.
pub async fn run(
    kubeconfig: Option<PathBuf>,
    node: String,
    pods: Pods,
    metrics: Arc<Metrics>,
    posts: Option<Posts>,
    per_minute: u32,
) {
    let client = match connect(kubeconfig).await {
        Ok(c) => c,
        Err(why) => {
            eprintln!("exitwatch: kubernetes: no API server: {why}; pods are named by the runtime alone, and no Events are posted");
            if let Some(posts) = posts {
                post::discard(posts, metrics).await;
            }
            return;
        }
    };
    if let Some(posts) = posts {
        tokio::spawn(post::serve(
            client.clone(),
            node.clone(),
            posts,
            Arc::clone(&metrics),
            per_minute,
        ));
    }
    tokio::spawn(watch_events(
        client.clone(),
        pods.clone(),
        Arc::clone(&metrics),
    ));
    watch_pods(client, node, pods, metrics).await;
}

async fn connect(kubeconfig: Option<PathBuf>) -> Result<Client, String> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(&path)
                .map_err(|e| format!("--kubeconfig {}: {e}", path.display()))?;
            Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(|e| format!("--kubeconfig {}: {e}", path.display()))?
        }
        None => Config::infer().await.map_err(|e| {
            format!("{e} (run in a pod with a service account, or give --kubeconfig)")
        })?,
    };
    let mut config = config;
    // kube-client would retry a 429/503/504 itself, silently, for many minutes; the watchers
    // back off on their own and say so.
    config.default_retry = false;
    // Every response body is bounded: a list page, a watch stream (whose lines kube-client
    // reads without a length limit). Past it the request fails and the watcher resumes.
    let limit =
        tower::util::MapResponseLayer::new(|r: http::Response<Box<kube::client::DynBody>>| {
            r.map(|b| http_body_util::Limited::new(b, MAX_RESPONSE_BYTES))
        });
    Ok(kube::client::ClientBuilder::try_from(config)
        .map_err(|e| e.to_string())?
        .with_layer(&limit)
        .build())
}

/// The most one API response may hold (a list page of 500 Events is well under 1 MiB; a watch
/// stream past this is ended and resumed from its last resourceVersion).
const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// How often a failing watch checks whether the API answers again: after an error kube-rs's
/// watcher resumes from the last resourceVersion, and a quiet resumed watch yields nothing that
/// would say it works.
const PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Does a one-item list of what the watch reads succeed?
async fn answers<K>(api: &Api<K>, fields: &str) -> bool
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let lp = kube::api::ListParams::default().fields(fields).limit(1);
    matches!(
        tokio::time::timeout(PROBE_EVERY, api.list_metadata(&lp)).await,
        Ok(Ok(_))
    )
}

/// What to tell the operator about an API error: the status and, for 401/403, what to grant.
/// The server's message is a peer's text: escaped and cut.
pub fn advice(resource: &str, verbs: &str, e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.code == 403 => format!(
            "forbidden (403): grant {verbs} on {resource} to exitwatch's service account (deploy/kubernetes/rbac.yaml): {}",
            short(&s.message)
        ),
        kube::Error::Api(s) if s.code == 401 => {
            format!("unauthorized (401): the service account token or kubeconfig credentials were refused: {}", short(&s.message))
        }
        kube::Error::Api(s) => format!("the API server answered {}: {}", s.code, short(&s.message)),
        other => format!("cannot reach the API server: {}", short(&chain(other))),
    }
}

/// An error and its causes: "client error (Connect): tcp connect error: Connection refused".
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !s.contains(&next) {
            s.push_str(": ");
            s.push_str(&next);
        }
        cause = c.source();
    }
    s
}

fn short(s: &str) -> String {
    let mut t = escape_text(s.as_bytes());
    if t.len() > 300 {
        let mut end = 300;
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        t.truncate(end);
        t.push('…');
    }
    t
}

fn watch_error(e: &watcher::Error, resource: &str) -> String {
    match e {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => advice(resource, "get, list, watch", e),
        watcher::Error::WatchError(s) => {
            format!("the watch ended: {} {}", s.code, short(&s.message))
        }
        other => short(&other.to_string()),
    }
}

/// Says a watch's state once per change.
struct Reporter {
    what: &'static str,
    said: Option<String>,
}

impl Reporter {
    fn failed(&mut self, why: String) {
        if self.said.as_deref() != Some(why.as_str()) {
            eprintln!(
                "exitwatch: kubernetes: cannot watch {}: {why}; retrying with backoff",
                self.what
            );
            self.said = Some(why);
        }
    }

    fn works(&mut self) {
        if self.said.take().is_some() {
            eprintln!("exitwatch: kubernetes: watching {} again", self.what);
        }
    }
}

/// One watch's stream of changes, with a probe while it fails: the next change, or None
/// when the stream ends. Errors are reported (once per kind) and the API marked down; a
/// successful probe or any change marks it up again.
struct Watched<K: 'static> {
    stream: futures_util::stream::BoxStream<'static, Result<Event<K>, watcher::Error>>,
    api: Api<K>,
    fields: String,
    which: Watch,
    report: Reporter,
    probe: tokio::time::Interval,
    metrics: Arc<Metrics>,
}

impl<K> Watched<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    fn new(
        api: Api<K>,
        fields: String,
        which: Watch,
        what: &'static str,
        metrics: Arc<Metrics>,
    ) -> Self {
        let config = watcher::Config::default().fields(&fields);
        Watched {
            stream: watcher(api.clone(), config).default_backoff().boxed(),
            api,
            fields,
            which,
            report: Reporter { what, said: None },
            probe: tokio::time::interval(PROBE_EVERY),
            metrics,
        }
    }

    fn up(&mut self) {
        if self.report.said.is_some() {
            // The API is back: a post that failed while it was away says nothing of the next.
            self.metrics.kube.set_posting(true);
        }
        self.metrics.kube.set_watch(self.which, true);
        self.report.works();
    }

    async fn next(&mut self, resource: &str) -> Option<Event<K>> {
        loop {
            tokio::select! {
                item = self.stream.next() => match item? {
                    Ok(ev) => {
                        if !matches!(ev, Event::Init | Event::InitApply(_)) {
                            self.up();
                        }
                        return Some(ev);
                    }
                    Err(e) => {
                        self.metrics.kube.set_watch(self.which, false);
                        self.report.failed(watch_error(&e, resource));
                    }
                },
                _ = self.probe.tick(), if self.report.said.is_some() => {
                    if answers(&self.api, &self.fields).await {
                        self.up();
                    }
                }
            }
        }
    }
}

async fn watch_pods(client: Client, node: String, pods: Pods, metrics: Arc<Metrics>) {
    let api: Api<ApiPod> = Api::all(client);
    let fields = format!("spec.nodeName={node}");
    let mut watched = Watched::new(api, fields, Watch::Pods, "this node's pods", metrics);
    let mut listing: Vec<view::Pod> = Vec::new();
    while let Some(ev) = watched.next("pods").await {
        match ev {
            Event::Init => listing.clear(),
            Event::InitApply(p) => {
                if listing.len() < view::MAX_PODS {
                    listing.extend(pod(&p));
                }
            }
            Event::InitDone => {
                let fresh = std::mem::take(&mut listing);
                pods.write(|v| v.reset(fresh));
            }
            Event::Apply(p) => {
                if let Some(p) = pod(&p) {
                    pods.write(|v| v.upsert(p));
                }
            }
            Event::Delete(p) => {
                if let Some(uid) = p.metadata.uid.as_deref() {
                    pods.write(|v| v.remove(uid));
                }
            }
        }
    }
}

async fn watch_events(client: Client, pods: Pods, metrics: Arc<Metrics>) {
    let api: Api<CoreEvent> = Api::all(client);
    // `source` is source.component: the kubelets' Events (every node's: kept for ours).
    let fields = "involvedObject.kind=Pod,source=kubelet".to_owned();
    let mut watched = Watched::new(api, fields, Watch::Events, "the kubelet's Events", metrics);
    while let Some(ev) = watched.next("events").await {
        if let Event::Apply(e) | Event::InitApply(e) = ev {
            if let Some((uid, n)) = note(&e) {
                pods.write(|v| v.note(&uid, n));
            }
        }
    }
}

/// A pod of the API as the view keeps it; None without a uid.
fn pod(p: &ApiPod) -> Option<view::Pod> {
    let meta = &p.metadata;
    let uid = meta.uid.clone()?;
    let status = p.status.as_ref();
    let containers = status
        .into_iter()
        .flat_map(|s| {
            s.container_statuses
                .iter()
                .flatten()
                .chain(s.init_container_statuses.iter().flatten())
                .chain(s.ephemeral_container_statuses.iter().flatten())
        })
        .filter_map(|c| {
            let id = bare_container_id(c.container_id.as_deref()?)?;
            Some(Container {
                id: bounded(id.to_owned()),
                name: bounded(c.name.clone()),
            })
        })
        .take(view::MAX_CONTAINERS)
        .collect();
    let grace_s = p
        .spec
        .as_ref()
        .and_then(|s| s.termination_grace_period_seconds);
    let deletion = meta.deletion_timestamp.as_ref().map(|t| {
        let grace = meta
            .deletion_grace_period_seconds
            .unwrap_or(0)
            .clamp(0, 86_400);
        Deletion {
            requested_ns: t.0.as_nanosecond() - i128::from(grace) * 1_000_000_000,
            grace_s: grace,
        }
    });
    Some(view::Pod {
        uid: bounded(uid),
        name: bounded(meta.name.clone().unwrap_or_default()),
        namespace: bounded(meta.namespace.clone().unwrap_or_default()),
        containers,
        grace_s,
        deletion,
    })
}

/// A kubelet Event on a pod as the view keeps it, with the pod's uid.
fn note(e: &CoreEvent) -> Option<(String, Note)> {
    let from_kubelet = e.source.as_ref().and_then(|s| s.component.as_deref()) == Some("kubelet")
        || e.reporting_component.as_deref() == Some("kubelet");
    let obj = &e.involved_object;
    if !from_kubelet || obj.kind.as_deref() != Some("Pod") {
        return None;
    }
    let uid = obj.uid.clone()?;
    let time_ns = e
        .series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref())
        .map(|t| t.0.as_nanosecond())
        .or_else(|| e.last_timestamp.as_ref().map(|t| t.0.as_nanosecond()))
        .or_else(|| e.event_time.as_ref().map(|t| t.0.as_nanosecond()))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0.as_nanosecond()))
        .or_else(|| {
            e.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_nanosecond())
        })?;
    Some((
        uid,
        Note {
            reason: bounded(e.reason.clone().unwrap_or_default()),
            message: bounded(e.message.clone().unwrap_or_default()),
            time_ns,
            container: obj
                .field_path
                .as_deref()
                .and_then(container_of_field_path)
                .map(|c| bounded(c.to_owned())),
        },
    ))
}
