use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::*;
use crate::container::{
    meta::PodMeta,
    path::Runtime,
    source::{Listing, SourceError},
};

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const C: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

/// What the fake runtime answers next.
#[derive(Clone)]
enum Answer {
    List(Vec<Metadata>),
    Absent(&'static str),
    Fail,
    Hang,
}

/// A runtime whose answers the test scripts; counts how often it was asked.
#[derive(Clone)]
struct Fake {
    name: &'static str,
    answer: Arc<Mutex<Answer>>,
    calls: Arc<Mutex<usize>>,
}

impl Fake {
    fn new(name: &'static str, answer: Answer) -> Fake {
        Fake {
            name,
            answer: Arc::new(Mutex::new(answer)),
            calls: Arc::default(),
        }
    }

    fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    fn calls(&self) -> usize {
        *self.calls.lock().unwrap()
    }
}

impl Source for Fake {
    fn describe(&self) -> String {
        self.name.to_string()
    }

    fn list(&mut self) -> Listing<'_> {
        *self.calls.lock().unwrap() += 1;
        let answer = self.answer.lock().unwrap().clone();
        Box::pin(async move {
            match answer {
                Answer::List(list) => Ok(list),
                Answer::Absent(path) => Err(SourceError::Absent {
                    looked_for: vec![path.into()],
                }),
                Answer::Fail => Err(SourceError::Http {
                    call: "GET /containers/json",
                    status: 500,
                }),
                Answer::Hang => std::future::pending().await,
            }
        })
    }
}

fn meta(id: &str, name: &str, pod: Option<(&str, &str)>) -> Metadata {
    Metadata {
        name: Some(name.into()),
        pod: pod.map(|(namespace, name)| PodMeta {
            name: name.into(),
            namespace: namespace.into(),
            uid: "u".into(),
        }),
        ..Metadata::new(id, Runtime::Containerd)
    }
}

fn config() -> CacheConfig {
    CacheConfig {
        sockets: Vec::new(),
        interval: Duration::from_secs(3600),
        ..CacheConfig::default()
    }
}

fn start(fakes: &[&Fake], config: CacheConfig) -> MetadataCache {
    let sources = fakes
        .iter()
        .map(|f| Box::new((*f).clone()) as Box<dyn Source>)
        .collect();
    MetadataCache::spawn_with(sources, config)
}

fn known(lookup: Lookup) -> Option<Metadata> {
    match lookup {
        Lookup::Known(meta) => Some(meta),
        _ => None,
    }
}

#[tokio::test(start_paused = true)]
async fn lookups_answer_from_the_first_listing() {
    let fake = Fake::new("fake", Answer::List(vec![meta(A, "web", None)]));
    let cache = start(&[&fake], config());
    cache.refresh().await;
    assert_eq!(
        known(cache.lookup(A)).and_then(|m| m.name).as_deref(),
        Some("web")
    );
    assert_eq!(cache.lookup(B), Lookup::Unknown);
    assert_eq!(
        cache.sources(),
        vec![SourceStatus {
            name: "fake".into(),
            state: SourceState::Listed(1)
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn a_refresh_request_lists_again_without_waiting_for_the_interval() {
    let fake = Fake::new("fake", Answer::List(vec![]));
    let cache = start(&[&fake], config());
    cache.refresh().await;
    fake.answer(Answer::List(vec![meta(B, "new", None)]));
    assert_eq!(cache.lookup(B), Lookup::Unknown);
    let began = Instant::now();
    cache.request_refresh();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(known(cache.lookup(B)).map(|m| m.id).as_deref(), Some(B));
    assert_eq!(fake.calls(), 2);
    assert!(began.elapsed() < config().interval);
}

#[tokio::test(start_paused = true)]
async fn a_storm_of_refresh_requests_lists_once_per_min_gap() {
    let fake = Fake::new("fake", Answer::List(vec![]));
    let cache = start(&[&fake], config());
    cache.refresh().await;
    for _ in 0..50 {
        cache.request_refresh();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // 500 ms of requests every 10 ms, at most one round per 200 ms gap.
    assert!(fake.calls() <= 1 + 3, "{} listings", fake.calls());
}

#[tokio::test(start_paused = true)]
async fn a_container_that_disappears_is_kept_as_removed_until_its_tombstone_expires() {
    let fake = Fake::new(
        "fake",
        Answer::List(vec![meta(A, "victim", Some(("shop", "web-0")))]),
    );
    let cache = start(&[&fake], config());
    cache.refresh().await;
    fake.answer(Answer::List(vec![]));
    cache.refresh().await;
    let removed = known(cache.lookup(A));
    assert_eq!(
        removed.as_ref().map(|m| (m.removed, m.name.as_deref())),
        Some((true, Some("victim")))
    );
    assert_eq!(
        cache.find(&Query::Pod("shop/web-0")).len(),
        1,
        "filters still find the dead"
    );

    tokio::time::advance(Duration::from_secs(601)).await;
    cache.refresh().await;
    assert_eq!(cache.lookup(A), Lookup::Unknown);
}

#[tokio::test(start_paused = true)]
async fn a_container_that_comes_back_is_live_again() {
    let fake = Fake::new("fake", Answer::List(vec![meta(A, "web", None)]));
    let cache = start(&[&fake], config());
    cache.refresh().await;
    fake.answer(Answer::List(vec![]));
    cache.refresh().await;
    fake.answer(Answer::List(vec![meta(A, "web", None)]));
    cache.refresh().await;
    assert_eq!(known(cache.lookup(A)).map(|m| m.removed), Some(false));
}

#[tokio::test(start_paused = true)]
async fn tombstones_are_bounded_dropping_the_oldest() {
    let fake = Fake::new("fake", Answer::List(vec![meta(A, "a", None)]));
    let cache = start(
        &[&fake],
        CacheConfig {
            tombstone_max: 1,
            ..config()
        },
    );
    cache.refresh().await;
    fake.answer(Answer::List(vec![meta(B, "b", None)]));
    cache.refresh().await;
    fake.answer(Answer::List(vec![]));
    cache.refresh().await;
    assert_eq!(cache.lookup(A), Lookup::Unknown);
    assert_eq!(known(cache.lookup(B)).map(|m| m.removed), Some(true));
}

#[tokio::test(start_paused = true)]
async fn no_socket_anywhere_is_unavailable_and_a_runtime_started_later_is_picked_up() {
    let cri = Fake::new("cri", Answer::Absent("/run/containerd/containerd.sock"));
    let docker = Fake::new("docker", Answer::Absent("/run/docker.sock"));
    let cache = start(&[&cri, &docker], config());
    cache.refresh().await;
    let Lookup::Unavailable(reason) = cache.lookup(A) else {
        panic!("{:?}", cache.lookup(A))
    };
    assert_eq!(
        reason,
        "no container runtime socket found (looked for /run/containerd/containerd.sock, /run/docker.sock); \
         in a container, mount the host's /run"
    );
    assert_eq!(cache.sources()[0].state, SourceState::Absent);

    docker.answer(Answer::List(vec![meta(A, "late", None)]));
    cache.refresh().await;
    assert_eq!(
        known(cache.lookup(A)).and_then(|m| m.name).as_deref(),
        Some("late")
    );
    assert_eq!(cache.lookup(B), Lookup::Unknown);
}

#[tokio::test(start_paused = true)]
async fn a_hung_runtime_times_out_without_holding_up_the_others() {
    let hung = Fake::new("hung", Answer::Hang);
    let fine = Fake::new("fine", Answer::List(vec![meta(A, "web", None)]));
    let cache = start(&[&hung, &fine], config());
    let began = Instant::now();
    cache.refresh().await;
    assert_eq!(began.elapsed(), Duration::from_secs(1), "one call_timeout");
    assert!(known(cache.lookup(A)).is_some());
    assert_eq!(
        cache.sources()[0].state,
        SourceState::Failed("no answer within 1s".into())
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_runtime_keeps_its_last_listing_and_says_why_when_alone() {
    let fake = Fake::new(
        "docker at /run/docker.sock",
        Answer::List(vec![meta(A, "web", None)]),
    );
    let cache = start(&[&fake], config());
    cache.refresh().await;
    fake.answer(Answer::Fail);
    cache.refresh().await;
    assert_eq!(
        known(cache.lookup(A)).map(|m| m.removed),
        Some(false),
        "a hiccup removes nothing"
    );
    assert_eq!(
        cache.lookup(B),
        Lookup::Unavailable(
            "no container runtime answered (docker at /run/docker.sock: GET /containers/json answered HTTP 500)"
                .into()
        )
    );
}

#[tokio::test(start_paused = true)]
async fn the_first_source_to_list_a_container_leads_the_merge() {
    let mut cri = meta(A, "nginx", Some(("shop", "web-0")));
    cri.image = Some("sha256:0123".into());
    let mut native = meta(A, "ignored", None);
    native.image = Some("docker.io/library/nginx:1.27".into());
    let first = Fake::new("cri", Answer::List(vec![cri]));
    let second = Fake::new(
        "containerd",
        Answer::List(vec![native, meta(C, "ctr", None)]),
    );
    let cache = start(&[&first, &second], config());
    cache.refresh().await;
    let merged = known(cache.lookup(A)).map(|m| (m.name, m.image, m.pod.map(|p| p.name)));
    let expected = (
        Some("nginx".into()),
        Some("docker.io/library/nginx:1.27".into()),
        Some("web-0".into()),
    );
    assert_eq!(merged, Some(expected));
    assert!(known(cache.lookup(C)).is_some());
}

#[tokio::test(start_paused = true)]
async fn find_answers_container_pod_and_namespace_queries() {
    let listed = vec![
        meta(A, "nginx", Some(("shop", "web-0"))),
        meta(B, "sidecar", Some(("shop", "web-0"))),
        meta(C, "nginx", Some(("default", "web-0"))),
    ];
    let cache = start(&[&Fake::new("fake", Answer::List(listed))], config());
    cache.refresh().await;
    let ids = |q: Query<'_>| {
        cache
            .find(&q)
            .into_iter()
            .map(|m| m.id[..1].to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(Query::Container("nginx")), ["a", "c"]);
    assert_eq!(ids(Query::Container("bbbb")), ["b"]);
    assert_eq!(ids(Query::Pod("web-0")), ["a", "b", "c"]);
    assert_eq!(ids(Query::Pod("shop/web-0")), ["a", "b"]);
    assert_eq!(ids(Query::Namespace("default")), ["c"]);
    assert!(ids(Query::Namespace("kube-system")).is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_poller_stops_when_the_last_handle_is_dropped() {
    let fake = Fake::new("fake", Answer::List(vec![]));
    let cache = start(
        &[&fake],
        CacheConfig {
            interval: Duration::from_secs(2),
            ..config()
        },
    );
    cache.refresh().await;
    drop(cache);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        fake.calls() <= 2,
        "{} listings after the drop",
        fake.calls()
    );
    assert_eq!(
        Arc::strong_count(&fake.calls),
        1,
        "the poller, and its sources, are gone"
    );
}
